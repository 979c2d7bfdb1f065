"""Finding tasks by name and changing their options."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from lrlab.errors import InvalidArgument
from lrlab.optim.registry import OptimizerSpec
from lrlab.tasks.base import ImagePipeline, Task

# Task fields an option may replace directly.
_FIELDS = (
    "batch_size",
    "epochs",
    "lr_range",
    "eval_batch_size",
    "channels_last",
    "amp",
    "compile",
    "metrics",
    "optimizer",
)
# Options that edit the image pipeline's augmentation (ImageAugment fields) or switch it off.
_AUGMENT_KEYS = ("padding", "pad_mode", "flip", "cutout", "cutout_holes", "rotate")


def _close(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def known_options(task: Task) -> list[str]:
    """The option names :func:`apply_options` accepts for ``task``."""
    keys = [*_FIELDS, *task.model_options, *task.data_options]
    if task.pipeline is not None:
        keys += ["augment", "normalize", *_AUGMENT_KEYS]
    return sorted(set(keys))


def _optimizer(value: Any, current: OptimizerSpec) -> OptimizerSpec:
    if isinstance(value, OptimizerSpec):
        return value
    if isinstance(value, str):
        # A different optimizer keeps only the learning rate of the old one.
        if value.lower() == current.name:
            return current
        return OptimizerSpec(value.lower(), {"lr": current.kwargs.get("lr", 0.01)})
    if isinstance(value, Mapping) and "name" in value:
        if "kwargs" in value:
            return OptimizerSpec.from_dict(value)
        return OptimizerSpec(
            str(value["name"]).lower(), {k: v for k, v in value.items() if k != "name"}
        )
    raise InvalidArgument(
        f"optimizer={value!r} is not an optimizer name or a dict with a 'name'.",
        hint="For example optimizer='adam' or "
        "optimizer={'name': 'sgd', 'lr': 0.1, 'momentum': 0.9}.",
    )


def apply_options(task: Task, options: Mapping[str, Any]) -> Task:
    """A copy of ``task`` with ``options`` applied (unknown names raise with the list)."""
    if not options:
        return task
    known = known_options(task)
    changes: dict[str, Any] = {}
    model_opts, data_opts = dict(task.model_options), dict(task.data_options)
    pipeline = task.pipeline
    for key, value in options.items():
        if key not in known:
            raise InvalidArgument(
                f"Task {task.name!r} has no option {key!r}.{_close(key, known)}",
                hint=f"Its options: {', '.join(known)}.",
            )
        if key == "optimizer":
            changes[key] = _optimizer(value, task.optimizer)
        elif key == "lr_range":
            changes[key] = (float(value[0]), float(value[1]))
        elif key == "metrics":
            changes[key] = (value,) if isinstance(value, str) else tuple(value)
        elif key in _FIELDS:
            changes[key] = value
        elif key in task.model_options:
            model_opts[key] = value
        elif key in task.data_options:
            data_opts[key] = value
        elif key == "augment":
            if not value:
                pipeline = ImagePipeline(augment=None, normalize=pipeline.normalize)
        elif key == "normalize":
            pipeline = dataclasses.replace(pipeline, normalize=bool(value))
        else:  # an augmentation field
            base = pipeline.augment
            if base is None:
                raise InvalidArgument(
                    f"Task {task.name!r}: option {key!r} needs augmentation, which is off."
                )
            pipeline = dataclasses.replace(
                pipeline, augment=dataclasses.replace(base, **{key: value})
            )
    return dataclasses.replace(
        task, model_options=model_opts, data_options=data_opts, pipeline=pipeline, **changes
    )


def parse_task_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"csv-pixels:path=fer.csv,epochs=5"`` → ``("csv-pixels", {"path": "fer.csv",
    "epochs": 5})``: a CLI-friendly way to pass options with the name. Values are read as
    YAML scalars (``5`` → int, ``1e-3`` → float, ``true`` → bool, else the string)."""
    import yaml

    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, raw = part.partition("=")
        if not eq or not key.strip():
            raise InvalidArgument(
                f"Task option {part!r} in {spec!r} is not KEY=VALUE.",
                hint="For example --task csv-pixels:path=fer2013.csv,epochs=5.",
            )
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        # YAML reads '1e-3' as a string (no dot); numbers are what users mean.
        if isinstance(value, str) and any(c in value for c in ".eE"):
            with contextlib.suppress(ValueError):
                value = float(value)
        options[key.strip()] = raw if value is None else value
    return name.strip(), options


def get_task(name: str, **options: Any) -> Task:
    """The built-in task ``name`` with ``options`` applied.

    ``name`` may carry options after a colon (``"imagefolder:path=data/faces"``). Unknown
    names raise with the closest known names.
    """
    from lrlab.tasks.builtin import TASKS

    if not isinstance(name, str):
        raise InvalidArgument(f"task name must be a string, got {type(name).__name__}.")
    base = name.partition(":")[0].strip()
    task = TASKS.get(base)
    if task is None:
        raise InvalidArgument(
            f"Unknown task {base!r}.{_close(base, list(TASKS))}",
            hint="List the tasks with `lrlab tasks` (or lrlab.tasks.list_tasks()); for your "
            "own 'pkg.module:function' factory use --model (lrlab.tasks.load_user_task).",
        )
    _, spec_options = parse_task_spec(name) if ":" in name else (base, {})
    return apply_options(task, {**spec_options, **options})


def list_tasks() -> list[Task]:
    """Every built-in task, in registry order."""
    from lrlab.tasks.builtin import TASKS

    return list(TASKS.values())
