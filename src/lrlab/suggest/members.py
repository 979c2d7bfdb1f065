"""The consensus's members: five estimates of the LR at the smoothed loss's minimum.

Each member reads a smoothed curve ``(x = log10 lr, L)`` and returns an LR or ``None``
(``docs/suggestions.md`` has the calibration):

* ``minimum`` — ``lr(argmin L)``, refined by a parabola (:func:`~lrlab.suggest.rules.
  minimum_div10` with divisor 1);
* ``edge10/1.7``, ``edge25/2.3``, ``edge50/3.3`` — the LR where the loss has climbed back
  10 %, 25 %, 50 % of its drop (:func:`~lrlab.suggest.rules.edge`), divided by 1.7, 2.3, 3.3;
* ``steepest*3.3`` — the steepest descent before the minimum
  (:func:`~lrlab.suggest.rules.steepest`) times 3.3.

:data:`MEMBERS` are the public, one-curve forms (``(lrs, smoothed losses) -> lr | None``).
:func:`member_votes` evaluates all five on many curves at once — the consensus reads 5
perturbed curves and 24 bootstrap resamples per suggestion — with the same arithmetic
vectorised over curves (equal to the one-curve forms up to floating-point rounding; tested).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrlab.suggest.rules import _ROUNDING, _straight, _xy, edge_x, minimum_x, steepest_x

# name -> (kind, parameter, factor): lr = factor-adjusted landmark.
_SPEC: dict[str, tuple[str, float, float]] = {
    "minimum": ("minimum", 0.0, 1.0),
    "edge10/1.7": ("edge", 0.10, 1.7),
    "edge25/2.3": ("edge", 0.25, 2.3),
    "edge50/3.3": ("edge", 0.50, 3.3),
    "steepest*3.3": ("steepest", 0.0, 3.3),
}


def _one(kind: str, param: float, factor: float) -> Callable[[object, object], float | None]:
    def member(lrs: object, fit: object) -> float | None:
        x, y = _xy(lrs, fit)
        if kind == "minimum":
            return minimum_x(x, y, divisor=factor)
        if kind == "edge":
            return edge_x(x, y, rise=param, divisor=factor)
        v = steepest_x(x, y)
        return None if v is None else factor * v

    return member


# The members as rules on one curve: ``(lrs, smoothed losses) -> lr | None``.
MEMBERS: dict[str, Callable[[object, object], float | None]] = {
    name: _one(*spec) for name, spec in _SPEC.items()
}


def member_votes(x: np.ndarray, fits: np.ndarray) -> list[list[float]]:
    """log10-LR votes of every member on each row of ``fits`` (shape ``(B, n)``, smoothed
    losses at the common, increasing ``x = log10 lr``); a member without an answer on a row
    casts no vote there."""
    fits = np.atleast_2d(np.asarray(fits, dtype=np.float64))
    b, n = fits.shape
    out: list[list[float]] = [[] for _ in range(b)]
    if n < 3:
        return out
    rows = np.arange(b)
    i_min = fits.argmin(axis=1)
    y_min = fits[rows, i_min]
    columns: list[tuple[np.ndarray, np.ndarray]] = []  # (valid rows, log10 lr) per member
    for kind, param, factor in _SPEC.values():
        if kind == "minimum":
            ok = i_min > 0
            lr = 10.0 ** _vertex_rows(x, fits, i_min) / factor
        elif kind == "edge":
            ok, lr = _edge_rows(x, fits, i_min, y_min, param, factor)
        else:
            ok, lr = _steepest_rows(x, fits, i_min, factor)
        columns.append((ok, np.log10(np.where(ok, lr, 1.0))))
    for ok, vote in columns:
        for r in np.flatnonzero(ok):
            out[r].append(float(vote[r]))
    return out


def _vertex_rows(x: np.ndarray, y: np.ndarray, i: np.ndarray) -> np.ndarray:
    """:func:`lrlab.suggest.rules._vertex` for row ``r`` at index ``i[r]`` of ``y[r]``."""
    n = x.size
    inner = (i > 0) & (i < n - 1)
    ic = np.clip(i, 1, n - 2)
    rows = np.arange(y.shape[0])
    x0, x1, x2 = x[ic - 1], x[ic], x[ic + 1]
    y0, y1, y2 = y[rows, ic - 1], y[rows, ic], y[rows, ic + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
        v = np.clip(-b / (2 * a), 0.5 * (x0 + x1), 0.5 * (x1 + x2))
    spread = np.maximum(np.maximum(y0, y1), y2) - np.minimum(np.minimum(y0, y1), y2)
    v = np.where(np.isfinite(a) & ~_straight(a, x2 - x0, spread), v, x1)
    return np.where(inner, v, x[i])


def _edge_rows(
    x: np.ndarray, y: np.ndarray, i_min: np.ndarray, y_min: np.ndarray, rise: float, div: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lrlab.suggest.rules.edge_x` on every row: (has an answer, lr)."""
    drop = y[:, 0] - y_min
    level = y_min + rise * drop
    after = (y >= level[:, None]) & (np.arange(x.size)[None, :] >= i_min[:, None])
    ok = (i_min > 0) & (drop > 0) & after.any(axis=1)
    j = np.where(ok, after.argmax(axis=1), 1)
    rows = np.arange(y.shape[0])
    lo, hi = y[rows, j - 1], y[rows, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(hi != lo, (level - lo) / (hi - lo), 1.0)
    x_edge = x[j - 1] + np.clip(t, 0.0, 1.0) * (x[j] - x[j - 1])
    return ok, 10.0**x_edge / div


def _steepest_rows(
    x: np.ndarray, y: np.ndarray, i_min: np.ndarray, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lrlab.suggest.rules.steepest_x` on every row: (has an answer, factor · lr).

    The slope before each row's minimum is the row's own ``np.gradient`` over the whole
    curve (interior points use their two neighbours, which lie at or before the minimum);
    only the point at the minimum itself differs, where ``steepest_x`` — which cuts the
    curve there — takes the one-sided difference.
    """
    n = x.size
    rows = np.arange(y.shape[0])
    ok = (i_min >= 3) & (n >= 4)
    if not ok.any():
        return ok, np.ones(y.shape[0])
    slope = np.gradient(y, x, axis=1) if n >= 2 else np.zeros_like(y)
    im = np.clip(i_min, 1, n - 1)
    last = (y[rows, im] - y[rows, im - 1]) / (x[im] - x[im - 1])
    slope = slope.copy()
    slope[rows, im] = last  # the cut curve's one-sided slope at its last point
    before = np.arange(n)[None, :] < i_min[:, None]
    masked = np.where(before, slope, np.inf)
    # rules._first_min_index on each row: ties within rounding go to the first index.
    lo = masked.min(axis=1)
    scale = np.where(before, np.abs(slope), 0.0).max(axis=1)
    i = (masked <= (lo + _ROUNDING * scale)[:, None]).argmax(axis=1)
    ok &= masked[rows, i] < 0
    # The parabola through the slopes at i−1, i, i+1 of the curve cut at the minimum.
    v = _vertex_rows(x, slope, i)
    return ok, factor * 10.0**v
