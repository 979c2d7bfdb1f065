"""The comparison figure: one smoothed loss curve per candidate on a log-LR axis, each
candidate's suggested max LR marked, the recommended one drawn bold.

The curves drawn are the curves the ranking read (:func:`lrlab.compare.measures.smooth`, the
log-LR smoother of the suggestions; with repeats, of the mean of the candidate's runs).
matplotlib is imported inside the function; the figure is returned, never shown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import lrlab.stops as stops
from lrlab.compare.measures import CurveInput, merge, smooth

if TYPE_CHECKING:
    from lrlab.compare.result import ComparisonResult


class ComparisonFigure(NamedTuple):
    """What :func:`plot_comparison` drew on (``metric_ax`` is ``None`` without metric mode)."""

    fig: Any
    ax: Any
    metric_ax: Any


def _limits(curves: list[np.ndarray]) -> tuple[float, float] | None:
    """From just below the lowest smoothed loss to a bit above the highest starting loss:
    the descents and minima are what the comparison is about, not the blow-ups."""
    finite = [c for c in curves if c.size]
    if not finite:
        return None
    low = min(float(np.min(c)) for c in finite)
    high = max(float(c[0]) for c in finite)
    span = high - low if high > low else max(abs(low), 1e-12) * 0.1
    return low - 0.1 * span, high + 0.3 * span


def plot_comparison(
    result: ComparisonResult, *, ax: Any = None, metric_ax: Any = None, show_raw: bool = False
) -> ComparisonFigure:
    """Draw the comparison; returns ``(fig, ax, metric_ax)``.

    With eval curves (metric mode) and no axes given, a second panel below shows the eval
    metric of every candidate against the same LR axis. ``show_raw`` adds the raw losses,
    faint.
    """
    import matplotlib.pyplot as plt

    has_metric = any(any(k != "loss" for k in c.range_test.eval) for c in result.candidates)
    if ax is None:
        if has_metric:
            fig, (ax, metric_ax) = plt.subplots(
                2, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
            )
        else:
            fig, ax = plt.subplots(figsize=(8, 5))
    else:
        fig = ax.figure
    ranking = result.ranking
    decades = float(ranking.settings.get("decades", 0.25)) if ranking else 0.25
    best = ranking.recommended if ranking else None
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    fits = []
    for k, cand in enumerate(result.candidates):
        color = colors[k % len(colors)]
        rt = cand.range_test
        # With repeats, the curve ranked (and drawn) is the mean of the candidate's runs.
        merged = merge([CurveInput(r.lrs, r.losses, r.stop_reason) for r in cand.runs])
        s = smooth(merged.lrs, merged.losses, decades) if merged.lrs else None
        rank = f" (#{ranking.ranks[k]})" if ranking else ""
        lw = 3.0 if k == best else 1.6
        if show_raw:
            for run in cand.runs:
                ax.plot(run.lrs, run.losses, color=color, alpha=0.2, lw=0.8)
        if s is None or s.x.size == 0:
            ax.plot([], [], color=color, label=f"{cand.label}{rank}: no finite loss")
            continue
        lrs = 10**s.x
        fits.append(s.fit)
        ax.plot(lrs, s.fit, color=color, lw=lw, label=f"{cand.label}{rank}")
        sug = cand.suggested_lr
        if sug is not None and math.isfinite(sug) and lrs[0] <= sug <= lrs[-1]:
            y = float(np.interp(np.log10(sug), s.x, s.fit))
            ax.plot([sug], [y], marker="o", ms=7, color=color, mec="black", zorder=5)
        if merged.stop_reason in stops.DIVERGENCE or rt.stop_reason in stops.DIVERGENCE:
            ax.plot([lrs[-1]], [s.fit[-1]], marker="x", ms=7, color=color, zorder=5)
    if ranking is not None and ranking.settings.get("level") is not None:
        ax.axhline(
            ranking.settings["level"], color="grey", ls=":", lw=1, label="common level (LR limit)"
        )
    ax.set_xscale("log")
    limits = _limits(fits)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_ylabel("training loss (smoothed)")
    ax.set_xlabel("learning rate")
    verdict = f"recommend {result.recommendation}" if best is not None else "no clear winner"
    ax.set_title(f"{result.name}: {verdict}")
    ax.plot([], [], ls="none", marker="o", mec="black", color="white", label="suggested max lr")
    ax.legend(loc="best", fontsize="small")
    if metric_ax is not None and has_metric:
        for k, cand in enumerate(result.candidates):
            rt = cand.range_test
            names = [n for n in rt.eval if n != "loss"]
            if not names or not rt.eval_lrs:
                continue
            metric_ax.plot(
                rt.eval_lrs,
                rt.eval[names[0]],
                color=colors[k % len(colors)],
                marker="o",
                ms=3,
                lw=3.0 if k == best else 1.2,
            )
            metric_ax.set_ylabel(f"eval {names[0]}")
        metric_ax.set_xscale("log")
        metric_ax.set_xlabel("learning rate")
        ax.set_xlabel("")
    return ComparisonFigure(fig, ax, metric_ax)
