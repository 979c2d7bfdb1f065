"""Smith's second check for weight decay: a short one-cycle run per candidate, compared on
the *test* loss at its end (Smith, 2018, §4.4: "the best value ... is the one with the
lowest test loss at the end of a short run").

Each candidate trains from the same initial state (the caller restores it) with
``one_cycle(max_lr, total_steps = epochs × updates per epoch)`` peaking at its own suggested
max LR (or one LR for all), then the model and optimizer are put back. When the momentum is
what is varied, the one-cycle holds the candidate's momentum constant
(``cycle_momentum=False``): cycling it would overwrite the very value under test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lrlab.batches import num_batches
from lrlab.compare.result import Confirmation
from lrlab.errors import InvalidArgument
from lrlab.snapshot import preserved


def confirm_one_cycle(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Any],
    eval_data: Iterable[Any],
    *,
    epochs: int,
    max_lr: float | None,
    cycle_momentum: bool = True,
    **fit_kwargs: Any,
) -> Confirmation:
    """Train ``epochs`` epochs of one-cycle to ``max_lr``; return the last epoch's record.

    ``max_lr=None`` (the candidate's range test gave no suggestion) skips the run.
    ``fit_kwargs`` go to :func:`lrlab.train.fit` (``unpack``, ``step_fn``, ``metrics``,
    ``grad_clip``, ``accumulation_steps``, ``amp``, ``eval_batches``). The model, the
    optimizer and the RNG streams are restored afterwards.
    """
    from lrlab.schedules import one_cycle
    from lrlab.train import fit

    if max_lr is None or not math.isfinite(max_lr) or max_lr <= 0:
        return Confirmation(
            max_lr=None,
            epochs=epochs,
            stop_reason="skipped",
            message="no suggested max LR for this candidate (its range test had none); "
            "pass confirm_lr= to confirm every candidate at one LR.",
        )
    n = num_batches(train_data)
    if n is None:
        raise InvalidArgument(
            "confirm_with_one_cycle needs training data with a length (batches per epoch) to "
            "lay out the one-cycle.",
            hint="Use a DataLoader / TensorLoader, or confirm with lrlab.fit yourself.",
        )
    accumulation = int(fit_kwargs.get("accumulation_steps", 1))
    total = epochs * math.ceil(n / accumulation)
    schedule = one_cycle(max_lr, total_steps=total, cycle_momentum=cycle_momentum)
    with preserved(model, optimizer, rng=True):
        result = fit(
            model,
            optimizer,
            criterion,
            train_data,
            schedule=schedule,
            epochs=epochs,
            eval_data=eval_data,
            quiet=True,
            **fit_kwargs,
        )
    return Confirmation(
        max_lr=float(max_lr),
        epochs=epochs,
        final={k: v for k, v in result.final.items() if isinstance(v, (int, float, str))},
        stop_reason=result.stop_reason,
        message=result.message,
    )


def confirmed_best(confirmations: list[Confirmation | None]) -> int | None:
    """The index with the lowest final eval loss (``None`` when no run has one)."""
    scored = [
        (c.eval_loss, k)
        for k, c in enumerate(confirmations)
        if c is not None and c.eval_loss is not None
    ]
    return min(scored)[1] if scored else None
