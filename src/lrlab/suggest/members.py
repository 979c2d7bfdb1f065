"""The consensus's members: five estimates of the LR at the smoothed loss's minimum.

Each member is a rule of :mod:`lrlab.suggest.rules` with its parameter and a factor
(``docs/suggestions.md`` has the calibration):

* ``minimum`` — ``lr(argmin L)``, refined by a parabola (:func:`~lrlab.suggest.rules.
  minimum_rows` with divisor 1);
* ``edge10/1.7``, ``edge25/2.3``, ``edge50/3.3`` — the LR where the loss has climbed back
  10 %, 25 %, 50 % of its drop (:func:`~lrlab.suggest.rules.edge_rows`), divided by 1.7,
  2.3, 3.3;
* ``steepest*3.3`` — the steepest descent before the minimum
  (:func:`~lrlab.suggest.rules.steepest_rows`) times 3.3.

:func:`member_votes` evaluates all five on many curves at once — the consensus reads 5
perturbed curves and 24 bootstrap resamples per suggestion. :data:`MEMBERS` are the public,
one-curve forms (``(lrs, smoothed losses) -> lr | None``): the first row of the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from lrlab.suggest.rules import RowsResult, edge_rows, minimum_rows, one_curve, steepest_rows


def _times(rule: Callable[..., RowsResult], factor: float) -> Callable[..., RowsResult]:
    def scaled(x: np.ndarray, y: np.ndarray) -> RowsResult:
        ok, lr = rule(x, y)
        return ok, factor * lr

    return scaled


# name -> the member on rows of smoothed losses: (x, Y) -> (has an answer, lr).
MEMBER_ROWS: dict[str, Callable[[np.ndarray, np.ndarray], RowsResult]] = {
    "minimum": partial(minimum_rows, divisor=1.0),
    "edge10/1.7": partial(edge_rows, rise=0.10, divisor=1.7),
    "edge25/2.3": partial(edge_rows, rise=0.25, divisor=2.3),
    "edge50/3.3": partial(edge_rows, rise=0.50, divisor=3.3),
    "steepest*3.3": _times(steepest_rows, 3.3),
}

# The members as rules on one curve: ``(lrs, smoothed losses) -> lr | None``.
MEMBERS: dict[str, Callable[[object, object], float | None]] = {
    name: partial(one_curve, rows) for name, rows in MEMBER_ROWS.items()
}


def member_votes(x: np.ndarray, fits: np.ndarray) -> list[list[float]]:
    """log10-LR votes of every member on each row of ``fits`` (shape ``(B, n)``, smoothed
    losses at the common, increasing ``x = log10 lr``); a member without an answer on a row
    casts no vote there."""
    fits = np.atleast_2d(np.asarray(fits, dtype=np.float64))
    out: list[list[float]] = [[] for _ in range(fits.shape[0])]
    if fits.shape[1] < 3:
        return out
    for rows in MEMBER_ROWS.values():
        ok, lr = rows(x, fits)
        vote = np.log10(np.where(ok, lr, 1.0))
        for r in np.flatnonzero(ok):
            out[r].append(float(vote[r]))
    return out
