r"""``find_lr``'s pure maths: the window a range test proposes, the candidates, the choice.

Nothing here touches torch or files; every function maps arrays to numbers, so the rule can
be re-scored on stored measurements (``benchmarks/find_quality.py --rescore``) and tested on
synthetic responses with a known answer.

**Window** (:func:`window`). On the range test's rule curve (the loss smoothed over log LR,
:meth:`lrlab.finder.RangeTestResult.rule_curve`) with start value :math:`L_0` and minimum
:math:`L_*` at :math:`\eta_*`: learning *starts* at the first LR whose loss is below
:math:`L_0 - 0.1 (L_0 - L_*)`; the curve *diverges* at the first LR after the minimum whose
loss is back above :math:`L_0` (or where the sweep stopped). The candidates span
:math:`[\max(\eta_{start}, \eta_*/b), \; \eta_{div} \cdot a]` — below *and beyond* the curve's
minimum, because the best peak LR of a scheduled run can be several times the minimum of a
range test (warm-up lets a run through LRs a 100-step sweep could not survive: BatchNorm
nets, plain SGD on tanh nets, issue 12). A curve that falls by less than 5 % is *flat*: the
window is anchored on where it rises instead.

**Rounds** (:func:`survivors`, :func:`learnt`, :func:`spread`). Every candidate runs the
shortest horizon; the ``keep`` nearest (in log LR) to the smoothed peak run each longer one;
a round that learnt nothing beyond the noise is run again twice as long.

**Choice** (:func:`choose`). Each run ends with a score :math:`y_k` on held-out batches
(higher is better: minus the loss, or a metric); a diverged or stopped run scores the
untrained model's :math:`y_0`, and no score counts below it. The longest round's response
over :math:`x = \log_{10}\eta` is smoothed with a Gaussian kernel (Nadaraya–Watson),

.. math::  R(x) = \frac{\sum_k w_k(x)\, y_k}{\sum_k w_k(x)}, \qquad
           w_k(x) = \exp\!\big(-(x - x_k)^2 / 2s^2\big),

which averages out the noise of single runs and is *risk-averse*: a cliff next to a peak
pulls the peak's smoothed value down, so the argmax moves away from the cliff, while a gentle
slope barely moves it (being 2× low costs little; 2× high can cost everything). The answer
:math:`x^*` is shrunk toward the range test's curve-only suggestion :math:`x_c`:
:math:`(1 - w)\,x^* + w\,x_c` (``prior_weight``). The best LR per round gives the drift
:math:`d` (slope of :math:`x^*_h` against :math:`\log_{10} h`); :math:`d \log_{10}(T/h_{last})`
(clipped to ``max_drift``) is where it would take the answer by the planned length :math:`T`:
a fraction ``drift_gain`` of a downward drift is followed, and the interval — the first round's
LRs whose smoothed score is within ``tolerance`` (the runs' spread) of its best, and at least
``halfwidth`` decades either side of the answer — is stretched to include it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

START_FRACTION = 0.1  # learning "starts" once 10 % of the curve's drop is done
FLAT_DROP = 0.05  # a curve whose loss falls by less than 5 % of its start has no minimum


@dataclass(frozen=True)
class Window:
    """What the range test proposes (LRs of the first param group)."""

    low: float  # where the candidates start
    high: float  # where they end
    start_lr: float | None  # where learning starts on the curve
    min_lr: float | None  # the curve's minimum
    divergence_lr: float | None  # where the loss is back above its start (or the sweep stopped)
    flags: tuple[str, ...] = ()


def window(
    lrs: Sequence[float],
    curve: Sequence[float],
    *,
    below_min: float,
    above_divergence: float,
    stopped: bool,
) -> Window:
    """The candidate window from a range test's rule curve (see the module docstring).

    ``stopped``: the sweep ended early (divergence or a non-finite loss), so its last LR is
    past the edge; otherwise an un-diverged curve's last LR is the divergence estimate and
    the window is flagged ``no-divergence``.
    """
    x = np.asarray(lrs, dtype=float)
    y = np.asarray(curve, dtype=float)
    if x.size < 3 or not np.isfinite(y).all():
        top = float(x[-1]) if x.size else 1.0
        return Window(top / 1e4, top, None, None, None, ("short-curve",))
    flags: list[str] = []
    i_min = int(np.argmin(y))
    drop = y[0] - y[i_min]
    if not drop > FLAT_DROP * max(abs(y[0]), 1e-12):
        # The loss never fell beyond noise: no minimum to anchor on. Anchor on the divergence
        # (where the curve rises above its start), or on the sweep's end.
        rise = np.flatnonzero(y > y[0] + FLAT_DROP * max(abs(y[0]), 1e-12))
        if rise.size:
            top = float(x[rise[0]])
        elif stopped:
            top = float(x[-1])
        else:
            top, flags = float(x[-1]) * above_divergence, ["no-divergence"]
        return Window(top / 300.0, top, None, None, None, ("flat-curve", *flags))
    i_start = int(np.argmax(y <= y[0] - START_FRACTION * drop))
    after = np.flatnonzero(y[i_min:] > y[0])
    if after.size:
        i_div = i_min + int(after[0])
    else:
        i_div = x.size - 1
        if not stopped:
            flags.append("no-divergence")
    min_lr, div_lr, start_lr = float(x[i_min]), float(x[i_div]), float(x[i_start])
    low = max(start_lr, min_lr / below_min)
    high = max(div_lr, min_lr) * above_divergence
    return Window(low, high, start_lr, min_lr, div_lr, tuple(flags))


def log_grid(low: float, high: float, per_decade: float, max_points: int) -> list[float]:
    """Log-spaced LRs from ``low`` to ``high`` (both included), ``per_decade`` per decade,
    at most ``max_points`` (then spaced more widely) and at least 3."""
    decades = math.log10(high / low)
    n = int(min(max_points, max(3, round(decades * per_decade) + 1)))
    return [float(v) for v in np.logspace(math.log10(low), math.log10(high), n)]


def extension(lrs: Sequence[float], side: str, count: int) -> list[float]:
    """``count`` new LRs beyond the ``side`` (``"low"`` / ``"high"``) end of the sorted
    grid ``lrs``, continuing its spacing."""
    x = np.log10(np.asarray(sorted(lrs), dtype=float))
    step = float(np.median(np.diff(x))) if x.size > 1 else 0.5
    if side == "high":
        return [float(10 ** (x[-1] + step * (i + 1))) for i in range(count)]
    return [float(10 ** (x[0] - step * (i + 1))) for i in range(count)][::-1]


def smooth(x: np.ndarray, y: np.ndarray, at: np.ndarray, width: float) -> np.ndarray:
    """Nadaraya–Watson estimate of ``y(x)`` at ``at`` with a Gaussian kernel of sd ``width``."""
    d = (at[:, None] - x[None, :]) / width
    w = np.exp(-0.5 * d * d)
    return (w @ y) / w.sum(axis=1)


@dataclass(frozen=True)
class Choice:
    """The answer of :func:`choose` (LRs of the first param group)."""

    lr: float | None
    low: float | None
    high: float | None
    best_per_horizon: tuple[float | None, ...]
    drift: float | None  # decades of best LR per decade of training length
    edge: str | None  # "low" / "high": the first round's best sits at that end
    tolerance: float  # the score margin that defines the interval
    flags: tuple[str, ...] = field(default=())


Round = tuple[Sequence[float], Sequence[float]]  # (LRs, scores) of one horizon


def clean_scores(scores: np.ndarray, floor: float) -> np.ndarray:
    """Diverged (NaN) runs and runs worse than the untrained model score ``floor``."""
    y = np.where(np.isfinite(scores), scores, floor)
    return np.maximum(y, floor)


def _fit(lrs: Sequence[float], scores: Sequence[float], floor: float, width: float,
         resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    order = np.argsort(np.asarray(lrs, dtype=float))
    x = np.log10(np.asarray(lrs, dtype=float)[order])
    y = clean_scores(np.asarray(scores, dtype=float)[order], floor)
    grid = np.linspace(x[0], x[-1], resolution) if x.size > 1 else x.copy()
    return x, y, grid, smooth(x, y, grid, width)


def best_of(lrs: Sequence[float], scores: Sequence[float], floor: float, width: float,
            resolution: int = 400) -> float:  # fmt: skip
    """log10 of the LR where the smoothed response of one horizon peaks."""
    _, _, grid, fit = _fit(lrs, scores, floor, width, resolution)
    return float(grid[int(np.argmax(fit))])


def survivors(pool: Sequence[float], top: float, keep: int) -> list[float]:
    """The ``keep`` LRs of ``pool`` nearest (in log LR) to ``10**top``, the current estimate
    of the peak — the next round's runs. Ties go to the lower LR (the safe side)."""
    ranked = sorted(pool, key=lambda lr: (abs(math.log10(lr) - top), lr))
    return sorted(ranked[:keep])


