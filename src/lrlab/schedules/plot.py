"""Preview figure of a schedule: LR (left axis) and momentum (right axis) vs step.

matplotlib is imported inside the function (importing lrlab never pulls it in), and a new
figure is built without pyplot, so no GUI backend is ever touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrlab.schedules.hyperschedule import HyperSchedule


def plot_schedule(schedule: HyperSchedule, steps: int | None = None, ax: Any = None) -> Any:
    """Draw ``schedule`` over ``steps`` steps (default ``total_steps``) and return the axes.

    The LR goes on ``ax`` (a new figure's axes when ``None``); the momentum, when the schedule
    has one, on a twin axis stored as ``ax.momentum_axis``. Returns ``ax``; ``ax.figure`` is
    the figure to save. Never calls ``show()``.
    """
    lrs = schedule.lrs(steps)
    momentums = schedule.momentums(len(lrs))
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7.0, 3.6), layout="constrained").subplots()
    x = range(len(lrs))
    ax.plot(x, lrs, color="tab:blue", label="learning rate")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate", color="tab:blue")
    ax.set_title(f"{schedule.name} schedule")
    ax.grid(alpha=0.3)
    ax.momentum_axis = None
    if momentums is not None:
        twin = ax.twinx()
        twin.plot(x, momentums, color="tab:orange", linestyle="--", label="momentum")
        twin.set_ylabel("momentum", color="tab:orange")
        ax.momentum_axis = twin
    return ax
