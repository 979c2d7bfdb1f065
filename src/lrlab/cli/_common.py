"""Options and helpers shared by every ``lrlab`` subcommand.

Consistency across commands is a feature: ``--task``, ``--out``, ``--seed``/``--seeds``,
``--device`` and ``--quiet`` mean the same thing everywhere, so they are defined once here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement

from lrlab.errors import InvalidArgument

if TYPE_CHECKING:  # lrlab.tasks imports torch: only where a command runs, not for --help
    from lrlab.tasks import Task

# Results go to stdout (tables a user may pipe); progress and messages to stderr.
console = Console()
err_console = Console(stderr=True)

TaskOpt = Annotated[str, typer.Option("--task", "-t", help="Built-in task (see `lrlab tasks`).")]
OptionalTaskOpt = Annotated[
    str | None, typer.Option("--task", "-t", help="Built-in task (see `lrlab tasks`).")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same results).")]
SeedsOpt = Annotated[
    str | None,
    typer.Option("--seeds", help="Seeds: a list '0,1,2' or a count '3' (= 0,1,2)."),
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="'auto' (CUDA if present), 'cpu', 'cuda' or 'cuda:N'.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Your own factory 'pkg.module:function' returning a model, or a dict with "
        "model/optimizer/criterion/train_data (see README).",
    ),
]


def print_whole(table: Any, out: Console | None = None) -> None:
    """Print a rich table at its natural width, even where the terminal (or a pipe's default
    80 columns) is narrower: a table of results is never squeezed into "…" ellipses that
    cannot be read or copied back into a command."""
    out = console if out is None else out
    natural = Measurement.get(out, out.options.update_width(1000), table).maximum
    width = out.width
    out.width = max(width, natural)
    try:
        out.print(table)
    finally:
        out.width = width


def parse_seeds(spec: str | None, default: tuple[int, ...] = (0,)) -> list[int]:
    """``"3"`` → ``[0, 1, 2]``; ``"0,5,7"`` → ``[0, 5, 7]``; ``None`` → ``default``."""
    if spec is None or spec.strip() == "":
        return list(default)
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError as exc:
        raise InvalidArgument(
            f"--seeds {spec!r} is not a list of integers.",
            hint="Use a count like '3' or a list like '0,1,2'.",
        ) from exc
    if len(values) == 1 and "," not in spec:
        if values[0] < 1:
            raise InvalidArgument(
                f"--seeds {spec!r}: a seed count must be >= 1.",
                hint="A single number is a count (--seeds 3 means 0,1,2); for one seed write "
                "it with a comma (--seeds 0,).",
            )
        return list(range(values[0]))
    return values


def parse_floats(spec: str, *, name: str) -> list[float]:
    """``"0.99,0.97"`` → ``[0.99, 0.97]`` with an error naming the option."""
    try:
        return [float(p) for p in spec.split(",") if p.strip()]
    except ValueError as exc:
        raise InvalidArgument(f"{name} {spec!r} is not a comma-separated list of numbers.") from exc


def parse_range(spec: str, *, name: str) -> tuple[float, float, int | None]:
    """``"1e-6:100:64"`` → ``(1e-6, 100.0, 64)``; ``"1e-6:100"`` → ``(1e-6, 100.0, None)``."""
    parts = spec.split(":")
    try:
        if len(parts) == 2:
            return float(parts[0]), float(parts[1]), None
        if len(parts) == 3:
            return float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        pass
    raise InvalidArgument(
        f"{name} {spec!r} is not START:END or START:END:COUNT.",
        hint=f"For example {name} 1e-6:100:64.",
    )


def option_name(name: str) -> str:
    """``batch_size`` -> ``--batch-size``: how a keyword reads on the command line."""
    return "--" + name.replace("_", "-")


def check_counts(**options: int | None) -> None:
    """Each given option (``None``: not given) an integer >= 1, or a one-line error naming
    it: ``--batch-size 0`` is a mistake, never "the task's default"."""
    from lrlab.values import integer

    for name, value in options.items():
        if value is not None:
            integer(option_name(name), value, minimum=1)


def check_rates(**options: float | None) -> None:
    """Learning rates and limits: each given option finite and > 0 (``nan``, ``inf``, 0 and
    negative values are one-line errors naming the option)."""
    from lrlab.values import positive

    for name, value in options.items():
        if value is not None:
            positive(option_name(name), value)


def check_one_source(task: str | None, model: str | None) -> None:
    """Exactly one of ``--task`` and ``--model``."""
    if (task is None) == (model is None):
        raise InvalidArgument(
            "Pass exactly one of --task NAME or --model pkg.module:factory.",
            hint="`lrlab tasks` lists the built-in tasks, e.g. --task digits-mlp.",
        )


def load_task_or_factory(task: str | None, model: str | None, **overrides: Any) -> Task:
    """The task named by ``--task`` (:func:`lrlab.tasks.get_task`) or built from ``--model``'s
    factory (:func:`lrlab.tasks.load_user_task`); exactly one of the two must be given.

    ``overrides`` (``optimizer=``, ``batch_size=``, ...; ``None`` values are dropped) become the
    built-in task's options, or are applied to the user task with ``with_options``.
    """
    check_one_source(task, model)
    from lrlab.tasks import get_task, load_user_task

    options = {k: v for k, v in overrides.items() if v is not None}
    if task is not None:
        return get_task(task, **options)
    user = load_user_task(model)  # type: ignore[arg-type]  # not None: checked above
    return user.with_options(**options) if options else user


def fmt_lr(value: float | None, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant figures, ``—`` for none or non-finite."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"
