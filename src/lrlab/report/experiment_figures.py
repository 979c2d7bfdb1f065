"""``save_experiment_figures``: an experiment's figures as PNG files beside its results.

The figures themselves are drawn by :mod:`lrlab.analysis.plot` (``plot_overview``,
``plot_time_to_target``, ``plot_curves``); this module only writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrlab._io import save_figure
from lrlab.analysis.plot import (
    as_runs,
    has_key,
    plot_overview,
    plot_profile,
    plot_time_to_target,
)


def save_experiment_figures(result: Any, directory: str | Path) -> list[Path]:
    """Write ``curves.png`` (vs epoch), ``curves_iterations.png`` (vs iteration, when the
    records have iterations) and ``time_to_target.png`` (when there is a target) into
    ``directory``; return the paths."""
    # Figure objects, not pyplot: nothing global changes (backend, open figures).
    from matplotlib.figure import Figure

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    runs = as_runs(result)
    paths = []
    if not runs:
        return paths
    for x, name in (("epoch", "curves.png"), ("iteration", "curves_iterations.png")):
        if x == "iteration" and not has_key(runs, "iteration"):
            continue
        fig = plot_overview(runs, x=x, fig=Figure(figsize=(11, 8)))
        paths.append(save_figure(fig, out / name, dpi=110))
    comparison = getattr(result, "comparison", None)
    if comparison is not None and comparison.target is not None:
        fig = Figure(figsize=(10, 4))
        axes = fig.subplots(1, 2)
        plot_time_to_target(comparison, unit="epochs", ax=axes[0])
        plot_time_to_target(comparison, unit="seconds", ax=axes[1])
        fig.tight_layout()
        paths.append(save_figure(fig, out / "time_to_target.png", dpi=110))
    return paths


def save_profile_figure(by_unit: Mapping[str, Any], path: str | Path) -> Path:
    """Write the performance profiles (one panel per unit: seconds, updates) to ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * max(len(by_unit), 1), 4.5))
    axes = fig.subplots(1, max(len(by_unit), 1), squeeze=False)[0]
    for ax, profile in zip(axes, by_unit.values(), strict=False):
        plot_profile(profile, ax=ax)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
