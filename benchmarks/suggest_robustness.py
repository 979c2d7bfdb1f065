"""How much does a suggested LR move when the sweep window or num_iter changes?

For each task × seed, run lrlab's range test on every window × num_iter (same model init and
data order for all of them), then ask each method for a learning rate and report its
*spread*: ``max / min`` of its suggestions over the grid (lower is better; ``inf`` when it
gave no answer on some curve). Methods:

* ``lrlab``: the default consensus (``result.suggestion.lr``);
* ``lrlab*``: the same, counting only the curves it marked trustworthy;
* ``steepest``, ``valley``, ``minimum/10``, ``edge``: lrlab's individual rules on the
  log-LR smoothed curve (``suggestion.rules``);
* ``ema:<rule>``: the same rules on the range test's EMA (how torch-lr-finder and fastai
  smooth);
* ``torch-lr-finder``: the installed package's own suggestion (``LRFinder.plot(
  suggest_lr=True)``: steepest ``np.gradient`` of its smoothed history, 10 points trimmed at the
  start and 5 at the end) on the same raw losses, smoothed and stopped as its ``range_test``
  would (``smooth_f=0.05``, stop at ``5 × best``). lrlab's raw losses equal torch-lr-finder's
  exactly (tests/test_finder_reference.py), so this is the package's answer for these runs.

Two window sets are reported apart: the *main* windows of issue 7 (1e-7→10, 1e-5→1,
1e-3→10) and seed 004's (0.01→10, 0.004→0.04 — the second one may never reach the
divergence; the honest answer there is "≤ end_lr, raise it", which lrlab flags).

    .venv/bin/python benchmarks/suggest_robustness.py            # full: ~5 tasks × 3 seeds
    .venv/bin/python benchmarks/suggest_robustness.py --quick    # one task, one seed, <1 min

Writes ``benchmarks/out/suggest_robustness.json`` (every suggestion, the spreads, the
machine, torch version and git revision).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import statistics
import sys
import time
from typing import Any

from _common import provenance

MAIN_WINDOWS = [(1e-7, 10.0), (1e-5, 1.0), (1e-3, 10.0)]
SEED004_WINDOWS = [(1e-2, 10.0), (4e-3, 4e-2)]
NUM_ITERS = [50, 100, 300]
TASKS = ["digits-mlp", "digits-cnn", "mnist1d-mlp", "mnist1d-cnn", "function-log"]
RULE_NAMES = ["steepest", "valley", "minimum/10", "edge"]


def torch_lr_finder_suggestion(lrs: list[float], losses: list[float]) -> float | None:
    """torch-lr-finder 0.2.2's suggestion for this sweep, computed by the package itself.

    Its ``range_test`` smooths with ``smooth_f = 0.05`` (``s_i = 0.05 x_i + 0.95 s_{i−1}``,
    ``s_0 = x_0``) and stops after the first ``s_i > 5 · best``; ``plot`` then suggests.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder

    hist_lr: list[float] = []
    hist_loss: list[float] = []
    best = math.inf
    for i, (lr, x) in enumerate(zip(lrs, losses, strict=True)):
        s = x if i == 0 else 0.05 * x + 0.95 * hist_loss[-1]
        best = s if i == 0 else min(best, s)
        hist_lr.append(lr)
        hist_loss.append(s)
        if not math.isfinite(s) or s > 5 * best:
            break
    finder = LRFinder.__new__(LRFinder)  # only .history is read by plot()
    finder.history = {"lr": hist_lr, "loss": hist_loss}
    fig, ax = plt.subplots()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, lr = finder.plot(ax=ax, suggest_lr=True)
    except RuntimeError:  # fewer than skip_start + skip_end + 2 points
        lr = None
    finally:
        plt.close(fig)
    return None if lr is None or not math.isfinite(lr) else float(lr)


def run_one(task_name: str, seed: int, window: tuple[float, float], num_iter: int) -> dict:
    import lrlab
    from lrlab.suggest import suggest
    from lrlab.tasks import get_task

    task = get_task(task_name)
    data = task.data(seed=seed)
    model = task.model(seed=seed)
    optimizer = task.make_optimizer(model)
    t0 = time.perf_counter()
    result = lrlab.range_test(
        model,
        optimizer,
        task.criterion(),
        data.train,
        start_lr=window[0],
        end_lr=window[1],
        num_iter=num_iter,
    )
    elapsed = time.perf_counter() - t0
    s = result.suggestion
    ema = suggest(result.lrs, result.losses, smoothing="ema", smoothed=result.smoothed)
    methods: dict[str, float | None] = {"lrlab": s.lr if s else None}
    methods["lrlab*"] = s.lr if s and s.trustworthy else None
    for name in RULE_NAMES:
        methods[name] = s.rules.get(name) if s else None
        methods[f"ema:{name}"] = ema.rules.get(name)
    methods["torch-lr-finder"] = torch_lr_finder_suggestion(result.lrs, result.losses)
    return {
        "task": task_name,
        "seed": seed,
        "window": list(window),
        "num_iter": num_iter,
        "stop_reason": result.stop_reason,
        "points": len(result.losses),
        "range_test_s": elapsed,
        "suggestion": s.to_dict() if s else None,
        "methods": methods,
        "lrs": result.lrs,
        "losses": result.losses,
    }


