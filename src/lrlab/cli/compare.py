"""``lrlab compare CONFIG.yaml``: run an experiment (variants × seeds) and compare them.

A thin layer over :func:`lrlab.experiment.run_experiment`. At the end it prints the
comparison table and writes ``table.md``, ``table.csv`` and the figures (``curves.png``,
``curves_iterations.png``, ``time_to_target.png``) into ``OUT/<experiment name>/``.
Examples::

    lrlab compare examples/experiments/digits_onecycle_vs_constant.yaml
    lrlab compare exp.yaml --seeds 5 --executor process --workers 4 --out runs
    lrlab compare exp.yaml --executor ray --address ray://head:10001

Re-running the same command skips finished trials and resumes unfinished ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlab.cli._common import (
    QuietOpt,
    SeedsOpt,
    check_counts,
    err_console,
    parse_seeds,
    print_whole,
)

ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        "-e",
        help="auto (a process pool when several trials), sequential, process or ray.",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster address ('auto', 'ray://host:10001')."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-w", help="Parallel trials (default: the CPUs available)."),
]
CompareOutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Parent directory of the experiment's run dir.")
]


def compare(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).", metavar="CONFIG")],
    executor: ExecutorOpt = "auto",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    seeds: SeedsOpt = None,
    out: CompareOutOpt = Path("runs"),
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the PNG figures.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run an experiment (variants × seeds) and print the comparison table.

    Every variant of a seed starts from identical initial weights and sees the same batches;
    files go to OUT/<experiment name>/. Re-running skips finished trials and resumes the
    others."""
    from lrlab.parallel.executors import TRIAL_MODULES, default_workers
    from lrlab.parallel.pool import start_fork_server
    from lrlab.rundir import check_out_dir

    check_out_dir(out)  # before any work
    check_counts(workers=workers)
    if executor in ("auto", "process") and address is None and (workers or default_workers()) > 1:
        # The pool's fork server imports torch and the trial code while this process imports
        # and reads the config: the pool made then forks workers that are ready at once.
        start_fork_server(TRIAL_MODULES)

    from lrlab.analysis import to_rich
    from lrlab.experiment import run_experiment

    seed_list = parse_seeds(seeds, default=()) or None
    result = run_experiment(
        config,
        executor=executor,
        workers=workers,
        address=address,
        out=out,
        seeds=seed_list,
        quiet=quiet,
        log=lambda message: err_console.print(message, markup=False, highlight=False),
    )
    written = [Path(result.dir) / "table.md", Path(result.dir) / "table.csv"]
    if not no_figures and result.comparison is not None:
        from lrlab.report.experiment_figures import save_experiment_figures

        written += save_experiment_figures(result, Path(result.dir))
    if result.comparison is not None:
        print_whole(to_rich(result.comparison))
    if not quiet:
        shown = ", ".join(p.name for p in written if p.exists())
        err_console.print(f"Wrote {shown} and summary.json to {result.dir}", highlight=False)
