"""``FindLR``: lrlab's ``find_lr`` as a Lightning callback, and ``find_lr(trainer, module)``.

::

    from lrlab.integrations.lightning import FindLR

    finder = FindLR(schedule=True)        # plan for a one-cycle, and install it
    trainer = lightning.pytorch.Trainer(max_epochs=10, callbacks=[finder])
    trainer.fit(module, datamodule=data)  # finds at fit start, then trains at finder.result.lr

At fit start the callback runs :func:`lrlab.find_lr` on the module as Lightning would train
it: its ``training_step`` (``self.log`` inside is harmless) under the precision plugin, its
``validation_step`` on the validation loader (a held-out part of the training data when there
is none), the optimizer ``configure_optimizers`` returned and the trainer's training batches
— ``accumulate_grad_batches`` micro-batches per update, the gradient norm clipped to
``gradient_clip_val`` — for the length Lightning plans
(``trainer.estimated_stepping_batches``). find_lr restores the module, the optimizer and every
random stream; the callback then sets the module's LR attribute (``lr`` / ``learning_rate``,
on the module or in ``hparams``, as Lightning's ``update_attr``), rebuilds the optimizers from
``configure_optimizers`` and, with ``schedule=``, installs the planned schedule at the found
peak. The result is ``finder.result`` and goes to the trainer's loggers.

Under DDP rank 0 finds alone (on the whole training set) and broadcasts the result; every rank
then applies it. See ``docs/integrations.md``.
"""

from __future__ import annotations

from typing import Any

from lrlab.errors import InvalidArgument, MissingExtra

try:
    import lightning.pytorch as pl
except ImportError as exc:
    raise MissingExtra(
        "lrlab.integrations.lightning needs Lightning (lightning.pytorch), which is not installed.",
        hint="Install the extra: pip install 'lrlab[lightning]'.",
    ) from exc

from lightning.pytorch.utilities.exceptions import _TunerExitException
from lightning.pytorch.utilities.parsing import lightning_setattr
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from lrlab.finder import FindResult
from lrlab.finder import find_lr as lrlab_find_lr
from lrlab.integrations import _lightning_parts as parts
from lrlab.integrations._common import (
    at_initial_lr,
    check_settings,
    logged_values,
    with_update,
)


