"""Figures of the report, drawn on ``matplotlib.figure.Figure`` objects (no pyplot state).

Each function takes a result and returns a new figure; results that can plot themselves
(:meth:`RangeTestResult.plot`, :meth:`ScanResult.plot`, :meth:`ComparisonResult.plot`,
:func:`lrlab.analysis.plot.plot_overview`) draw their own panels, so a figure in the report
is the figure the CLI commands save. :func:`png_data_uri` (from :mod:`lrlab._html`) turns a
figure into a ``data:`` URI for the self-contained HTML file. matplotlib is imported inside
the functions only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# The one figure -> data: URI helper (notebook displays use it too), used by the sections.
from lrlab._html import png_data_uri as png_data_uri

# Colours of the diagnosis ranges on the metric panel (unknown names get grey).
RANGE_COLORS = {
    "rise": "tab:green",
    "plateau": "tab:blue",
    "peak": "tab:blue",
    "collapse": "tab:red",
    "recovery": "tab:purple",
}
# A schedule is drawn from at most this many points (long runs are sampled evenly).
MAX_SCHEDULE_POINTS = 2000


def new_figure(width: float, height: float, *, layout: str | None = "constrained") -> Any:
    """A figure detached from pyplot (``layout=None`` for plot functions that call
    ``tight_layout`` themselves: matplotlib refuses to switch engines once a colorbar
    exists)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


# --------------------------------------------------------------------------- range test


def _metric_name(result: Any) -> str | None:
    names = [k for k in result.eval if k != "loss"]
    if names:
        return names[0]
    return "loss" if "loss" in result.eval else None


def find_figure(result: Any) -> Any:
    """``find_lr``'s two panels (:func:`lrlab.finder.find_plot.plot_find`) on a new figure."""
    fig = new_figure(12.0, 4.6)
    result.plot(axes=fig.subplots(1, 2))
    return fig


def range_test_figure(result: Any, *, title: str | None = None) -> Any:
    """Loss (raw and smoothed) against LR with the suggestion and its range; in metric mode
    a second panel below, on the same LR axis: the evaluated metric, the baseline (chance)
    and the ranges of the curve diagnosis (rise, plateau/peak, collapse) shaded."""
    metric = _metric_name(result)
    has_metric = metric is not None and len(result.eval_lrs) > 0
    fig = new_figure(8.0, 7.0 if has_metric else 4.6)
    if has_metric:
        ax, metric_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        ax, metric_ax = fig.subplots(), None
    # The loss panel is the range test's own plot, without its twin metric axis (the
    # metric gets a panel of its own here, where the diagnosis ranges fit).
    loss_only = dataclasses.replace(result, eval={}, eval_lrs=[], eval_steps=[])
    loss_only.plot(ax=ax)
    if title:
        ax.set_title(title)
    if metric_ax is not None and metric is not None:
        _metric_panel(metric_ax, result, metric)
        ax.set_xlabel("")
    return fig


def _metric_panel(ax: Any, result: Any, metric: str) -> None:
    lrs = np.asarray(result.eval_lrs, dtype=float)
    values = np.asarray(result.eval[metric], dtype=float)
    ax.plot(lrs, values, color="tab:green", marker="o", ms=3, lw=1.5, label=f"eval {metric}")
    diagnosis = result.diagnosis
    if diagnosis is not None:
        baseline = diagnosis.evidence.get("baseline")
        if baseline is not None and math.isfinite(baseline):
            ax.axhline(baseline, color="grey", ls=":", lw=1, label="baseline (chance)")
        for name, (lo, hi) in diagnosis.ranges.items():
            ax.axvspan(lo, hi, color=RANGE_COLORS.get(name, "grey"), alpha=0.12, label=name)
        ax.set_title(f"eval {metric} vs LR — diagnosis: {diagnosis.shape}")
    else:
        ax.set_title(f"eval {metric} vs LR")
    sug = result.suggestion
    if sug is not None and sug.lr is not None and math.isfinite(sug.lr):
        ax.axvline(sug.lr, color="tab:orange", lw=2)
    if lrs.size and np.all(lrs > 0):
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"eval {metric}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")


# --------------------------------------------------------------------------- schedules


