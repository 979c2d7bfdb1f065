"""The budget of a ``fit`` run in both units: epochs and optimizer updates (iterations),
and the schedule's length bound to it.

``epochs=N`` runs N full epochs; ``iterations=T`` runs until T updates, so the last epoch may
stop part-way. With ``k = accumulation_steps`` and ``n`` batches per epoch, an epoch makes
``ceil(n / k)`` updates (the last group of an epoch may hold fewer than ``k`` micro-batches):
:func:`planned_updates` is the one formula, used by ``fit``, experiment trials and the demo.
When the data has no ``len()``, the unknown numbers stay ``None`` (the loop learns ``n`` from
the first full epoch).

The budget is stated once: a schedule given without a length — a policy and its parameters
(``{"name": "one-cycle", "max_lr": 0.1}``, the form of experiment configs), a policy and a
peak LR (``{"name": "wsd", "peak_lr": 0.1}``: :func:`lrlab.schedules.for_run`, step counts
as fractions of the run) or a function of ``total_steps``
(``functools.partial(lrlab.one_cycle, 0.1)``) — is built by :func:`bind_schedule` with
``total_steps`` = the run's number of updates (fastai's ``fit_one_cycle(n_epoch, lr_max)``).
A schedule built with a length must last at least as many updates as the run makes.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from lrlab.batches import num_batches
from lrlab.errors import DataError, InvalidArgument, check

# Schedule parameters that are the run's length (filled in by bind_schedule).
LENGTH_PARAMS = ("total_steps",)


def check_budget(epochs: int | None, iterations: int | None, schedule: Any = None) -> None:
    """Exactly one budget, a positive integer."""
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


def planned_updates(
    batches_per_epoch: int | None,
    *,
    epochs: int | None,
    iterations: int | None,
    accumulation_steps: int = 1,
) -> int | None:
    """The number of optimizer updates a run makes: ``iterations``, or
    ``epochs × ceil(batches_per_epoch / accumulation_steps)`` (``None`` when the number of
    batches is unknown)."""
    if iterations is not None:
        return iterations
    if epochs is None or batches_per_epoch is None:
        return None
    return epochs * math.ceil(batches_per_epoch / accumulation_steps)


def _is_schedule(obj: Any) -> bool:
    return callable(getattr(obj, "lr", None)) and callable(getattr(obj, "to_dict", None))


def _takes_length(obj: Any) -> bool:
    try:
        return "total_steps" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def bind_schedule(schedule: Any, total_steps: int | None) -> Any:
    """The schedule a run of ``total_steps`` updates follows.

    ``None`` and built schedules are returned as they are; a mapping
    ``{"name": policy, "peak_lr": lr, **options}`` is :func:`lrlab.schedules.for_run`'s plan
    for the run; another mapping ``{"name": policy, **params}`` is built with
    ``lrlab.schedules.build`` and, when the policy has a length and none is given,
    ``total_steps``; a callable that takes ``total_steps`` is called with it.
    """
    if schedule is None or _is_schedule(schedule):
        return schedule
    if isinstance(schedule, Mapping):
        from lrlab.schedules import build, for_run, policy_params

        params = dict(schedule)
        name = params.pop("name", None)
        check(
            isinstance(name, str),
            f"schedule={dict(schedule)!r} has no policy name.",
            hint="For example schedule={'name': 'one-cycle', 'max_lr': 0.1}.",
        )
        if "peak_lr" in params:
            peak = params.pop("peak_lr")
            return for_run(name, peak, _length(total_steps, name), **params)
        wants = [k for k in LENGTH_PARAMS if k in policy_params(name) and k not in params]
        if wants:
            params.update(dict.fromkeys(wants, _length(total_steps, name)))
        return build(name, **params)
    _check_form(schedule)
    return schedule(total_steps=_length(total_steps, getattr(schedule, "__name__", "")))


def _check_form(schedule: Any) -> None:
    """One of the forms :func:`bind_schedule` takes."""
    if schedule is None or _is_schedule(schedule) or isinstance(schedule, Mapping):
        return
    if callable(schedule) and _takes_length(schedule):
        return
    raise InvalidArgument(
        f"schedule={schedule!r} is not an lrlab schedule.",
        hint="Build one with lrlab.schedules (one_cycle, cyclic, cosine, ...), or pass a "
        "policy and its parameters ({'name': 'one-cycle', 'max_lr': 0.1}). To drive a torch "
        "LRScheduler yourself, call it from a callback's on_step_end.",
    )


def _length(total_steps: int | None, what: str) -> int:
    if total_steps is None:
        raise InvalidArgument(
            f"The schedule {what!r} needs the run's number of updates, but train_data has no "
            "len() to count an epoch's batches.",
            hint="Give the budget as iterations=, or build the schedule with total_steps=.",
        )
    return total_steps


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
        """The budget of a run over ``train_data``; a built ``schedule`` must last it."""
        check_budget(epochs, iterations, schedule)
        check(
            isinstance(accumulation_steps, int) and accumulation_steps >= 1,
            f"accumulation_steps={accumulation_steps!r} must be an integer >= 1.",
        )
        _check_form(schedule)
        n = num_batches(train_data)
        if n == 0:
            raise DataError(
                "train_data has no batches (len 0).",
                hint="Check the dataset is not empty and batch_size <= its length with "
                "drop_last=True.",
            )
        upe = None if n is None else math.ceil(n / accumulation_steps)
        total = planned_updates(
            n, epochs=epochs, iterations=iterations, accumulation_steps=accumulation_steps
        )
        if epochs is None and upe is not None:
            assert total is not None  # an iteration budget
            epochs = math.ceil(total / upe)
        budget = cls(
            epochs=epochs,
            iterations=total,
            batches_per_epoch=n,
            updates_per_epoch=upe,
            accumulation_steps=accumulation_steps,
            epoch_budget=iterations is None,
        )
        if _is_schedule(schedule):
            budget.check_schedule(schedule)
        return budget

    def check_schedule(self, schedule: Any) -> None:
        """A schedule with a length must last every update of the run."""
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
