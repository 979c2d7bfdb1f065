"""Curve-shape diagnosis of a metric-vs-LR curve (the range test's metric mode).

Smith's original range test reads validation accuracy against the LR. Seed 002 (13 May 2019)
names the outcomes this module tells apart:

* ``"plateau"`` — (ii) the metric rises, then stays high over a large LR range: the sign that
  super-convergence is possible (Smith & Topin, 2019, §3);
* ``"hill"`` — (i) it rises then falls: a usable LR window, not a super-convergence sign;
* ``"collapse"`` — (iii) it falls back to chance level (possibly after a plateau, possibly
  recovering later);
* ``"flat"`` — it never rises above its start/chance level by more than its noise;
* ``"inconclusive"`` — too few points, or still rising at the end of the sweep.

With ``g`` the metric turned "higher is better" (``−metric`` otherwise), smoothed by a
running median of 3, ``b`` the baseline (``chance`` if given, else the first value),
``p = max g`` the peak and ``gain = p − b``:

* the *rise* runs from ``g ≥ b + 0.1·gain`` to ``g ≥ b + 0.9·gain``;
* the *high region* is the contiguous range around the peak with ``g ≥ p − tol·gain``;
* it is a *plateau* when the high region spans at least ``plateau_decades`` decades of LR;
* there is a *collapse* when after the peak ``g`` returns to ``≤ b + 0.25·gain``; a *hill*
  when it ends at least ``0.25·gain`` below the peak without collapsing.
"""

from __future__ import annotations

import numpy as np

from lrlab.errors import check
from lrlab.suggest.curve import as_curve_arrays
from lrlab.suggest.types import Diagnosis


def _median3(y: np.ndarray) -> np.ndarray:
    """Running median of 3 (ends kept): removes single-evaluation spikes, keeps edges."""
    if y.size < 3:
        return y.copy()
    out = y.copy()
    out[1:-1] = np.median(np.stack([y[:-2], y[1:-1], y[2:]]), axis=0)
    return out


