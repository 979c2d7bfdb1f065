"""lrlab's ``find_lr`` for a Hugging Face ``Trainer``: ``find_lr(trainer)`` and ``FindLRCallback``.

::

    from lrlab.integrations.transformers import find_lr

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev, ...)
    found = find_lr(trainer, apply=True)   # sets trainer.args.learning_rate = found.lr
    trainer.train()

:func:`find_lr` runs :func:`lrlab.find_lr` on what the Trainer will train with: its model; its
optimizer (``trainer.create_optimizer()``: ``optim``, ``weight_decay`` groups, ``adam_beta1/2``,
``adam_epsilon``, or the one it was given); its batches (``get_train_dataloader()``: the data
collator, column removal; ``gradient_accumulation_steps`` micro-batches per update, the
gradient norm clipped to ``max_grad_norm``) and held-out
batches (``get_eval_dataloader()`` when there is an eval set, else a split carved from the
training data); its ``compute_loss`` (under the accelerator's autocast); and its planned run —
the number of updates the Trainer computes from ``max_steps`` or epochs, and the schedule
``lr_scheduler_type`` and the warm-up make (:mod:`._hf_schedules`), so the answer is the peak
LR for the schedule the Trainer will actually run. The model, the optimizer and every random
stream are restored; an optimizer created for the find is dropped again.

``apply=True`` sets ``trainer.args.learning_rate`` (and, when ``schedule=`` planned another
schedule, ``lr_scheduler_type``, ``warmup_steps`` and ``lr_scheduler_kwargs``); an optimizer
or scheduler the Trainer already holds is moved to the found peak, ratios kept.

:class:`FindLRCallback` does the same at ``on_train_begin``, where the Trainer has already
built its optimizer and scheduler: their LRs are scaled to the found peak (every
transformers schedule is proportional to it). One process only (no distributed training).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lrlab.errors import DataError, InvalidArgument, MissingExtra

try:
    from transformers import TrainerCallback
except ImportError as exc:
    raise MissingExtra(
        "lrlab.integrations.transformers needs transformers, which is not installed.",
        hint="Install the extra: pip install 'lrlab[transformers]'.",
    ) from exc

import torch

from lrlab.batches import to_device
from lrlab.finder import FindResult
from lrlab.finder import find_lr as lrlab_find_lr
from lrlab.finder.planned import as_fractions, planned_schedule
from lrlab.integrations._common import (
    at_initial_lr,
    check_settings,
    plain_loader,
    with_update,
)
from lrlab.integrations._hf_schedules import args_for, planned_from_args, scheduler_type
from lrlab.optim import groups

if TYPE_CHECKING:
    from transformers import Trainer, TrainingArguments


class TrainerStep:
    """``step_fn(model, batch)``: the Trainer's ``compute_loss`` on the batch moved to its
    device, under the accelerator's autocast — or, without a trainer, the loss the model
    returns (``outputs["loss"]``, or the first output), as ``compute_loss`` reads it."""

    def __init__(self, trainer: Trainer | None, device: torch.device) -> None:
        self.trainer, self.device = trainer, device

    def __call__(self, model: Any, batch: Any) -> torch.Tensor:
        if not isinstance(batch, Mapping):
            raise DataError(
                f"A Trainer batch is a dict of model inputs, got a {type(batch).__name__}.",
                hint="Use a data collator that returns a dict (input_ids, labels, ...).",
            )
        inputs = to_device(dict(batch), self.device)  # a copy: compute_loss may pop "labels"
        if self.trainer is not None:
            with self.trainer.compute_loss_context_manager(), self.trainer.accelerator.autocast():
                return self.trainer.compute_loss(model, inputs)
        outputs = model(**inputs)
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs[0]
        if loss is None:
            raise DataError(
                "The model returned no loss: its batches need the labels.",
                hint="Give the dataset a 'labels' column (or a collator that adds it).",
            )
        return loss


def _one_process(args: TrainingArguments) -> None:
    if int(getattr(args, "world_size", 1)) > 1:
        raise InvalidArgument(
            f"find_lr runs in one process; this Trainer trains on {args.world_size}.",
            hint="Find in a single process first, then launch the distributed run with "
            "learning_rate=found.lr.",
        )


def _unwrapped(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside accelerate's ``AcceleratedOptimizer`` (or the optimizer)."""
    while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        optimizer = optimizer.optimizer
    return optimizer


