"""What both integrations share: the trainer's loader rebuilt for find_lr, the trainer's
update in find_lr's settings, an optimizer whose scheduler is already built, and what is
logged.

**The trainer's update** (:func:`with_update`). A trainer that accumulates ``k``
micro-batches per optimizer update and clips the gradient norm: ``find_lr``'s range test and
short runs do the same (the range test's ``accumulation_steps`` and ``grad_clip``, which the
short runs follow). ``find_lr`` counts updates, as the trainers plan their length, and each
update reads the trainer's own micro-batches: BatchNorm statistics per micro-batch, and the
memory of one micro-batch.

**The loader** (:func:`plain_loader`). Rebuilt where reading it would touch the trainer: the
rebuilt loader has a fresh sampler, so reading it never advances a sampler the trainer will
use (accelerate's seedable samplers count epochs as they are iterated), and it is a plain
``DataLoader`` over a map-style dataset, from which ``find_lr`` carves an exact held-out split
when no validation data is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch.utils.data import BatchSampler, DataLoader, IterableDataset, SequentialSampler

from lrlab.errors import DataError, InvalidArgument
from lrlab.finder.find_settings import FindSettings, find_settings_from
from lrlab.optim import groups


def _layout(loader: DataLoader) -> tuple[int, Any, bool] | None:
    """``(batch_size, sampler, drop_last)`` of a loader that batches with a plain batch size
    (set directly, or through a torch ``BatchSampler`` as accelerate's loaders do)."""
    if loader.batch_size is not None:
        return int(loader.batch_size), loader.sampler, bool(loader.drop_last)
    batches = getattr(loader, "batch_sampler", None)
    if type(batches) is BatchSampler and batches.batch_size is not None:
        return int(batches.batch_size), batches.sampler, bool(batches.drop_last)
    return None


def plain_loader(loader: Any, *, rebuild: bool = False) -> Iterable[Any]:
    """The trainer's batches for find_lr: ``loader`` itself, or (``rebuild``) a plain
    ``DataLoader`` with its dataset, batch size and collation (see the module docstring).

    Args:
        loader: the trainer's loader (a ``DataLoader``, or accelerate's subclass).
        rebuild: rebuild it (a loader whose iteration has side effects on the trainer, such
            as accelerate's, or one reading one rank's shard or with its own generator).

    The order is random unless the loader reads in order (a ``SequentialSampler``, or a
    ``DistributedSampler`` with ``shuffle=False``); a custom sampler (weights, length groups)
    is replaced by a uniform random one; an ``IterableDataset`` is batched in its own order.
    A loader without a plain batch size (a custom batch sampler) cannot be rebuilt: refused.
    """
    if not rebuild:
        return loader
    layout = _layout(loader) if isinstance(loader, DataLoader) else None
    if layout is None:
        raise DataError(
            f"Cannot rebuild the {type(loader).__name__} for find_lr: it has no plain batch "
            "size (a custom batch sampler?).",
            hint="Use a DataLoader with batch_size=... (or a DistributedSampler under DDP).",
        )
    batch_size, sampler, drop_last = layout
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "collate_fn": loader.collate_fn,
        "num_workers": loader.num_workers,
        "pin_memory": loader.pin_memory,
        "worker_init_fn": loader.worker_init_fn,
    }
    if isinstance(loader.dataset, IterableDataset):
        return DataLoader(loader.dataset, **common)
    # A DistributedSampler says whether it shuffles; other samplers (a custom one too) are
    # read in a random order unless they are sequential.
    shuffle = bool(getattr(sampler, "shuffle", not isinstance(sampler, SequentialSampler)))
    return DataLoader(loader.dataset, shuffle=shuffle, drop_last=drop_last, **common)


# find_lr's arguments the integrations take from the trainer; the rest are settings.
SUPPLIED = ("model", "optimizer", "criterion", "train_data", "total_steps", "eval_data")
SUPPLIED += ("unpack", "step_fn")


def check_settings(options: Iterable[str], source: str) -> None:
    """Refuse find_lr arguments that the integration reads from ``source`` itself."""
    given = sorted(set(SUPPLIED) & set(options))
    if given:
        raise InvalidArgument(
            f"{', '.join(given)}: read from {source}, not given.",
            hint="Pass only find_lr's settings (seed, progress, metrics, FindSettings fields).",
        )


def with_update(
    options: Mapping[str, Any], total_steps: int, *, accumulation: int, grad_clip: float | None
) -> dict[str, Any]:
    """find_lr's ``options`` with the trainer's update in the range test's settings, which the
    short runs follow too (docs/find_lr.md): ``settings`` (a :class:`~lrlab.FindSettings`)
    whole, the other options as they were.

    ``accumulation``: the trainer's micro-batches per update (it plans the run's length in
    updates of that many); it always replaces an ``accumulation_steps`` in the options'
    range-test settings, since the planned length counts the trainer's updates.
    ``grad_clip``: the norm it clips to (``None`` or ``<= 0``: none); a ``grad_clip`` the
    options' range-test settings already give is kept (a choice the user made for the find).

    ``eval_batches`` counts the trainer's micro-batches: a held-out split carved from the
    training data holds at most that many."""
    if not isinstance(accumulation, int) or accumulation < 1:
        raise InvalidArgument(f"accumulation={accumulation!r} must be an integer >= 1.")
    names = {f.name for f in dataclasses.fields(FindSettings)}
    fields = {k: v for k, v in options.items() if k in names}
    rest = {k: v for k, v in options.items() if k not in names and k != "settings"}
    settings = find_settings_from(options.get("settings"), **fields)
    rt = settings.range_test_settings(total_steps)
    change: dict[str, Any] = {"accumulation_steps": accumulation}
    if grad_clip is not None and grad_clip > 0 and rt.grad_clip is None:
        change["grad_clip"] = float(grad_clip)
    rt = dataclasses.replace(rt, **change)
    return {**rest, "settings": dataclasses.replace(settings, range_test=rt)}


@contextmanager
def at_initial_lr(optimizer: Any) -> Iterator[None]:
    """Every param group at its ``initial_lr`` while ``find_lr`` reads the optimizer, and back.

    The trainers build their schedulers before the find runs, and a warm-up sets the LR of
    update 0 to 0 — from which ``find_lr`` cannot read the groups' LR ratios (it reads them
    from ``lr``). ``initial_lr`` is the scheduler's own record of the LR it scales.
    """
    pgs = groups.param_groups(optimizer)
    saved = [group["lr"] for group in pgs]
    for group in pgs:
        if "initial_lr" in group:
            groups.write(group, "lr", float(groups.read(group, "initial_lr")))
    try:
        yield
    finally:
        for group, lr in zip(pgs, saved, strict=True):
            groups.write(group, "lr", lr)


def logged_values(result: Any) -> dict[str, float]:
    """What the integrations log of a :class:`~lrlab.FindResult`: the peak LR, the interval
    and the cost (in planned runs and seconds); values that are ``None`` are left out."""
    values = {
        "lr": result.lr,
        "low": result.low,
        "high": result.high,
        "cost_runs": result.cost.get("runs"),
        "cost_seconds": result.cost.get("seconds"),
    }
    return {f"find_lr/{k}": float(v) for k, v in values.items() if v is not None}
