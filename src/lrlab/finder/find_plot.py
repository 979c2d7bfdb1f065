"""The ``find_lr`` figure: the range test with its window, and the short runs that decided.

Left: the range test (:func:`lrlab.finder.plot.plot_range_test`) with the candidate window
shaded and the answer marked. Right: every candidate's final held-out score against its peak
LR, one line per horizon (diverged runs as crosses at the untrained model's score), the
smoothed response the choice read, the chosen LR and the interval. matplotlib is imported
inside the function; the figure is returned, never shown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lrlab.finder.choose import clean_scores, smooth

if TYPE_CHECKING:
    from lrlab.finder.find_result import FindResult


class FindFigure(NamedTuple):
    fig: Any
    range_ax: Any
    runs_ax: Any


def plot_find(result: FindResult, *, axes: Any = None) -> FindFigure:
    """Draw ``result`` on two axes (new ones unless ``axes=(left, right)`` is given)."""
    import matplotlib.pyplot as plt

    from lrlab.finder.plot import plot_range_test

    if axes is None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    else:
        left, right = axes
        fig = left.figure
    if result.range_test is not None and result.range_test.lrs:
        plot_range_test(result.range_test, ax=left)
        low, high = result.window.get("low"), result.window.get("high")
        if low and high:
            left.axvspan(low, high, color="tab:purple", alpha=0.08, label="candidate window")
        if result.lr is not None:
            left.axvline(result.lr, color="black", lw=2, label=f"find_lr {result.lr:.3g}")
        left.legend(loc="best", fontsize="small")
    else:
        left.set_axis_off()
    _plot_runs(result, right)
    if axes is None:
        fig.tight_layout()
    return FindFigure(fig, left, right)


def _plot_runs(result: FindResult, ax: Any) -> None:
    floor = result.config.get("floor")
    floor = float(floor) if floor is not None else math.nan
    sign = 1.0 if result.score != "loss" else -1.0  # scores are "higher is better"
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    width = float(result.config.get("width", 0.25))
    for i, h in enumerate(result.horizons):
        runs = result.short_runs(h)
        if not runs:
            continue
        color = colors[i % len(colors)]
        lrs = np.array([c.lr for c in runs])
        raw = np.array([math.nan if c.score is None else c.score for c in runs])
        ok = np.isfinite(raw)
        ax.plot(lrs[ok], sign * raw[ok], "o", color=color, ms=4, label=f"{h} steps")
        if (~ok).any() and math.isfinite(floor):
            ax.plot(lrs[~ok], np.full((~ok).sum(), sign * floor), "x", color=color, ms=6)
        if math.isfinite(floor) and lrs.size >= 2:
            x = np.log10(lrs)
            grid = np.linspace(x.min(), x.max(), 200)
            fit = smooth(x, clean_scores(raw, floor), grid, width)
            ax.plot(10**grid, sign * fit, color=color, lw=1.5, alpha=0.8)
    if result.low is not None and result.high is not None:
        ax.axvspan(result.low, result.high, color="black", alpha=0.08, label="interval")
    if result.lr is not None:
        ax.axvline(result.lr, color="black", lw=2, label=f"chosen {result.lr:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(f"held-out {result.score}")
    ax.set_title(f"short runs of {result.schedule.get('name')} (planned: {result.total_steps})")
    ax.legend(loc="best", fontsize="small")
