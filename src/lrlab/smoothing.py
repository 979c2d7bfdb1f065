"""Bias-corrected exponential moving average, offline and streaming.

With ``beta`` the weight of the past (fastai's convention; torch-lr-finder's ``smooth_f`` is
``1 - beta``)::

    m_0 = 0,   m_i = beta * m_{i-1} + (1 - beta) * x_i,   s_i = m_i / (1 - beta^i)   (i ≥ 1)

The bias correction ``1 / (1 - beta^i)`` removes the pull towards the zero start, so
``s_1 = x_1`` and a constant series is smoothed to itself (Kingma & Ba, 2015, §3).
A non-finite ``x_i`` makes every later value non-finite: a loop stops on it anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lrlab.errors import check


def ema(values: Iterable[float], beta: float = 0.98) -> np.ndarray:
    """The bias-corrected EMA of ``values`` (see module docstring), as a float64 array."""
    check(0.0 <= beta < 1.0, f"{beta=} must be in [0, 1).")
    smoother = EMA(beta)
    return np.array([smoother.update(v) for v in values], dtype=np.float64)


class EMA:
    """Streaming form of :func:`ema`: ``update(x)`` returns the smoothed value so far."""

    def __init__(self, beta: float = 0.98) -> None:
        check(0.0 <= beta < 1.0, f"{beta=} must be in [0, 1).")
        self.beta = beta
        self._m = 0.0
        self._n = 0

    def update(self, x: float) -> float:
        self._n += 1
        self._m = self.beta * self._m + (1.0 - self.beta) * float(x)
        return self._m / (1.0 - self.beta**self._n)

    @property
    def count(self) -> int:
        return self._n
