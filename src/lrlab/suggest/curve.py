"""Preparing a range-test curve for the rules: validation, the diverged tail, log-LR smoothing.

A range test records ``(lr_i, loss_i)``; the rules look at the loss as a function of
``x = log10(lr)``. Two things make a raw curve hard to read:

* **The diverged tail.** A sweep stops on a NaN/inf loss or after the loss exploded. Every
  value from the first non-finite loss on is dropped (:func:`prepare`); the LR where it
  happened is kept as evidence of divergence.
* **Noise and lag.** Mini-batch losses are noisy. The range test's bias-corrected EMA
  (:mod:`lrlab.smoothing`) is causal: it lags by about ``beta / (1 - beta)`` *steps*, i.e. by
  ``beta / (1 - beta) * (decades / num_iter)`` decades of LR, a shift that changes with the
  sweep window and ``num_iter`` (50 steps × 0.16 decade/step for 1e-7→10 in 50 iterations:
  the whole sweep). :func:`smooth_log` instead smooths in ``x`` with a symmetric kernel of a
  fixed width *in decades*, so its features sit where the loss really turns, whatever the
  sampling.

:func:`smooth_log` is a robust local-linear regression (Fan & Gijbels, 1996, ch. 3) on a
median-filtered, winsorized copy of the losses::

    m_i = median{ y_j : |x_j − x_i| ≤ h }                      (spikes removed)
    m_i ← min(m_i, cap)                                          (explosions cannot leak left)
    (a_i, b_i) = argmin_{a, b} Σ_j K((x_j − x_i)/h) (m_j − a − b (x_j − x_i))²,
    K(u) = exp(−u²/2)

``a_i`` is the smoothed loss and ``b_i`` its slope ``dL/dlog10(lr)`` at ``x_i``. The
local-linear fit has no boundary bias in the slope, which matters because the window edges are
exactly where a badly chosen sweep puts the interesting part of the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrlab.errors import InvalidArgument

# Kernel support, in bandwidths: beyond 4h a Gaussian weight is < 3.4e-4 and is ignored.
_SUPPORT = 4.0


@dataclass(frozen=True)
class Curve:
    """The finite part of a range-test curve, ready for the rules.

    ``lrs``/``losses`` are the points before the first non-finite loss; ``x = log10(lrs)``;
    ``n_total`` counts every point given (``n_total − n`` were cut: leading zero LRs and
    the diverged tail); ``diverged_lr`` is the LR of the first non-finite
    loss (``None`` when every loss is finite); ``log_spaced`` tells whether the LRs are
    (roughly) evenly spaced in log LR, as in an exponential sweep.
    """

    lrs: np.ndarray
    losses: np.ndarray
    x: np.ndarray
    n_total: int
    diverged_lr: float | None
    log_spaced: bool

    @property
    def n(self) -> int:
        return int(self.lrs.size)

    @property
    def decades(self) -> float:
        return float(self.x[-1] - self.x[0]) if self.n > 1 else 0.0


def as_curve_arrays(
    lrs: object, values: object, *, name: str = "losses"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two 1-D sequences of the same length; return them as float64 arrays.

    Leading zero LRs (a linear sweep from 0) are dropped with their values.
    """
    try:
        lr_arr = np.asarray(lrs, dtype=np.float64)
        val_arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"lrs and {name} must be sequences of numbers ({exc}).",
            hint="Pass the lists recorded by the range test (result.lrs, result.losses).",
        ) from None
    if lr_arr.ndim != 1 or val_arr.ndim != 1:
        raise InvalidArgument(
            f"lrs and {name} must be 1-D (got shapes {lr_arr.shape} and {val_arr.shape}).",
            hint="Pass one value per range-test step.",
        )
    if lr_arr.size != val_arr.size:
        raise InvalidArgument(
            f"lrs and {name} must have the same length (got {lr_arr.size} and {val_arr.size}).",
            hint="Pass the two lists of the same range test, one entry per step.",
        )
    # A linear sweep may start at lr = 0, which has no log: its leading zeros are skipped.
    lead = int(np.argmax(lr_arr != 0)) if np.any(lr_arr != 0) else lr_arr.size
    lr_arr, val_arr = lr_arr[lead:], val_arr[lead:]
    if not np.all(np.isfinite(lr_arr)) or np.any(lr_arr <= 0):
        bad = lr_arr[~np.isfinite(lr_arr) | (lr_arr <= 0)][0]
        raise InvalidArgument(
            f"every learning rate must be finite and > 0 (found {bad!r}).",
            hint="Pass the LRs the range test recorded (only a linear sweep's first LR may be 0).",
        )
    if lr_arr.size > 1 and np.any(np.diff(lr_arr) <= 0):
        i = int(np.argmax(np.diff(lr_arr) <= 0))
        raise InvalidArgument(
            f"lrs must increase strictly (lrs[{i}]={lr_arr[i]!r}, lrs[{i + 1}]={lr_arr[i + 1]!r}).",
            hint="Suggestions read a range test, whose learning rate grows at every step.",
        )
    return lr_arr, val_arr