def edge_of(
    lrs: Sequence[float], scores: Sequence[float], floor: float, width: float
) -> str | None:
    """``"high"`` / ``"low"`` when the smoothed peak sits at that end of the candidates."""
    x = np.log10(np.sort(np.asarray(lrs, dtype=float)))
    if x.size < 2:
        return None
    top = best_of(lrs, scores, floor, width)
    step = float(np.median(np.diff(x)))
    if top >= x[-1] - step / 2:
        return "high"
    if top <= x[0] + step / 2:
        return "low"
    return None


def noise_of(lrs: Sequence[float], scores: Sequence[float], floor: float, width: float) -> float:
    """The runs' spread around their smoothed response (RMS residual; 0 with < 3 runs)."""
    x, y, _, _ = _fit(lrs, scores, floor, width, 2)
    if x.size < 3:
        return 0.0
    return float(np.sqrt(np.mean((y - smooth(x, y, x, width)) ** 2)))


def learnt(scores: Sequence[float], floor: float, noise: float) -> bool:
    """Whether some run beat the untrained model by more than the noise: ``max y − y₀ >
    max(3·noise, 1 % of |y₀|)``. When none did, the round cannot tell the LRs apart."""
    y = clean_scores(np.asarray(scores, dtype=float), floor)
    return bool(y.max() - floor > max(3.0 * noise, 0.01 * max(abs(floor), 1e-12)))


