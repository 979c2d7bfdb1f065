"""Measures of one run's records: time to a target, loss spikes, the initial plateau.

These are the things seed 000 judged by eye ("much faster than control", "spikes are not as
big as control", "the first plateau seems to be smaller than control"), defined precisely so
two runs can be compared by numbers. Every function is pure: it reads a list of epoch records
(dicts as written to ``records.jsonl`` by :func:`lrlab.train.fit`) and returns data.

Record conventions: one record per epoch, ``epoch`` 0 is the evaluation before training
(no ``train_*`` fields), ``iteration`` counts optimizer updates done so far, ``elapsed`` is
the wall-clock seconds since the run started; a missing field or ``None`` (JSON's NaN) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lrlab.errors import check

Record = Mapping[str, Any]


def column(records: Sequence[Record], key: str) -> np.ndarray:
    """The values of ``key`` across ``records`` as float64 (missing or ``None`` → NaN)."""
    out = np.full(len(records), np.nan, dtype=np.float64)
    for i, rec in enumerate(records):
        value = rec.get(key)
        if value is not None:
            out[i] = float(value)
    return out


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------- time to target


@dataclass(frozen=True)
class Reached:
    """Where a run first reached a target: its epoch, iteration and elapsed seconds."""

    epoch: int
    iteration: int | None
    elapsed: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reached:
        return cls(
            epoch=int(d["epoch"]),
            iteration=_int_or_none(d.get("iteration")),
            elapsed=_float_or_none(d.get("elapsed")),
        )


def time_to_target(
    records: Sequence[Record],
    target: float,
    *,
    key: str = "eval_accuracy",
    higher_is_better: bool = True,
) -> Reached | None:
    """The first record whose ``key`` reaches ``target``, or ``None`` if none does.

    Reaching means ``value >= target`` when higher is better (accuracy) and
    ``value <= target`` otherwise (a loss). The epoch-0 record counts (a run that starts at
    the target reached it after 0 epochs). NaN never reaches anything.
    """
    check(math.isfinite(target), f"{target=} must be a finite number.")
    for rec in records:
        value = rec.get(key)
        if value is None or not math.isfinite(float(value)):
            continue
        hit = float(value) >= target if higher_is_better else float(value) <= target
        if hit:
            return Reached(
                epoch=int(rec.get("epoch", 0)),
                iteration=_int_or_none(rec.get("iteration")),
                elapsed=_float_or_none(rec.get("elapsed")),
            )
    return None


# --------------------------------------------------------------------------- loss spikes


@dataclass(frozen=True)
class Spike:
    """One loss spike: a maximal run of consecutive epochs above the tolerated level.

    ``start``/``peak``/``end`` are epochs (first, highest and last epoch of the run),
    ``reference`` the running minimum the rise is measured against, ``size`` the relative
    rise at the peak, ``loss[peak] / reference - 1`` (0.066 = 6.6 % above the best so far).
    """

    start: int
    peak: int
    end: int
    reference: float
    size: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spike:
        return cls(
            start=int(d["start"]),
            peak=int(d["peak"]),
            end=int(d["end"]),
            reference=float(d["reference"]),
            size=float("inf") if d["size"] is None else float(d["size"]),
        )


SpikeRun = tuple[int, int, int, float]


def spike_runs(values: Sequence[float], threshold: float = 0.05) -> list[SpikeRun]:
    """Spikes of a loss series as index tuples ``(start, peak, end, reference)``.

    Definition: let ``m_i = min(x_0 … x_{i-1})`` be the running minimum of the finite values
    before ``i``. Point ``i`` is *raised* when ``x_i > (1 + threshold) · m_i``. A spike is a
    maximal run of consecutive raised points (NaN points are skipped: they neither start, end
    nor extend a run); its reference is ``m`` at the run's first point (the minimum cannot
    change inside a run, every point of which is above it), its peak the run's largest value.
    A rise measured against the running minimum — not the previous value — makes a slow
    two-epoch climb count as one spike, and a noisy plateau that never beats its minimum by
    more than ``threshold`` count as none. Losses are assumed positive (cross-entropy, MSE).
    """
    check(threshold >= 0, f"{threshold=} must be >= 0 (a relative rise, 0.05 = 5 %).")
    runs: list[SpikeRun] = []
    running_min = math.inf
    start = peak = -1
    reference = math.nan
    last = -1
    for i, x in enumerate(values):
        x = float(x)
        if math.isnan(x):
            continue
        raised = math.isfinite(running_min) and x > (1.0 + threshold) * running_min
        if raised:
            if start < 0:
                start, peak, reference = i, i, running_min
            elif x > float(values[peak]):
                peak = i
            last = i
        else:
            if start >= 0:
                runs.append((start, peak, last, reference))
                start = -1
            running_min = min(running_min, x)
    if start >= 0:
        runs.append((start, peak, last, reference))
    return runs


def loss_spikes(
    records: Sequence[Record], *, key: str = "eval_loss", threshold: float = 0.05
) -> list[Spike]:
    """The loss spikes of a run (see :func:`spike_runs` for the definition), in epochs.

    Records without a value for ``key`` (e.g. the epoch-0 record for ``train_loss``) are
    left out before the runs are found.
    """
    rows = [r for r in records if r.get(key) is not None]
    values = column(rows, key)
    epochs = [int(r.get("epoch", i)) for i, r in enumerate(rows)]
    spikes = []
    for start, peak, end, reference in spike_runs(values, threshold):
        size = float(values[peak] / reference - 1.0) if reference > 0 else math.inf
        spikes.append(Spike(epochs[start], epochs[peak], epochs[end], float(reference), size))
    return spikes


# --------------------------------------------------------------------------- initial plateau


@dataclass(frozen=True)
class Plateau:
    """The initial plateau at the majority-class level.

    ``epochs``: trained epochs before the accuracy first rose above the level;
    ``iterations``: optimizer updates done by the end of the plateau; ``left``: whether the
    accuracy left the level at all (``False``: the whole run was a plateau, a censored value).
    """

    epochs: int
    iterations: int | None
    left: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plateau:
        return cls(int(d["epochs"]), _int_or_none(d.get("iterations")), bool(d["left"]))


def initial_plateau(
    records: Sequence[Record],
    chance: float,
    *,
    key: str = "eval_accuracy",
    tol: float = 0.01,
) -> Plateau | None:
    """How long the accuracy stays at the majority-class level ``chance`` after training starts.

    The plateau ends at the first trained epoch ``e* ≥ 1`` with ``acc(e*) > chance + tol``;
    its length is ``e* − 1`` epochs (the epochs at or *below* the level count: an untrained
    network often predicts a minority class, as seed 000's runs 2 and 3 do at epoch 0). In
    seed 000 (chance 0.2464, tol 0.01) the first run leaves at epoch 4 (0.2792): a plateau of
    3 epochs. ``tol`` absorbs the noise of a model that only starts to move. ``None`` when no
    trained epoch has an accuracy.
    """
    check(0.0 <= chance <= 1.0, f"{chance=} must be an accuracy in [0, 1].")
    check(tol >= 0, f"{tol=} must be >= 0.")
    trained = [r for r in records if int(r.get("epoch", 0)) >= 1 and r.get(key) is not None]
    if not trained:
        return None
    previous_iteration: int | None = 0
    for rec in trained:
        if float(rec[key]) > chance + tol:
            return Plateau(int(rec["epoch"]) - 1, previous_iteration, True)
        previous_iteration = _int_or_none(rec.get("iteration"))
    return Plateau(int(trained[-1]["epoch"]), previous_iteration, False)
