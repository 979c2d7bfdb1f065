"""Cost of ``compare_range_tests``: candidates one by one vs a process pool.

Runs the same comparison (4 momentum candidates, 100-step range tests) sequentially in this
process (one torch thread, as pool workers use) and on a pool of ``--workers`` processes,
``--repeats`` times each, alternating, and prints the wall-clock times and their ratio, with
the machine's load average (the CPUs are shared: the ratio is what matters, and only when the
load was steady). The results of both are checked to be identical.

    .venv/bin/python benchmarks/vary_pool.py                       # mnist1d-mlp and -cnn
    .venv/bin/python benchmarks/vary_pool.py --tasks digits-mlp --repeats 2
    .venv/bin/python benchmarks/vary_pool.py --quick --out /tmp/pool.json  # smoke run

Writes ``benchmarks/out/vary_pool.json`` (``--out`` elsewhere). ``--quick``: function-sin only,
one repeat of 10-step range tests, no warm-up (a few seconds; its ratio means nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from _common import provenance

VARY = {"momentum": [0.99, 0.97, 0.95, 0.9]}
DEFAULT_OUT = Path(__file__).parent / "out" / "vary_pool.json"


def _time(task: str, workers: int, num_iter: int) -> tuple[float, list[list[float]]]:
    from lrlab.compare import compare_range_tests_on_task

    t0 = time.perf_counter()
    r = compare_range_tests_on_task(
        task, VARY, start_lr=1e-5, end_lr=1.0, num_iter=num_iter, device="cpu", workers=workers
    )
    return time.perf_counter() - t0, [c.range_test.losses for c in r.candidates]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="mnist1d-mlp,mnist1d-cnn")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-iter", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="smoke run (see above)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    args = ap.parse_args()
    if args.quick:
        args.tasks, args.repeats, args.num_iter = "function-sin", 1, 10
    torch.set_num_threads(1)
    rows = []
    for task in args.tasks.split(","):
        if not args.quick:
            _time(task, 1, 10)  # warm-up: data generation/caching, first-call costs
        seq, pool, loads = [], [], []
        for _ in range(args.repeats):
            loads.append(os.getloadavg()[0])
            t_seq, l_seq = _time(task, 1, args.num_iter)
            t_pool, l_pool = _time(task, args.workers, args.num_iter)
            assert l_seq == l_pool, "pool and sequential results differ"
            seq.append(t_seq)
            pool.append(t_pool)
        row = {
            "task": task,
            "sequential_s": seq,
            "pool_s": pool,
            "workers": args.workers,
            "ratio_pool_over_sequential": statistics.median(pool) / statistics.median(seq),
            "load_1min": loads,
        }
        rows.append(row)
        print(
            f"{task}: sequential {statistics.median(seq):.2f} s, pool({args.workers}) "
            f"{statistics.median(pool):.2f} s, ratio {row['ratio_pool_over_sequential']:.2f} "
            f"(median of {args.repeats}; load {min(loads):.1f}-{max(loads):.1f} on "
            f"{os.cpu_count()} CPUs)"
        )
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = provenance(__file__, None)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
