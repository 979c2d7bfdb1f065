"""The range-test figure: loss against learning rate, suggestion marked, metric on a twin axis.

matplotlib is imported inside the function (importing lrlab never pulls it in); the figure
is returned, never shown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import lrlab.stops as stops

if TYPE_CHECKING:
    from lrlab.finder.result import RangeTestResult


class RangeTestFigure(NamedTuple):
    """What :func:`plot_range_test` drew on: the figure, the loss axis and the metric axis
    (``None`` without metric mode)."""

    fig: Any
    ax: Any
    metric_ax: Any


def _is_log_sweep(result: RangeTestResult) -> bool:
    mode = result.config.get("step_mode")
    if mode is not None:
        return mode == "exp"
    lrs = np.asarray(result.lrs, dtype=float)
    return bool(lrs.size > 0 and np.all(lrs > 0))


def _loss_limits(losses: np.ndarray, smoothed: np.ndarray) -> tuple[float, float] | None:
    """y-limits that show the descent, not the blow-up: from the lowest loss reached (raw
    losses included: the EMA lags behind them) to a bit above the highest smoothed loss
    seen *before* the smoothed minimum."""
    finite = np.isfinite(smoothed)
    if finite.sum() < 2:
        return None
    values = smoothed[finite]
    i_min = int(np.argmin(values))
    low, high = float(values[i_min]), float(values[: i_min + 1].max())
    raw = losses[np.isfinite(losses)]
    if raw.size:
        low = min(low, float(np.percentile(raw, 2)))  # not the single lowest noisy point
    span = high - low
    if span <= 0:
        span = max(abs(low), 1e-12) * 0.1
    return low - 0.1 * span, high + 0.4 * span


def plot_range_test(
    result: RangeTestResult, *, ax: Any = None, show_raw: bool = True
) -> RangeTestFigure:
    """Raw and smoothed loss against LR (log axis for exponential sweeps), the suggestion as
    a vertical line with its ``[low, high]`` range shaded, the point that stopped the sweep,
    and — in metric mode — the first metric (else the eval loss) on a twin axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    else:
        fig = ax.figure
    lrs = np.asarray(result.lrs, dtype=float)
    losses = np.asarray(result.losses, dtype=float)
    smoothed = np.asarray(result.smoothed, dtype=float)
    if show_raw and lrs.size:
        ax.plot(lrs, losses, color="tab:blue", alpha=0.3, lw=1, label="loss (raw)")
    if lrs.size:
        # Two smoothings, each for its job: the EMA (lags behind the rising LR) drives the stop
        # rule; the fixed-width smoothing over log LR is what the suggestion rules read.
        ax.plot(lrs, smoothed, color="tab:blue", lw=1.2, ls="--", label="loss (EMA, stop rule)")
        rule_lrs, rule_loss = result.rule_curve()
        if rule_lrs:
            ax.plot(rule_lrs, rule_loss, color="tab:blue", lw=2, label="loss (smoothed, rules)")
    if _is_log_sweep(result) and np.all(lrs > 0) and lrs.size:
        ax.set_xscale("log")
    limits = _loss_limits(losses, smoothed)
    if limits is not None:
        ax.set_ylim(*limits)
    if result.stop_reason in stops.DIVERGENCE and lrs.size:
        ax.axvline(lrs[-1], color="tab:red", ls=":", lw=1, label=result.stop_reason)

    sug = result.suggestion
    if sug is not None and sug.lr is not None and math.isfinite(sug.lr):
        if sug.low is not None and sug.high is not None:
            ax.axvspan(sug.low, sug.high, color="tab:orange", alpha=0.15, label="suggested range")
        ax.axvline(sug.lr, color="tab:orange", lw=2, label=f"suggested lr {sug.lr:.3g}")

    metric_ax = None
    metric_names = [k for k in result.eval if k != "loss"]
    metric = metric_names[0] if metric_names else ("loss" if "loss" in result.eval else None)
    if metric is not None and result.eval_lrs:
        metric_ax = ax.twinx()
        label = f"eval {metric}"
        metric_ax.plot(
            result.eval_lrs, result.eval[metric], color="tab:green", marker="o", ms=3, label=label
        )
        metric_ax.set_ylabel(label, color="tab:green")
        metric_ax.tick_params(axis="y", colors="tab:green")

    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    title = f"LR range test ({result.num_steps} steps, {result.stop_reason})"
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if metric_ax is not None:
        h2, l2 = metric_ax.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="best", fontsize="small")
    return RangeTestFigure(fig, ax, metric_ax)