@contextmanager
def _loaders_left_alone(trainer: Trainer) -> Iterator[None]:
    """Loaders asked of the Trainer are registered with its accelerator (for its
    checkpoints); the ones asked for the find are unregistered again."""
    registered = getattr(trainer.accelerator, "_dataloaders", None)
    before = list(registered) if registered is not None else None
    try:
        yield
    finally:
        if registered is not None and before is not None:
            registered[:] = before


@contextmanager
def _trainer_optimizer(trainer: Trainer) -> Iterator[torch.optim.Optimizer]:
    """The optimizer the Trainer holds, or the one it would create (dropped afterwards)."""
    if trainer.optimizer is not None:
        yield _unwrapped(trainer.optimizer)
        return
    try:
        yield _unwrapped(trainer.create_optimizer())
    finally:
        trainer.optimizer = None


def _created_scheduler(trainer: Trainer) -> bool:
    """Whether the Trainer built its scheduler itself (it then rebuilds it at ``train()``)."""
    return bool(getattr(trainer, "_created_lr_scheduler", False))


def move_peak(optimizer: Any, scheduler: Any, peak: float) -> None:
    """Scale every LR of ``optimizer`` (``lr``, ``initial_lr``) and of ``scheduler``
    (``base_lrs``, the last LRs) so that group 0's peak is ``peak``: each value ``v`` becomes
    ``peak · v / old`` (``old`` = group 0's ``initial_lr``, else its ``lr``), so the groups'
    ratios and the schedule's shape are kept and group 0 gets ``peak`` exactly."""
    pgs = groups.param_groups(_unwrapped(optimizer))
    key = "initial_lr" if "initial_lr" in pgs[0] else "lr"
    old = float(groups.read(pgs[0], key))
    if old <= 0:
        raise InvalidArgument(f"The optimizer's {key}={old}: no peak to scale to {peak}.")
    for group in pgs:
        for name in ("lr", "initial_lr"):
            if name in group:
                groups.write(group, name, peak * (float(groups.read(group, name)) / old))
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [peak * (b / old) for b in scheduler.base_lrs]
        # What get_last_lr() reports (the Trainer logs it) until the next step.
        scheduler._last_lr = [float(groups.read(g, "lr")) for g in pgs]


def _search(
    model: Any, optimizer: Any, train: Any, held_out: Any, args: Any, total_steps: int,
    plan: tuple[Any, dict[str, Any]], step: TrainerStep, options: Mapping[str, Any],
) -> FindResult:  # fmt: skip
    policy, schedule_options = plan
    optimizer = _unwrapped(optimizer)
    with at_initial_lr(optimizer):
        result = lrlab_find_lr(
            model,
            optimizer,
            None,
            plain_loader(train, rebuild=True),
            total_steps=total_steps,
            eval_data=None if held_out is None else plain_loader(held_out, rebuild=True),
            schedule=policy,
            schedule_options=schedule_options,
            step_fn=step,
            **with_update(
                options,
                total_steps,
                accumulation=int(args.gradient_accumulation_steps),
                grad_clip=args.max_grad_norm,
            ),
        )
    result.config["transformers"] = {
        "lr_scheduler_type": scheduler_type(args),
        "gradient_accumulation_steps": int(args.gradient_accumulation_steps),
        "compute_loss": step.trainer is not None,
    }
    return result