def spread(pool: Sequence[float], count: int) -> list[float]:
    """``count`` LRs of ``pool`` evenly spaced over its log range (both ends included)."""
    ordered = sorted(pool)
    if len(ordered) <= count:
        return ordered
    idx = np.unique(np.round(np.linspace(0, len(ordered) - 1, count)).astype(int))
    return [ordered[i] for i in idx]


def choose(
    rounds: Sequence[Round],
    horizons: Sequence[int],
    total_steps: int,
    *,
    floor: float,
    width: float = 0.25,
    drift_gain: float = 0.5,
    max_drift: float = 0.5,
    prior: float | None = None,
    prior_weight: float = 0.0,
    halfwidth: float = 0.0,
    tolerance: float | None = None,
    resolution: int = 400,
) -> Choice:
    """Choose the peak LR from short-run scores (see the module docstring).

    Args:
        rounds: per horizon, the candidates' LRs and final scores (higher is better; NaN:
            diverged or stopped). Later rounds usually hold fewer, better candidates.
        horizons: the rounds' lengths (updates), increasing.
        total_steps: the planned run's length.
        floor: the untrained model's score (what a diverged run is worth).
        width: the kernel's sd in decades of LR.
        drift_gain, max_drift: the horizon extrapolation's shrinkage and its clip (decades);
            only a drift *down* (the best LR falls as training lengthens) is followed — the
            safe direction.
        prior, prior_weight: an independent estimate of the LR (the range test's curve-only
            suggestion) and its weight: the answer is ``(1 − w)·x + w·log10(prior)`` in log
            LR — a shrinkage of the short runs' noisy answer toward it.
        halfwidth: the interval reaches at least this many decades either side of the answer.
        tolerance: the score margin of the interval (default: the first round's spread around
            its smoothed response).
    """
    flags: list[str] = []
    finite = [np.isfinite(np.asarray(sc, dtype=float)).any() for _, sc in rounds]
    if not any(finite):
        return Choice(None, None, None, (None,) * len(rounds), None, None, 0.0, ("all-diverged",))
    best_x: list[float | None] = [
        best_of(lrs, sc, floor, width, resolution) if ok else None
        for (lrs, sc), ok in zip(rounds, finite, strict=True)
    ]
    last = max(i for i, ok in enumerate(finite) if ok)
    if last < len(rounds) - 1:
        flags.append("last-round-diverged")
    top = float(best_x[last])  # type: ignore[arg-type]
    lrs0, sc0 = rounds[0]
    _, _, grid0, fit0 = _fit(lrs0, sc0, floor, width, resolution)
    if float(np.max(clean_scores(np.asarray(rounds[last][1], dtype=float), floor)) - floor) <= (
        1e-12 * max(1.0, abs(floor))
    ):
        flags.append("nothing-learnt")
    edge = edge_of(lrs0, sc0, floor, width)
    points = [(math.log10(h), b) for h, b in zip(horizons, best_x, strict=True) if b is not None]
    drift = None
    answer = top
    extrapolated = 0.0  # where the measured drift would take the answer by the planned length
    if len(points) >= 2:
        hx = np.array([p[0] for p in points])
        bx = np.array([p[1] for p in points])
        drift = float(np.polyfit(hx, bx, 1)[0])
        remaining = math.log10(max(total_steps, horizons[last]) / horizons[last])
        extrapolated = float(np.clip(drift * remaining, -max_drift, max_drift))
        answer = top + drift_gain * min(extrapolated, 0.0)
    if prior is not None and prior > 0 and math.isfinite(prior) and prior_weight > 0:
        answer = (1.0 - prior_weight) * answer + prior_weight * math.log10(prior)
    if tolerance is None:
        scale = 1e-3 * max(float(np.abs(fit0).max()), 1e-12)
        tolerance = max(noise_of(lrs0, sc0, floor, width), scale)
    inside = grid0[fit0 >= fit0.max() - tolerance]
    # The interval: the near-best LRs of the first round, at least ``halfwidth`` either side
    # of the answer, and stretched toward where the drift points by the planned length.
    low_x = min(float(inside.min()), answer - halfwidth, answer + min(extrapolated, 0.0))
    high_x = max(float(inside.max()), answer + halfwidth, answer + max(extrapolated, 0.0))
    return Choice(
        lr=float(10**answer),
        low=float(10**low_x),
        high=float(10**high_x),
        best_per_horizon=tuple(None if b is None else float(10**b) for b in best_x),
        drift=drift,
        edge=edge,
        tolerance=float(tolerance),
        flags=tuple(flags),
    )