def schedule_points(schedule: Any, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(step, lr, momentum)`` of ``schedule`` over ``steps`` steps, at most
    :data:`MAX_SCHEDULE_POINTS` evenly spaced steps (first and last included)."""
    steps = max(int(steps), 1)
    if steps <= MAX_SCHEDULE_POINTS:
        t = np.arange(steps)
    else:
        t = np.unique(np.linspace(0, steps - 1, MAX_SCHEDULE_POINTS).round().astype(int))
    lrs = np.array([schedule.lr(int(i)) for i in t], dtype=float)
    moms = [schedule.momentum(int(i)) for i in t]
    momentum = None if any(m is None for m in moms) else np.array(moms, dtype=float)
    return t, lrs, momentum


def schedules_figure(schedules: Mapping[str, tuple[Any, int]]) -> Any:
    """LR (top) and momentum (bottom) against the optimizer step, one line per variant.

    ``schedules``: ``{label: (HyperSchedule, steps)}``. A schedule without a momentum
    schedule leaves the optimizer's momentum alone; the legend says so.
    """
    fig = new_figure(8.0, 6.0)
    ax_lr, ax_mom = fig.subplots(2, 1, sharex=True)
    fixed = []
    for i, (label, (schedule, steps)) in enumerate(schedules.items()):
        color = f"C{i % 10}"
        t, lrs, momentum = schedule_points(schedule, steps)
        ax_lr.plot(t, lrs, color=color, lw=1.8, label=label)
        if momentum is None:
            fixed.append(label)
        else:
            ax_mom.plot(t, momentum, color=color, lw=1.8, label=label)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title("Learning rate per optimizer step")
    ax_lr.grid(True, alpha=0.3)
    ax_lr.legend(loc="best", fontsize="small")
    ax_mom.set_ylabel("momentum (β₁ for Adam)")
    ax_mom.set_xlabel("optimizer step")
    ax_mom.set_title("Momentum per optimizer step")
    ax_mom.grid(True, alpha=0.3)
    if fixed:
        ax_mom.text(
            0.01,
            0.04,
            "not driven (optimizer's own momentum): " + ", ".join(fixed),
            transform=ax_mom.transAxes,
            fontsize="small",
            color="dimgray",
        )
    if ax_mom.get_lines():
        ax_mom.legend(loc="best", fontsize="small")
    return fig


# --------------------------------------------------------------------------- other results


def scan_figure(scan: Any) -> Any:
    """The scan's panels, one per horizon (:meth:`ScanResult.plot`)."""
    n = len(scan.horizons)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig = new_figure(5.0 * cols, 3.2 * rows, layout=None)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for extra in axes[n:]:
        extra.set_visible(False)
    scan.plot(axes=axes[:n])
    return fig


def scan_heatmap_figure(scan: Any) -> Any:
    """LR × horizon heat map (:meth:`ScanResult.heatmap`)."""
    fig = new_figure(8.0, 1.5 + 0.5 * len(scan.horizons), layout=None)
    scan.heatmap(ax=fig.add_subplot())
    return fig


def vary_figure(comparison: Any) -> Any:
    """Overlaid range tests of the candidates (:meth:`ComparisonResult.plot`), with the
    eval metric in a panel below when the tests measured one."""
    has_metric = any(any(k != "loss" for k in c.range_test.eval) for c in comparison.candidates)
    fig = new_figure(8.0, 7.0 if has_metric else 5.0)
    if has_metric:
        ax, metric_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    else:
        ax, metric_ax = fig.subplots(), None
    comparison.plot(ax=ax, metric_ax=metric_ax)
    return fig


def curves_figure(runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]]) -> Any:
    """Loss, accuracy, LR and momentum per epoch: mean ± std over seeds per variant
    (:func:`lrlab.analysis.plot.plot_overview`)."""
    from lrlab.analysis.plot import plot_overview

    # plot_overview lays its grid out itself (tight_layout): no constrained layout here.
    return plot_overview(runs, x="epoch", fig=new_figure(11.0, 8.0, layout=None))


def time_to_target_figure(comparison: Any) -> Any | None:
    """Epochs and seconds to the comparison's target per variant, or ``None`` without a
    target (:func:`lrlab.analysis.plot.plot_time_to_target`)."""
    from lrlab.analysis.plot import plot_time_to_target

    if comparison is None or comparison.target is None:
        return None
    fig = new_figure(10.0, 4.0)
    ax_epochs, ax_seconds = fig.subplots(1, 2)
    plot_time_to_target(comparison, unit="epochs", ax=ax_epochs)
    plot_time_to_target(comparison, unit="seconds", ax=ax_seconds)
    return fig
