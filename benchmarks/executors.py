"""Experiment executors: a local process pool (one torch thread per worker) vs one process.

The same experiment (``--task``, 2 variants × 2 seeds = 4 trials, ``--epochs`` each) runs as
the command a user types, ``lrlab compare CONFIG --executor sequential`` (one process, one
trial after another) and ``--executor process --workers N`` (the pool, one torch thread per
worker), each in a fresh process from an empty directory, in turns (A B A B …, ``--repeats``
rounds): every start-up — importing torch, the first optimizer step's lazy imports, the
dataset — is paid by both sides, as a user pays it. Reported: the median wall time of each,
the speed-up ``sequential / process`` (median of the per-round ratios), and whether both
produced identical records (every field but the wall-clock ones).

    .venv/bin/python benchmarks/executors.py              # mnist1d-cnn, 56 epochs, 3 rounds
    .venv/bin/python benchmarks/executors.py --quick      # smoke run (start-up dominates)
    .venv/bin/python benchmarks/executors.py --update-md  # also rewrite its BENCHMARKS.md section

The pool's workers start as soon as the command has read the config, each imports torch and
takes one optimizer step (~2 s each) while the parent prepares, and they serve every trial;
the parent does not load the task unless it needs it (``auto`` LRs, a user factory). What
the pool cannot remove is that start-up itself (~4-5 s of CPU per process: torch, the first
step's lazy imports, the dataset's package).

Also measured, before and after every round: the machine's **parallel ceiling**, the work
``--workers`` busy processes get done side by side relative to one (:func:`parallel_ceiling`).
On two idle cores it is 2.0; on shared virtual CPUs it can be far less, and then no pool can
reach a speed-up the ceiling does not allow — the report says both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

WALL_CLOCK = ("epoch_time", "eval_time", "elapsed")
NAME = "bench-executors"


def _config(task: str, epochs: int) -> str:
    """The experiment as YAML: 2 variants × 2 seeds, one thread, no checkpoints."""
    return (
        f"name: {NAME}\ntask: {task}\nseeds: [0, 1]\nepochs: {epochs}\ndevice: cpu\n"
        "threads: 1\ncheckpoint_every: null\nvariants:\n"
        "  - name: constant\n    schedule: {name: constant, lr: 0.01}\n"
        "  - name: one-cycle\n    schedule: {name: one-cycle, max_lr: 0.1}\n"
    )


def _spin(seconds: float) -> int:
    """Count in pure Python for ``seconds``: a unit of work that needs nothing but a core."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def parallel_ceiling(workers: int, seconds: float = 3.0) -> float:
    """How much more work ``workers`` busy processes get done than one, side by side, on this
    machine now: the most a pool of ``workers`` can gain here, whatever it does (2.0 on two
    idle cores; less on shared or hyper-threaded virtual CPUs, or under load)."""
    import multiprocessing

    alone = _spin(seconds)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        together = sum(pool.map(_spin, [seconds] * workers))
    return together / alone


def _run_once(task: str, epochs: int, executor: str, workers: int) -> tuple[float, dict]:
    """Wall time of one whole ``lrlab compare`` command from an empty directory, and its
    records."""
    from lrlab._io import read_jsonl

    out = Path(tempfile.mkdtemp(prefix="lrlab-bench-exec-"))
    try:
        config = out / "exp.yaml"
        config.write_text(_config(task, epochs), encoding="utf-8")
        cmd = [sys.executable, "-m", "lrlab.cli.app", "compare", str(config), "-e", executor]
        cmd += ["-w", str(workers), "-o", str(out / "runs"), "-q", "--no-figures"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        records = {
            path.parent.relative_to(out / "runs" / NAME).as_posix(): [
                {k: v for k, v in r.items() if k not in WALL_CLOCK} for r in read_jsonl(path)
            ]
            for path in sorted((out / "runs" / NAME).glob("*/seed-*/records.jsonl"))
        }
        return wall, records
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist1d-cnn")
    ap.add_argument("--epochs", type=int, default=56)  # ~6 s a trial on 2 cores (issue 13)
    ap.add_argument("--repeats", type=int, default=3)
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
    ceilings = [parallel_ceiling(args.workers)]
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
        ceilings.append(parallel_ceiling(args.workers))
        print(f"round {r}: speed-up {ratios[-1]:.2f}, ceiling {ceilings[-1]:.2f}", flush=True)

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
        # what `workers` busy processes gain over one here, measured before and after each
        # round: the most any pool could gain on this machine at that time
        "parallel_ceiling": statistics.median(ceilings),
        "parallel_ceilings": ceilings,
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
        f"{args.task}, 2 variants × 2 seeds = 4 trials of {args.epochs} epochs: the whole "
        "`lrlab compare` command in a fresh process from an empty directory (every start-up "
        f"included, on both sides), {args.repeats} interleaved rounds.\n\n"
        f"{table}\n\nSpeed-up per round: {', '.join(f'{r:.2f}' for r in ratios)} (median "
        f"{report['speedup']:.2f}).\n\n"
        "This machine's ceiling, measured in the same run (before and after every "
        f"round): {args.workers} processes counting in pure Python side by side got "
        f"{report['parallel_ceiling']:.2f}× the work of one (median of "
        f"{', '.join(f'{c:.2f}' for c in ceilings)}; 2.00 on {args.workers} idle cores). "
        "No pool can gain more than that here.\n\n"
        "Records identical between the two executors (all fields but wall-clock "
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
