"""Held-out batches for ``find_lr``'s decision: the user's ``eval_data``, or a split carved
from ``train_data``.

A candidate LR is judged by what its short run does on data it did not train on. With
``eval_data`` the first ``max_batches`` batches are read once and kept (every candidate sees
the same samples). Without it a split is carved from ``train_data``, and the result says how:

* an lrlab :class:`~lrlab.data.loader.TensorLoader`, or a ``DataLoader`` over a map-style
  dataset with the default samplers: a seeded random ``fraction`` of the samples (at most
  ``max_batches`` batches of them) is held out, and the short runs train on the rest, with
  the loader's own batch size, order, augmentation and collation — an exact split;
* a list or tuple of batches: the last batches are held out, the short runs train on the
  others — exact;
* any other iterable (a generator, an ``IterableDataset``): the first batches of one pass are
  held out but the short runs still see them in later passes (flag ``holdout-overlap``);
  pass ``eval_data=`` for a clean decision.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler, Subset

from lrlab.batches import Batch
from lrlab.batches import to_device as move_to
from lrlab.data.loader import TensorLoader
from lrlab.errors import DataError
from lrlab.seeding import derive_seed


@dataclass
class Holdout:
    """Where the short runs train (``train``) and what judges them (``eval``: batches on the
    device, read once); ``source`` says which in words, ``exact`` whether they are disjoint."""

    train: Iterable[Batch]
    eval: list[Batch]
    source: str
    exact: bool
    num_samples: int | None = None


def fixed_batches(data: Iterable[Batch], n: int, device: torch.device, *, what: str) -> list[Batch]:
    """The first ``n`` batches of ``data``, read once and kept (on ``device``): every
    evaluation sees the same samples, and a shuffling loader is not re-drawn each time."""
    batches = [move_to(b, device) for b in itertools.islice(iter(data), n)]
    if not batches:
        raise DataError(
            f"{what} yielded no batches.",
            hint="Pass a non-empty validation set.",
        )
    return batches


def holdout(
    train_data: Iterable[Batch],
    eval_data: Iterable[Batch] | None,
    *,
    fraction: float,
    max_batches: int,
    seed: int,
    device: torch.device,
) -> Holdout:
    """The held-out batches for ``find_lr`` (see the module docstring)."""
    if eval_data is not None:
        batches = fixed_batches(eval_data, max_batches, device, what="eval_data")
        return Holdout(train_data, batches, f"eval_data (first {len(batches)} batches)", True)
    if isinstance(train_data, TensorLoader):
        return _carve_tensors(train_data, fraction, max_batches, seed, device)
    if isinstance(train_data, DataLoader) and _plain_map_loader(train_data):
        return _carve_dataloader(train_data, fraction, max_batches, seed, device)
    if isinstance(train_data, (list, tuple)):
        n = len(train_data)
        k = min(max_batches, max(1, math.floor(fraction * n)))
        if n - k < 1:
            raise DataError(
                f"train_data has {n} batch(es): too few to hold some out for find_lr.",
                hint="Pass eval_data= (validation batches), or more training batches.",
            )
        held = [move_to(b, device) for b in train_data[n - k :]]
        return Holdout(list(train_data[: n - k]), held, f"last {k} of {n} train batches", True)
    batches = fixed_batches(train_data, max_batches, device, what="train_data")
    return Holdout(
        train_data, batches, f"first {len(batches)} train batches (also trained on)", False
    )


def _count(n: int, fraction: float, batch_size: int, max_batches: int) -> int:
    k = min(max(1, round(fraction * n)), max_batches * batch_size)
    if n - k < 1:
        raise DataError(
            f"train_data has {n} sample(s): too few to hold some out for find_lr.",
            hint="Pass eval_data= (validation batches), or more training data.",
        )
    return k


def _split_indices(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(derive_seed(seed, "holdout"))
    perm = torch.randperm(n, generator=gen)
    return perm[k:].sort().values, perm[:k].sort().values


def _carve_tensors(
    data: TensorLoader, fraction: float, max_batches: int, seed: int, device: torch.device
) -> Holdout:
    n = data.num_samples
    k = _count(n, fraction, data.batch_size, max_batches)
    keep, held = _split_indices(n, k, seed)
    keep_d, held_d = keep.to(data.device), held.to(data.device)
    train = TensorLoader(
        data.x[keep_d], data.y[keep_d], data.batch_size,
        shuffle=data.shuffle, seed=data.seed, drop_last=data.drop_last and n - k >= data.batch_size,
        augment=data.augment, transform=data.transform,
    )  # fmt: skip
    evl = TensorLoader(
        data.x[held_d], data.y[held_d], data.batch_size, shuffle=False, transform=data.transform
    )
    return Holdout(
        train,
        [move_to(b, device) for b in evl],
        f"{k} of {n} train samples held out (seeded split)",
        True,
        k,
    )


def _plain_map_loader(loader: DataLoader) -> bool:
    """A ``DataLoader`` over a sized map-style dataset with the default samplers."""
    dataset: Any = loader.dataset
    return (
        hasattr(dataset, "__getitem__")
        and hasattr(dataset, "__len__")
        and loader.batch_size is not None
        and type(loader.sampler) in (RandomSampler, SequentialSampler)
    )


def _carve_dataloader(
    loader: DataLoader, fraction: float, max_batches: int, seed: int, device: torch.device
) -> Holdout:
    dataset: Any = loader.dataset
    n = len(dataset)
    batch_size = int(loader.batch_size or 1)
    k = _count(n, fraction, batch_size, max_batches)
    keep, held = _split_indices(n, k, seed)
    common = {
        "batch_size": batch_size,
        "collate_fn": loader.collate_fn,
        "num_workers": loader.num_workers,
        "pin_memory": loader.pin_memory,
    }
    # No generator of its own: the order is drawn from torch's global generator, which the
    # short runs seed per epoch (every copy, batched or not, sees the same batches) and
    # find_lr restores — the user's loader's own generator is never touched.
    train = DataLoader(
        Subset(dataset, keep.tolist()),
        shuffle=isinstance(loader.sampler, RandomSampler),
        drop_last=loader.drop_last and n - k >= batch_size,
        **common,
    )
    evl = DataLoader(Subset(dataset, held.tolist()), shuffle=False, **common)
    return Holdout(
        train,
        [move_to(b, device) for b in evl],
        f"{k} of {n} train samples held out (seeded split)",
        True,
        k,
    )
