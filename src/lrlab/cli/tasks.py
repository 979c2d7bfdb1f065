"""``lrlab tasks``: the built-in tasks as a table, or one task's model summary.

Examples::

    lrlab tasks                                   # name, kind, data, params, defaults
    lrlab tasks --summary cifar10-resnet9         # layer table like the seeds print
    lrlab tasks --summary imagefolder:path=faces  # tasks whose shapes come from a path
    lrlab tasks --json                            # the same list, machine-readable
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lrlab.cli._common import console, print_whole

if TYPE_CHECKING:  # lrlab.tasks imports torch: only when the command runs, not for --help
    from lrlab.tasks import Task


def count_parameters(task: Task) -> int | None:
    """Parameters of the task's model, counted on the meta device (no memory, no init
    cost); ``None`` when the shapes depend on the user's data."""
    import torch

    if task.input_shape is None:
        return None
    options = dict(task.model_options)
    if "init" in options:
        options["init"] = "default"  # init schemes do not change counts and cost time
    with torch.device("meta"):
        model = task.model_fn(num_classes=task.num_classes, input_shape=task.input_shape, **options)
    return sum(p.numel() for p in model.parameters())


def task_rows(tasks: list[Task]) -> list[dict[str, Any]]:
    """One dict per task with what the table shows."""
    rows = []
    for t in tasks:
        rows.append(
            {
                "name": t.name,
                "kind": t.kind,
                "train_size": t.train_size,
                "eval_size": t.eval_size,
                "params": count_parameters(t),
                "batch_size": t.batch_size,
                "epochs": t.epochs,
                "lr_range": list(t.lr_range),
                "optimizer": t.optimizer.to_dict(),
                "loss": t.loss,
                "requires": list(t.requires),
                "description": t.description,
            }
        )
    return rows


def _num(v: int | None) -> str:
    return f"{v:,}" if v is not None else "from path"


def tasks(
    summary: Annotated[
        str | None,
        typer.Option("--summary", "-s", help="Print the model summary of this task."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the built-in tasks (or print one task's model summary)."""
    from lrlab.tasks import get_task, list_tasks

    if summary is not None:
        from lrlab.models.summary import summary as summarize

        task = get_task(summary)
        model = task.model(seed=0)
        input_shape = task.input_shape or task.splits().input_shape
        result = summarize(model, input_shape)
        if as_json:
            console.print_json(json.dumps(result.to_dict()))
        else:
            console.print(f"[bold]{task.name}[/bold]: {task.description}", highlight=False)
            console.print(str(result), highlight=False, markup=False)
        return
    rows = task_rows(list_tasks())
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="lrlab tasks", title_justify="left")
    for col, justify in [
        ("task", "left"),
        ("kind", "left"),
        ("train / eval", "right"),
        ("params", "right"),
        ("batch", "right"),
        ("epochs", "right"),
        ("LR window", "right"),
        ("optimizer", "left"),
        ("requires", "left"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        sizes = (
            f"{_num(r['train_size'])} / {_num(r['eval_size'])}"
            if r["train_size"] is not None
            else "from path"
        )
        table.add_row(
            r["name"],
            r["kind"],
            sizes,
            _num(r["params"]),
            str(r["batch_size"]),
            str(r["epochs"]),
            f"{r['lr_range'][0]:g} … {r['lr_range'][1]:g}",
            r["optimizer"]["name"],
            ", ".join(r["requires"]) or "—",
        )
    # A reference table: never squeezed into "funct…" names that cannot be copied into --task.
    print_whole(table)
    console.print(
        "Options: get_task(name, **options) or --task 'name:key=value,...' "
        "(e.g. imagefolder:path=DIR); `lrlab tasks --summary NAME` shows a model.",
        highlight=False,
    )
