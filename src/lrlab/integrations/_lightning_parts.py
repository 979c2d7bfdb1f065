"""The pieces of :class:`lrlab.integrations.lightning.FindLR`: what it reads of a Lightning
``Trainer`` and ``LightningModule``, and what it changes afterwards.

Read: the planned length (``trainer.estimated_stepping_batches`` — Lightning's own count of
optimizer steps from ``max_epochs`` / ``max_steps``, ``accumulate_grad_batches`` and
``limit_train_batches``), the training batches, the gradient clip, the validation batches,
a step function made of the module's ``training_step`` / ``validation_step`` under the
precision plugin, and the schedule configured (to plan for it). Changed: the LR attribute,
the optimizers (rebuilt from ``configure_optimizers``) and, on request, the scheduler.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from lightning.fabric.utilities.optimizer import _optimizers_to_device
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.connectors.data_connector import _request_dataloader
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from lightning.pytorch.utilities.model_helpers import is_overridden
from lightning.pytorch.utilities.parsing import lightning_hasattr
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from lightning.pytorch.utilities.signature_utils import is_param_in_hook_signature
from lightning.pytorch.utilities.types import LRSchedulerConfig
from torch.utils.data.distributed import DistributedSampler

from lrlab.errors import DataError, InvalidArgument, LrlabError
from lrlab.integrations._common import plain_loader
from lrlab.optim import LrlabScheduler, groups

LR_ATTRIBUTES = ("lr", "learning_rate")  # what Lightning's own LR finder looks for
_LOG_WITHOUT_TRAINER = r"You are trying to `self\.log\(\)` but the `self\.trainer` reference"


def lr_attribute(module: LightningModule, attr: str | None) -> str:
    """The attribute FindLR sets: ``attr``, else ``lr`` or ``learning_rate``, on the module or
    in its ``hparams`` (Lightning's ``lightning_hasattr``, as its ``update_attr`` does)."""
    names = (attr,) if attr is not None else LR_ATTRIBUTES
    for name in names:
        if lightning_hasattr(module, name):
            return name
    kind = type(module).__name__
    if attr is not None:
        raise InvalidArgument(
            f"attr={attr!r}: {kind} has no such attribute, nor in self.hparams.",
            hint="Name the attribute configure_optimizers reads the learning rate from.",
        )
    raise InvalidArgument(
        f"{kind} has no `lr` or `learning_rate` attribute (nor in self.hparams) for FindLR to "
        "set the found learning rate on.",
        hint="Keep the LR in self.lr (or self.hparams.lr) and read it in configure_optimizers, "
        "or pass FindLR(attr='name_of_yours').",
    )


def planned_steps(trainer: Trainer) -> int:
    """The planned run's optimizer updates, as Lightning counts them. Also sets the training
    data up, as Lightning's count does when it needs the loader's length (every rank must call
    this: there is a barrier in it)."""
    total = trainer.estimated_stepping_batches
    if trainer.train_dataloader is None:
        trainer.fit_loop.setup_data()
    if not math.isfinite(total) or total < 1:
        raise InvalidArgument(
            f"The trainer plans {total} optimizer steps: find_lr needs a run of known length.",
            hint="Set Trainer(max_epochs=...) or Trainer(max_steps=...).",
        )
    return int(total)


def training_batches(trainer: Trainer) -> Iterable[Any]:
    """The trainer's training batches (:func:`lrlab.integrations._common.plain_loader`).

    Under DDP the loader reads this rank's shard; rank 0 finds on the whole dataset instead.
    """
    loader = trainer.train_dataloader
    if loader is None or isinstance(loader, (list, tuple, Mapping, CombinedLoader)):
        raise DataError(
            f"FindLR needs one training DataLoader, got {type(loader).__name__}.",
            hint="Return a single DataLoader from train_dataloader().",
        )
    shard = isinstance(getattr(loader, "sampler", None), DistributedSampler)
    # A loader with its own generator is rebuilt without it: find_lr restores the global
    # random streams, not a loader's, and reading it would change the fit's data order.
    own_generator = getattr(loader, "generator", None) is not None
    return plain_loader(loader, rebuild=shard or own_generator)


def validation_batches(trainer: Trainer, module: LightningModule) -> Iterable[Any] | None:
    """The first validation loader, when the trainer validates (``None`` otherwise: find_lr
    then holds out part of the training data).

    Requested from its source (the module's or the datamodule's ``val_dataloader()``, or the
    loaders given to ``fit``) without touching the validation loop's state.
    """
    if trainer.limit_val_batches == 0 or not is_overridden("validation_step", module):
        return None
    source = trainer.fit_loop.epoch_loop.val_loop._data_source
    if source.instance is None or not source.is_defined():
        return None
    loaders = _request_dataloader(source)
    if isinstance(loaders, CombinedLoader):
        loaders = loaders.flattened
    if isinstance(loaders, Mapping):
        loaders = list(loaders.values())
    if isinstance(loaders, (list, tuple)):
        return loaders[0] if loaders else None
    return loaders


def _loss_of(output: Any) -> torch.Tensor | None:
    """The loss a ``*_step`` returned: a tensor, or a dict's ``"loss"``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("loss"), torch.Tensor):
        return output["loss"]
    return None


class ModuleStep:
    """``step_fn(model, batch)`` through the module's own hooks, as Lightning runs them: the
    precision plugin's ``convert_input``, the batch-transfer hooks, then ``training_step`` in
    train mode, ``validation_step`` in eval mode (find_lr evaluates under ``model.eval()``).

    A ``validation_step`` that returns no loss (it only logs) leaves the held-out batches to
    ``training_step``, run in eval mode without gradients. ``eval_source`` says which judged.
    ``model`` is the module or find_lr's private copy of it.
    """

    def __init__(self, module: LightningModule, precision: Any) -> None:
        self.precision = precision
        self.train_idx = is_param_in_hook_signature(module.training_step, "batch_idx", min_args=2)
        self.validates = is_overridden("validation_step", module)
        self.val_idx = self.validates and is_param_in_hook_signature(
            module.validation_step, "batch_idx", min_args=2
        )
        self.eval_source = "validation_step" if self.validates else "training_step"
        self.count = itertools.count()

    def __call__(self, model: Any, batch: Any) -> torch.Tensor:
        batch = self.precision.convert_input(batch)
        batch = model._on_before_batch_transfer(batch, dataloader_idx=0)
        batch = model._apply_batch_transfer_handler(batch, dataloader_idx=0)
        idx = next(self.count)
        if not model.training and self.eval_source == "validation_step":
            with self.precision.val_step_context():
                out = (
                    model.validation_step(batch, idx)
                    if self.val_idx
                    else model.validation_step(batch)
                )
            loss = _loss_of(out)
            if loss is not None:
                return loss
            self.eval_source = "training_step"  # it only logs: the training loss judges
        with self.precision.train_step_context():
            out = model.training_step(batch, idx) if self.train_idx else model.training_step(batch)
        loss = _loss_of(out)
        if loss is None:
            raise DataError(
                f"training_step returned {type(out).__name__}, not the loss find_lr trains on.",
                hint="Return the loss (or {'loss': loss}) from training_step.",
            )
        return loss


def gradient_clip(trainer: Trainer) -> float | None:
    """The norm the trainer clips gradients to (``gradient_clip_val`` with the ``"norm"``
    algorithm, Lightning's default); ``None`` without clipping. Clipping by value has no
    counterpart in find_lr's update: a warning, and the short runs do not clip."""
    value = trainer.gradient_clip_val
    if not value:
        return None
    algorithm = trainer.gradient_clip_algorithm
    name = str(getattr(algorithm, "value", algorithm) or "norm")
    if name != "norm":
        rank_zero_warn(
            f"FindLR: gradient_clip_algorithm={name!r} is not reproduced in find_lr's short "
            "runs (they clip by norm only); they run without clipping."
        )
        return None
    return float(value)


def step_function(trainer: Trainer, module: LightningModule) -> ModuleStep:
    if not module.automatic_optimization:
        raise InvalidArgument(
            "FindLR needs automatic optimization: training_step must return the loss.",
            hint="With manual optimization, call lrlab.find_lr with your own step_fn.",
        )
    return ModuleStep(module, trainer.precision_plugin)


@contextmanager
def without_trainer(module: LightningModule) -> Iterator[None]:
    """The module detached from its trainer while find_lr trains it: ``self.log`` in its steps
    then returns at once (Lightning's behaviour without a trainer, whose warning is silenced)
    instead of writing into the fit loop's results; nothing of the trainer is touched."""
    trainer = module._trainer
    module.trainer = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_LOG_WITHOUT_TRAINER)
            yield
    finally:
        module.trainer = trainer


def configured_policy(trainer: Trainer) -> tuple[str, str, bool]:
    """The policy that stands for the schedule ``configure_optimizers`` returned, a note, and
    whether it is a guess: no scheduler is a constant LR, ``OneCycleLR`` a one-cycle; anything
    else is planned as a one-cycle — a guess."""
    configs = trainer.lr_scheduler_configs
    if not configs:
        return "constant", "no scheduler configured: planned for a constant LR", False
    name = type(configs[0].scheduler).__name__
    if isinstance(configs[0].scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return "one-cycle", "OneCycleLR configured: planned for a one-cycle", False
    note = (
        f"{name} configured, which lrlab cannot read: planned for a one-cycle; pass "
        "FindLR(schedule='policy') to plan for (and install) the schedule you train with"
    )
    return "one-cycle", note, True


def first_group_lr(trainer: Trainer) -> float | None:
    opts = trainer.optimizers
    return float(groups.read(opts[0].param_groups[0], "lr")) if opts else None


def rebuild_optimizers(trainer: Trainer) -> None:
    """Optimizers and schedulers again from ``configure_optimizers`` (which reads the LR
    attribute just set), on the strategy's device — what the strategy's setup did."""
    trainer.strategy.setup_optimizers(trainer)
    _optimizers_to_device(trainer.strategy.optimizers, trainer.strategy.root_device)


def install_schedule(trainer: Trainer, schedule: Any) -> LrlabScheduler:
    """``schedule`` (a :class:`~lrlab.schedules.HyperSchedule`) in place of the configured
    schedulers, stepped after every optimizer update."""
    scheduler = LrlabScheduler(trainer.optimizers[0], schedule)
    trainer.strategy.lr_scheduler_configs = [
        LRSchedulerConfig(scheduler, name="lrlab", interval="step", frequency=1)
    ]
    return scheduler


def broadcast_from_zero(trainer: Trainer, work: Callable[[], Any]) -> Any:
    """``work()`` on global rank 0, its value on every rank (``trainer.strategy.broadcast``).

    An error on rank 0 is broadcast too, so the other ranks raise instead of waiting."""
    value, error = None, None
    failure: Exception | None = None
    if trainer.is_global_zero:
        try:
            value = work()
        except Exception as exc:
            failure, error = exc, f"{type(exc).__name__}: {exc}"
    value, error = trainer.strategy.broadcast((value, error), src=0)
    if failure is not None:
        raise failure
    if error is not None:
        raise LrlabError(f"find_lr failed on rank 0: {error}")
    return value
