"""Experiment executors: a local process pool (one torch thread per worker) vs one process.

The same experiment (``--task``, 2 variants × 2 seeds = 4 trials, ``--epochs`` each) runs
with ``executor="sequential"`` (in-process, one trial after another) and with
``executor="process"`` (``--workers`` spawned workers, one torch thread each), in turns
(A B A B …, ``--repeats`` rounds after no warm-up: every run starts from an empty directory,
so worker start-up is part of what is measured, as a user pays it). Reported: the median
wall time of each, the speed-up ``sequential / process`` (median of the per-round ratios),
and whether both produced identical records (every field but the wall-clock ones).

    .venv/bin/python benchmarks/executors.py              # mnist1d-cnn, 40 epochs, 2 rounds
    .venv/bin/python benchmarks/executors.py --quick      # smoke run (worker start-up dominates)
    .venv/bin/python benchmarks/executors.py --update-md  # also rewrite its BENCHMARKS.md section

Worker start-up is not free: a fresh process spends ~2 s importing torch and another ~2 s on
the first optimizer it builds (torch imports ``torch._dynamo`` then), before any training. The
pool pays off when trials are long compared with that.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

WALL_CLOCK = ("epoch_time", "eval_time", "elapsed")


def _experiment(task: str, epochs: int):
    from lrlab.experiment import Experiment

    return Experiment(
        name="bench-executors",
        task=task,
        seeds=[0, 1],
        epochs=epochs,
        device="cpu",
        threads=1,
        checkpoint_every=None,
        variants=[
            {"name": "constant", "schedule": {"name": "constant", "lr": 0.01}},
            {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": 0.1}},
        ],
    )


def _run_once(task: str, epochs: int, executor: str, workers: int) -> tuple[float, dict]:
    """Wall time of one whole experiment from an empty directory, and its records."""
    from lrlab.experiment import run_experiment

    out = Path(tempfile.mkdtemp(prefix="lrlab-bench-exec-"))
    try:
        t0 = time.perf_counter()
        result = run_experiment(
            _experiment(task, epochs), out=out, executor=executor, workers=workers, quiet=True
        )
        wall = time.perf_counter() - t0
        records = {
            f"{t.variant}/seed-{t.seed}": [
                {k: v for k, v in r.items() if k not in WALL_CLOCK} for r in t.records
            ]
            for t in result.trials
        }
        return wall, records
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist1d-cnn")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="digits-mlp, 2 epochs, 1 round")
    ap.add_argument("--out", type=Path, default=_common.OUT_DIR / "executors.json")
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.task, args.epochs, args.repeats = "digits-mlp", 2, 1

    walls: dict[str, list[float]] = {"sequential": [], "process": []}
    records: dict[str, dict] = {}
    ratios = []
    for r in range(args.repeats):
        order = ["sequential", "process"] if r % 2 == 0 else ["process", "sequential"]
        this_round = {}
        for name in order:
            wall, recs = _run_once(args.task, args.epochs, name, args.workers)
            walls[name].append(wall)
            this_round[name] = wall
            records[name] = recs
            print(f"round {r}: {name:10s} {wall:7.2f} s", flush=True)
        ratios.append(this_round["sequential"] / this_round["process"])

    identical = records["sequential"] == records["process"]
    report = {
        **_common.provenance(__file__, argv),
        "config": {
            "task": args.task,
            "epochs": args.epochs,
            "trials": 4,
            "workers": args.workers,
            "repeats": args.repeats,
            "threads_per_trial": 1,
        },
        "wall_s": walls,
        "median_wall_s": {k: statistics.median(v) for k, v in walls.items()},
        "speedup": statistics.median(ratios),
        "speedups": ratios,
        "records_identical": identical,
    }
    med = report["median_wall_s"]
    table = _common.markdown_table(
        ["executor", "median wall (s)", "speed-up"],
        [
            ["sequential (1 process, 1 thread)", _common.fmt(med["sequential"], ".2f"), "1.00"],
            [
                f"process pool ({args.workers} workers × 1 thread)",
                _common.fmt(med["process"], ".2f"),
                _common.fmt(report["speedup"], ".2f"),
            ],
        ],
    )
    markdown = (
        "## Experiment executors (`benchmarks/executors.py`)\n\n"
        f"{_common.provenance_line(report)}\n\n"
        f"{args.task}, 2 variants × 2 seeds = 4 trials of {args.epochs} epochs, each run from an "
        f"empty directory (worker start-up included), {args.repeats} interleaved rounds.\n\n"
        f"{table}\n\nRecords identical between the two executors (all fields but wall-clock "
        f"times): **{identical}**.\n"
    )
    print(markdown)
    _common.write_report(args.out, report, markdown)
    if args.update_md and not args.quick:
        _common.update_benchmarks_md("executors", markdown)
    if not identical:
        raise SystemExit("records differ between executors")
    return report


if __name__ == "__main__":
    main()
