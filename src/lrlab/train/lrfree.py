"""What ``fit`` does for learning-rate-free optimizers, in one place.

The loop (:mod:`lrlab.train.loop`) calls the same five hooks for every optimizer; for an
ordinary one they do nothing (:class:`LrFreeHooks`). :func:`lrfree_hooks` picks the class by
the optimizer's family (:func:`lrlab.optim.lrfree.family`)::

    start()            once, before the epoch-0 evaluation
    training()         before the updates of every epoch
    averaged()         before every evaluation, checkpoint, and at the end
    annotate(record)   every epoch record, before callbacks see it
    finish()           once, at the end (also after divergence, Ctrl-C or an error)

**Schedule-Free** (:class:`ScheduleFreeHooks`; Defazio et al. 2024). Gradients are taken at
``y``, but the point to evaluate and to save is the average ``x``: ``averaged()`` calls
``optimizer.eval()`` and ``training()`` ``optimizer.train()`` — lazily, so an epoch's
evaluation, its callbacks' ``on_epoch_end`` and its checkpoint all see ``x``, and the
parameters make one round trip ``y → x → y`` per epoch. A checkpoint therefore holds ``x``
and the optimizer in eval mode, and a resumed run makes the very same ``x → y`` step as an
uninterrupted one: bit-exact. ``fit`` returns the model holding ``x``.

BatchNorm's running statistics were accumulated at ``y``; at the evaluation point they are
recomputed at ``x``, as the ``schedulefree`` README advises: the first :data:`BN_BATCHES`
training batches, forward only, in train mode, without gradients. lrlab resets the
statistics and averages them exactly (``momentum=None``, a cumulative mean: PreciseBN)
rather than blending them into the stale ones. Before the first step ``x = y``: nothing to
recompute. A forward pass of the model in ``eval()`` mode while the optimizer is in train
mode — a user's callback or loop evaluating ``y`` — raises the ``sf-train-mode-eval`` flag.

**Prodigy / D-Adaptation** (:class:`StepSizeHooks`). Every record gets ``d`` (the estimate)
and ``d_lr`` (``d · lr``, the step size group 0 takes), and the failure rules of
:func:`lrlab.analysis.lrfree.step_size_flags` run on the records.

Flags go into the record's ``lrfree_flags`` (list of ``"code: message"``) and are warned
once (``LrFreeWarning``).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from lrlab.analysis.lrfree import SF_TRAIN_MODE_EVAL, flag_code, raised, step_size_flags
from lrlab.batches import Batch, StepFn, run_step
from lrlab.optim import lrfree

# Training batches over which BatchNorm statistics are recomputed at x (the README's 50).
BN_BATCHES = 50


class LrFreeWarning(UserWarning):
    """A learning-rate-free optimizer's known failure mode showed in this run."""


class LrFreeHooks:
    """The hooks for an ordinary optimizer: nothing to do."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        *,
        step: StepFn,
        train_data: Iterable[Batch],
        amp_dtype: torch.dtype | None = None,
        total_updates: int | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.model = model
        self.step = step
        self.train_data = train_data
        self.amp_dtype = amp_dtype
        self.total_updates = total_updates
        self.pending: list[str] = []

    def start(self) -> None:
        """Before the epoch-0 evaluation."""

    def training(self) -> None:
        """Before an epoch's updates."""

    def averaged(self) -> None:
        """Before an evaluation, a checkpoint, and at the end."""

    def annotate(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        """Add this optimizer's fields and new flags to ``record`` (``records``: the earlier
        ones)."""
        self._flag(record, records, [])

    def finish(self) -> None:
        """At the end of ``fit``, whatever the reason."""

    def _flag(self, record: dict[str, Any], records: list[dict[str, Any]], new: list[str]) -> None:
        seen = {flag_code(f) for f in raised(records)}
        fresh = []
        for flag in [*self.pending, *new]:
            if flag_code(flag) not in seen:
                seen.add(flag_code(flag))
                fresh.append(flag)
        self.pending = []
        if fresh:
            record["lrfree_flags"] = fresh
            for flag in fresh:
                warnings.warn(flag, LrFreeWarning, stacklevel=4)


class ScheduleFreeHooks(LrFreeHooks):
    """Schedule-Free: evaluate and save ``x``, train at ``y``, BatchNorm statistics at ``x``."""

    _handle: Any = None

    def start(self) -> None:
        self._handle = self.model.register_forward_pre_hook(self._check_mode)

    def _check_mode(self, module: nn.Module, _args: Any) -> None:
        if module.training or not lrfree.in_train_mode(self.optimizer):
            return
        if not any(flag_code(f) == SF_TRAIN_MODE_EVAL for f in self.pending):
            self.pending.append(
                f"{SF_TRAIN_MODE_EVAL}: the model ran in eval() mode while the Schedule-Free "
                "optimizer was in train mode, so it was evaluated at y, not at the average x. "
                "Call optimizer.eval() before evaluating (and optimizer.train() after)."
            )

    def training(self) -> None:
        lrfree.to_train(self.optimizer)

    def averaged(self) -> None:
        if lrfree.to_eval(self.optimizer) and lrfree.has_average(self.optimizer):
            recompute_batch_norm(self.model, self.step, self.train_data, self.amp_dtype)

    def finish(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.averaged()


class StepSizeHooks(LrFreeHooks):
    """Prodigy / D-Adaptation: ``d`` and ``d · lr`` in every record, and their failure flags."""

    def annotate(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        size = lrfree.step_size(self.optimizer)
        assert size is not None  # chosen by family
        record["d"] = size.d
        record["d_lr"] = size.d_lr
        new = step_size_flags([*records, record], size.d0, self.total_updates)
        self._flag(record, records, new)


_HOOKS: dict[str | None, type[LrFreeHooks]] = {
    None: LrFreeHooks,
    lrfree.SCHEDULE_FREE: ScheduleFreeHooks,
    lrfree.DISTANCE: StepSizeHooks,
}


def lrfree_hooks(optimizer: torch.optim.Optimizer, model: nn.Module, **kwargs: Any) -> LrFreeHooks:
    """The hooks for ``optimizer``'s family (keyword arguments: :class:`LrFreeHooks`')."""
    return _HOOKS[lrfree.family(optimizer)](optimizer, model, **kwargs)


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def recompute_batch_norm(
    model: nn.Module,
    step: StepFn,
    data: Iterable[Batch],
    amp_dtype: torch.dtype | None = None,
    batches: int = BN_BATCHES,
) -> int:
    """Recompute every BatchNorm layer's running mean and variance at the current weights:
    the exact (cumulative) average over the first ``batches`` batches of ``data``, forward
    passes in train mode without gradients. The model's mode and the layers' momentum are
    restored. Returns the number of batches used (0 when the model has no BatchNorm)."""
    norms = _batch_norms(model)
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    was_training = model.training
    first = next(itertools.chain(model.parameters(), model.buffers()))
    n = 0
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: every batch weighs the same
        model.train()
        for batch in itertools.islice(data, batches):
            with torch.autocast(first.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                run_step(step, model, batch)
            n += 1
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return n
