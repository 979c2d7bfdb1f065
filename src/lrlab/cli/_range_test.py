"""``lrlab find --fast`` and the range test behind ``lrlab find``: the run on a task, its
files (``range_test.json``, ``range_test.png``) and its table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from lrlab.cli._common import fmt_lr
from lrlab.errors import InvalidArgument
from lrlab.rundir import write_result_files

if TYPE_CHECKING:  # lrlab.finder imports torch: only when the command runs, not for --help
    from lrlab.finder import RangeTestResult, RangeTestSettings

JSON_NAME = "range_test.json"
PNG_NAME = "range_test.png"


def run_find(
    task: Any,
    settings: RangeTestSettings | None = None,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
    **options: Any,
) -> RangeTestResult:
    """Build the task's objects (:func:`lrlab.tasks.build_run`) and run the range test; no
    printing, no files.

    ``settings`` / ``options``: the range test's settings, the window defaulting to the
    task's ``lr_range`` (:func:`lrlab.finder.settings.task_settings`); metric mode runs when
    ``eval_every`` is given and the task has evaluation data.
    """
    from lrlab.finder import range_test
    from lrlab.finder.settings import task_settings
    from lrlab.tasks.run import build_run

    run = build_run(task, seed, device=device, batch_size=batch_size)
    s = task_settings(run, settings, **options)
    data = run.data
    metric_mode = s.eval_every is not None
    if metric_mode and data.eval is None:
        raise InvalidArgument(
            f"--eval-every {s.eval_every} was given but task {task.name!r} has no evaluation data.",
            hint="Drop --eval-every, or give the task an eval split.",
        )
    result = range_test(
        run.model,
        run.optimizer,
        run.criterion,
        data.train,
        s,
        eval_data=data.eval if metric_mode else None,
        metrics=task.metrics if metric_mode else None,
        chance=data.chance_level,
        progress=progress,
    )
    result.config.update({"task": task.name, "seed": seed})
    return result


def write_outputs(result: RangeTestResult, out: Path) -> tuple[Path, Path]:
    """``range_test.json`` and ``range_test.png`` in ``out`` (no pyplot, no global backend);
    an interrupted sweep as ``range_test.partial.*``, beside a complete one, never over it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    result.plot(ax=fig.add_subplot())
    fig.tight_layout()
    json_path, png_path = write_result_files(
        out, complete=result.stop_reason != "interrupted", save_json=result.save,
        json_name=JSON_NAME, figures=[(PNG_NAME, fig, 120)],
    )  # fmt: skip
    return json_path, png_path


def summary_table(result: RangeTestResult) -> Table:
    """The suggestion, its range, the individual rules and the min-LR rules."""
    table = Table(title=f"LR range test — {result.config.get('task', '')}".rstrip(" —"))
    table.add_column("", style="bold")
    table.add_column("value")
    sug = result.suggestion
    where = "" if result.stop_step is None else f" at step {result.stop_step}"
    table.add_row("sweep", f"{fmt_lr(result.config.get('start_lr'))} → "
                  f"{fmt_lr(result.config.get('end_lr'))}, {result.num_steps} steps "
                  f"({result.stop_reason}{where})")  # fmt: skip
    if sug is None or sug.lr is None:
        table.add_row("suggested max lr", "none")
    else:
        table.add_row("suggested max lr", f"[bold green]{fmt_lr(sug.lr)}[/]")
        table.add_row("range", f"{fmt_lr(sug.low)} – {fmt_lr(sug.high)}")
        for name, value in sug.rules.items():
            table.add_row(f"  rule {name}", fmt_lr(value))
        if sug.min_lr.one_cycle is not None:
            lo, hi = sug.min_lr.one_cycle
            table.add_row("one-cycle start lr", f"{fmt_lr(lo)} – {fmt_lr(hi)}")
        if sug.min_lr.cyclic is not None:
            lo, hi = sug.min_lr.cyclic
            table.add_row("cyclic base lr", f"{fmt_lr(lo)} – {fmt_lr(hi)}")
        if sug.min_lr.onset is not None:
            table.add_row("learning onset", fmt_lr(sug.min_lr.onset))
    if sug is not None:
        table.add_row("trustworthy", "yes" if sug.trustworthy else "[bold red]no[/]")
        for flag in sug.flags:
            table.add_row("flag", flag)
    return table
