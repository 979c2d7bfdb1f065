"""Running means of the training loss and metrics, read from the device in batches.

Reading a loss with ``.item()`` after every step stalls an accelerator's queue; a loop that
does it every step is measurably slower on small models. The loop therefore only *keeps* the
per-step loss and metric tensors (detached, 0-d) and calls :meth:`Tally.flush` every few
updates: one ``torch.stack(...).tolist()`` moves them all to the host, where they are summed
in double precision. ``flush`` returns one :class:`~lrlab.train.runstate.StepLog` per update, so
per-step logging and the divergence check still see every single update.

Means are weighted by batch size (``sum(loss_b * n_b) / sum(n_b)``), the same definition
:func:`lrlab.evaluate.evaluate` uses, so train and eval values are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lrlab.train.runstate import StepLog


class Tally:
    """Accumulates one epoch's per-micro-batch values and per-update hyper-parameters."""

    def __init__(self, metric_names: Sequence[str]) -> None:
        self.metric_names = list(metric_names)
        self._width = 1 + len(self.metric_names)
        self._values: list[torch.Tensor] = []  # [loss, m1, ..., mk] per micro-batch, flat
        self._sizes: list[int] = []
        self._updates: list[tuple[int, int, float, float | None, int]] = []
        self.sums = dict.fromkeys(["loss", *self.metric_names], 0.0)
        self.count = 0
        self.micro_batches = 0

    def add_micro(self, loss: torch.Tensor, metrics: Sequence[torch.Tensor], size: int) -> None:
        """Keep one micro-batch's loss (and metric values) without reading them."""
        self._values.append(loss)
        self._values.extend(metrics)
        self._sizes.append(size)

    def add_update(
        self, iteration: int, epoch: int, lr: float, momentum: float | None, micro: int
    ) -> None:
        """Close an optimizer update made of the last ``micro`` micro-batches."""
        self._updates.append((iteration, epoch, lr, momentum, micro))

    @property
    def pending(self) -> int:
        """Updates kept but not yet flushed."""
        return len(self._updates)

    def flush(self) -> list[StepLog]:
        """Read the kept values (one device transfer), add them to the sums, and return one
        :class:`StepLog` per update since the last flush."""
        if not self._values:
            self._updates.clear()
            return []
        flat = torch.stack([v.detach() for v in self._values]).double().tolist()
        w = self._width
        rows = [flat[i : i + w] for i in range(0, len(flat), w)]
        for row, n in zip(rows, self._sizes, strict=True):
            self.sums["loss"] += row[0] * n
            for name, value in zip(self.metric_names, row[1:], strict=True):
                self.sums[name] += value * n
            self.count += n
        self.micro_batches += len(rows)
        logs: list[StepLog] = []
        start = 0
        for iteration, epoch, lr, momentum, micro in self._updates:
            # The update followed the plain mean of its micro-batch losses (loss / k each).
            group = rows[start : start + micro]
            start += micro
            loss = math.fsum(r[0] for r in group) / len(group)
            logs.append(StepLog(iteration, epoch, loss, lr, momentum))
        self._values.clear()
        self._sizes.clear()
        self._updates.clear()
        return logs

    def means(self) -> dict[str, float]:
        """``{"loss": ..., <metric>: ...}`` over the flushed micro-batches (NaN when none)."""
        if self.count == 0:
            return dict.fromkeys(self.sums, math.nan)
        return {k: v / self.count for k, v in self.sums.items()}
