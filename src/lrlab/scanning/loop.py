"""The scan's outer loop, shared by the batched and the sequential engines.

An *engine* trains some copies of the model (all K at once, or one at a time) and can
evaluate them. :func:`run_horizons` drives it through the longest horizon over the data,
stops at every horizon to evaluate (one shared pass: the ``h``-epoch value is read off the
same run that goes on to the longer horizons), applies the stop rule and records the cells.

Determinism: at the start of epoch ``e`` the loop calls ``set_epoch(data, e)`` and seeds
torch's global generator with ``derive_seed(seed, "data", e)``, so every copy, in either
engine, sees the same batches in the same order (also from a shuffling ``DataLoader``) and
the same dropout masks. Evaluation runs inside ``torch.random.fork_rng``: it never changes
the random numbers training sees, so a horizon read off the shared pass equals a run
trained for exactly that horizon from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrlab.copies.driving import (
    DIVERGED,
    NOT_RUN,
    OK,
    STOPPED,
    Engine,
    epoch_batches,
    measure_live,
)
from lrlab.errors import DataError

# Cell statuses of a scan (horizon × LR): the engines' OK / STOPPED / DIVERGED / NOT_RUN.
STATUSES = (OK, STOPPED, DIVERGED, NOT_RUN)


def stop_threshold(initial_loss: float, stop_factor: float | None) -> float | None:
    """The loss above which a copy is stopped: ``initial + (stop_factor − 1)·|initial|``.

    For a positive initial loss this is ``stop_factor × initial`` (seed 003's rule); the
    absolute value keeps the rule meaningful for losses that can be negative.
    """
    if stop_factor is None:
        return None
    return float(initial_loss + (stop_factor - 1.0) * abs(initial_loss))


@dataclass
class Record:
    """What a scan measured so far: ``[H, K]`` arrays (horizon × LR)."""

    num_horizons: int
    num_lrs: int
    metric_names: Sequence[str] = ()
    raw: np.ndarray = field(init=False)
    status: np.ndarray = field(init=False)
    metrics: dict[str, np.ndarray] = field(init=False)
    steps: int = 0  # optimizer updates done by the (last) engine run

    def __post_init__(self) -> None:
        shape = (self.num_horizons, self.num_lrs)
        self.raw = np.full(shape, np.nan)
        self.status = np.full(shape, NOT_RUN, dtype=object)
        self.metrics = {m: np.full(shape, np.nan) for m in self.metric_names}

    def losses(self) -> np.ndarray:
        """Eval losses where the cell is ``ok``, NaN elsewhere."""
        return np.where(self.status == OK, self.raw, np.nan)


def run_horizons(
    engine: Engine,
    train_data: Iterable[Any],
    eval_data: Iterable[Any],
    record: Record,
    *,
    horizons: Sequence[int],
    unit: str,
    seed: int,
    threshold: float | None,
    mask_stopped: bool,
    rng_devices: Sequence[int] = (),
    tick: Callable[[int], None] | None = None,
) -> None:
    """Train ``engine`` through ``horizons[-1]`` epochs or steps, recording every horizon.

    Stops early when no copy is left. ``record`` is filled in place, so what was measured
    survives an exception (``KeyboardInterrupt``) raised in the middle.
    """
    next_h = 0
    step = 0
    epoch = 0
    while next_h < len(horizons) and engine.live:
        produced = False
        for batch in epoch_batches(train_data, epoch, seed, rng_devices):
            produced = True
            engine.train_step(batch)
            step += 1
            record.steps = step
            if tick is not None:
                tick(1)
            if not engine.live:  # every copy diverged mid-way: nothing left to train
                _mark(record, next_h, engine.take_dead(), DIVERGED)
                return
            if unit == "steps" and step == horizons[next_h]:
                _checkpoint(engine, eval_data, record, next_h, threshold, mask_stopped, rng_devices)
                next_h += 1
                if next_h == len(horizons) or not engine.live:
                    return
        if not produced:
            raise DataError(
                "train_data yielded no batches.",
                hint="Check the dataset is not empty and batch_size <= its length.",
            )
        epoch += 1
        if unit == "epochs" and epoch == horizons[next_h]:
            _checkpoint(engine, eval_data, record, next_h, threshold, mask_stopped, rng_devices)
            next_h += 1


def _checkpoint(
    engine: Engine,
    eval_data: Iterable[Any],
    record: Record,
    h: int,
    threshold: float | None,
    mask_stopped: bool,
    rng_devices: Sequence[int],
) -> None:
    _mark(record, h, engine.take_dead(), DIVERGED)
    m = measure_live(engine, eval_data, threshold, rng_devices)
    idx, diverged, above = m.idx, m.diverged, m.above
    record.raw[h, idx] = m.values["loss"]
    for name in record.metric_names:
        record.metrics[name][h, idx] = m.values[name]
    record.status[h, idx] = np.where(diverged, DIVERGED, np.where(above, STOPPED, OK))
    removed = diverged | (above & mask_stopped)
    if removed.any():
        # A removed copy's later cells say why they are empty.
        record.status[h + 1 :, idx[removed]] = record.status[h, idx[removed]]
        engine.keep(~removed)


def _mark(record: Record, h: int, copies: Sequence[int], status: str) -> None:
    """Cells of ``copies`` from horizon ``h`` on: empty, with ``status``."""
    if copies:
        idx = np.asarray(copies)
        record.status[h:, idx] = status
        record.raw[h:, idx] = np.nan
