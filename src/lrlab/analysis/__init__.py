"""Pure analysis of run records: what the seed notes judged by eye, as numbers.

``compare({variant: {seed: records}})`` gives a :class:`Comparison` (mean ± std over seeds
of final/best metric and loss, time to a target, loss spikes, the initial plateau, epoch
times); ``table.to_markdown`` / ``to_csv`` / ``to_rich`` render it; :mod:`lrlab.analysis.plot`
draws the curves and bars on matplotlib axes (imported there, on use). Nothing here touches
torch, files or the screen.
"""

from __future__ import annotations

from lrlab.analysis.aggregate import (
    Band,
    Comparison,
    Stat,
    TrialSummary,
    VariantSummary,
    band,
    compare,
    pick_metric,
    summarize_trial,
    summarize_variant,
)
from lrlab.analysis.measures import (
    Plateau,
    Reached,
    Spike,
    column,
    initial_plateau,
    loss_spikes,
    spike_runs,
    time_to_target,
)
from lrlab.analysis.table import render, to_csv, to_markdown, to_rich

__all__ = [
    "Band",
    "Comparison",
    "Plateau",
    "Reached",
    "Spike",
    "Stat",
    "TrialSummary",
    "VariantSummary",
    "band",
    "column",
    "compare",
    "initial_plateau",
    "loss_spikes",
    "pick_metric",
    "render",
    "spike_runs",
    "summarize_trial",
    "summarize_variant",
    "time_to_target",
    "to_csv",
    "to_markdown",
    "to_rich",
]
