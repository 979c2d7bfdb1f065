"""``Task``: a dataset, a model, a loss, metrics and sensible defaults under one name.

A task is a frozen, picklable description (factories are module-level functions) — building
it costs nothing; the data and the model are made on demand:

* ``task.model(seed)`` — initialised from ``derive_seed(seed, "init")`` inside a forked RNG
  (the global torch RNG is left exactly as it was), so every variant of an experiment that
  uses the same seed starts from the same weights;
* ``task.data(seed, device, batch_size)`` — a :class:`DataBundle` of :class:`TensorLoader`
  s whose order and augmentation follow ``derive_seed(seed, "data")``;
* ``task.criterion()``, ``task.make_optimizer(model, lr=None, **overrides)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lrlab.data.augment import ImageAugment, Normalize
from lrlab.data.base import DatasetSplits
from lrlab.data.loader import TensorLoader
from lrlab.devices import resolve_device
from lrlab.errors import check
from lrlab.optim.registry import OptimizerSpec
from lrlab.precision import AMP_DTYPES
from lrlab.seeding import derive_seed
from lrlab.values import integer

LOSSES: dict[str, type[nn.Module]] = {
    "cross_entropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss,
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
}


@dataclass(frozen=True)
class ImagePipeline:
    """How a task's images become batches: normalisation statistics come from the training
    split (``Normalize.fit``); ``augment`` applies to training batches only."""

    augment: ImageAugment | None = None
    normalize: bool = True


@dataclass(frozen=True)
class DataBundle:
    """What :meth:`Task.data` returns: the loaders and what a loop or a report needs to know."""

    train: Any
    eval: Any | None
    num_classes: int | None = None
    input_shape: tuple[int, ...] | None = None
    n_train: int | None = None
    n_eval: int | None = None
    chance_level: float | None = None
    class_names: tuple[str, ...] | None = None
    normalize: Normalize | None = None


@dataclass(frozen=True, eq=False)
class Task:
    """A named workload (see the module docstring). Fields:

    ``kind`` (``"classification"`` / ``"regression"``), ``batch_size``, ``epochs``,
    ``lr_range`` (a sensible window for a range test), ``optimizer`` (:class:`OptimizerSpec`),
    ``loss`` (a name in :data:`LOSSES`), ``metrics`` (names in ``lrlab.metrics.METRICS``),
    ``chance_level`` (majority-class accuracy of the eval split; ``None`` for regression or
    when it depends on the user's data — :class:`DataBundle` always has the measured value),
    ``requires`` (pip extras), ``train_size``/``eval_size``, ``num_classes``/``input_shape``
    (``None`` when they depend on a path), ``model_options``/``data_options`` (the values of
    the task's options), ``channels_last``, ``amp`` (``None``, ``"bf16"`` or ``"fp16"``: the
    autocast dtype loops should use on CUDA), ``compile`` (wrap the model in
    ``torch.compile``).
    """

    name: str
    description: str
    kind: str
    model_fn: Callable[..., nn.Module]
    data_fn: Callable[..., DatasetSplits]
    batch_size: int
    epochs: int
    lr_range: tuple[float, float]
    optimizer: OptimizerSpec
    loss: str = "cross_entropy"
    metrics: tuple[str, ...] = ("accuracy",)
    chance_level: float | None = None
    requires: tuple[str, ...] = ()
    train_size: int | None = None
    eval_size: int | None = None
    num_classes: int | None = None
    input_shape: tuple[int, ...] | None = None
    model_options: Mapping[str, Any] = field(default_factory=dict)
    data_options: Mapping[str, Any] = field(default_factory=dict)
    pipeline: ImagePipeline | None = None
    channels_last: bool = False
    amp: str | None = None
    compile: bool = False
    eval_batch_size: int | None = None

    def __post_init__(self) -> None:
        check(self.kind in ("classification", "regression"), f"kind={self.kind!r} is unknown.")
        check(self.loss in LOSSES, f"loss={self.loss!r} is not one of {sorted(LOSSES)}.")
        check(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1.")
        check(self.epochs >= 1, f"epochs={self.epochs} must be >= 1.")
        lo, hi = self.lr_range
        check(0 < lo < hi, f"lr_range={self.lr_range} must satisfy 0 < low < high.")
        check(
            self.amp is None or self.amp in ("bf16", "fp16"),
            f"amp={self.amp!r} must be None, 'bf16' or 'fp16' (the autocast dtype on CUDA).",
        )

    # -- building --------------------------------------------------------------------------

    def splits(self) -> DatasetSplits:
        """The raw train/eval tensors (CPU)."""
        return self.data_fn(**self.data_options)

    def _shape_info(self) -> tuple[int | None, tuple[int, ...] | None]:
        if self.input_shape is not None:
            return self.num_classes, self.input_shape
        s = self.splits()  # path-based tasks: the data decide
        return s.num_classes, s.input_shape

    def model(
        self, seed: int | None = None, *, device: torch.device | str | None = None, **options: Any
    ) -> nn.Module:
        """A fresh model. With a ``seed``, the weights are drawn from
        ``derive_seed(seed, "init")`` inside ``torch.random.fork_rng`` (the global RNG is not
        consumed); with ``seed=None`` they come from the global RNG, as plain PyTorch.
        ``options`` override the task's model options for this call. The model is built on
        the CPU (so the same seed gives the same weights on every device), then moved to
        ``device``, converted to channels-last and compiled when the task says so."""
        opts = {**self.model_options, **options}
        num_classes, input_shape = self._shape_info()
        if seed is None:
            model = self.model_fn(num_classes=num_classes, input_shape=input_shape, **opts)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(int(seed), "init"))
                model = self.model_fn(num_classes=num_classes, input_shape=input_shape, **opts)
        if device is not None:
            model = model.to(resolve_device(device))
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.compile:
            model = torch.compile(model)
        return model

    def data(
        self,
        seed: int = 0,
        device: torch.device | str | None = "cpu",
        batch_size: int | None = None,
        *,
        eval_batch_size: int | None = None,
        augment: bool = True,
    ) -> DataBundle:
        """Train and eval loaders on ``device``. The training order and augmentation follow
        ``derive_seed(seed, "data")``; eval batches are in the stored order, not augmented.
        ``augment=False`` turns the training augmentation off."""
        splits = self.splits()
        dev = resolve_device(device) if device is not None else None
        # None is "the task's"; 0 is a mistake, not another way to say None.
        bs = self.batch_size if batch_size is None else integer("batch_size", batch_size, minimum=1)
        ebs = int(eval_batch_size or self.eval_batch_size or bs)
        if eval_batch_size is not None:
            ebs = integer("eval_batch_size", eval_batch_size, minimum=1)
        transform = aug = None
        if self.pipeline is not None:
            if self.pipeline.normalize:
                fmt = torch.channels_last if self.channels_last else None
                transform = Normalize.fit(splits.x_train, memory_format=fmt)
            aug = self.pipeline.augment if augment else None
        train = TensorLoader(
            splits.x_train,
            splits.y_train,
            bs,
            shuffle=True,
            seed=derive_seed(int(seed), "data"),
            augment=aug,
            device=dev,
            transform=transform,
        )
        evl = None
        if splits.x_eval.shape[0] > 0:
            evl = TensorLoader(
                splits.x_eval, splits.y_eval, ebs, shuffle=False, device=dev, transform=transform
            )
        return DataBundle(
            train=train,
            eval=evl,
            num_classes=splits.num_classes,
            input_shape=splits.input_shape,
            n_train=int(splits.x_train.shape[0]),
            n_eval=int(splits.x_eval.shape[0]),
            chance_level=splits.chance_level(),
            class_names=splits.class_names,
            normalize=transform,
        )

    def criterion(self) -> nn.Module:
        """A new loss module (``LOSSES[self.loss]()``)."""
        return LOSSES[self.loss]()

    def make_optimizer(
        self, model: nn.Module, lr: float | None = None, **overrides: Any
    ) -> torch.optim.Optimizer:
        """The task's optimizer on ``model.parameters()``; ``lr`` and ``overrides`` (e.g.
        ``momentum=0.95``, ``weight_decay=0``) replace the task's defaults."""
        return self.optimizer.build(model.parameters(), lr=lr, **overrides)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype for ``amp`` (``None``: full precision)."""
        return AMP_DTYPES.get(self.amp) if self.amp else None

    @property
    def options(self) -> dict[str, Any]:
        """Every option value of this task (model, data and run options)."""
        return {
            **self.model_options,
            **self.data_options,
            "channels_last": self.channels_last,
            "amp": self.amp,
            "compile": self.compile,
        }

    def with_options(self, **options: Any) -> Task:
        """A copy with options changed (see :func:`lrlab.tasks.get_task`)."""
        from lrlab.tasks.registry import apply_options

        return apply_options(self, options)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for records and ``lrlab tasks``)."""
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "lr_range": list(self.lr_range),
            "optimizer": self.optimizer.to_dict(),
            "loss": self.loss,
            "metrics": list(self.metrics),
            "chance_level": self.chance_level,
            "requires": list(self.requires),
            "train_size": self.train_size,
            "eval_size": self.eval_size,
            "options": self.options,
        }

    def replace(self, **changes: Any) -> Task:
        return dataclasses.replace(self, **changes)
