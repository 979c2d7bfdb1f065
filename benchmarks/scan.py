"""How fast is the batched look-ahead scan? Side by side, in one run, per workload:

* ``batched``    — ``lrlab.scan(method="batched")``: K copies trained at once;
* ``sequential`` — the same scan as a loop over copies (``method="sequential"``, one
  ``torch.optim`` optimizer per copy: what seed 003 did, minus the re-plotting);
* ``single``     — one plain training run at one LR for the longest horizon (a hand-written
  torch loop: zero_grad / forward / backward / step), evaluated at the same horizons as a
  scan copy is; ``single_train`` is the same without the evaluations.

Ratios printed: ``batched / single`` (issue 5's target: ≤ 3 on the seed 003 MLP),
``batched / single_train`` and ``sequential / batched`` (target: ≥ 10). Workloads: the seed
003 log-function MLP (1→10→10→10→1, Adam, batch 1280, 2,501 samples, K = 32 LRs 1e-6…100,
horizons 1, 2, 4, 8 epochs), and the mnist1d MLP and CNN (Adam, batch 100, 4,000 samples).
Each measurement is repeated (interleaved, after a one-epoch warm-up) and the median is
reported, as wall-clock and as process CPU time (one torch thread: CPU time is the steadier
number on a shared machine); the load average is recorded with the results.

    .venv/bin/python benchmarks/scan.py            # all workloads (5 / 2 / 2 repeats)
    .venv/bin/python benchmarks/scan.py --quick    # function-log only, 1 repeat (~seconds)

Writes ``benchmarks/out/scan.json`` (every timing, the ratios, the machine, torch version,
thread count and git revision).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lrlab import _io
from lrlab.batches import make_step, set_epoch
from lrlab.evaluate import evaluate
from lrlab.lookahead import log_lrs, scan
from lrlab.tasks import get_task

WORKLOADS: dict[str, dict[str, Any]] = {
    # The reference workload (seed 003).
    "function-log": {
        "task": "function-log", "horizons": (1, 2, 4, 8), "single_lr": 1e-2, "repeats": 5
    },
    "mnist1d-mlp": {
        "task": "mnist1d-mlp", "horizons": (1, 2, 4, 8), "single_lr": 1e-3, "repeats": 2
    },
    "mnist1d-cnn": {
        "task": "mnist1d-cnn", "horizons": (1, 2, 4, 8), "single_lr": 1e-3, "repeats": 2
    },
}  # fmt: skip


def single_run(model, task, train, lr: float, horizons, *, with_eval: bool) -> None:  # type: ignore[no-untyped-def]
    """One plain training run at ``lr`` through ``horizons[-1]`` epochs (Adam, torch loop)."""
    clone = copy.deepcopy(model)
    clone.train()
    opt = torch.optim.Adam(clone.parameters(), lr=lr)
    criterion = task.criterion()
    step = make_step(criterion)
    for epoch in range(horizons[-1]):
        set_epoch(train, epoch)
        for x, y in train:
            opt.zero_grad(set_to_none=True)
            criterion(clone(x), y).backward()
            opt.step()
        if with_eval and epoch + 1 in horizons:
            evaluate(clone, train, step)


def measure(name: str, spec: dict[str, Any], *, k: int, repeats: int) -> dict[str, Any]:
    task = get_task(spec["task"])
    model = task.model(seed=0)
    train = task.data(seed=0).train
    lrs = log_lrs(1e-6, 100.0, k)

    def runs(horizons: tuple[int, ...]) -> dict[str, Any]:
        return {
            "batched": lambda: scan(model, task.criterion(), train, lrs=lrs, horizons=horizons,
                                    optimizer="adam", method="batched"),
            "sequential": lambda: scan(model, task.criterion(), train, lrs=lrs,
                                       horizons=horizons, optimizer="adam", method="sequential"),
            "single": lambda: single_run(model, task, train, spec["single_lr"], horizons,
                                         with_eval=True),
            "single_train": lambda: single_run(model, task, train, spec["single_lr"], horizons,
                                               with_eval=False),
        }  # fmt: skip

    for fn in runs((1,)).values():  # warm-up (one epoch): imports and first-call costs
        fn()
    horizons = spec["horizons"]
    wall: dict[str, list[float]] = {key: [] for key in runs(horizons)}
    cpu: dict[str, list[float]] = {key: [] for key in wall}
    results = {}
    for _ in range(repeats):
        for key, fn in runs(horizons).items():  # interleaved: load changes hit all alike
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            wall[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
            if key in ("batched", "sequential"):
                results[key] = out

    def ratios(times: dict[str, list[float]]) -> dict[str, float]:
        med = {key: statistics.median(v) for key, v in times.items()}
        return {
            "batched/single": med["batched"] / med["single"],
            "batched/single_train": med["batched"] / med["single_train"],
            "sequential/batched": med["sequential"] / med["batched"],
        }

    b, s = results["batched"], results["sequential"]
    return {
        "workload": name,
        "task": spec["task"],
        "k": k,
        "horizons": list(horizons),
        "steps_per_epoch": len(train),
        "wall": wall,
        "cpu": cpu,
        "median": {key: statistics.median(v) for key, v in wall.items()},
        "median_cpu": {key: statistics.median(v) for key, v in cpu.items()},
        "ratios": ratios(wall),
        "ratios_cpu": ratios(cpu),
        "best_lr": {"batched": b.best_lr, "sequential": s.best_lr},
        "same_best_lr": b.best_lr == s.best_lr,
        "copies_left_after_h1": sum(st == "ok" for st in b.status[0]),
    }


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="function-log only, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--k", type=int, default=32, help="number of learning rates")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared machine)")
    parser.add_argument("--workloads", default=None, help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "scan.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = ["function-log"] if args.quick else list(WORKLOADS)
    if args.workloads:
        names = [n.strip() for n in args.workloads.split(",")]
    load_before = os.getloadavg()
    rows = []
    for name in names:
        spec = WORKLOADS[name]
        repeats = args.repeats or (1 if args.quick else spec["repeats"])
        row = measure(name, spec, k=args.k, repeats=repeats)
        row["repeats"] = repeats
        rows.append(row)
        m = row["median"]
        print(
            f"{name:>13}: batched {m['batched']:.3f}s  sequential {m['sequential']:.3f}s  "
            f"single {m['single']:.3f}s (train only {m['single_train']:.3f}s)",
            flush=True,
        )
        for label, r in (("wall", row["ratios"]), ("cpu ", row["ratios_cpu"])):
            print(
                f"{'':>13}  {label}: batched/single {r['batched/single']:.2f}  "
                f"batched/single_train {r['batched/single_train']:.2f}  "
                f"sequential/batched {r['sequential/batched']:.1f}",
                flush=True,
            )
    report = {
        "benchmark": "scan",
        "argv": sys.argv[1:] if argv is None else argv,
        "threads": args.threads,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "git": _git_revision(),
        "results": rows,
    }
    path = _io.write_json(args.out, report)
    print(f"load average before/after: {load_before} / {report['load_average_after']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
