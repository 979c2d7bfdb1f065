"""``lrlab find``: the max LR for a planned run, on a built-in task or your own model factory.

A thin layer over :func:`lrlab.finder.find_lr` (default) and :func:`lrlab.finder.range_test`
(``--fast``): builds the task's model, data, loss and optimizer (:mod:`lrlab.tasks`), and

* by default runs ``find_lr`` for the planned run (``--epochs`` / ``--iterations``, default
  the task's epochs; ``--schedule``, default one-cycle): prints the max LR, its interval, the
  cost and the flags, and writes ``find.json`` and ``find.png`` beside the range test's
  ``range_test.json`` and ``range_test.png`` in ``--out``;
* with ``--fast`` runs only the range test (the curve-only suggestion, the diagnosis in
  metric mode), writing ``range_test.json`` and ``range_test.png``.

A search stopped by Ctrl-C is written to ``find.partial.json``: a complete ``find.json`` is
never replaced by a partial one. Examples::

    lrlab find --task mnist1d-cnn --epochs 12
    lrlab find --task digits-mlp --fast --start-lr 1e-5 --end-lr 10 --eval-every 10
    lrlab find --model mypkg.models:factory --iterations 2000 --out runs/find-mine
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lrlab._io import save_figure
from lrlab.cli._common import (
    DeviceOpt,
    ModelOpt,
    OptionalTaskOpt,
    QuietOpt,
    SeedOpt,
    check_counts,
    check_rates,
    console,
    err_console,
    fmt_lr,
    load_task_or_factory,
)
from lrlab.cli._range_test import run_find, summary_table, write_outputs
from lrlab.errors import Interrupted, InvalidArgument
from lrlab.rundir import check_out_dir, locked, save_or_rescue

if TYPE_CHECKING:  # lrlab.finder imports torch: only when the command runs, not for --help
    from lrlab.finder import FindResult, RangeTestSettings

FIND_JSON = "find.json"
FIND_PARTIAL = "find.partial.json"
FIND_PNG = "find.png"


def run_find_lr(
    task: Any,
    settings: RangeTestSettings | None = None,
    *,
    epochs: int | None = None,
    iterations: int | None = None,
    schedule: str = "one-cycle",
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
    short_run_seeds: int = 1,
    **options: Any,
) -> FindResult:
    """Build the task's objects (:func:`lrlab.tasks.build_run`) and run ``find_lr`` for the
    planned run (``iterations``, or ``epochs`` × batches per epoch — default the task's
    epochs: :func:`lrlab.train.budget.planned_updates`); no printing, no files. ``settings``
    / ``options``: the range test's (the window defaults to the task's ``lr_range``);
    ``short_run_seeds``: :class:`lrlab.FindSettings`' data orders per short run."""
    from lrlab.batches import num_batches
    from lrlab.finder import find_lr
    from lrlab.finder.settings import task_settings
    from lrlab.tasks.run import build_run
    from lrlab.train.budget import planned_updates

    run = build_run(task, seed, device=device, batch_size=batch_size)
    s = task_settings(run, settings, **options)
    planned_epochs = epochs if epochs is not None else getattr(run.task, "epochs", None)
    steps = planned_updates(
        num_batches(run.data.train),
        epochs=None if iterations is not None else planned_epochs,
        iterations=iterations,
        accumulation_steps=s.accumulation_steps,
    )
    if steps is None:
        raise InvalidArgument(
            "find_lr needs the planned run's length, and neither the task nor the options give it.",
            hint="Pass --epochs N or --iterations N (optimizer updates).",
        )
    result = find_lr(
        run.model, run.optimizer, run.criterion, run.data.train, total_steps=int(steps),
        schedule=schedule, metrics=run.metrics, seed=seed, device=run.device,
        progress=progress, range_test=s, short_run_seeds=short_run_seeds,
    )  # fmt: skip
    result.config.update({"task": run.task.name, "seed": seed})
    if result.range_test is not None:
        result.range_test.config.update({"task": run.task.name, "seed": seed})
    return result


def write_find_outputs(result: FindResult, out: Path) -> list[Path]:
    """``find.json`` (``find.partial.json`` for an interrupted search, so a complete answer
    is never replaced), ``find.png`` and the range test's files in ``out``."""
    from matplotlib.figure import Figure

    out.mkdir(parents=True, exist_ok=True)
    paths = [result.save(out / (FIND_JSON if result.complete else FIND_PARTIAL))]
    if result.complete:
        fig = Figure(figsize=(12, 4.5))
        result.plot(axes=fig.subplots(1, 2))
        fig.tight_layout()
        paths.append(save_figure(fig, out / FIND_PNG, dpi=110))
        if result.range_test is not None:
            paths.extend(write_outputs(result.range_test, out))
    return paths


