"""The head-to-head sections: one per experiment that wrote ``head_to_head.json`` (final
metric with 95 % intervals, time to target with the finder's cost charged, the LRs found and
estimated, the LR-free flags), and one per performance profile across tasks
(``lr-free-profile/profile.json``)."""

from __future__ import annotations

from typing import Any

from lrlab.analysis.headtohead import rows
from lrlab.report import figures
from lrlab.report import markup as m
from lrlab.report.pieces import Section, anchor_of, figure_or_note
from lrlab.report.sources import Found

NOTES = (
    "final: the metric after the last epoch, mean and 95 % Student-t interval over seeds.",
    "to target: seconds / updates until the metric first reached the target; a variant "
    "whose LR came from the finder (auto, or the same peak as a variant that used it) is "
    "charged the finder's seconds and updates — it could not have started without them.",
    "LR: the peak LR it trained with (mean over seeds): given, found, or — for Prodigy and "
    "D-Adaptation — the step size d × the peak multiplier it estimated.",
    "flags: LR-free failure modes seen (d-stuck, d-runaway, d-diverged, sf-train-mode-eval: "
    "docs/lrfree.md), as the number of seeds that raised each.",
)


def head_to_head_section(found: Found) -> Section | None:
    """The head-to-head of an experiment directory, or ``None`` when it wrote none."""
    h = getattr(found.value, "head_to_head", None)
    if h is None:
        return None
    headers, body = rows(h)
    target = "—" if h.target is None else f"{h.target:.4g}"
    table = m.table(
        headers,
        body,
        caption=f"Head-to-head on {h.task}: time to {h.metric} {target} "
        "(the control's reach unless given)",
        numeric=(4, 5, 6, 7),
    )
    body_html = table + m.details("How the columns are measured", m.bullets(NOTES))
    anchor = anchor_of(found.label)
    return Section(f"head-to-head-{anchor}", f"Head-to-head — {found.label}", body_html)


def profile_section(found: Found) -> Section:
    """The performance profiles across tasks: the figure and the table."""
    from lrlab.analysis.profiles import rows as profile_rows

    by_unit = found.value
    first = next(iter(by_unit.values()))
    figure = figure_or_note(
        lambda: _profile_figure(by_unit),
        alt=f"Performance profiles over {len(first.tasks)} tasks",
        caption="Share of tasks on which each variant reached the target within a factor τ "
        "of the fastest (median over seeds, finder's cost included); score: the area up to "
        "τ = 4, normalised (1: fastest everywhere).",
    )
    headers, body = profile_rows(by_unit)
    table = m.table(headers, body, caption=f"Tasks: {', '.join(first.tasks)}",
                    numeric=tuple(range(1, len(headers))))  # fmt: skip
    return Section(f"profile-{anchor_of(found.label)}", f"Performance profile — {found.label}",
                   figure + table)  # fmt: skip


def _profile_figure(by_unit: Any) -> Any:
    from lrlab.analysis.plot import plot_profile

    fig = figures.new_figure(6.0 * len(by_unit), 4.5)
    for ax, profile in zip(fig.subplots(1, len(by_unit), squeeze=False)[0], by_unit.values(),
                           strict=True):  # fmt: skip
        plot_profile(profile, ax=ax)
    return fig