def spread(values: list[float | None], skip_none: bool = False) -> float:
    """``max / min`` of the suggestions; ``inf`` if any is missing (unless ``skip_none``)."""
    vals = [v for v in values if v is not None and v > 0]
    if not vals or (len(vals) < len(values) and not skip_none):
        return math.inf
    return max(vals) / min(vals)


def summarise(runs: list[dict], windows: list[tuple[float, float]]) -> dict[str, Any]:
    """Per task and method: the spread for each seed, its median and its maximum."""
    wins = [list(w) for w in windows]
    out: dict[str, Any] = {}
    for task in sorted({r["task"] for r in runs}):
        per_method: dict[str, list[float]] = {}
        for seed in sorted({r["seed"] for r in runs if r["task"] == task}):
            rows = [r for r in runs if r["task"] == task and r["seed"] == seed]
            rows = [r for r in rows if r["window"] in wins]
            if not rows:
                continue
            for m in rows[0]["methods"]:
                vals = [r["methods"][m] for r in rows]
                sp = spread(vals, skip_none=(m == "lrlab*"))
                per_method.setdefault(m, []).append(sp)
        out[task] = {
            m: {"per_seed": v, "median": statistics.median(v), "max": max(v)}
            for m, v in per_method.items()
        }
        trusted = [
            r["methods"]["lrlab*"] is not None
            for r in runs
            if r["task"] == task and r["window"] in wins
        ]
        out[task]["_trusted_fraction"] = sum(trusted) / max(1, len(trusted))
    return out


def table(summary: dict[str, Any], title: str) -> str:
    methods = [m for m in next(iter(summary.values())) if not m.startswith("_")]
    head = f"{'task':14s} " + " ".join(f"{m:>15s}" for m in methods) + "  trusted"
    lines = [title, head, "-" * len(head)]
    for task, row in summary.items():
        cells = []
        for m in methods:
            med, mx = row[m]["median"], row[m]["max"]
            cells.append(f"{_fmt(med):>7s}/{_fmt(mx):<7s}")
        lines.append(f"{task:14s} " + " ".join(cells) + f"  {row['_trusted_fraction']:.0%}")
    every = {m: [v for row in summary.values() for v in row[m]["per_seed"]] for m in methods}
    lines.append(
        f"{'all (median)':14s} "
        + " ".join(f"{_fmt(statistics.median(v)):>7s}/{_fmt(max(v)):<7s}" for v in every.values())
    )
    lines.append("cells: median / max over seeds of max(lr)/min(lr) across the grid")
    return "\n".join(lines)


def _fmt(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.2f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="digits-mlp, 1 seed, 2×2 grid")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--num-iters", default=",".join(map(str, NUM_ITERS)))
    p.add_argument("--no-seed004", action="store_true", help="skip seed 004's windows")
    p.add_argument("--out", default="benchmarks/out/suggest_robustness.json")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # the machine is shared; one thread per run
    tasks = args.tasks.split(",")
    seeds = list(range(args.seeds))
    num_iters = [int(n) for n in args.num_iters.split(",")]
    main_windows = MAIN_WINDOWS
    extra_windows = [] if args.no_seed004 else SEED004_WINDOWS
    if args.quick:
        tasks, seeds, num_iters = ["digits-mlp"], [0], [50, 100]
        main_windows, extra_windows = MAIN_WINDOWS[:2], []
    runs = []
    t0 = time.perf_counter()
    for task in tasks:
        for seed in seeds:
            for window in main_windows + extra_windows:
                for n in num_iters:
                    runs.append(run_one(task, seed, window, n))
        print(f"  {task}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    report = {
        **provenance(__file__, argv),
        "grid": {
            "tasks": tasks,
            "seeds": seeds,
            "num_iters": num_iters,
            "main_windows": main_windows,
            "seed004_windows": extra_windows,
        },
        "elapsed_s": time.perf_counter() - t0,
        "main": summarise(runs, main_windows),
        "runs": runs,
    }
    print(table(report["main"], "Spread across main windows × num_iter"))
    if extra_windows:
        report["all_windows"] = summarise(runs, main_windows + extra_windows)
        print()
        print(table(report["all_windows"], "Spread across main + seed-004 windows × num_iter"))
    from lrlab._io import write_json

    path = write_json(args.out, report)
    print(f"\nwrote {path} ({report['elapsed_s']:.0f} s)")
    return report


if __name__ == "__main__":
    main()