def _noise(y: np.ndarray) -> float:
    """Robust noise of a curve from its first differences: ``1.4826 · MAD(Δy) / √2``.

    Differences remove a smooth trend (up to its slope per step) without a smoother, whose
    residuals would underestimate the noise.
    """
    d = np.diff(y)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def _span(lrs: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    return (float(lrs[lo]), float(lrs[hi]))


def diagnose(
    lrs: object,
    metric: object,
    *,
    chance: float | None = None,
    higher_is_better: bool = True,
    tol: float = 0.15,
    plateau_decades: float = 1.0,
    name: str = "accuracy",
) -> Diagnosis:
    """The shape of ``metric`` against ``lrs`` (see module docstring for the definitions).

    Args:
        lrs: the LRs at which the metric was evaluated (increasing, > 0).
        metric: the metric values (NaN/inf mean the model broke: counted as the worst value).
        chance: the metric of a model that learnt nothing (0.1 for 10 balanced classes);
            the baseline for "collapse". Defaults to the first value of the curve.
        higher_is_better: ``False`` for losses and errors.
        tol: how far below the peak (as a fraction of the gain) still counts as "high".
        plateau_decades: the width of the high region that makes a plateau.
        name: what the metric is called in ``text``.
    """
    check(0.0 < tol < 1.0, f"{tol=} must be in (0, 1).")
    check(plateau_decades > 0, f"{plateau_decades=} must be > 0.")
    lr_arr, m = as_curve_arrays(lrs, metric, name="metric")
    sign = 1.0 if higher_is_better else -1.0
    g_raw = sign * m
    finite = np.isfinite(g_raw)
    if finite.sum() < 5:
        return Diagnosis(
            "inconclusive",
            text=f"Only {int(finite.sum())} finite {name} value(s): too few to read a shape "
            "(evaluate more often, e.g. a smaller eval_every).",
            evidence={"points": float(finite.sum())},
        )
    # A non-finite metric (a loss that overflowed) is the worst outcome seen, not missing data.
    worst = float(g_raw[finite].min())
    if chance is not None:
        worst = min(worst, sign * chance)
    g_raw = np.where(finite, g_raw, worst)
    g = _median3(g_raw)
    x = np.log10(lr_arr)
    b = sign * chance if chance is not None else float(g[0])
    ip = int(np.argmax(g))
    p = float(g[ip])
    gain = p - b
    noise = _noise(g_raw)

    def val(v: float) -> float:  # back to the metric's own sign for the text
        return sign * v

    evidence: dict[str, float | None] = {
        "points": float(g.size),
        "baseline": val(b),
        "best": val(p),
        "gain": gain,
        "noise": noise,
    }
    best_lr = float(lr_arr[ip])
    # (the relative floor only absorbs rounding: it must not depend on where zero is)
    if gain <= max(4.0 * noise, 1e-9 * max(abs(p), abs(b), 1e-12)):
        return Diagnosis(
            "flat",
            text=f"Flat: the {name} never rises clearly above {val(b):.3g} (best {val(p):.3g}, "
            f"noise {noise:.2g}) between lr {lr_arr[0]:.3g} and {lr_arr[-1]:.3g}: nothing is "
            "learnt in this window. Widen the sweep, train longer per step, or check the model.",
            best_lr=best_lr,
            best=val(p),
            evidence=evidence,
        )

    ranges: dict[str, tuple[float, float]] = {}
    above_lo = np.nonzero(g[: ip + 1] >= b + 0.1 * gain)[0]
    above_hi = np.nonzero(g[: ip + 1] >= b + 0.9 * gain)[0]
    r0 = int(above_lo[0]) if above_lo.size else 0
    r1 = int(above_hi[0]) if above_hi.size else ip
    if r1 > r0:
        ranges["rise"] = _span(lr_arr, r0, r1)
    # The high region: contiguous around the peak.
    high = g >= p - tol * gain
    h0 = ip
    while h0 > 0 and high[h0 - 1]:
        h0 -= 1
    h1 = ip
    while h1 < g.size - 1 and high[h1 + 1]:
        h1 += 1
    width = float(x[h1] - x[h0])
    evidence["high_decades"] = width
    after = g[ip:]
    low_after = np.nonzero(after <= b + 0.25 * gain)[0]
    end_level = float(np.median(g[-3:]))
    fall = p - end_level
    evidence["fall"] = fall
    is_plateau = width >= plateau_decades
    span_txt = f"lr {lr_arr[h0]:.3g} to {lr_arr[h1]:.3g} ({width:.1f} decades)"

    if low_after.size:
        c0 = ip + int(low_after[0])
        # The collapse starts where the metric falls below half-way between peak and baseline.
        half = np.nonzero(g[ip : c0 + 1] < b + 0.5 * gain)[0]
        c_start = ip + int(half[0]) if half.size else c0
        recovered = np.nonzero(g[c0:] >= b + 0.5 * gain)[0]
        c_end = c0 + int(recovered[0]) - 1 if recovered.size else g.size - 1
        ranges["collapse"] = _span(lr_arr, c_start, max(c_end, c_start))
        if is_plateau:
            ranges["plateau"] = _span(lr_arr, h0, h1)
        else:
            ranges["peak"] = _span(lr_arr, h0, h1)
        before = (
            f"after a plateau over {span_txt}"
            if is_plateau
            else f"after peaking at lr {best_lr:.3g}"
        )
        recover = (
            f"; it recovers from lr {lr_arr[c_end + 1]:.3g} on (a second regime, as in seed "
            "002's type iii)"
            if recovered.size
            else ""
        )
        text = (
            f"Collapse: the {name} reaches {val(p):.3g} at lr {best_lr:.3g} and, {before}, "
            f"falls back to chance level ({val(b):.3g}) from lr {lr_arr[c_start]:.3g}{recover}. "
            f"LRs beyond {lr_arr[c_start]:.3g} break training; pick the max LR below "
            f"{lr_arr[h1]:.3g}."
        )
        return Diagnosis("collapse", ranges, text, best_lr, val(p), evidence)

    if is_plateau:
        ranges["plateau"] = _span(lr_arr, h0, h1)
        if h1 < g.size - 1 and fall >= 0.25 * gain:
            ranges["decline"] = _span(lr_arr, h1, g.size - 1)
        text = (
            f"Plateau: the {name} rises to {val(p):.3g} and stays within {tol:.0%} of its gain "
            f"from {span_txt} — Smith's sign that super-convergence is possible: a one-cycle "
            f"with a max LR near the top of the plateau ({lr_arr[h1]:.3g}) can train fast."
        )
        return Diagnosis("plateau", ranges, text, best_lr, val(p), evidence)

    if fall >= 0.25 * gain:
        ranges["peak"] = _span(lr_arr, h0, h1)
        ranges["decline"] = _span(lr_arr, h1, g.size - 1)
        text = (
            f"Hill: the {name} peaks at {val(p):.3g} near lr {best_lr:.3g} (high from "
            f"{span_txt}) and then falls to {val(end_level):.3g}: a usable LR window but not a "
            f"super-convergence sign. Use a max LR inside the peak range."
        )
        return Diagnosis("hill", ranges, text, best_lr, val(p), evidence)

    text = (
        f"Inconclusive: the {name} is still rising at the end of the sweep (best {val(p):.3g} "
        f"at lr {best_lr:.3g}); raise end_lr to see whether it plateaus, falls or collapses."
    )
    return Diagnosis("inconclusive", ranges, text, best_lr, val(p), evidence)