def finite_log_curve(lrs: object, losses: object) -> tuple[np.ndarray, np.ndarray]:
    """``(log10 lrs, losses)`` restricted to the finite prefix of ``losses`` (what the rules
    read: everything from the first non-finite loss on is the diverged tail)."""
    lr_arr, loss_arr = as_curve_arrays(lrs, losses)
    bad = ~np.isfinite(loss_arr)
    cut = int(np.argmax(bad)) if bad.any() else loss_arr.size
    return np.log10(lr_arr[:cut]), loss_arr[:cut]


def prepare(lrs: object, losses: object) -> Curve:
    """Validate a range-test curve and cut it at the first non-finite loss."""
    lr_arr, loss_arr = as_curve_arrays(lrs, losses)
    n_total = int(np.size(losses))
    bad = ~np.isfinite(loss_arr)
    cut = int(np.argmax(bad)) if bad.any() else loss_arr.size
    diverged_lr = float(lr_arr[cut]) if cut < loss_arr.size else None
    lr_arr, loss_arr = lr_arr[:cut], loss_arr[:cut]
    x = np.log10(lr_arr)
    log_spaced = True
    if x.size > 2:
        steps = np.diff(x)
        # An exponential sweep has equal steps in x; a linear sweep's steps shrink like 1/lr.
        log_spaced = bool(steps.max() <= 1.5 * steps.min())
    return Curve(lr_arr, loss_arr, x, n_total, diverged_lr, log_spaced)


def median_filter(x: np.ndarray, y: np.ndarray, half_width: float) -> np.ndarray:
    """``m_i = median{y_j : |x_j − x_i| ≤ half_width}`` (at least the point and its neighbours).

    Vectorised over a sliding window when the points are evenly spaced in ``x`` (an
    exponential sweep); a loop over points otherwise (a linear sweep is dense at high LR).
    """
    n = y.size
    if n < 3:
        return y.copy()
    steps = np.diff(x)
    if steps.max() <= 1.01 * steps.min():
        k = max(1, int(half_width / float(np.mean(steps)) + 1e-9))
        out = np.empty_like(y)
        if n > 2 * k:  # interior: full windows, one vectorised median
            windows = np.lib.stride_tricks.sliding_window_view(y, 2 * k + 1)
            out[k : n - k] = np.median(windows, axis=1)
        for i in [*range(min(k, n)), *range(max(k, n - k), n)]:  # truncated windows at the ends
            out[i] = np.median(y[max(0, i - k) : i + k + 1])
        return out
    lo = np.searchsorted(x, x - half_width, side="left")
    hi = np.searchsorted(x, x + half_width, side="right")
    out = np.empty_like(y)
    for i in range(n):
        a, b = int(lo[i]), int(hi[i])
        if b - a < 3:  # too sparse for a median: use the point and its neighbours
            a, b = max(0, i - 1), min(n, i + 2)
        out[i] = np.median(y[a:b])
    return out


