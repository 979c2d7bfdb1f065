"""Individual suggestion rules: pure functions ``(lrs, losses) -> float | None``.

Each rule reads a *smoothed* loss curve (the range test's EMA, or :func:`lrlab.suggest.curve.
smooth_log`) sampled at increasing learning rates, and returns one learning rate, or ``None``
when the curve does not show what the rule looks for (then it says nothing rather than
something arbitrary). Rules work on ``x = log10(lr)``, so they read exponential and linear
sweeps alike. :data:`RULES` maps each rule's name to it.

Where a rule's answer falls between two samples it is refined by a parabola through the three
nearest points (on a coarse sweep, 50 steps over 8 decades, one step is a factor 1.45 in LR;
snapping to the grid would add that much jitter).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np

from lrlab.suggest.curve import as_curve_arrays

Rule = Callable[[object, object], "float | None"]


def _xy(lrs: object, losses: object) -> tuple[np.ndarray, np.ndarray]:
    """``(log10 lrs, losses)`` restricted to the finite prefix of ``losses``."""
    lr_arr, loss_arr = as_curve_arrays(lrs, losses)
    bad = ~np.isfinite(loss_arr)
    cut = int(np.argmax(bad)) if bad.any() else loss_arr.size
    return np.log10(lr_arr[:cut]), loss_arr[:cut]


def _vertex(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """x of the extremum of the parabola through points i−1, i, i+1 (``x[i]`` at the ends).

    The vertex is kept within half a step of ``x[i]``: the parabola refines, never moves far.
    Three points on a straight line (curvature at rounding level against the points' spread,
    :func:`_straight`) have no vertex: ``x[i]`` — else the sign of rounding noise would pick
    a side.
    """
    if i <= 0 or i >= x.size - 1:
        return float(x[i])
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    if not np.isfinite(a) or _straight(a, x2 - x0, max(y0, y1, y2) - min(y0, y1, y2)):
        return float(x1)
    v = -b / (2 * a)
    return float(np.clip(v, 0.5 * (x0 + x1), 0.5 * (x1 + x2)))


# Relative size below which a curvature or a difference of slopes is rounding noise.
_ROUNDING = 1e-9


def _straight(a: object, width: object, spread: object) -> object:
    """Whether a parabola ``a·x² + …`` over ``width`` is a straight line up to rounding: its
    curvature term ``|a|·width²`` is below :data:`_ROUNDING` × the three points' ``spread``
    (both scale alike with the values, so the test ignores the loss's units and offset).
    Works on arrays (the batched members) and floats."""
    return np.abs(a) * width * width <= _ROUNDING * spread


def _first_min_index(v: np.ndarray) -> int:
    """``argmin v``, ties within rounding broken towards the first index: values within
    :data:`_ROUNDING` × ``max|v|`` of the minimum count as equal (a straight descent has one
    slope everywhere; which point rounding makes steepest must not decide the answer)."""
    lo = float(np.min(v))
    return int(np.argmax(v <= lo + _ROUNDING * float(np.max(np.abs(v)))))


def steepest(lrs: object, losses: object) -> float | None:
    """The LR of steepest descent of the loss over log LR, before the minimum.

    ``argmin_i dL/dlog(lr)`` at ``i < argmin L``, with the derivative by central differences
    on the log-LR grid (``np.gradient(L, log lr)``). torch-lr-finder's ``suggest_lr`` takes
    ``argmin np.gradient(L)`` over the step *index* (the same point on an exponential sweep,
    a different one on a linear sweep) and over the whole curve; fastai's ``steep`` takes
    ``argmin ΔL / Δlog(lr)``. Looking only before the minimum keeps the rule from picking a
    drop that follows a spike in the diverging tail. ``None`` when the minimum is within the
    first 3 points (the curve never descends inside the window).
    """
    return steepest_x(*_xy(lrs, losses))


def steepest_x(x: np.ndarray, y: np.ndarray) -> float | None:
    """:func:`steepest` on validated arrays: ``x = log10(lr)`` increasing, ``y`` finite."""
    if y.size < 4:
        return None
    i_min = int(np.argmin(y))
    if i_min < 3:
        return None
    slope = np.gradient(y[: i_min + 1], x[: i_min + 1])
    i = _first_min_index(slope[:i_min])
    if slope[i] >= 0:
        return None
    return float(10 ** _vertex(x[: i_min + 1], slope, i))


def valley(lrs: object, losses: object) -> float | None:
    """fastai's ``valley``: a point part-way along the longest valley of the loss.

    The *longest valley* is the longest strictly decreasing subsequence of the losses, found
    by dynamic programming (``len_i = 1 + max{len_j : j < i, L_j > L_i}``); with ``end`` the
    first index of maximal length ``len``, fastai takes ``start = end − len`` and suggests the
    LR at index ``start + ⌊s⌋ + ⌊s/2⌋`` with ``s = (end − start)/3`` — about half-way along
    (fastai's docs say "2/3 of the way"; its code, reproduced here on the indices, says half).
    Source: ``fastai/callback/schedule.py`` (``valley``, Zach Mueller's rule, fastai 2.5).
    lrlab clips ``start`` at 0 (fastai's ``−1`` on a curve that falls from its first point
    would index from the end) and returns ``None`` when no two losses decrease (fastai would
    return the first LR). The rule works on indices, as fastai's does: on a linear sweep it
    sits at a different LR than on an exponential one.
    """
    lr_arr, loss_arr = as_curve_arrays(lrs, losses)
    bad = ~np.isfinite(loss_arr)
    n = int(np.argmax(bad)) if bad.any() else loss_arr.size
    y = loss_arr[:n]
    if n < 2:
        return None
    length = _decreasing_run_lengths(y)
    end = int(np.argmax(length))  # first index reaching the maximal length
    if length[end] < 2:
        return None
    start = max(end - int(length[end]), 0)
    sections = (end - start) / 3
    return float(lr_arr[start + int(sections) + int(sections / 2)])


def _decreasing_run_lengths(y: np.ndarray) -> np.ndarray:
    """``len_i = 1 + max{len_j : j < i, y_j > y_i}``: the longest strictly decreasing
    subsequence ending at each ``i`` (fastai's quadratic DP), in ``O(n log n)`` by patience
    sorting: ``tails[k]`` is the largest last value of a decreasing subsequence of length
    ``k + 1`` seen so far (kept as ``−value``, increasing, for :func:`bisect.bisect_left`)."""
    tails: list[float] = []
    length = np.empty(y.size, dtype=np.int64)
    for i, v in enumerate((-y).tolist()):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
        else:
            tails[k] = v
        length[i] = k + 1
    return length


def minimum_div10(lrs: object, losses: object, divisor: float = 10.0) -> float | None:
    """The LR at the minimum of the loss divided by ``divisor`` (10): fastai's ``minimum``.

    ``lr(argmin L) / 10`` — at the minimum the loss is about to blow up, a tenth of it is
    "still aggressively learning" (Howard & Gugger, *Deep Learning for Coders*, ch. 5).
    ``None`` when the minimum is the very first point (nothing was learnt in the window).
    """
    return minimum_x(*_xy(lrs, losses), divisor)


def minimum_x(x: np.ndarray, y: np.ndarray, divisor: float = 10.0) -> float | None:
    """:func:`minimum_div10` on validated arrays (``x = log10(lr)``, ``y`` finite)."""
    if y.size < 3:
        return None
    i = int(np.argmin(y))
    if i == 0:
        return None
    return float(10 ** _vertex(x, y, i) / divisor)


def edge(lrs: object, losses: object, rise: float = 0.25, divisor: float = 2.5) -> float | None:
    """The edge of stability: where the loss rises ``rise`` of its drop above its minimum.

    With ``L_0`` the first smoothed loss and ``L_min`` the minimum, the edge is the first LR
    after the minimum with ``L ≥ L_min + rise · (L_0 − L_min)`` (linearly interpolated in log
    LR), and the suggestion is ``lr_edge / divisor``. Instability sets in where the LR passes
    about ``2 / λ_max`` of the loss's Hessian (Cohen et al., 2021, "Gradient descent on neural
    networks typically occurs at the edge of stability"); that threshold is a property of the
    LR rather than of how long the sweep lingered before it, so in principle it depends less
    on ``num_iter`` than rules that read the descent. Smith (2017, §3.3) reads the maximum LR
    where the accuracy becomes ragged or starts to fall; ``divisor`` (2.5, about the median
    edge-to-minimum ratio measured on range tests, see docs/suggestions.md) backs off from
    the edge to where the loss was lowest. ``None`` when the loss never rises that
    far after its minimum (the sweep stopped before the edge) or never dropped.
    """
    return edge_x(*_xy(lrs, losses), rise, divisor)


def edge_x(x: np.ndarray, y: np.ndarray, rise: float = 0.25, divisor: float = 2.5) -> float | None:
    """:func:`edge` on validated arrays (``x = log10(lr)``, ``y`` finite)."""
    if y.size < 3:
        return None
    i_min = int(np.argmin(y))
    drop = y[0] - y[i_min]
    if i_min == 0 or drop <= 0:
        return None
    level = y[i_min] + rise * drop
    after = np.flatnonzero(y[i_min:] >= level)
    if after.size == 0:
        return None
    j = i_min + int(after[0])
    # Interpolate between j−1 (below the level) and j (at or above it).
    t = (level - y[j - 1]) / (y[j] - y[j - 1]) if y[j] != y[j - 1] else 1.0
    x_edge = x[j - 1] + float(np.clip(t, 0.0, 1.0)) * (x[j] - x[j - 1])
    return float(10**x_edge / divisor)


RULES: dict[str, Rule] = {
    "steepest": steepest,
    "valley": valley,
    "minimum/10": minimum_div10,
    "edge": edge,
}
