"""The budget of a ``fit`` run in both units: epochs and optimizer updates (iterations).

``epochs=N`` runs N full epochs; ``iterations=T`` runs until T updates, so the last epoch may
stop part-way. With ``k = accumulation_steps`` and ``n`` batches per epoch, an epoch makes
``ceil(n / k)`` updates (the last group of an epoch may hold fewer than ``k`` micro-batches).
When the data has no ``len()``, the unknown numbers stay ``None`` (the loop learns ``n`` from
the first full epoch). The schedule must last at least as many updates as the run makes.
"""

from __future__ import annotations

import math
from typing import Any

from lrlab.batches import num_batches
from lrlab.errors import DataError, InvalidArgument, check


class Budget:
    """The budget in both units, as far as the data's length allows."""

    def __init__(
        self,
        *,
        epochs: int | None,
        iterations: int | None,
        batches_per_epoch: int | None,
        updates_per_epoch: int | None,
        accumulation_steps: int,
        epoch_budget: bool,
    ) -> None:
        self.epochs = epochs
        self.iterations = iterations
        self.batches_per_epoch = batches_per_epoch
        self.updates_per_epoch = updates_per_epoch
        self.accumulation_steps = accumulation_steps
        self.epoch_budget = epoch_budget

    @classmethod
    def build(
        cls,
        train_data: Any,
        *,
        schedule: Any,
        epochs: int | None,
        iterations: int | None,
        accumulation_steps: int,
    ) -> Budget:
        if (epochs is None) == (iterations is None):
            hint = "For example epochs=10, or iterations=2000 (optimizer updates)."
            if schedule is not None and getattr(schedule, "total_steps", None):
                hint += f" The schedule lasts iterations={schedule.total_steps}."
            raise InvalidArgument(
                f"Give exactly one budget: got epochs={epochs!r}, iterations={iterations!r}.",
                hint=hint,
            )
        for name, value in (("epochs", epochs), ("iterations", iterations)):
            if value is not None:
                check(
                    isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                    f"{name}={value!r} must be a positive integer.",
                )
        check(
            isinstance(accumulation_steps, int) and accumulation_steps >= 1,
            f"accumulation_steps={accumulation_steps!r} must be an integer >= 1.",
        )
        if schedule is not None and not (
            callable(getattr(schedule, "lr", None)) and callable(getattr(schedule, "to_dict", None))
        ):
            raise InvalidArgument(
                f"schedule={schedule!r} is not an lrlab schedule.",
                hint="Build one with lrlab.schedules (one_cycle, cyclic, cosine, ...). To drive "
                "a torch LRScheduler yourself, call it from a callback's on_step_end.",
            )
        n = num_batches(train_data)
        if n == 0:
            raise DataError(
                "train_data has no batches (len 0).",
                hint="Check the dataset is not empty and batch_size <= its length with "
                "drop_last=True.",
            )
        upe = None if n is None else math.ceil(n / accumulation_steps)
        if epochs is not None:
            total = None if upe is None else epochs * upe
            plan = cls(
                epochs=epochs,
                iterations=total,
                batches_per_epoch=n,
                updates_per_epoch=upe,
                accumulation_steps=accumulation_steps,
                epoch_budget=True,
            )
        else:
            assert iterations is not None
            plan = cls(
                epochs=None if upe is None else math.ceil(iterations / upe),
                iterations=iterations,
                batches_per_epoch=n,
                updates_per_epoch=upe,
                accumulation_steps=accumulation_steps,
                epoch_budget=False,
            )
        plan._check_schedule(schedule)
        return plan

    def _check_schedule(self, schedule: Any) -> None:
        total = getattr(schedule, "total_steps", None) if schedule is not None else None
        if total is None or self.iterations is None or self.iterations <= total:
            return
        how = (
            f"epochs={self.epochs} × {self.updates_per_epoch} updates per epoch"
            if self.epoch_budget
            else f"iterations={self.iterations}"
        )
        raise InvalidArgument(
            f"The schedule {getattr(schedule, 'name', '')!r} lasts total_steps={total}, but "
            f"this run makes {self.iterations} optimizer updates ({how}).",
            hint=f"Build the schedule with total_steps={self.iterations}, or shorten the budget.",
        )

    def cut_short(self, iteration: int) -> bool:
        """An iteration budget reached in the middle of an epoch."""
        if self.epoch_budget or self.iterations is None:
            return False
        return iteration >= self.iterations

    def done(self, epoch: int, iteration: int) -> bool:
        if self.epoch_budget:
            assert self.epochs is not None
            return epoch >= self.epochs
        assert self.iterations is not None
        return iteration >= self.iterations
