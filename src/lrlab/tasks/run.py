"""The one builder of a run's objects: (a task, a seed, options) -> model, optimizer, data.

Every command and every experiment trial starts here, so "seed 3 of task T" means the same
objects everywhere (``lrlab find``, ``lrlab train``, ``lrlab find --vary``, experiment trials
and their ``max_lr: auto`` range tests, ``find_lr``):

1. the global RNGs are seeded with ``derive_seed(seed, "train")`` *before* anything is
   built — the task too, when it is given as a loader (a user factory is called when it
   loads, and may draw random numbers) — so dropout and other global draws are the same
   for every variant of a seed;
2. the data order and augmentation follow ``derive_seed(seed, "data")`` (``Task.data``);
3. the initial weights follow ``derive_seed(seed, "init")`` in a forked RNG (``Task.model``),
   built on the CPU so that a seed gives the same weights on every device;
4. the optimizer is the task's (:class:`~lrlab.optim.OptimizerSpec`), or the one given;
5. the precision is the task's on CUDA and full precision elsewhere, unless one is given
   (:func:`lrlab.precision.task_amp`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lrlab.devices import resolve_device
from lrlab.optim.registry import OptimizerSpec
from lrlab.precision import task_amp
from lrlab.seeding import derive_seed, seed_everything


@dataclass
class RunObjects:
    """What :func:`build_run` returns: the live objects of one run of a task."""

    task: Any  # lrlab.tasks.Task (or UserTask)
    seed: int
    device: torch.device
    data: Any  # lrlab.tasks.DataBundle
    model: nn.Module
    optimizer: torch.optim.Optimizer
    optimizer_spec: OptimizerSpec | None  # None: the task's own (user factories)
    criterion: Any
    amp: str | bool

    @property
    def metrics(self) -> Any:
        """The task's metrics as loops take them (names, or a user task's ``{name: fn}``)."""
        metrics = self.task.metrics
        return dict(metrics) if isinstance(metrics, dict) else list(metrics)


def build_run(
    task: Any | Callable[[], Any],
    seed: int,
    *,
    device: str | torch.device | None = "auto",
    batch_size: int | None = None,
    optimizer: OptimizerSpec | Callable[[Any], OptimizerSpec] | None = None,
    amp: Any = None,
) -> RunObjects:
    """Build seed ``seed``'s objects of ``task`` (the recipe is in the module docstring).

    ``task``: a :class:`~lrlab.tasks.Task`, or a zero-argument callable that loads one
    (called after seeding).
    ``optimizer``: an :class:`OptimizerSpec` to use instead of the task's, or a function of
    the loaded task that chooses one (``None``: the task's own ``make_optimizer``, which also
    serves user factories that return an optimizer instance); ``amp``: an explicit
    precision, else the task's on CUDA.
    """
    seed = int(seed)
    seed_everything(derive_seed(seed, "train"))
    if callable(task):
        task = task()
    dev = resolve_device(device)
    data = task.data(seed=seed, device=dev, batch_size=batch_size)
    model = task.model(seed, device=dev)
    if callable(optimizer):
        optimizer = optimizer(task)
    opt = task.make_optimizer(model) if optimizer is None else optimizer.build(model.parameters())
    return RunObjects(
        task=task,
        seed=seed,
        device=dev,
        data=data,
        model=model,
        optimizer=opt,
        optimizer_spec=optimizer,
        criterion=task.criterion(),
        amp=task_amp(getattr(task, "amp", None), dev, amp),
    )
