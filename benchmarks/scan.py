"""How fast is the batched look-ahead scan? Side by side, in one run, per workload (issue 5):

* ``batched``      — ``lrlab.scan(method="batched")``: K copies trained at once (the grouped
  engine for plain Linear/activation stacks, the vmapped engine otherwise; the report says
  which ran);
* ``sequential``   — the same scan as a loop over copies (``method="sequential"``: one
  ``torch.optim`` optimizer per copy, the module's own forward and autograd — what seed 003
  did, minus the re-plotting);
* ``single``       — one plain single-LR training run over the longest horizon, the baseline
  the issue names: a hand-written torch loop (``zero_grad`` / forward / backward /
  ``torch.optim.Adam(...).step()`` with torch's default implementation), on the same
  batches, evaluated (``lrlab.evaluate``, the scan's definition of the loss) at the same
  horizons as a scan copy is — a scan also evaluates once before training, for its stop
  rule, which the single run does not need;
* ``single_train`` — the same run without the evaluations (a stricter baseline);
* ``single_fused`` — ``single_train`` with ``Adam(fused=True)``, torch's fastest CPU Adam
  (reported for information: the single run a performance-minded user could write).

Ratios: ``batched / single`` (issue 5's target: ≤ 3 on the seed 003 MLP) and
``sequential / batched`` (target: ≥ 10), plus ``batched / single_train`` and
``batched / single_fused``. Workloads: seed 003's log-function MLP (1→10→10→10→1, Adam,
batch 1280, 2,501 samples: 2 steps per epoch; K = 32 LRs 1e-6…100, horizons 1, 2, 4, 8
epochs, stop factor 1.1) and the mnist1d MLP and CNN (Adam, batch 100, 4,000 samples: 40
steps per epoch). Repetitions are interleaved (the order rotating every round, after a
one-epoch warm-up) and the medians compared. The ratios use **process CPU time**: with one
torch thread it is what the run costs, and on this shared 2-core machine it is far steadier
than wall-clock time (both are recorded, with the load average).

    .venv/bin/python benchmarks/scan.py                 # all workloads (9 / 3 / 2 repeats)
    .venv/bin/python benchmarks/scan.py --update-md     # ... and its BENCHMARKS.md section
    .venv/bin/python benchmarks/scan.py --quick         # function-log, 1 repeat (seconds)

Writes ``benchmarks/out/scan.json`` (every timing, the ratios, the machine, torch version,
thread count and git revision) and ``scan.md`` beside it; ``--update-md`` also copies the
JSON to ``benchmarks/results/scan.json``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import (
    OUT_DIR,
    fmt,
    interleaved,
    load_average,
    markdown_table,
    provenance,
    provenance_line,
    publish,
    set_single_thread,
    write_report,
)
from lrlab.batches import make_step, set_epoch
from lrlab.evaluate import evaluate
from lrlab.scanning import log_lrs, scan
from lrlab.tasks import get_task

NAME = "scan"
WORKLOADS: dict[str, dict[str, Any]] = {
    # The reference workload (seed 003).
    "function-log": {"task": "function-log", "single_lr": 1e-2, "repeats": 9},
    "mnist1d-mlp": {"task": "mnist1d-mlp", "single_lr": 1e-3, "repeats": 3},
    "mnist1d-cnn": {"task": "mnist1d-cnn", "single_lr": 1e-3, "repeats": 2},
}
HORIZONS = (1, 2, 4, 8)
VARIANTS = ("batched", "sequential", "single", "single_train", "single_fused")


def single_run(model, task, train, lr: float, horizons, *, evaluate_at_horizons: bool,
               fused: bool = False) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """One plain training run at ``lr`` through ``horizons[-1]`` epochs (Adam, torch loop)."""
    clone = copy.deepcopy(model)
    clone.train()
    opt = torch.optim.Adam(clone.parameters(), lr=lr, fused=fused or None)
    criterion = task.criterion()
    step = make_step(criterion)
    for epoch in range(horizons[-1]):
        set_epoch(train, epoch)
        for x, y in train:
            opt.zero_grad(set_to_none=True)
            criterion(clone(x), y).backward()
            opt.step()
        if evaluate_at_horizons and epoch + 1 in horizons:
            evaluate(clone, train, step)


def _timed(fn: Callable[[], Any], wall: list[float], keep: dict[str, Any], key: str):  # type: ignore[no-untyped-def]
    """``fn`` as an :func:`interleaved` variant: returns its process CPU time (the number
    compared) and appends its wall time to ``wall``; keeps the last result in ``keep``."""

    def run() -> float:
        w0, c0 = time.perf_counter(), time.process_time()
        keep[key] = fn()
        cpu = time.process_time() - c0
        wall.append(time.perf_counter() - w0)
        return cpu

    return run


def measure(name: str, spec: dict[str, Any], *, k: int, repeats: int) -> dict[str, Any]:
    task = get_task(spec["task"])
    model = task.model(seed=0)
    train = task.data(seed=0).train
    lrs = log_lrs(1e-6, 100.0, k)
    lr = spec["single_lr"]

    def variants(horizons: tuple[int, ...]) -> dict[str, Callable[[], Any]]:
        def scan_with(method: str) -> Callable[[], Any]:
            return lambda: scan(model, task.criterion(), train, lrs=lrs, horizons=horizons,
                                optimizer="adam", method=method)  # fmt: skip

        def single_with(evaluate_at_horizons: bool, fused: bool = False) -> Callable[[], Any]:
            return lambda: single_run(model, task, train, lr, horizons, fused=fused,
                                      evaluate_at_horizons=evaluate_at_horizons)  # fmt: skip

        return {
            "batched": scan_with("batched"),
            "sequential": scan_with("sequential"),
            "single": single_with(True),
            "single_train": single_with(False),
            "single_fused": single_with(False, fused=True),
        }

    for fn in variants((1,)).values():  # warm-up (one epoch): imports and first-call costs
        fn()
    wall: dict[str, list[float]] = {key: [] for key in VARIANTS}
    results: dict[str, Any] = {}
    timed = {key: _timed(fn, wall[key], results, key) for key, fn in variants(HORIZONS).items()}
    cpu = interleaved(timed, repeats=repeats, warmup=0)

    def ratios(times: dict[str, list[float]]) -> dict[str, float]:
        med = {key: statistics.median(v) for key, v in times.items()}
        return {
            "batched/single": med["batched"] / med["single"],
            "sequential/batched": med["sequential"] / med["batched"],
            "batched/single_train": med["batched"] / med["single_train"],
            "batched/single_fused": med["batched"] / med["single_fused"],
        }

    b, s = results["batched"], results["sequential"]
    raw_b, raw_s = np.asarray(b.raw_losses, float), np.asarray(s.raw_losses, float)
    both = np.isfinite(raw_b) & np.isfinite(raw_s)
    drift = np.abs(raw_b - raw_s)[both] / np.abs(raw_s)[both]
    return {
        "workload": name,
        "task": spec["task"],
        "engine": b.config["engine"],
        "k": k,
        "horizons": list(HORIZONS),
        "steps_per_epoch": len(train),
        "repeats": repeats,
        "cpu": cpu,
        "wall": wall,
        "median_cpu": {key: statistics.median(v) for key, v in cpu.items()},
        "median_wall": {key: statistics.median(v) for key, v in wall.items()},
        "ratios": ratios(cpu),
        "ratios_wall": ratios(wall),
        "best_lr": {"batched": b.best_lr, "sequential": s.best_lr},
        "same_best_lr": b.best_lr == s.best_lr,
        "same_status": b.status == s.status,
        "max_relative_difference": float(drift.max()) if drift.size else None,
        "copies_ok_after_h1": sum(st == "ok" for st in b.status[0]),
    }


def markdown(report: dict[str, Any]) -> str:
    rows = []
    for r in report["results"]:
        m, q = r["median_cpu"], r["ratios"]
        target = r["workload"] == "function-log"  # issue 5's targets are set on seed 003's MLP
        mark = "**" if target else ""
        rows.append([
            f"{r['workload']} ({r['steps_per_epoch']} steps/epoch)",
            r["engine"],
            f"{m['batched']:.3f} s",
            f"{m['sequential']:.3f} s",
            f"{m['single']:.3f} s ({m['single_train']:.3f} s; fused {m['single_fused']:.3f} s)",
            f"{mark}{q['batched/single']:.2f}{mark}" + (" (≤ 3)" if target else ""),
            f"{q['batched/single_train']:.2f} / {q['batched/single_fused']:.2f}",
            f"{mark}{q['sequential/batched']:.1f}{mark}" + (" (≥ 10)" if target else ""),
            "yes" if r["same_best_lr"] else "no",
            fmt(r["max_relative_difference"], ".1e"),
        ])  # fmt: skip
    table = markdown_table(
        ["workload", "engine", "batched", "sequential", "single (train only; fused Adam)",
         "batched / single", "batched / single train / fused", "sequential / batched",
         "same best LR", "max rel. diff"],
        rows,
        "llrrrrrrcr",
    )  # fmt: skip
    load = report.get("load_before"), report.get("load_after")
    return (
        f"{provenance_line(report)}\n\n"
        f"Median process CPU time of {', '.join(str(r['repeats']) for r in report['results'])} "
        f"interleaved repetitions (one torch thread; wall-clock ratios in the JSON); K = "
        f"{report['results'][0]['k']} LRs 1e-6…100, horizons 1, 2, 4, 8 epochs, Adam. Load "
        f"average before / after: {load[0]} / {load[1]}.\n\n{table}\n\n"
        "*max rel. diff*: the largest relative difference between a batched and a sequential "
        "cell (float32; chaotic high-LR runs amplify rounding differences over the steps)."
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="function-log only, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--k", type=int, default=32, help="number of learning rates")
    parser.add_argument("--workloads", default=None, help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=OUT_DIR / f"{NAME}.json")
    parser.add_argument(
        "--update-md",
        action="store_true",
        help="rewrite its BENCHMARKS.md section and benchmarks/results/scan.json",
    )
    args = parser.parse_args(argv)
    set_single_thread()
    names = ["function-log"] if args.quick else list(WORKLOADS)
    if args.workloads:
        names = [n.strip() for n in args.workloads.split(",")]
    prov = provenance(__file__, argv)
    load_before = prov["machine"]["load_average"]
    rows = []
    for name in names:
        spec = WORKLOADS[name]
        repeats = args.repeats or (1 if args.quick else spec["repeats"])
        row = measure(name, spec, k=args.k, repeats=repeats)
        rows.append(row)
        m, q = row["median_cpu"], row["ratios"]
        print(
            f"{name:>13} [{row['engine']}]: batched {m['batched']:.3f}s  sequential "
            f"{m['sequential']:.3f}s  single {m['single']:.3f}s (train only "
            f"{m['single_train']:.3f}s, fused {m['single_fused']:.3f}s) CPU; batched/single "
            f"{q['batched/single']:.2f}  sequential/batched {q['sequential/batched']:.1f}",
            file=sys.stderr,
            flush=True,
        )
    report = {**prov, "load_before": load_before, "load_after": load_average(), "results": rows}
    md = markdown(report)
    print(md)
    path = write_report(args.out, report, md)
    print(f"\nwrote {path}", file=sys.stderr)
    if args.update_md:
        updated = publish(NAME, f"Look-ahead scan (`benchmarks/{NAME}.py`)", report, md)
        print(f"updated {updated}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
