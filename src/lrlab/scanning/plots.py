"""Figures of a :class:`~lrlab.scanning.result.ScanResult` (matplotlib imported lazily).

``plot_scan``: one panel per horizon, value against LR on a log axis — seed 003's 2×2 grid
("Epoch 1", "Epoch 2", "Epoch 4", "Epoch 8"). Each panel shows the curve of valid cells,
stopped cells as faint crosses at their measured value, the initial loss and the stop
threshold as horizontal lines, and the best LR with its tolerance band.

``heatmap_scan``: horizons (rows) × LRs (columns), colour = value (log10 for positive
losses); empty cells are grey, the best LR of each row is marked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lrlab.scanning.result import ScanResult


def plot_scan(
    result: ScanResult, *, metric: str = "loss", tolerance: float = 0.05, axes: Any = None
) -> tuple[Any, Any]:
    """Draw ``result`` (see module docstring); ``axes``: one matplotlib axis per horizon."""
    import matplotlib.pyplot as plt

    n = len(result.horizons)
    if axes is None:
        cols = 1 if n == 1 else 2
        rows = math.ceil(n / cols)
        fig, grid = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.2 * rows), squeeze=False)
        axes_list = list(grid.ravel())
        for extra in axes_list[n:]:
            extra.set_visible(False)
        axes_list = axes_list[:n]
    else:
        axes_list = list(np.ravel(axes))
        if len(axes_list) < n:
            raise ValueError(f"plot needs {n} axes (one per horizon), got {len(axes_list)}.")
        fig = axes_list[0].figure
    lrs = np.asarray(result.lrs, dtype=float)
    values = result.values(metric)
    raw = (
        np.asarray(result.raw_losses, dtype=float)
        if metric == "loss"
        else np.asarray(result.metrics[metric], dtype=float)
    )
    status = np.asarray(result.status)
    bests = result.best(metric=metric, tolerance=tolerance)
    x_range = (lrs[0] / 1.5, lrs[-1] * 1.5)
    for h, ax in enumerate(axes_list):
        row = values[h]
        finite = row[np.isfinite(row)]
        refs = [result.initial_loss, result.stop_threshold] if metric == "loss" else []
        refs = [r for r in refs if r is not None and math.isfinite(r)]
        ax.plot(lrs, row, "-", color="C0", marker=".", label=metric)
        log_y = metric == "loss" and finite.size > 1 and finite.min() > 0
        log_y = log_y and max([*finite, *refs]) / finite.min() > 100
        if finite.size or refs:
            # Limits from the valid cells and the reference lines: stopped cells (which can
            # be 1e16) are drawn clipped at the top edge instead of flattening the curve.
            lo, hi = min([*finite, *refs]), max([*finite, *refs])
            if log_y:
                bottom, top = lo / 1.3, hi * 1.3
            else:
                pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
                bottom, top = lo - pad, hi + pad
            ax.set_ylim(bottom, top)
        else:
            top = None
        stopped = (status[h] == "stopped") & np.isfinite(raw[h])
        if stopped.any():
            shown = raw[h][stopped] if top is None else np.minimum(raw[h][stopped], top)
            ax.plot(lrs[stopped], shown, "x", color="C3", alpha=0.5, clip_on=False,
                    label="stopped (clipped)")  # fmt: skip
        if metric == "loss":
            ax.axhline(result.initial_loss, color="0.5", ls="--", lw=0.8, label="initial")
            if result.stop_threshold is not None:
                ax.axhline(result.stop_threshold, color="C3", ls=":", lw=0.8, label="stop")
        best = bests[h]
        if not math.isnan(best.lr):
            ax.axvspan(best.low / 1.05, best.high * 1.05, color="C2", alpha=0.15)
            ax.axvline(best.lr, color="C2", lw=1.0, label=f"best {best.lr:.2g}")
        ax.set_xscale("log")
        ax.set_xlim(*x_range)
        if log_y:
            ax.set_yscale("log")
        unit = result.unit.rstrip("s") if result.horizons[h] == 1 else result.unit
        ax.set_title(f"{result.horizons[h]} {unit}")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(metric)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig, axes_list


def heatmap_scan(result: ScanResult, *, metric: str = "loss", ax: Any = None) -> tuple[Any, Any]:
    """Horizon × LR heat map of ``metric`` (see module docstring)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8.0, 1.0 + 0.5 * len(result.horizons)))
    else:
        fig = ax.figure
    values = result.values(metric)
    finite = values[np.isfinite(values)]
    use_log = metric == "loss" and finite.size > 0 and finite.min() > 0
    shown = np.log10(values) if use_log else values
    cmap = plt.get_cmap("viridis_r" if metric == "loss" else "viridis").with_extremes(bad="0.85")
    lrs = np.log10(np.asarray(result.lrs, dtype=float))
    # Cell edges halfway between (log) LRs, so uneven grids are drawn faithfully.
    if len(lrs) > 1:
        mids = (lrs[1:] + lrs[:-1]) / 2
        x_edges = np.concatenate([[2 * lrs[0] - mids[0]], mids, [2 * lrs[-1] - mids[-1]]])
    else:
        x_edges = np.array([lrs[0] - 0.5, lrs[0] + 0.5])
    y_edges = np.arange(len(result.horizons) + 1) - 0.5
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(shown), cmap=cmap)
    fig.colorbar(mesh, ax=ax, label=f"log10 {metric}" if use_log else metric)
    for h, best in enumerate(result.best(metric=metric)):  # type: ignore[union-attr]
        if not math.isnan(best.lr):
            ax.plot(math.log10(best.lr), h, "w*", ms=9, mec="k")
    ax.set_yticks(range(len(result.horizons)))
    ax.set_yticklabels([str(h) for h in result.horizons])
    ax.set_ylabel(f"horizon ({result.unit})")
    ax.set_xlabel("log10 learning rate")
    ax.set_title(f"look-ahead scan: {metric} after each horizon")
    fig.tight_layout()
    return fig, ax
