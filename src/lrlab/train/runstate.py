"""``RunState``: what the training loop shows its callbacks.

One mutable object per ``fit`` call. The loop updates it in place; callbacks read it (and may
add keys to ``record`` in ``on_epoch_end``). It is deliberately a plain dataclass, not an
engine: the loop in :mod:`lrlab.train.loop` is the only writer of its core fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lrlab.schedules import HyperSchedule


@dataclass(frozen=True)
class StepLog:
    """One optimizer update, as handed to ``on_log`` hooks (TensorBoard, user loggers).

    ``loss`` is the mean of the update's micro-batch losses (the quantity whose gradient the
    update followed); ``lr`` / ``momentum`` are those of param group 0 for this update.
    """

    iteration: int  # 1-based: the number of updates done once this one is applied
    epoch: int
    loss: float
    lr: float
    momentum: float | None


@dataclass(eq=False)
class RunState:
    """The state of a running ``fit``; the single argument of every callback hook.

    Core fields (the contract in ``docs/architecture.md``):

    - ``model``, ``optimizer``, ``schedule`` (a ``HyperSchedule`` or ``None``), ``out_dir``;
    - ``epoch``: 1-based number of the epoch running (in ``on_step_end``) or just ended (in
      ``on_epoch_end``); ``0`` before the first epoch;
    - ``iteration``: optimizer updates done so far (also across a resume);
    - ``loss``: the last update's loss as a float (mean over its micro-batches). It is read
      lazily from the device: only a callback that reads it pays for the synchronisation;
    - ``record``: the epoch record being built (``on_epoch_end`` may add keys; they are
      written to ``records.jsonl``); ``records``: every record so far, epoch 0 included;
    - ``stop_reason``: ``None`` while running, then ``"completed"``, ``"diverged"``,
      ``"callback"`` or ``"interrupted"`` (set before ``on_fit_end``).

    Extras for progress displays and loggers: ``epochs`` / ``iterations`` (the planned totals,
    ``None`` when unknown), ``batch`` (micro-batches done in the current epoch),
    ``batches_per_epoch``, ``lr`` / ``momentum`` (of the last update, param group 0),
    ``running`` (running means over the epoch so far, refreshed every few steps:
    ``{"loss": ..., <metric>: ...}``) and ``message`` (why the run stopped, in words).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: HyperSchedule | None = None
    out_dir: Path | None = None
    epoch: int = 0
    iteration: int = 0
    record: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    message: str = ""
    epochs: int | None = None
    iterations: int | None = None
    batch: int = 0
    batches_per_epoch: int | None = None
    lr: float | None = None
    momentum: float | None = None
    running: dict[str, float] = field(default_factory=dict)
    _loss: torch.Tensor | list[torch.Tensor] | float | None = field(default=None, repr=False)

    @property
    def loss(self) -> float:
        """The last update's loss (NaN before the first update); with gradient accumulation,
        the mean of its micro-batch losses."""
        value = self._loss
        if value is None:
            return math.nan
        if isinstance(value, list):
            value = torch.stack(value).float().mean()
        if isinstance(value, torch.Tensor):
            value = float(value)  # the one device sync, paid only when someone asks
        self._loss = value
        return value

    @loss.setter
    def loss(self, value: torch.Tensor | list[torch.Tensor] | float | None) -> None:
        self._loss = value
