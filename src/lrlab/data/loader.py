"""``TensorLoader``: batches of an in-memory dataset held as tensors on the device.

For datasets that fit in (GPU) memory — every built-in task — a ``DataLoader`` with worker
processes and per-sample transforms spends most of its time in Python. Instead (airbench,
Page's "How to train your ResNet"), the whole dataset lives on the device; a batch is one
index into it, and augmentation runs on the whole batch.

Determinism: the order of epoch ``e`` is ``torch.randperm(n)`` drawn from a CPU generator
seeded with ``derive_seed(seed, "order", e)``, and the augmentation parameters of the epoch
from ``derive_seed(seed, "augment", e)``, drawn for every position of the epoch at once. So
the samples (and their augmentation) seen at position ``i`` of epoch ``e`` depend on
``(seed, e, i)`` only — not on the global RNG, the device or the batch size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from lrlab.errors import DataError, InvalidArgument
from lrlab.seeding import derive_seed


@runtime_checkable
class BatchAugment(Protocol):
    """An augmentation with explicit randomness: ``sample`` draws parameters for ``n`` samples
    (CPU tensors with a leading ``n`` dim), ``__call__`` applies a slice of them to a batch."""

    def sample(
        self, n: int, height: int, width: int, generator: torch.Generator
    ) -> Mapping[str, torch.Tensor]: ...

    def __call__(self, x: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(
            f"{name} of type {type(value).__name__} cannot be turned into a tensor.",
            hint="Pass a torch tensor or a numpy array.",
        ) from exc


class TensorLoader:
    """Iterate ``(x, y)`` batches of tensors held on ``device``.

    Args:
        x, y: inputs and targets with the same first dimension (tensors or numpy arrays).
        batch_size: samples per batch.
        shuffle: a fresh seeded permutation per epoch (else the stored order).
        seed: seed of the order and augmentation streams.
        drop_last: drop the last incomplete batch.
        augment: a :class:`BatchAugment` (e.g. :class:`lrlab.data.augment.ImageAugment`) for
            training batches, or a plain callable ``fn(x, generator) -> x``.
        device: where the data is held and batches are produced (``None``: leave as is).
        transform: a deterministic ``x -> x`` applied to every batch *before* augmentation
            (e.g. :class:`lrlab.data.augment.Normalize`: uint8 → normalised float).

    ``set_epoch(e)`` sets the epoch of the next pass; a pass without it uses the epoch after
    the previous one (the first pass is epoch 0), so ``lrlab.batches.cycle`` gets a new order
    every pass.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        augment: BatchAugment | Callable[..., torch.Tensor] | None = None,
        device: torch.device | str | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        x, y = _as_tensor("x", x), _as_tensor("y", y)
        if x.dim() == 0 or y.dim() == 0:
            raise DataError("x and y need a leading sample dimension, got scalars.")
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"x has {x.shape[0]} samples but y has {y.shape[0]}.",
                hint="x and y must have the same first dimension.",
            )
        if x.shape[0] == 0:
            raise DataError("The dataset is empty (x has 0 samples).")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"{batch_size=} must be a positive integer.")
        if drop_last and batch_size > x.shape[0]:
            raise InvalidArgument(
                f"{batch_size=} is larger than the dataset ({x.shape[0]} samples) and "
                "drop_last=True: no batch would be produced.",
                hint="Use a smaller batch size or drop_last=False.",
            )
        if device is not None:
            x, y = x.to(device), y.to(device)
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.augment = augment
        self.transform = transform
        self.device = x.device
        self._next_epoch = 0
        self.epoch: int | None = None  # the epoch of the pass running / last run

    def __len__(self) -> int:
        n = self.x.shape[0]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def set_epoch(self, epoch: int) -> None:
        """The next pass is epoch ``epoch`` (its order and augmentation are a function of
        ``(seed, epoch)``)."""
        self._next_epoch = int(epoch)

    def order(self, epoch: int) -> torch.Tensor:
        """Sample indices of epoch ``epoch`` (CPU int64): a seeded permutation, or
        ``arange`` without shuffling."""
        n = self.num_samples
        if not self.shuffle:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "order", epoch))
        return torch.randperm(n, generator=gen)

    def _augment_params(self, epoch: int, n: int) -> Mapping[str, torch.Tensor] | None:
        if not isinstance(self.augment, BatchAugment):
            return None
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "augment", epoch))
        h, w = (self.x.shape[-2], self.x.shape[-1]) if self.x.dim() >= 3 else (1, 1)
        params = self.augment.sample(n, h, w, gen)
        return {k: v.to(self.device) for k, v in params.items()}

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self._next_epoch
        self._next_epoch = epoch + 1
        self.epoch = epoch
        return self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order(epoch).to(self.device)
        n = order.shape[0]
        params = self._augment_params(epoch, n)
        plain_gen = None
        if self.augment is not None and params is None:
            plain_gen = torch.Generator(device=self.device)
            plain_gen.manual_seed(derive_seed(self.seed, "augment", epoch))
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb)
            if params is not None:
                end = start + idx.shape[0]
                xb = self.augment(xb, {k: v[start:end] for k, v in params.items()})
            elif plain_gen is not None:
                xb = self.augment(xb, plain_gen)
            yield xb, yb

    def __repr__(self) -> str:
        return (
            f"TensorLoader(n={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
            f"augment={self.augment!r}, device={self.device})"
        )
