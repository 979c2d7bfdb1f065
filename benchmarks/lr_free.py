"""The lr-free head-to-head (issue 14) on several built-in tasks: do today's schedules at the
finder's peak LR, Schedule-Free AdamW and Prodigy beat one-cycle — and a constant LR?

Runs ``lrlab compare --preset lr-free`` (:mod:`lrlab.experiment.presets`) on every ``--tasks``
task with ``--seeds`` seeds and each task's own epochs (or ``--epochs``), then reports per task
the final metric with its 95 % interval, the updates and seconds to the target (the constant
control's reach; the finder's cost charged to the variants that use its answer), the peak LR
each variant trained with (found, given or estimated) and the LR-free flags; and, across the
tasks, the performance profiles (median time to target, Dolan & Moré).

    python benchmarks/lr_free.py                 # 5 tasks x 8 variants x 5 seeds (~25 min CPU)
    python benchmarks/lr_free.py --quick         # smoke run: digits-mlp, 1 epoch, 1 seed
    python benchmarks/lr_free.py --update-md     # also rewrite its BENCHMARKS.md section
    python benchmarks/lr_free.py --from-report R.json --update-md   # publish a saved run

Needs the ``lrfree`` extra (``pip install 'lrlab[lrfree]'``). Seconds are wall-clock on a
shared machine with trials running in parallel (``--workers``): updates are the unit to
compare; seconds add each optimizer's per-step cost (Prodigy's extra reductions).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

HEADERS = ["variant", "peak LR (from)", "reached", "updates*", "s*", "flags"]
TASKS = ("digits-mlp", "digits-cnn", "mnist1d-mlp", "mnist1d-cnn", "function-log")


def _task_table(h: Any) -> str:
    rows = []
    for e in h.entries:
        flags = ", ".join(f"{k} ×{n}" for k, n in sorted(e.flags.items()))
        if e.diverged:
            flags = ", ".join(x for x in (f"diverged ×{e.diverged}", flags) if x)
        f = e.final
        ci = f"{f.mean:.4g} ± {f.half_width:.2g}" if f.n > 1 else _common.fmt(f.mean)
        rows.append(
            [
                e.variant + (" (control)" if e.variant == h.control else ""),
                f"{_common.fmt(e.lr.mean)} ({e.lr_from})",
                ci,
                f"{e.reached}/{e.seeds}",
                _common.fmt(e.cost("updates"), ".4g"),
                _common.fmt(e.cost("seconds"), ".3g"),
                flags,
            ]
        )
    target = "—" if h.target is None else f"{h.target:.4g}"
    return (
        f"**{h.task}** — final {h.metric} (mean ± 95 % CI half-width); median updates / "
        f"seconds to {h.metric} {target}, finder included:\n\n"
        + _common.markdown_table([*HEADERS[:2], f"final {h.metric}", *HEADERS[2:]], rows, "lllrrrl")
    )


def render(report: dict[str, Any]) -> str:
    """The BENCHMARKS.md section of a report (its numbers only: re-rendering a saved report
    gives the same tables)."""
    from lrlab.analysis.headtohead import HeadToHead
    from lrlab.analysis.profiles import Profile
    from lrlab.analysis.profiles import to_markdown as profile_markdown

    cfg = report["config"]
    budget = "each task's own epochs" if cfg["epochs"] is None else f"{cfg['epochs']} epochs"
    parts = [
        "## LR-free head-to-head (`benchmarks/lr_free.py`)",
        _common.provenance_line(report),
        f"`lrlab compare --preset lr-free` on {', '.join(cfg['tasks'])}: {cfg['seeds']} seeds, "
        f"{budget}, the same budget for every variant; {cfg['workers']} trials at a time, one "
        "torch thread each. Target: the constant-LR control's reach (its weakest seed's best). "
        "\\*: the median over seeds of the time to target (∞ — shown as `inf` — when fewer "
        "than half reached it), with the cost of the finder behind `max_lr: auto` (what it "
        "recorded: find_lr's updates and seconds, its range test included) charged to "
        "one-cycle, the three schedules at one-cycle's peak, and sf-adamw-found.",
        *(_task_table(HeadToHead.from_dict(h)) for h in report["head_to_heads"]),
    ]
    if report["profiles"]:
        profiles = {unit: Profile.from_dict(p) for unit, p in report["profiles"].items()}
        parts.append(profile_markdown(profiles))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--epochs", type=int, default=None, help="default: each task's own")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=None, help="keep the run directories here")
    ap.add_argument("--quick", action="store_true", help="digits-mlp, 1 epoch, 1 seed")
    ap.add_argument("--out", type=Path, default=_common.OUT_DIR / "lr_free.json")
    ap.add_argument("--update-md", action="store_true")
    ap.add_argument(
        "--from-report", type=Path, default=None, help="publish a saved report, not a new run"
    )
    args = ap.parse_args(argv)
    if args.from_report is not None:
        report = json.loads(args.from_report.read_text())
    else:
        report = run(args, argv)
    markdown = render(report)
    _common.write_report(args.out, report, markdown)
    if args.update_md:
        _common.publish("lr_free", "LR-free head-to-head", report, markdown.split("\n", 2)[2])
    print(markdown)
    return report


def run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """Run the preset on the tasks; the report (provenance, head-to-heads, profiles)."""
    if args.quick:
        args.tasks, args.epochs, args.seeds, args.workers = "digits-mlp", 1, 1, 1
    tasks = [t for t in args.tasks.split(",") if t]
    from lrlab.experiment.presets import run_preset

    runs = args.runs or Path(tempfile.mkdtemp(prefix="lrlab-bench-lrfree-"))
    try:
        result = run_preset(
            "lr-free",
            tasks,
            epochs=args.epochs,
            seeds=list(range(args.seeds)),
            out=runs,
            executor="sequential" if args.workers == 1 else "process",
            workers=args.workers,
            quiet=False,
        )
    finally:
        if args.runs is None:
            shutil.rmtree(runs, ignore_errors=True)
    return {
        **_common.provenance(__file__, argv),
        "config": {
            "tasks": tasks,
            "epochs": args.epochs,
            "seeds": args.seeds,
            "workers": args.workers,
            "threads_per_trial": 1,
        },
        "head_to_heads": [h.to_dict() for h in result.head_to_heads],
        "profiles": {unit: p.to_dict() for unit, p in result.profiles.items()},
    }


if __name__ == "__main__":
    main()