def local_linear(
    x: np.ndarray, y: np.ndarray, h: float, *, block: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-kernel local-linear fit of ``y(x)`` at every ``x_i``: (values, slopes).

    Rows are processed in blocks against only the columns within ``4h`` of the block, so the
    cost is ``O(n · points per 8h)`` and the memory ``O(block · that)``.
    """
    n = x.size
    if n > 2:
        steps = np.diff(x)
        if steps.max() <= 1.01 * steps.min():
            return _local_linear_uniform(x, y, h, float(np.mean(steps)))
    fit = np.empty(n)
    slope = np.zeros(n)
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        xr = x[rows]
        c0 = int(np.searchsorted(x, xr[0] - _SUPPORT * h, side="left"))
        c1 = int(np.searchsorted(x, xr[-1] + _SUPPORT * h, side="right"))
        d = x[None, c0:c1] - xr[:, None]  # (rows, cols)
        w = np.exp(-0.5 * (d / h) ** 2)
        yc = y[None, c0:c1]
        s0 = w.sum(1)
        s1 = (w * d).sum(1)
        s2 = (w * d * d).sum(1)
        t0 = (w * yc).sum(1)
        t1 = (w * d * yc).sum(1)
        det = s0 * s2 - s1 * s1
        # det ≈ 0 when a single point carries the weight: fall back to the kernel mean.
        ok = det > 1e-12 * np.maximum(s0 * s2, 1e-300)
        a = np.where(ok, (s2 * t0 - s1 * t1) / np.where(ok, det, 1.0), t0 / s0)
        b = np.where(ok, (s0 * t1 - s1 * t0) / np.where(ok, det, 1.0), 0.0)
        fit[rows] = a
        slope[rows] = b
    return fit, slope


def _local_linear_uniform(
    x: np.ndarray, y: np.ndarray, h: float, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`local_linear` on evenly spaced ``x`` (an exponential sweep), by convolution."""
    return _UniformKernel(h, step, y.size).fit(y)


class _UniformKernel:
    """The local-linear fit on ``n`` evenly spaced points, ``step`` apart, by convolution.

    With ``d = k · step`` the offsets of the kernel, the weighted sums ``Σ w d^p`` and
    ``Σ w d^p y`` are convolutions of the data (and of a mask of ones, which truncates the
    kernel at the ends exactly as the direct sums do): ``O(n · kernel)`` in compiled code.
    The sums over the mask do not depend on the data and are computed once.
    """

    def __init__(self, h: float, step: float, n: int) -> None:
        self.half = int(_SUPPORT * h / step)
        d = np.arange(-self.half, self.half + 1) * step
        self.w = np.exp(-0.5 * (d / h) ** 2)
        self.wd = self.w * d
        ones = np.ones(n)
        self.s0, self.s1 = self._conv(ones, self.w), self._conv(ones, self.wd)
        self.s2 = self._conv(ones, self.w * d * d)
        det = self.s0 * self.s2 - self.s1 * self.s1
        self.ok = det > 1e-12 * np.maximum(self.s0 * self.s2, 1e-300)
        self.safe = np.where(self.ok, det, 1.0)

    def _conv(self, signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        # out_i = Σ_j kernel[half + j − i] · signal[j]: the centre of a full convolution
        # with the reversed kernel (valid whatever the kernel's length against the data's).
        return np.convolve(signal, kernel[::-1], mode="full")[self.half : self.half + signal.size]

    def fit(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0, t1 = self._conv(y, self.w), self._conv(y, self.wd)
        s0, s1, s2 = self.s0, self.s1, self.s2
        fit = np.where(self.ok, (s2 * t0 - s1 * t1) / self.safe, t0 / s0)
        slope = np.where(self.ok, (s0 * t1 - s1 * t0) / self.safe, 0.0)
        return fit, slope


def bandwidth(x: np.ndarray, decades: float = 0.25, min_points: float = 2.5) -> float:
    """The smoothing width in decades: ``max(decades, min_points · median spacing)``.

    A fixed width in decades keeps the smoothed curve the same whatever the sampling density;
    the floor keeps several points under the kernel when the sweep is coarse (50 steps over 8
    decades: spacing 0.16 decade → h ≈ 0.41).
    """
    if x.size < 2:
        return decades
    return float(max(decades, min_points * float(np.median(np.diff(x)))))


def smooth_log(
    x: np.ndarray, y: np.ndarray, h: float, *, cap: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Robust local-linear smoothing of ``y`` over ``x`` (see module docstring).

    ``cap`` winsorizes the median-filtered values from above (default: the first value plus
    twice the curve's robust range), so a loss that exploded to 1e6 at the end of a sweep
    cannot drag the smoothed curve up where the loss was still fine.
    """
    if y.size == 0:
        return y.copy(), y.copy()
    m = median_filter(x, y, 0.5 * h)
    if cap is None:
        lo, hi = float(np.min(m)), float(m[0])
        cap = hi + 2.0 * max(hi - lo, 1e-12 * max(abs(hi), 1.0))
    m = np.minimum(m, cap)
    return local_linear(x, m, h)


def smooth_log_many(x: np.ndarray, ys: np.ndarray, h: float) -> np.ndarray:
    """:func:`smooth_log` (default cap) of every row of ``ys`` (shape ``(B, n)``) at once.

    Used by the bootstrap, which smooths many resampled curves on the same ``x``: the median
    filter runs on all rows in one vectorised call, and on an exponential sweep the
    local-linear fit's kernel sums that do not depend on the data are computed once.
    Equal to smoothing each row on its own (the same arithmetic). Returns the fits.
    """
    ys = np.atleast_2d(np.asarray(ys, dtype=np.float64))
    if ys.shape[1] == 0:
        return ys.copy()
    m = _median_filter_rows(x, ys, 0.5 * h)
    lo, hi = m.min(axis=1), m[:, 0]
    cap = hi + 2.0 * np.maximum(hi - lo, 1e-12 * np.maximum(np.abs(hi), 1.0))
    m = np.minimum(m, cap[:, None])
    n = x.size
    steps = np.diff(x)
    if not (n > 2 and steps.max() <= 1.01 * steps.min()):
        return np.stack([local_linear(x, row, h)[0] for row in m])
    kernel = _UniformKernel(h, float(np.mean(steps)), n)
    return np.stack([kernel.fit(row)[0] for row in m])


def _median_filter_rows(x: np.ndarray, ys: np.ndarray, half_width: float) -> np.ndarray:
    """:func:`median_filter` of every row of ``ys``, vectorised over rows."""
    n = ys.shape[1]
    if n < 3:
        return ys.copy()
    steps = np.diff(x)
    if steps.max() > 1.01 * steps.min():
        return np.stack([median_filter(x, row, half_width) for row in ys])
    k = max(1, int(half_width / float(np.mean(steps)) + 1e-9))
    out = np.empty_like(ys)
    if n > 2 * k:
        windows = np.lib.stride_tricks.sliding_window_view(ys, 2 * k + 1, axis=1)
        out[:, k : n - k] = np.median(windows, axis=2)
    for i in [*range(min(k, n)), *range(max(k, n - k), n)]:
        out[:, i] = np.median(ys[:, max(0, i - k) : i + k + 1], axis=1)
    return out


def noise_scale(y: np.ndarray, baseline: np.ndarray) -> float:
    """Robust standard deviation of ``y − baseline``: ``1.4826 · median|r − median r|``."""
    if y.size < 3:
        return 0.0
    r = y - baseline
    return float(1.4826 * np.median(np.abs(r - np.median(r))))
