"""``lrlab demo`` (what ``make demo`` runs): find_lr → one-cycle vs controls → report.

The demo is an experiment config (``lrlab/cli/demo.yaml``) run in stages by
:func:`lrlab.cli._demo_run.run_demo`; this command draws its progress with rich (stderr),
prints the comparison table (stdout) and the path of the report. Examples::

    lrlab demo                                   # mnist1d CNN, 3 seeds, runs/demo
    lrlab demo --task digits-mlp --seeds 5 --out runs/demo-digits
    lrlab demo --fresh                           # start over instead of reusing

Running it again reuses the search and the finished trials (after Ctrl-C it resumes);
``--fresh`` starts over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lrlab.cli._common import (
    DeviceOpt,
    QuietOpt,
    SeedsOpt,
    check_counts,
    console,
    err_console,
    parse_seeds,
    print_whole,
)


class RichProgress:
    """:class:`lrlab.experiment.progress.Progress` drawn with rich: a numbered header per stage and,
    for stages with a size (training), a live bar of epochs done with the elapsed time.
    No live display is active outside such a stage, so the range test can draw its own."""

    def __init__(self, out: Console) -> None:
        self.console = out
        self.number = 0
        self.live: Any = None
        self.task_id: Any = None

    def stage(self, name: str, total: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.finish()
        self.number += 1
        self.console.print(f"[bold]{self.number}. {name}[/bold]", highlight=False, soft_wrap=True)
        if total is None:
            return
        self.live = Progress(
            SpinnerColumn(),
            TextColumn("epochs"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=self.console,
        )
        self.task_id = self.live.add_task("train", total=total, detail="")
        self.live.start()

    def update(self, completed: int, detail: str = "") -> None:
        if self.live is not None:
            self.live.update(self.task_id, completed=completed, detail=detail)

    def message(self, text: str) -> None:
        target = self.live.console if self.live is not None else self.console
        # soft_wrap: a log line stays one line (a pipe's 80 columns would break it).
        target.print(text, markup=False, highlight=False, soft_wrap=True)

    def finish(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def demo(
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="Built-in task (`lrlab tasks`; default: demo.yaml's)."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory (reused when run again).")
    ] = Path("runs/demo"),
    seeds: SeedsOpt = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", help="Epochs per trial (default: ~500 updates)."),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="auto (a process pool), sequential, process or ray.")
    ] = "auto",
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Parallel trials (default: the CPUs).")
    ] = None,
    device: DeviceOpt = "auto",
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete an earlier demo in --out and start over.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """find_lr, then one-cycle vs constant and step-decay controls, then a report.

    One-cycle peaks at find_lr's max LR for the trials' planned run; the controls run at the task's
    default LR (the step decay ×0.1 halfway). 3 seeds by default, identical initial weights
    per seed. Prints the comparison table and the path of report.html. Running it again
    reuses what finished (after Ctrl-C it resumes); --fresh starts over."""
    from lrlab.parallel.executors import TRIAL_MODULES, default_workers
    from lrlab.parallel.pool import start_fork_server

    check_counts(epochs=epochs, workers=workers)
    if executor in ("auto", "process") and (workers or default_workers()) > 1:
        # The pool's fork server imports torch and the trial code while this process finds
        # the LR: the trials' workers are then forked ready, as for `lrlab compare`.
        start_fork_server(TRIAL_MODULES)

    from lrlab.analysis import to_rich
    from lrlab.cli._demo_run import run_demo

    seed_list = None if seeds is None or not seeds.strip() else parse_seeds(seeds)
    progress = None if quiet else RichProgress(err_console)
    result = run_demo(
        out,
        task=task,
        seeds=seed_list,
        epochs=epochs,
        device=device,
        executor=executor,
        workers=workers,
        fresh=fresh,
        quiet=quiet,
        progress=progress,
    )
    comparison = result.experiment.comparison
    if comparison is not None:
        print_whole(to_rich(comparison))  # the table is the result: never squeezed
    if not quiet:
        reused = f" (reused: {', '.join(result.reused)})" if result.reused else ""
        err_console.print(f"Finished in {result.elapsed:.0f} s{reused}.", highlight=False)
    console.print(f"report: {result.report}", highlight=False, markup=False, soft_wrap=True)