def find_table(result: FindResult) -> Table:
    """The answer, its interval, the planned run, the cost, the flags."""
    title = f"find_lr — {result.config.get('task', '')}".rstrip(" —")
    table = Table(title=title)
    table.add_column("", style="bold")
    table.add_column("value")
    if result.lr is None:
        table.add_row("max lr", "[bold red]none[/]")
    else:
        table.add_row("max lr", f"[bold green]{fmt_lr(result.lr)}[/]")
        table.add_row("interval", f"{fmt_lr(result.low)} – {fmt_lr(result.high)}")
    table.add_row("planned run", f"{result.total_steps} steps of {result.schedule.get('name')}")
    best = ", ".join(
        f"{h}: {fmt_lr(b)}" for h, b in zip(result.horizons, result.best_per_horizon, strict=False)
    )
    table.add_row("best lr per short run (steps)", best or "—")
    table.add_row("judged by", f"held-out {result.score} ({result.holdout})")
    rt = result.range_test
    if rt is not None and rt.suggestion is not None and rt.suggestion.lr is not None:
        table.add_row("range test's curve-only lr", fmt_lr(rt.suggestion.lr))
    cost = result.cost
    table.add_row(
        "cost", f"{cost.get('runs', 0):.2f} training runs, {cost.get('seconds', 0):.1f} s"
    )
    for flag in result.flags:
        table.add_row("flag", flag)
    return table


def find(
    task: OptionalTaskOpt = None,
    model: ModelOpt = None,
    start_lr: Annotated[
        float | None, typer.Option("--start-lr", help="First LR (default: the task's window).")
    ] = None,
    end_lr: Annotated[
        float | None, typer.Option("--end-lr", help="Last LR (default: the task's window).")
    ] = None,
    num_iter: Annotated[int, typer.Option("--num-iter", help="Steps of the sweep.")] = 100,
    step_mode: Annotated[
        str, typer.Option("--step-mode", help="'exp' (log-spaced) or 'linear'.")
    ] = "exp",
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", help="Metric mode: evaluate every N steps."),
    ] = None,
    eval_batches: Annotated[
        int,
        typer.Option("--eval-batches", help="Metric mode: batches in the fixed subsample."),
    ] = 8,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Training batch size (default: the task's).")
    ] = None,
    fast: Annotated[
        bool,
        typer.Option("--fast", help="Only the range test: its curve-only suggestion (seconds)."),
    ] = False,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", "-e", help="The planned run's epochs (default: the task's)."),
    ] = None,
    iterations: Annotated[
        int | None,
        typer.Option(
            "--iterations", help="The planned run's optimizer updates (instead of epochs)."
        ),
    ] = None,
    schedule: Annotated[
        str, typer.Option("--schedule", help="The planned schedule (any plannable policy).")
    ] = "one-cycle",
    grad_clip: Annotated[
        float | None, typer.Option("--grad-clip", help="The planned run's max grad norm.")
    ] = None,
    accumulation_steps: Annotated[
        int,
        typer.Option("--accumulation-steps", help="The planned run's micro-batches per update."),
    ] = 1,
    amp: Annotated[
        str | None, typer.Option("--amp", help="bf16 | fp16 (CUDA) | off; default: the task's.")
    ] = None,
    short_run_seeds: Annotated[
        int,
        typer.Option("--short-run-seeds", help="Data orders per short run (N× their cost)."),
    ] = 1,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("runs/find"),
    vary: Annotated[
        str | None,
        typer.Option(
            "--vary",
            help="Compare range tests across values of one hyper-parameter, e.g. "
            "momentum=0.99,0.97,0.95,0.9 (writes vary.json and vary.png).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="--vary: run the candidates on N processes.")
    ] = 1,
    confirm_epochs: Annotated[
        int | None,
        typer.Option("--confirm-epochs", help="--vary: a short one-cycle run per candidate."),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", help="--vary: range tests per candidate (data orders).")
    ] = 1,
) -> None:
    """Find the max LR for a planned run (--fast: the range test alone); save JSON and PNG."""
    check_out_dir(out)  # before any work: a bad --out never costs a sweep
    check_counts(batch_size=batch_size, eval_every=eval_every, eval_batches=eval_batches,
                 workers=workers, repeats=repeats, confirm_epochs=confirm_epochs,
                 accumulation_steps=accumulation_steps,
                 short_run_seeds=short_run_seeds)  # fmt: skip
    check_rates(grad_clip=grad_clip)
    if amp is not None:
        from lrlab.precision import amp_name

        amp_name(amp)  # a one-line error before anything is built
    spec = load_task_or_factory(task, model)
    update = {"grad_clip": grad_clip, "accumulation_steps": accumulation_steps}
    if amp is not None:
        update["amp"] = amp  # else the task's (on CUDA)
    if vary is not None and (grad_clip, accumulation_steps, amp, short_run_seeds) != (
        None, 1, None, 1
    ):  # fmt: skip
        raise InvalidArgument(
            "--grad-clip, --accumulation-steps, --amp and --short-run-seeds describe the "
            "planned run and its short runs; --vary does not take them.",
            hint="Drop them, or drop --vary to find the LR for that run.",
        )
    if vary is not None:  # `lrlab find --vary`: lrlab/cli/_vary.py
        from lrlab.cli._vary import run_vary_command

        with locked(out):
            return run_vary_command(
                spec, vary, out=out, quiet=quiet, console=console, err_console=err_console,
                start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, step_mode=step_mode,
                eval_every=eval_every, eval_batches=eval_batches, batch_size=batch_size, seed=seed,
                device=device, workers=workers, confirm_with_one_cycle=confirm_epochs,
                repeats=repeats, progress=not quiet,
            )  # fmt: skip
    if (workers, confirm_epochs, repeats) != (1, None, 1):
        raise InvalidArgument(
            "--workers, --confirm-epochs and --repeats belong to --vary.",
            hint="Add --vary NAME=V1,V2,... (e.g. momentum=0.99,0.9), or drop them.",
        )
    window = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "num_iter": num_iter,
        "step_mode": step_mode,
        "eval_every": eval_every,
        "eval_batches": eval_batches,
        **update,
    }
    if not fast:
        with locked(out):
            return _find_lr(spec, window, epochs, iterations, schedule, batch_size, seed,
                            device, quiet, out, short_run_seeds)  # fmt: skip
    if (epochs, iterations, schedule, short_run_seeds) != (None, None, "one-cycle", 1):
        raise InvalidArgument(
            "--epochs, --iterations, --schedule and --short-run-seeds describe the planned run "
            "and its short runs, which --fast does not look at.",
            hint="Drop --fast to find the LR for that run, or drop those options.",
        )
    with locked(out):
        _find_into(out, spec, quiet, batch_size=batch_size, seed=seed, device=device, **window)


