"""Driving an engine: the data order every copy shares, and a scheduled short training.

An *engine* trains some copies of a model (all K at once — :mod:`.batched`, :mod:`.grouped` —
or one at a time — :mod:`.sequential`) and evaluates them. Two loops drive engines: the
scan's (:func:`lrlab.scanning.loop.run_horizons`, constant LRs, evaluated at horizons) and
:func:`run_schedule` here (``find_lr``'s short trainings: every copy follows the planned
schedule, compressed, at its own peak LR, and is evaluated at a few checkpoints).

Determinism: at the start of epoch ``e`` the data is positioned with ``set_epoch(data, e)``
and torch's generators are seeded with ``derive_seed(seed, "data", e)`` (:func:`epoch_batches`),
so every copy, in every engine, sees the same batches in the same order (also from a shuffling
``DataLoader``) and the same dropout masks. Evaluation runs inside ``torch.random.fork_rng``:
it never changes the random numbers that training sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from lrlab.batches import set_epoch
from lrlab.errors import DataError
from lrlab.seeding import derive_seed
from lrlab.train.update import micro_batch_groups

# A copy's status in a scheduled run.
OK = "ok"
DIVERGED = "diverged"  # non-finite training or evaluation loss (at or before this point)
STOPPED = "stopped"  # evaluation loss above the stop threshold (at or before this point)
NOT_RUN = "not run"  # never reached (interrupted)


class Engine(Protocol):
    """What the loops need from an engine (see :mod:`lrlab.copies`)."""

    live: list[int]  # global indices of the copies still trained

    def train_step(self, batch: Any) -> None: ...

    def train_group(self, batches: Sequence[Any]) -> None:
        """One update from ``len(batches)`` micro-batches: the gradient of their mean loss."""
        ...

    def set_hyper(self, scale: float, momentum: float | None = None) -> None:
        """The next update's LR multiplier (copy ``k``: ``lrs[k] · scale``) and momentum."""
        ...

    def alive(self) -> np.ndarray:
        """Per live copy: no non-finite training loss so far (bool array)."""
        ...

    def evaluate(self, data: Iterable[Any]) -> dict[str, np.ndarray]:
        """``{"loss": [...], metric: [...]}``, one value per live copy."""
        ...

    def keep(self, mask: np.ndarray) -> None:
        """Drop the live copies where ``mask`` is False."""
        ...

    def take_dead(self) -> list[int]:
        """Global indices of copies the engine dropped itself since the last call."""
        ...


def epoch_batches(
    data: Iterable[Any], epoch: int, seed: int, cuda_devices: Sequence[int] = ()
) -> Iterable[Any]:
    """Seed and position the data for ``epoch``; return the iterable to loop over.

    Seeds the CPU generator (and the given CUDA devices' generators) directly rather than
    through ``torch.manual_seed``, which also queues a lazy seeding of every CUDA device,
    recording a stack trace each time (milliseconds per call on a small scan).
    """
    set_epoch(data, epoch)
    value = derive_seed(seed, "data", epoch)
    torch.default_generator.manual_seed(value)
    for index in cuda_devices:
        torch.cuda.default_generators[index].manual_seed(value)
    return data


@dataclass
class Trace:
    """What a scheduled run measured: ``[C, K]`` arrays (checkpoint × copy).

    ``status[k]`` is the copy's final status; ``loss``/``metrics`` hold the evaluation at each
    checkpoint (NaN where the copy had diverged or the checkpoint was not reached).
    """

    checkpoints: Sequence[int]
    num_copies: int
    metric_names: Sequence[str] = ()
    loss: np.ndarray = field(init=False)
    metrics: dict[str, np.ndarray] = field(init=False)
    status: np.ndarray = field(init=False)
    steps: int = 0  # updates done (by the last engine)
    copy_steps: int = 0  # updates summed over the copies (the cost)

    def __post_init__(self) -> None:
        shape = (len(self.checkpoints), self.num_copies)
        self.loss = np.full(shape, np.nan)
        self.metrics = {m: np.full(shape, np.nan) for m in self.metric_names}
        self.status = np.full(self.num_copies, NOT_RUN, dtype=object)

    @property
    def complete(self) -> bool:
        return bool((self.status != NOT_RUN).all())


