"""The suggestion rules, each written once, over arrays.

Every rule reads *smoothed* loss curves (the range test's EMA, or :func:`lrlab.suggest.curve.
smooth_log`) sampled at the same increasing ``x = log10(lr)`` — one curve per row of ``Y``
(shape ``(B, n)``, finite) — and returns, per row, whether the curve shows what the rule
looks for and the LR it reads there: ``rule_rows(x, Y, ...) -> (ok, lr)``. A rule that finds
nothing says nothing rather than something arbitrary. Working on ``x`` makes exponential and
linear sweeps read alike.

The one-curve forms users call, ``rule(lrs, losses) -> float | None`` (:data:`RULES`), are
the first row of the same arithmetic (:func:`one_curve`): the consensus's bootstrap evaluates
the rules on many curves at once, and one implementation cannot disagree with itself.

Where a rule's answer falls between two samples it is refined by a parabola through the three
nearest points (:func:`vertex_rows`; on a coarse sweep, 50 steps over 8 decades, one step is a
factor 1.45 in LR; snapping to the grid would add that much jitter).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import numpy as np

from lrlab.suggest.curve import as_curve_arrays, finite_log_curve

Rule = Callable[[object, object], "float | None"]
RowsResult = tuple[np.ndarray, np.ndarray]  # (has an answer, lr) per row

# Relative size below which a curvature or a difference of slopes is rounding noise.
ROUNDING = 1e-9


def straight(a: Any, width: Any, spread: Any) -> Any:
    """Whether a parabola ``a·x² + …`` over ``width`` is a straight line up to rounding: its
    curvature term ``|a|·width²`` is below :data:`ROUNDING` × the three points' ``spread``
    (both scale alike with the values, so the test ignores the loss's units and offset)."""
    return np.abs(a) * width * width <= ROUNDING * spread


def vertex_rows(x: np.ndarray, y: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Per row ``r``: the ``x`` of the extremum of the parabola through the points
    ``i[r]−1, i[r], i[r]+1`` of ``y[r]`` (``x[i[r]]`` at the ends).

    The vertex is kept within half a step of ``x[i]``: the parabola refines, never moves far.
    Three points on a straight line (:func:`straight`) have no vertex: ``x[i]`` — else the
    sign of rounding noise would pick a side.
    """
    n = x.size
    inner = (i > 0) & (i < n - 1)
    ic = np.clip(i, 1, max(n - 2, 1))
    rows = np.arange(y.shape[0])
    x0, x1, x2 = x[ic - 1], x[ic], x[np.minimum(ic + 1, n - 1)]
    y0, y1, y2 = y[rows, ic - 1], y[rows, ic], y[rows, np.minimum(ic + 1, n - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
        v = np.clip(-b / (2 * a), 0.5 * (x0 + x1), 0.5 * (x1 + x2))
    spread = np.maximum(np.maximum(y0, y1), y2) - np.minimum(np.minimum(y0, y1), y2)
    v = np.where(np.isfinite(a) & ~straight(a, x2 - x0, spread), v, x1)
    return np.where(inner, v, x[i])


def _none(b: int) -> RowsResult:
    return np.zeros(b, dtype=bool), np.ones(b)


def steepest_rows(x: np.ndarray, y: np.ndarray) -> RowsResult:
    """The LR of steepest descent of the loss over log LR, before the minimum.

    ``argmin_i dL/dlog(lr)`` at ``i < argmin L``, with the derivative by central differences
    on the log-LR grid (``np.gradient(L, log lr)`` of the curve cut at its minimum: interior
    points use their two neighbours, the minimum itself the one-sided difference).
    torch-lr-finder's ``suggest_lr`` takes ``argmin np.gradient(L)`` over the step *index*
    (the same point on an exponential sweep, a different one on a linear sweep) and over the
    whole curve; fastai's ``steep`` takes ``argmin ΔL / Δlog(lr)``. Looking only before the
    minimum keeps the rule from picking a drop that follows a spike in the diverging tail.
    Slopes within rounding of the steepest count as equal and the first wins (a straight
    descent has one slope everywhere; rounding must not decide). No answer when the minimum
    is within the first 3 points (the curve never descends inside the window).
    """
    b, n = y.shape
    i_min = y.argmin(axis=1) if n else np.zeros(b, dtype=np.int64)
    ok = (i_min >= 3) & (n >= 4)
    if not ok.any():
        return _none(b)
    rows = np.arange(b)
    slope = np.gradient(y, x, axis=1).copy()
    im = np.clip(i_min, 1, n - 1)
    slope[rows, im] = (y[rows, im] - y[rows, im - 1]) / (x[im] - x[im - 1])
    before = np.arange(n)[None, :] < i_min[:, None]
    masked = np.where(before, slope, np.inf)
    lo = masked.min(axis=1)
    scale = np.where(before, np.abs(slope), 0.0).max(axis=1)
    i = (masked <= (lo + ROUNDING * scale)[:, None]).argmax(axis=1)
    ok &= masked[rows, i] < 0
    return ok, 10.0 ** vertex_rows(x, slope, i)


def minimum_rows(x: np.ndarray, y: np.ndarray, divisor: float = 10.0) -> RowsResult:
    """The LR at the minimum of the loss divided by ``divisor`` (10): fastai's ``minimum``.

    ``lr(argmin L) / 10`` — at the minimum the loss is about to blow up, a tenth of it is
    "still aggressively learning" (Howard & Gugger, *Deep Learning for Coders*, ch. 5).
    No answer when the minimum is the very first point (nothing was learnt in the window).
    """
    b, n = y.shape
    if n < 3:
        return _none(b)
    i_min = y.argmin(axis=1)
    return i_min > 0, 10.0 ** vertex_rows(x, y, i_min) / divisor


def edge_rows(x: np.ndarray, y: np.ndarray, rise: float = 0.25, divisor: float = 2.5) -> RowsResult:
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
    the edge to where the loss was lowest. No answer when the loss never rises that far
    after its minimum (the sweep stopped before the edge) or never dropped.
    """
    b, n = y.shape
    if n < 3:
        return _none(b)
    rows = np.arange(b)
    i_min = y.argmin(axis=1)
    y_min = y[rows, i_min]
    drop = y[:, 0] - y_min
    level = y_min + rise * drop
    after = (y >= level[:, None]) & (np.arange(n)[None, :] >= i_min[:, None])
    ok = (i_min > 0) & (drop > 0) & after.any(axis=1)
    j = np.where(ok, after.argmax(axis=1), 1)
    lo, hi = y[rows, j - 1], y[rows, j]
    # Interpolate between j−1 (below the level) and j (at or above it).
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(hi != lo, (level - lo) / (hi - lo), 1.0)
    x_edge = x[j - 1] + np.clip(t, 0.0, 1.0) * (x[j] - x[j - 1])
    return ok, 10.0**x_edge / divisor


def valley_index_rows(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fastai's ``valley``: a point part-way along the longest valley of the loss, as an
    index per row (the rule reads indices, not LRs).

    The *longest valley* is the longest strictly decreasing subsequence of the losses
    (:func:`decreasing_run_lengths`); with ``end`` the first index of maximal length ``len``,
    fastai takes ``start = end − len`` and suggests the LR at index ``start + ⌊s⌋ + ⌊s/2⌋``
    with ``s = (end − start)/3`` — about half-way along (fastai's docs say "2/3 of the way";
    its code, reproduced here on the indices, says half). Source:
    ``fastai/callback/schedule.py`` (``valley``, Zach Mueller's rule, fastai 2.5). lrlab clips
    ``start`` at 0 (fastai's ``−1`` on a curve that falls from its first point would index
    from the end) and has no answer when no two losses decrease (fastai would return the
    first LR). On a linear sweep the index sits at a different LR than on an exponential one,
    as in fastai.
    """
    b, n = y.shape
    ok, index = np.zeros(b, dtype=bool), np.zeros(b, dtype=np.int64)
    for r in range(b if n >= 2 else 0):  # a dynamic programme: one row at a time
        length = decreasing_run_lengths(y[r])
        end = int(np.argmax(length))  # first index reaching the maximal length
        if length[end] < 2:
            continue
        start = max(end - int(length[end]), 0)
        sections = (end - start) / 3
        ok[r], index[r] = True, start + int(sections) + int(sections / 2)
    return ok, index


def valley_rows(x: np.ndarray, y: np.ndarray) -> RowsResult:
    """:func:`valley_index_rows` as LRs: ``10**x`` at each row's index."""
    ok, index = valley_index_rows(y)
    return ok, (10.0 ** x[index] if x.size else np.ones(y.shape[0]))


def decreasing_run_lengths(y: np.ndarray) -> np.ndarray:
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


def one_curve(
    rule: Callable[..., RowsResult], lrs: object, losses: object, **params: Any
) -> float | None:
    """``rule`` on one curve: its finite prefix as the only row; the LR, or ``None``."""
    x, y = finite_log_curve(lrs, losses)
    ok, lr = rule(x, y[None, :], **params)
    return float(lr[0]) if ok[0] else None


def steepest(lrs: object, losses: object) -> float | None:
    """:func:`steepest_rows` on one curve: the LR of steepest descent before the minimum."""
    return one_curve(steepest_rows, lrs, losses)


def minimum_div10(lrs: object, losses: object, divisor: float = 10.0) -> float | None:
    """:func:`minimum_rows` on one curve: ``lr(argmin L) / divisor``."""
    return one_curve(minimum_rows, lrs, losses, divisor=divisor)


def edge(lrs: object, losses: object, rise: float = 0.25, divisor: float = 2.5) -> float | None:
    """:func:`edge_rows` on one curve: the edge of stability ``/ divisor``."""
    return one_curve(edge_rows, lrs, losses, rise=rise, divisor=divisor)


def valley(lrs: object, losses: object) -> float | None:
    """:func:`valley_index_rows` on one curve: the LR recorded at the valley's index."""
    lr_arr, loss_arr = as_curve_arrays(lrs, losses)
    _, y = finite_log_curve(lr_arr, loss_arr)
    ok, index = valley_index_rows(y[None, :])
    return float(lr_arr[index[0]]) if ok[0] else None


RULES: dict[str, Rule] = {
    "steepest": steepest,
    "valley": valley,
    "minimum/10": minimum_div10,
    "edge": edge,
}
