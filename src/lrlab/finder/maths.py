"""Pure maths of the range test: the LR at each step and the divergence rule.

**The sweep.** With ``N = num_iter`` steps, step ``i`` (0-based) trains with::

    exp:     lr_i = start · (end / start) ** (i / (N − 1))
    linear:  lr_i = start + (end − start) · i / (N − 1)

so ``lr_0 = start`` and ``lr_{N−1} = end``. These are also the LRs torch-lr-finder 0.2.2
applies and records (its ``ExponentialLR`` / ``LinearLR`` with torch ≥ 1.1 evaluate the same
expressions at ``last_epoch = i``); the expressions are evaluated with Python floats in
exactly its order of operations, so both libraries apply bit-identical LRs.

**Divergence.** Let ``s_i`` be the smoothed loss, ``s_0`` the first one and
``b_i = min_{j ≤ i} s_j`` the best so far. The sweep has diverged at step ``i`` when::

    s_i − b_i  >  threshold · max(|b_i|, s_0 − b_i)       (and s_i − b_i > 0)

The rise above the best is compared with a *scale* of the curve rather than with the best
itself. fastai (``s > 4·best``) and torch-lr-finder (``s > 5·best``) compare with ``best``,
which is only meaningful for losses that stay positive: when ``best < 0``, ``5·best`` is
*below* ``best`` and they stop at the first step; when ``best ≈ 0`` they stop on noise. The
scale here is ``|b|`` — for positive losses that have not halved, ``threshold = 4`` is exactly
torch-lr-finder's ``diverge_th = 5`` — or the descent achieved so far, ``s_0 − b``, which
does not depend on where zero is, so losses that are negative or cross zero (log-likelihoods
of densities, losses with a constant offset) get a rule of the same strength.
"""

from __future__ import annotations

from collections.abc import Callable

from lrlab.errors import check


def exp_lrs(start: float, end: float, num_iter: int) -> list[float]:
    """Log-spaced sweep from ``start`` to ``end`` (both > 0), ``num_iter`` values."""
    n = num_iter - 1
    return [start * (end / start) ** (i / n) for i in range(num_iter)]


def linear_lrs(start: float, end: float, num_iter: int) -> list[float]:
    """Evenly spaced sweep from ``start`` (≥ 0) to ``end``, ``num_iter`` values."""
    n = num_iter - 1
    return [start + (i / n) * (end - start) for i in range(num_iter)]


# step_mode -> the function that lays out the sweep
SWEEPS: dict[str, Callable[[float, float, int], list[float]]] = {
    "exp": exp_lrs,
    "linear": linear_lrs,
}


def sweep_lrs(start: float, end: float, num_iter: int, step_mode: str = "exp") -> list[float]:
    """The learning rate of every step of a range test (see the module docstring)."""
    check(
        step_mode in SWEEPS,
        f"step_mode={step_mode!r} is not a sweep; expected one of {sorted(SWEEPS)}.",
    )
    return SWEEPS[step_mode](float(start), float(end), int(num_iter))


def divergence_scale(best: float, initial: float) -> float:
    """``max(|best|, initial − best)``: what a rise above the best is measured against."""
    return max(abs(best), initial - best)


def has_diverged(smoothed: float, best: float, initial: float, threshold: float) -> bool:
    """``True`` when ``smoothed − best > threshold · max(|best|, initial − best)`` (and the
    rise is positive). ``best`` must already include ``smoothed`` (``best ≤ smoothed``)."""
    rise = smoothed - best
    return rise > 0 and rise > threshold * divergence_scale(best, initial)


class DivergenceMonitor:
    """Streaming form of :func:`has_diverged`: feed smoothed losses, get ``True`` once the
    sweep has diverged (``threshold=None`` never stops)."""

    def __init__(self, threshold: float | None) -> None:
        check(
            threshold is None or threshold > 0,
            f"diverge_th={threshold!r} must be > 0 (or None to never stop on divergence).",
        )
        self.threshold = threshold
        self.initial: float | None = None
        self.best: float | None = None

    def update(self, smoothed: float) -> bool:
        if self.initial is None:
            self.initial = smoothed
        self.best = smoothed if self.best is None else min(self.best, smoothed)
        if self.threshold is None:
            return False
        return has_diverged(smoothed, self.best, self.initial, self.threshold)
