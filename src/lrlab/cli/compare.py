"""``lrlab compare CONFIG.yaml``: run an experiment (variants × seeds) and compare them.

A thin layer over :func:`lrlab.experiment.run_experiment`. At the end it prints the
comparison table and writes ``table.md``, ``table.csv`` and the figures (``curves.png``,
``curves_iterations.png``, ``time_to_target.png``) into ``OUT/<experiment name>/``.
Examples::

    lrlab compare examples/experiments/digits_onecycle_vs_constant.yaml
    lrlab compare exp.yaml --seeds 5 --executor process --workers 4 --out runs
    lrlab compare exp.yaml --executor ray --address ray://head:10001
    lrlab compare --preset lr-free --task digits-mlp,mnist1d-mlp --epochs 10

``--preset`` runs a ready-made experiment per task instead of a config
(:mod:`lrlab.experiment.presets`; ``lr-free``: today's schedules at the finder's peak LR,
Schedule-Free AdamW and Prodigy against a constant LR) and prints its head-to-head.
Re-running the same command skips finished trials and resumes unfinished ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lrlab.cli._common import (
    QuietOpt,
    SeedsOpt,
    check_counts,
    err_console,
    parse_seeds,
    print_whole,
)
from lrlab.errors import check

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


PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", help="A ready-made experiment instead of CONFIG: lr-free."),
]
PresetTaskOpt = Annotated[
    str | None,
    typer.Option("--task", "-t", help="With --preset: the task(s), e.g. digits-mlp,mnist1d-mlp."),
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", help="With --preset: epochs (default: the task's).")
]


def compare(
    config: Annotated[
        Path | None, typer.Argument(help="Experiment config (YAML).", metavar="[CONFIG]")
    ] = None,
    preset: PresetOpt = None,
    task: PresetTaskOpt = None,
    epochs: EpochsOpt = None,
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

    from lrlab.experiment import run_experiment

    seed_list = parse_seeds(seeds, default=()) or None
    run = dict(executor=executor, workers=workers, address=address, out=out, quiet=quiet)
    run["log"] = lambda message: err_console.print(message, markup=False, highlight=False)
    if preset is not None or config is None:
        from lrlab.cli._preset import run_preset_command

        check(config is None, "Give an experiment CONFIG or --preset, not both.")
        check(preset is not None, "Give an experiment CONFIG, or --preset NAME --task TASK.")
        run_preset_command(preset, task, epochs=epochs, seeds=seed_list, figures=not no_figures,
                           **run)  # fmt: skip
        return
    check(task is None and epochs is None, "--task and --epochs go with --preset.",
          hint="Set them in the CONFIG (task:, epochs:).")  # fmt: skip
    result = run_experiment(config, seeds=seed_list, **run)
    show_experiment(result, figures=not no_figures, quiet=quiet)


def show_experiment(result: Any, *, figures: bool, quiet: bool) -> None:
    """Figures into the experiment's directory, its table (and head-to-head) on stdout."""
    from lrlab.analysis import to_rich

    written = [Path(result.dir) / "table.md", Path(result.dir) / "table.csv"]
    if figures and result.comparison is not None:
        from lrlab.report.experiment_figures import save_experiment_figures

        written += save_experiment_figures(result, Path(result.dir))
    if result.comparison is not None:
        print_whole(to_rich(result.comparison))
    if result.config.get("analysis", {}).get("head_to_head"):
        from lrlab.analysis.headtohead import to_rich as head_to_head_table
        from lrlab.experiment.headtohead import load_head_to_head

        h = load_head_to_head(result.dir)
        if h is not None:
            print_whole(head_to_head_table(h))
            written.append(Path(result.dir) / "head_to_head.md")
    if not quiet:
        shown = ", ".join(p.name for p in written if p.exists())
        err_console.print(f"Wrote {shown} and summary.json to {result.dir}", highlight=False)