def find_lr(
    trainer: Trainer,
    *,
    apply: bool = False,
    schedule: Any = None,
    schedule_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> FindResult:
    """The peak LR for ``trainer.train()`` (see the module docstring).

    Args:
        trainer: a ``transformers.Trainer`` with a ``train_dataset``.
        apply: set the answer on the Trainer (``args.learning_rate``, and the schedule when
            ``schedule=`` planned another one).
        schedule, schedule_options: plan for this lrlab policy instead of the Trainer's own
            schedule (with ``apply=True`` it must be one transformers can run).
        **options: :func:`lrlab.find_lr`'s settings (``seed``, ``progress``,
            :class:`lrlab.FindSettings` fields).
    """
    check_settings(options, "the Trainer")
    args = trainer.args
    _one_process(args)
    with _loaders_left_alone(trainer):
        train = trainer.get_train_dataloader()
        held_out = trainer.get_eval_dataloader() if trainer.eval_dataset is not None else None
    total_steps = int(trainer.set_initial_training_values(args, train)[-1])
    if schedule is None:
        plan = planned_from_args(args, total_steps)
    else:
        plan = (schedule, dict(schedule_options or {}))
    target = None
    if apply and schedule is not None:
        built = planned_schedule(plan[0], 1.0, total_steps, as_fractions(plan[1], total_steps))
        target = args_for(built)
        given_scheduler = trainer.lr_scheduler is not None and not _created_scheduler(trainer)
        if target is None or given_scheduler:
            raise InvalidArgument(
                f"apply=True cannot make this Trainer run schedule={schedule!r}: "
                + ("no lr_scheduler_type equals it." if target is None else "it was given its "
                   "own scheduler."),
                hint="Apply it yourself: Trainer(optimizers=(opt, lrlab.LrlabScheduler(opt, "
                "found.schedule_for()))).",
            )  # fmt: skip
    step = TrainerStep(trainer, args.device)
    with _trainer_optimizer(trainer) as optimizer:
        result = _search(trainer.model, optimizer, train, held_out, args, total_steps, plan,
                         step, options)  # fmt: skip
    if apply and result.lr is not None:
        args.learning_rate = result.lr
        if target is not None:
            args.lr_scheduler_type, args.warmup_steps, args.lr_scheduler_kwargs = target
        if trainer.optimizer is not None:
            move_peak(trainer.optimizer, trainer.lr_scheduler, result.lr)
        if trainer.lr_scheduler is not None and _created_scheduler(trainer):
            trainer.lr_scheduler, trainer._created_lr_scheduler = None, False  # rebuilt
    return result


class FindLRCallback(TrainerCallback):
    """:func:`find_lr` with ``apply=True`` at ``on_train_begin``: ``Trainer(callbacks=[...])``.

    transformers shows a callback the model, optimizer, scheduler and training loader, not the
    Trainer: without ``trainer=`` the loss is the one the model returns (the default
    ``compute_loss``) and the held-out batches are carved from the training data. Pass the
    Trainer (``trainer.add_callback(FindLRCallback(trainer))``) for a custom ``compute_loss``
    and its eval set. The optimizer and scheduler are already built: their LRs move to the
    found peak, ``args.learning_rate`` is set. A resumed run keeps its learning rate.

    Attributes:
        result: the :class:`lrlab.FindResult` (``None`` until training begins).
    """

    def __init__(self, trainer: Trainer | None = None, **options: Any) -> None:
        check_settings(options, "the Trainer")
        if "schedule" in options or "schedule_options" in options:
            raise InvalidArgument(
                "FindLRCallback finds for the schedule the Trainer already built.",
                hint="To plan for another one, call find_lr(trainer, schedule=..., apply=True).",
            )
        self.trainer, self.options = trainer, options
        self.result: FindResult | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step > 0:
            return  # resumed from a checkpoint: its learning rate stays
        _one_process(args)
        total_steps = int(state.max_steps)
        held_out = None
        if self.trainer is not None and self.trainer.eval_dataset is not None:
            with _loaders_left_alone(self.trainer):
                held_out = self.trainer.get_eval_dataloader()
        model, optimizer, scheduler = kwargs["model"], kwargs["optimizer"], kwargs["lr_scheduler"]
        result = _search(
            model, optimizer, kwargs["train_dataloader"], held_out, args, total_steps,
            planned_from_args(args, total_steps), TrainerStep(self.trainer, args.device),
            self.options,
        )  # fmt: skip
        if result.lr is not None:
            args.learning_rate = result.lr
            move_peak(optimizer, scheduler, result.lr)
        self.result = result
