"""Figures of compared runs: curves per variant with mean ± std bands, time-to-target bars.

Inputs are an :class:`lrlab.experiment.ExperimentResult` or plain ``{variant: {seed:
records}}`` (one run: ``{name: {0: records}}``), and a :class:`lrlab.analysis.Comparison`
for the bars. matplotlib is imported inside the functions; every function takes an optional
``ax``/``fig`` and returns the matplotlib objects without calling ``show()``. Files are
written by :func:`lrlab.report.save_experiment_figures`.

Seed 000 compared one-cycle with a control by reading three logs side by side; these plots
draw the same comparison: one colour per variant, the line the mean over seeds, the band
± one sample standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrlab.analysis.aggregate import Comparison, band
from lrlab.errors import InvalidArgument

Runs = Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]]

# What each panel of the overview shows: (title, [record keys], y label, log scale).
PANELS: dict[str, tuple[str, tuple[str, ...], str, bool]] = {
    "loss": ("Loss", ("train_loss", "eval_loss"), "loss", True),
    "accuracy": ("Accuracy", ("eval_accuracy", "train_accuracy"), "accuracy", False),
    # d_lr: the step size Prodigy / D-Adaptation estimated (d · lr), next to the schedule's lr.
    "lr": ("Learning rate (last of the epoch)", ("lr", "d_lr"), "learning rate", True),
    "momentum": ("Momentum", ("momentum",), "momentum", False),
}
# How a key's prefix is drawn when a panel shows several keys: (line style, label suffix).
_STYLES = {"eval": ("-", " eval"), "train": ("--", " train"), "d": (":", " d·lr")}
_UNITS = {"epochs": "epochs_to_target", "iterations": "iterations_to_target"}
_UNITS["seconds"] = "time_to_target"


def as_runs(source: Any) -> Runs:
    """``{variant: {seed: records}}`` of an ExperimentResult (its ``records()``) or of a
    mapping already in that form."""
    if hasattr(source, "records") and callable(source.records):
        return source.records()
    if isinstance(source, Mapping):
        return source
    raise InvalidArgument(
        f"Cannot plot a {type(source).__name__}.",
        hint="Pass an ExperimentResult or {variant: {seed: records}}.",
    )


def _colors(names: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def plot_curves(
    source: Any,
    key: str = "eval_accuracy",
    *,
    x: str = "epoch",
    ax: Any = None,
    variants: Sequence[str] | None = None,
    linestyle: str = "-",
    label_suffix: str = "",
    log: bool = False,
) -> Any:
    """One line per variant (mean over seeds of record field ``key`` vs ``x``) with a
    shaded ± std band. Returns the axes."""
    import matplotlib.pyplot as plt

    runs = as_runs(source)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    names = list(variants or runs)
    colors = _colors(list(runs))
    for name in names:
        b = band(runs[name], key, x=x)
        if b.x.size == 0:
            continue
        n = int(b.n.max())
        label = f"{name}{label_suffix} (n={n})"
        ax.plot(b.x, b.mean, linestyle, color=colors[name], label=label)
        if n > 1:
            ax.fill_between(b.x, b.mean - b.std, b.mean + b.std, color=colors[name], alpha=0.2)
    ax.set_xlabel(x)
    ax.set_ylabel(key)
    if log and _positive(ax):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    return ax


def _positive(ax: Any) -> bool:
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    values = np.concatenate(ys) if ys else np.array([])
    return bool(values.size) and bool(np.all(values[np.isfinite(values)] > 0))


def has_key(runs: Runs, key: str) -> bool:
    """Whether any record of any run has a value for ``key``."""
    return any(
        rec.get(key) is not None for by_seed in runs.values() for r in by_seed.values() for rec in r
    )


def plot_overview(source: Any, *, x: str = "epoch", fig: Any = None) -> Any:
    """A 2 × 2 grid: loss (train dashed, eval solid), accuracy, learning rate, momentum,
    each with mean ± std bands per variant. Panels without data say so. Returns the figure."""
    import matplotlib.pyplot as plt

    runs = as_runs(source)
    if fig is None:
        fig = plt.figure(figsize=(11, 8))
    axes = fig.subplots(2, 2)
    for ax, (title, keys, ylabel, log) in zip(axes.flat, PANELS.values(), strict=True):
        present = [k for k in keys if has_key(runs, k)]
        for key in present:
            split = key.split("_", 1)
            style, suffix = _STYLES.get(split[0], ("-", "")) if len(split) == 2 else ("-", "")
            plot_curves(
                runs,
                key,
                x=x,
                ax=ax,
                linestyle=style,
                label_suffix=suffix if len(present) > 1 else "",
            )
        if log and present and _positive(ax):
            ax.set_yscale("log")
        if not present:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(x)
        if present:
            ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_time_to_target(comparison: Comparison, *, unit: str = "epochs", ax: Any = None) -> Any:
    """Bars of the mean time to the comparison's target per variant (``unit``: ``"epochs"``,
    ``"iterations"`` or ``"seconds"``), ± std error bars, labelled with how many seeds
    reached it. A variant none of whose seeds reached it gets an empty bar marked "never"."""
    import matplotlib.pyplot as plt

    if unit not in _UNITS:
        raise InvalidArgument(f"unit={unit!r} is not one of {sorted(_UNITS)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    names = [v.name for v in comparison.variants]
    colors = _colors(names)
    for i, v in enumerate(comparison.variants):
        stat = getattr(v, _UNITS[unit])
        height = stat.mean if stat.n else 0.0
        err = stat.std if stat.n > 1 and math.isfinite(stat.std) else 0.0
        ax.bar(i, height, yerr=err, color=colors[v.name], capsize=4)
        text = "never" if stat.n == 0 else f"{v.reached}/{len(v.seeds)}"
        ax.annotate(
            text,
            (i, height + err),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
            fontsize="small",
        )
    ax.set_xticks(range(len(names)), names)
    target = "" if comparison.target is None else f" {comparison.target:.4g}"
    ax.set_title(f"Time to {comparison.metric}{target}")
    ax.set_ylabel(unit)
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_profile(profile: Any, *, ax: Any = None, tau_max: float = 4.0) -> Any:
    """A :class:`lrlab.analysis.profiles.Profile` as steps: for every method the share of
    tasks ``ρ(τ)`` on which it is within a factor ``τ`` of the fastest, ``τ`` from 1 to
    ``tau_max``; the legend gives each method's score. Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    colors = _colors(list(profile.methods))
    for m in profile.methods:
        taus, rho = profile.steps(m, tau_max)
        label = f"{m} ({profile.score(m, tau_max):.2f})"
        ax.step(taus, rho, where="post", color=colors[m], label=label)
    ax.set_xlim(1.0, tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"τ: within this factor of the fastest ({profile.unit} to target)")
    ax.set_ylabel(f"share of {len(profile.tasks)} tasks")
    ax.set_title(f"Performance profile ({profile.unit}, finder included)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title="variant (score)")
    return ax