class FindLR(pl.Callback):
    """Find the peak LR at fit start and train with it (see the module docstring).

    Args:
        schedule: ``False`` (default): keep the schedule ``configure_optimizers`` returns; find
            for it as far as lrlab can tell (no scheduler: a constant LR; ``OneCycleLR``: a
            one-cycle; anything else: a one-cycle, with a warning). ``True``: plan for a
            one-cycle and install it. A policy name (``"wsd"``, ``"warmup-cosine"``, any
            :func:`lrlab.schedules.plannable`) or a callable ``f(peak_lr, total_steps)``:
            plan for it and install it. An installed schedule replaces the configured ones
            (:class:`lrlab.LrlabScheduler`, stepped after every optimizer update).
        schedule_options: the policy's options (:func:`lrlab.schedules.for_run`).
        attr: the LR attribute to set (default: ``lr`` or ``learning_rate``).
        **options: :func:`lrlab.find_lr`'s other keywords (``seed``, ``progress``, ``metrics``,
            ``settings`` or :class:`lrlab.FindSettings` fields).

    Attributes:
        result: the :class:`lrlab.FindResult` (``None`` before fit start, or when skipped).
    """

    def __init__(
        self,
        schedule: bool | str | Any = False,
        *,
        schedule_options: dict[str, Any] | None = None,
        attr: str | None = None,
        **options: Any,
    ) -> None:
        check_settings(options, "the trainer and the module")
        if schedule_options and schedule is False:
            raise InvalidArgument(
                "schedule_options without schedule=: there is no policy to apply them to.",
                hint="Name the policy: FindLR(schedule='wsd', schedule_options={...}).",
            )
        self.schedule = "one-cycle" if schedule is True else schedule
        self.schedule_options = dict(schedule_options or {})
        self.attr = attr
        self.options = options
        self.result: FindResult | None = None
        self._exit_after_find = False  # find_lr(trainer, module): stop the fit afterwards

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run or trainer.ckpt_path is not None:
            why = "fast_dev_run is on" if trainer.fast_dev_run else "the fit resumes a checkpoint"
            rank_zero_warn(f"FindLR skipped: {why}; the configured learning rate is kept.")
            if self._exit_after_find:
                raise _TunerExitException()
            return
        # Everything every rank must do alike (Lightning may set up the data: a barrier).
        attr = parts.lr_attribute(pl_module, self.attr)
        total_steps = parts.planned_steps(trainer)
        step = parts.step_function(trainer, pl_module)
        if self.schedule is False:
            policy, note, guessed = parts.configured_policy(trainer)
            if guessed:
                rank_zero_warn(f"FindLR: {note}.")
        else:
            policy, note = self.schedule, "installed"

        def search() -> FindResult:  # on rank 0
            found = self._search(trainer, pl_module, step, policy, total_steps)
            found.config["lightning"] = {
                "attr": attr,
                "planned": note,
                "eval_step": step.eval_source,
                "accumulate_grad_batches": int(trainer.accumulate_grad_batches),
            }
            return found

        result = self.result = parts.broadcast_from_zero(trainer, search)
        if result.lr is None:
            rank_zero_warn(f"FindLR found no learning rate ({', '.join(result.flags)}); kept.")
        else:
            self._apply(trainer, pl_module, attr, result)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(logged_values(result), step=trainer.global_step)
        if self._exit_after_find:
            raise _TunerExitException()

    def _search(
        self,
        trainer: pl.Trainer,
        module: pl.LightningModule,
        step: parts.ModuleStep,
        policy: Any,
        total_steps: int,
    ) -> FindResult:
        train = parts.training_batches(trainer)
        held_out = parts.validation_batches(trainer, module)
        optimizer = trainer.optimizers[0]
        with parts.without_trainer(module), at_initial_lr(optimizer):
            return lrlab_find_lr(
                module,
                optimizer,
                None,
                train,
                total_steps=total_steps,
                eval_data=held_out,
                schedule=policy,
                schedule_options=self.schedule_options,
                step_fn=step,
                **with_update(
                    self.options,
                    total_steps,
                    accumulation=int(trainer.accumulate_grad_batches),
                    grad_clip=parts.gradient_clip(trainer),
                ),
            )

    def _apply(
        self, trainer: pl.Trainer, module: pl.LightningModule, attr: str, result: FindResult
    ) -> None:
        """The found LR into the attribute and the optimizers Lightning will step."""
        before = parts.first_group_lr(trainer)
        lightning_setattr(module, attr, result.lr)
        parts.rebuild_optimizers(trainer)
        if self.schedule is not False:
            parts.install_schedule(trainer, result.schedule_for())
        elif before is not None and before == parts.first_group_lr(trainer):
            rank_zero_warn(
                f"FindLR set {attr}={result.lr:.4g} but configure_optimizers built the same "
                f"LR as before ({before:.4g}): does it read self.{attr}?"
            )


def find_lr(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    *,
    train_dataloaders: Any = None,
    val_dataloaders: Any = None,
    **options: Any,
) -> FindResult:
    """Find the peak LR for ``trainer.fit(module, ...)`` and set it on the module (like
    Lightning's ``Tuner(trainer).lr_find(module, update_attr=True)``); nothing trains.

    ``options`` are :class:`FindLR`'s, except an installed schedule: the next ``fit`` builds
    its schedulers from ``configure_optimizers`` again — read ``self.lr`` there, or use
    :class:`FindLR` with ``schedule=`` in that fit. Returns the :class:`lrlab.FindResult`.
    """
    if options.get("schedule", False) is not False:
        raise InvalidArgument(
            "find_lr(trainer, module) only finds: a schedule installed here would not survive "
            "into the next fit.",
            hint="Use trainer = Trainer(callbacks=[FindLR(schedule=...)]) for the training fit.",
        )
    finder = FindLR(**options)
    finder._exit_after_find = True
    trainer.callbacks = [finder, *trainer.callbacks]
    try:
        trainer.fit(module, train_dataloaders, val_dataloaders, datamodule)
    finally:
        trainer.callbacks = [cb for cb in trainer.callbacks if cb is not finder]
        # The next fit sets its data up again (as Lightning's own tuner leaves it).
        trainer.fit_loop._combined_loader = None
        trainer.fit_loop.epoch_loop.val_loop._combined_loader = None
    if finder.result is None:
        raise InvalidArgument(
            "find_lr did not run: the fit was skipped (fast_dev_run, or a checkpoint resumed).",
            hint="Call it on a trainer without fast_dev_run and without ckpt_path.",
        )
    return finder.result
