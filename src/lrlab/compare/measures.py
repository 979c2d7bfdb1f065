r"""What the ranking reads of each candidate's range test (pure, numpy only).

**Per candidate** ``k`` (on ``x = log10(lr)``, the finite part of the curve):

* ``L_k(x)``: the loss smoothed in log LR with a fixed width ``h`` in decades — the same
  robust local-linear smoother as the suggestions (:func:`lrlab.suggest.curve.smooth_log`),
  so no EMA lag shifts a curve that was sampled differently (batch-size candidates are).
* ``best_k = min L_k`` at ``lr_best_k``: the lowest smoothed loss reached.
* ``σ_k = 1.4826 · median|r − median r|`` of the residuals ``r = raw − L_k`` (robust noise,
  over the points before the curve leaves the low region), and the standard error of
  ``best_k``: ``se_k = σ_k / √m_k``, ``m_k`` the points within ``±h`` of the minimum (the
  smoother averages about that many independent batches there).
* **The LR limit** ("largest LR before divergence"). With ``S`` the median first smoothed
  loss (every candidate starts from the same weights), ``R = min_k best_k`` and the common
  level ``ℓ = R + rise · (S − R)`` (``rise = 0.25``: a quarter of the best drop given back),
  ``x_lim_k`` is the first ``x`` after ``argmin L_k`` where ``L_k`` climbs back to ``ℓ``
  (linear interpolation). Its uncertainty by the delta method is ``σx_k = se_k / L_k'(x_lim)``
  (at least half a sweep step). A curve that never climbs back gets the LR where its sweep
  stopped (non-finite loss, or the range test's divergence rule), or is *censored* at its
  last LR (``lr_limit ≥ end_lr``: it did not diverge in the window). A curve whose minimum
  stays above ``ℓ`` never got low: no limit. The common level makes the limits comparable:
  each is the LR at which that candidate's loss crosses the same height.
* **Repeats** (optional): with ``R`` range tests per candidate (the same sweep, other data
  orders), the curve ranked is their pointwise mean, and ``se_k`` becomes
  ``max(se of the mean curve, s_R / √R)`` where ``s_R`` is the standard deviation over the
  repeats of their smoothed losses at the mean curve's minimum: the run-to-run variation
  (another data order leads the weights elsewhere) that the residuals of one curve cannot
  show. The metric's standard error gets the same treatment.
* ``max_lr_k``: the candidate's own suggested max LR (:func:`lrlab.suggest.suggest`), what a
  one-cycle run with this candidate should peak at (high momentum lowers it).
* In metric mode: the best eval metric reached (3-point running median, so one lucky
  evaluation does not count); its standard error is ``0.67 σ`` (the spread of a median of
  three) with ``σ`` from the second differences of the metric curve, which cancel a locally
  linear trend: ``σ = 1.4826 · MAD(v_i − (v_{i−1} + v_{i+1})/2) / √1.5``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrlab.errors import check
from lrlab.suggest.curve import bandwidth, noise_scale, prepare, smooth_log

# Fewer finite points than this and a curve cannot be smoothed into anything meaningful.
MIN_POINTS = 5


@dataclass(frozen=True)
class CurveInput:
    """What the ranking reads of one candidate's range test.

    ``lrs``/``losses``: the sweep (raw losses; NaN/inf allowed at the end);
    ``stop_reason``: the range test's (``"diverged"`` marks where its own rule stopped);
    ``metric_lrs``/``metric``: the eval metric curve in metric mode (empty otherwise);
    ``max_lr``: the candidate's suggested max LR (reported, not ranked).
    """

    lrs: Sequence[float]
    losses: Sequence[float]
    stop_reason: str = "completed"
    metric_lrs: Sequence[float] = ()
    metric: Sequence[float] = ()
    max_lr: float | None = None


@dataclass(frozen=True)
class Measures:
    """The numbers the ranking decided from, for one candidate (see the module docstring).

    ``lr_limit`` is ``None`` when the curve never fell below the common level;
    ``limit_kind`` says how it was found: ``"crossing"``, ``"non-finite"`` (the sweep hit a
    NaN/inf loss there), ``"stopped"`` (the range test's divergence rule stopped there),
    ``"censored"`` (no divergence up to the last LR), ``"never-low"`` or ``"unusable"``.
    """

    usable: bool
    points: int
    best_loss: float | None = None
    lr_best: float | None = None
    loss_start: float | None = None
    noise: float | None = None
    se: float | None = None
    lr_limit: float | None = None
    limit_sigma: float | None = None  # decades
    limit_kind: str = "unusable"
    max_lr: float | None = None
    metric_best: float | None = None
    metric_lr: float | None = None
    metric_se: float | None = None
    repeats: int = 1

    @property
    def x_limit(self) -> float:
        """``log10(lr_limit)``; ``-inf`` when the curve never got low."""
        return -math.inf if self.lr_limit is None else math.log10(self.lr_limit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "usable": self.usable,
            "points": self.points,
            "best_loss": self.best_loss,
            "lr_best": self.lr_best,
            "loss_start": self.loss_start,
            "noise": self.noise,
            "se": self.se,
            "lr_limit": self.lr_limit,
            "limit_sigma": self.limit_sigma,
            "limit_kind": self.limit_kind,
            "max_lr": self.max_lr,
            "metric_best": self.metric_best,
            "metric_lr": self.metric_lr,
            "metric_se": self.metric_se,
            "repeats": self.repeats,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measures:
        def opt(key: str) -> float | None:
            v = d.get(key)
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

        return cls(
            usable=bool(d.get("usable", False)),
            points=int(d.get("points", 0)),
            best_loss=opt("best_loss"),
            lr_best=opt("lr_best"),
            loss_start=opt("loss_start"),
            noise=opt("noise"),
            se=opt("se"),
            lr_limit=opt("lr_limit"),
            limit_sigma=opt("limit_sigma"),
            limit_kind=str(d.get("limit_kind", "unusable")),
            max_lr=opt("max_lr"),
            metric_best=opt("metric_best"),
            metric_lr=opt("metric_lr"),
            metric_se=opt("metric_se"),
            repeats=int(d.get("repeats", 1)),
        )


@dataclass(frozen=True)
class Smoothed:
    """A candidate's finite curve with its log-LR smoothing (internal)."""

    x: np.ndarray
    raw: np.ndarray
    fit: np.ndarray
    h: float
    diverged_lr: float | None


def smooth(lrs: Sequence[float], losses: Sequence[float], decades: float = 0.25) -> Smoothed:
    """The finite prefix of a curve and its log-LR smoothing (what ranking and plot read)."""
    curve = prepare(lrs, losses)
    if curve.n == 0:
        empty = np.array([])
        return Smoothed(empty, empty, empty, decades, curve.diverged_lr)
    h = bandwidth(curve.x, decades)
    fit, _ = smooth_log(curve.x, curve.losses, h)
    return Smoothed(curve.x, curve.losses, fit, h, curve.diverged_lr)


def _spacing(x: np.ndarray) -> float:
    return float(np.median(np.diff(x))) if x.size > 1 else 0.0


def _crossing(s: Smoothed, i_min: int, level: float) -> tuple[float, int] | None:
    """``x`` where ``fit`` first climbs back to ``level`` after ``i_min`` (interpolated)."""
    above = np.nonzero(s.fit[i_min:] >= level)[0]
    if above.size == 0:
        return None
    j = i_min + int(above[0])
    if j == 0:
        return float(s.x[0]), 0
    y0, y1 = s.fit[j - 1], s.fit[j]
    t = (level - y0) / (y1 - y0) if y1 != y0 else 1.0
    return float(s.x[j - 1] + float(np.clip(t, 0.0, 1.0)) * (s.x[j] - s.x[j - 1])), j


# Standard deviation of the median of three N(0, 1) draws (≈ √0.449).
_MEDIAN3_SD = 0.67


def _second_difference_noise(v: np.ndarray) -> float:
    """Robust noise of a short series with a trend: the second differences
    ``r_i = v_i − (v_{i−1} + v_{i+1}) / 2`` cancel any locally linear trend and have
    variance ``1.5 σ²``, so ``σ = 1.4826 · median|r − median r| / √1.5``."""
    if v.size < 3:
        return 0.0
    r = v[1:-1] - 0.5 * (v[:-2] + v[2:])
    return float(1.4826 * np.median(np.abs(r - np.median(r))) / math.sqrt(1.5))


def _metric_measures(
    lrs: Sequence[float], values: Sequence[float], higher_is_better: bool
) -> tuple[float | None, float | None, float | None]:
    """Best of the 3-point running median of a metric curve, where, and its standard error."""
    lr = np.asarray(lrs, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v) & np.isfinite(lr)
    lr, v = lr[keep], v[keep]
    if v.size == 0:
        return None, None, None
    if v.size < 3:
        med = v.copy()
    else:
        padded = np.concatenate([[v[0]], v, [v[-1]]])
        med = np.median(np.lib.stride_tricks.sliding_window_view(padded, 3), axis=1)
    i = int(np.argmax(med) if higher_is_better else np.argmin(med))
    se = _MEDIAN3_SD * _second_difference_noise(v)
    return float(med[i]), float(lr[i]), float(se)


Candidate = CurveInput | Sequence[CurveInput]


def repeats_of(c: Candidate) -> list[CurveInput]:
    return [c] if isinstance(c, CurveInput) else list(c)


def merge(repeats: Sequence[CurveInput]) -> CurveInput:
    """The pointwise mean of a candidate's repeated range tests (same LR grid).

    The mean runs over the steps every repeat recorded, up to the first step where any
    repeat's loss is non-finite (recorded as NaN: that is where the mean curve diverged);
    the metric curves are averaged over their common evaluation points.
    """
    reps = list(repeats)
    check(len(reps) >= 1, "a candidate needs at least one curve.")
    if len(reps) == 1:
        return reps[0]
    n = min(len(r.lrs) for r in reps)
    lrs = np.asarray(reps[0].lrs[:n], dtype=np.float64)
    for r in reps[1:]:
        check(
            np.allclose(np.asarray(r.lrs[:n], dtype=np.float64), lrs, rtol=1e-9, atol=0.0),
            "the repeats of a candidate must share their learning rates (the same sweep).",
        )
    losses = np.array([np.asarray(r.losses[:n], dtype=np.float64) for r in reps])
    mean = losses.mean(axis=0)
    bad = ~np.all(np.isfinite(losses), axis=0)
    if bad.any():
        cut = int(np.argmax(bad))
        lrs, mean = lrs[: cut + 1], mean[: cut + 1]
        mean[cut] = math.nan
    stops = {r.stop_reason for r in reps}
    stop = "diverged" if "diverged" in stops else reps[0].stop_reason
    m = min(len(r.metric) for r in reps)
    metric_lrs: Sequence[float] = reps[0].metric_lrs[:m]
    metric = list(np.mean([np.asarray(r.metric[:m], dtype=np.float64) for r in reps], axis=0))
    max_lrs = [r.max_lr for r in reps if r.max_lr is not None]
    max_lr = float(np.exp(np.mean(np.log(max_lrs)))) if max_lrs else None
    return CurveInput(
        lrs=list(lrs),
        losses=list(mean),
        stop_reason=stop,
        metric_lrs=metric_lrs if m else (),
        metric=metric if m else (),
        max_lr=max_lr,
    )


def _between_se(values: list[float]) -> float:
    """Standard error of a mean from the spread between repeats (0 for one repeat)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return 0.0
    return float(np.std(finite, ddof=1) / math.sqrt(len(finite)))


def measure(
    s: Smoothed,
    inp: CurveInput,
    level: float | None,
    higher_is_better: bool,
    reps: Sequence[Smoothed] = (),
    rep_inputs: Sequence[CurveInput] = (),
) -> Measures:
    n = int(s.x.size)
    metric = _metric_measures(inp.metric_lrs, inp.metric, higher_is_better)
    if len(rep_inputs) > 1 and metric[0] is not None:
        per_rep = [
            _metric_measures(r.metric_lrs, r.metric, higher_is_better)[0] for r in rep_inputs
        ]
        spread = _between_se([math.nan if v is None else v for v in per_rep])
        metric = (metric[0], metric[1], max(metric[2] or 0.0, spread))
    if n < MIN_POINTS:
        return Measures(
            usable=False,
            points=n,
            max_lr=inp.max_lr,
            metric_best=metric[0],
            metric_lr=metric[1],
            metric_se=metric[2],
            repeats=max(1, len(rep_inputs)),
        )
    i_min = int(np.argmin(s.fit))
    best = float(s.fit[i_min])
    step = _spacing(s.x)
    # Points under the kernel at the minimum: the smoothed value averages about that many.
    m = int(np.count_nonzero(np.abs(s.x - s.x[i_min]) <= s.h))
    cross = _crossing(s, i_min, level) if level is not None and best <= level else None
    # Noise from the part of the curve that is not the blow-up: up to the crossing.
    upto = cross[1] + 1 if cross is not None else n
    sigma = noise_scale(s.raw[:upto], s.fit[:upto])
    se = sigma / math.sqrt(max(m, 1))
    if len(reps) > 1:
        # Repeats with other data orders: the spread of their smoothed losses at the mean
        # curve's minimum is the run-to-run noise that one curve's residuals cannot show.
        at_min = [float(np.interp(s.x[i_min], r.x, r.fit)) if r.x.size else math.nan for r in reps]
        se = max(se, _between_se(at_min))
    limit: float | None = None
    sigma_x: float | None = None
    if level is None or best > level:
        kind = "never-low"
    elif cross is not None:
        x_cross, j = cross
        slope = np.gradient(s.fit, s.x)
        # Delta method: a vertical error se moves the crossing by se / slope there.
        rise = float(max(slope[max(j - 1, 0)], slope[j], 1e-12))
        limit, kind, sigma_x = 10**x_cross, "crossing", max(se / rise, 0.5 * step)
    elif s.diverged_lr is not None:
        limit, kind, sigma_x = s.diverged_lr, "non-finite", step
    elif inp.stop_reason == "diverged":
        limit, kind, sigma_x = float(10 ** s.x[-1]), "stopped", step
    else:
        limit, kind, sigma_x = float(10 ** s.x[-1]), "censored", step
    return Measures(
        usable=True,
        points=n,
        best_loss=best,
        lr_best=float(10 ** s.x[i_min]),
        loss_start=float(s.fit[0]),
        noise=float(sigma),
        se=float(se),
        lr_limit=None if limit is None else float(limit),
        limit_sigma=None if sigma_x is None else float(sigma_x),
        limit_kind=kind,
        max_lr=inp.max_lr,
        metric_best=metric[0],
        metric_lr=metric[1],
        metric_se=metric[2],
        repeats=max(1, len(rep_inputs)),
    )