@dataclass
class Measured:
    """The held-out values of the live copies at a checkpoint (both loops read them so):
    ``values[name]`` per live copy (NaN where the copy diverged), ``idx`` their global
    indices, ``diverged`` (a non-finite training or evaluation loss) and ``above`` (a finite
    evaluation loss over the stop threshold)."""

    idx: np.ndarray
    values: dict[str, np.ndarray]
    diverged: np.ndarray
    above: np.ndarray


def measure_live(
    engine: Engine, eval_data: Iterable[Any], threshold: float | None, rng_devices: Sequence[int]
) -> Measured:
    """Evaluate the live copies on ``eval_data``, inside ``fork_rng`` (evaluation never
    changes the random numbers training sees)."""
    alive = engine.alive()
    with torch.random.fork_rng(devices=list(rng_devices)):
        values = engine.evaluate(eval_data)
    loss = values["loss"]
    diverged = ~alive | ~np.isfinite(loss)
    above = ~diverged & (loss > threshold) if threshold is not None else np.zeros_like(diverged)
    masked = {k: np.where(diverged, np.nan, v) for k, v in values.items()}
    return Measured(np.asarray(engine.live), masked, diverged, above)


def run_schedule(
    engine: Engine,
    train_data: Iterable[Any],
    eval_data: Iterable[Any],
    trace: Trace,
    *,
    hyper: Callable[[int], tuple[float, float | None]],
    seed: int,
    threshold: float | None = None,
    rng_devices: Sequence[int] = (),
    tick: Callable[[int], None] | None = None,
    accumulation: int = 1,
    first_epoch: int = 0,
) -> None:
    """Train ``engine`` for ``trace.checkpoints[-1]`` updates; update ``t`` uses
    ``engine.set_hyper(*hyper(t))``; evaluate on ``eval_data`` after each checkpoint's update.

    An update is one batch, or ``accumulation`` consecutive micro-batches (the planned run's
    gradient accumulation, grouped as ``fit`` groups them:
    :func:`lrlab.train.update.micro_batch_groups`). The data is read as in epochs
    ``first_epoch``, ``first_epoch + 1``, ... (:func:`epoch_batches`; another ``first_epoch``
    is another data order).

    ``trace`` is filled in place (what was measured survives a ``KeyboardInterrupt``). A copy
    whose training or evaluation loss is non-finite is *diverged*, one whose evaluation loss
    exceeds ``threshold`` is *stopped*: either is dropped from the engine (costing nothing
    afterwards) and its later checkpoints stay NaN.
    """
    checkpoints = list(trace.checkpoints)
    total = checkpoints[-1]
    next_c = 0
    step = 0
    epoch = first_epoch
    while step < total and engine.live:
        produced = False
        data = epoch_batches(train_data, epoch, seed, rng_devices)
        for group in micro_batch_groups(data, accumulation):
            produced = True
            engine.set_hyper(*hyper(step))
            trace.copy_steps += len(engine.live)
            engine.train_group(group)
            step += 1
            trace.steps = step
            if tick is not None:
                tick(1)
            if step == checkpoints[next_c]:
                _evaluate(engine, eval_data, trace, next_c, threshold, rng_devices)
                next_c += 1
            if step == total or not engine.live:
                break
        if not produced:
            raise DataError(
                "train_data yielded no batches.",
                hint="Check the dataset is not empty and batch_size <= its length.",
            )
        epoch += 1
    _mark(trace, engine.take_dead())
    for k in engine.live:
        if trace.status[k] == NOT_RUN and step == total:
            trace.status[k] = OK


def _evaluate(
    engine: Engine,
    eval_data: Iterable[Any],
    trace: Trace,
    c: int,
    threshold: float | None,
    rng_devices: Sequence[int],
) -> None:
    _mark(trace, engine.take_dead())
    if not engine.live:
        return
    m = measure_live(engine, eval_data, threshold, rng_devices)
    idx, diverged, above = m.idx, m.diverged, m.above
    trace.loss[c, idx] = m.values["loss"]
    for name in trace.metric_names:
        trace.metrics[name][c, idx] = m.values[name]
    if diverged.any() or above.any():
        trace.status[idx[diverged]] = DIVERGED
        trace.status[idx[above]] = STOPPED
        engine.keep(~(diverged | above))


def _mark(trace: Trace, copies: Sequence[int]) -> None:
    for k in copies:
        trace.status[k] = DIVERGED