def _find_into(out: Path, spec: Any, quiet: bool, **options: Any) -> None:
    """The range test, its table (printed first: shown even when the disk is full), its
    files."""
    result = run_find(spec, progress=not quiet, **options)
    console.print(summary_table(result))
    if result.diagnosis is not None:
        console.print(f"[bold]diagnosis[/]: {result.diagnosis.shape} — {result.diagnosis.text}")
    json_path, png_path = save_or_rescue(lambda d: write_outputs(result, d), out, what="range test")
    if not quiet:
        err_console.print(f"wrote {json_path} and {png_path}")
    if result.stop_reason == "interrupted":
        raise Interrupted(
            f"Range test interrupted at step {result.stop_step}; the {result.num_steps} steps "
            f"measured were saved to {json_path} (a complete result there is kept).",
            hint="Run the command again for a full sweep.",
        )


def _find_lr(
    spec: Any, window: dict[str, Any], epochs: int | None, iterations: int | None,
    schedule: str, batch_size: int | None, seed: int, device: str, quiet: bool, out: Path,
    short_run_seeds: int = 1,
) -> None:  # fmt: skip
    for name, value in (("--epochs", epochs), ("--iterations", iterations)):
        if value is not None and value < 1:
            raise InvalidArgument(f"{name} {value} must be >= 1.")
    if epochs is not None and iterations is not None:
        raise InvalidArgument("Give --epochs or --iterations, not both.")
    result = run_find_lr(
        spec, epochs=epochs, iterations=iterations, schedule=schedule, batch_size=batch_size,
        seed=seed, device=device, progress=not quiet, short_run_seeds=short_run_seeds, **window,
    )  # fmt: skip
    console.print(find_table(result))  # first: shown even when the disk is full
    paths = save_or_rescue(lambda d: write_find_outputs(result, d), out, what="find_lr answer")
    if not quiet:
        err_console.print(f"wrote {', '.join(str(p) for p in paths)}")
    if not result.complete:
        raise Interrupted(
            f"find_lr interrupted; what it measured was saved to {paths[0]}"
            + (f" ({out / FIND_JSON} is untouched)" if (out / FIND_JSON).exists() else "")
            + ".",
            hint="Run the command again for a complete answer.",
        )
