"""The sections of one experiment directory: its ``auto`` searches, schedules, training
curves (mean ± std over seeds), the comparison table and every trial; and the headline at the
top of the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lrlab.report import figures
from lrlab.report import markup as m
from lrlab.report.pieces import (
    FIGURE_ERRORS,
    Section,
    anchor_of,
    figure_or_note,
    h3,
    lr_text,
    pm_text,
)
from lrlab.report.sections import find_block, range_test_block, schedules_block
from lrlab.report.sources import ExperimentSource, Found


def auto_range_tests(label: str, tests: Sequence[tuple[int, Any]]) -> str:
    """The range tests behind ``auto``: the first seed's figure, every seed's suggestion."""
    if not tests:
        return ""
    seed, first = tests[0]
    rows = []
    for s, rt in tests:
        sug = rt.suggestion
        rows.append(
            (
                s,
                lr_text(None if sug is None else sug.lr),
                "—" if sug is None else f"{lr_text(sug.low)} – {lr_text(sug.high)}",
                "—" if sug is None else ("yes" if sug.trustworthy else "no"),
                rt.stop_reason,
            )
        )
    table = m.table(
        ["seed", "suggested max LR", "range", "trustworthy", "sweep ended"],
        rows,
        caption=f"Range tests behind 'auto' in {label} (one per seed, from its initial weights)",
        numeric=(0, 1, 2),
    )
    return (
        h3(f"Range tests behind 'auto' — {label}")
        + table
        + range_test_block(f"{label}, seed {seed}", first, heading=False)
    )


def auto_finds(label: str, finds: Sequence[tuple[int, Any]]) -> str:
    """The ``find_lr`` searches behind ``auto``: every seed's answer, the first one's figure."""
    if not finds:
        return ""
    rows = [
        (
            s,
            f.schedule.get("name", "—"),
            f.total_steps,
            lr_text(f.lr),
            "—" if f.lr is None else f"{lr_text(f.low)} – {lr_text(f.high)}",
            f"{f.cost.get('runs', 0):.2f}",
            ", ".join(f.flags) or "—",
        )
        for s, f in finds
    ]
    table = m.table(
        ["seed", "schedule", "steps", "max LR", "interval", "cost (runs)", "flags"],
        rows,
        caption=f"find_lr behind 'auto' in {label} (one per seed and planned run)",
        numeric=(0, 2, 3, 5),
    )
    seed, first = finds[0]
    return (
        h3(f"find_lr behind 'auto' — {label}")
        + table
        + find_block(f"{label}, seed {seed}", first, heading=False)
    )


def experiment_schedules(source: ExperimentSource) -> dict[str, tuple[Any, int]]:
    """``{variant: (HyperSchedule, total steps)}`` from the first seed's trial config
    (``auto`` LRs differ per seed; the table lists them)."""
    from lrlab.schedules import HyperSchedule

    out: dict[str, tuple[Any, int]] = {}
    for (variant, _seed), config in source.trial_configs.items():
        if variant in out or not config.get("schedule"):
            continue
        steps = (config.get("budget") or {}).get("total_steps")
        sched = HyperSchedule.from_dict(config["schedule"])
        out[variant] = (sched, int(steps or sched.total_steps or 1))
    return out


def comparison_table(comparison: Any) -> str:
    """The comparison table (every column of ``lrlab.analysis``), with its title."""
    from lrlab.analysis.table import rows, title

    headers, body = rows(comparison)
    return m.table(headers, body, caption=title(comparison), numeric=tuple(range(1, len(headers))))


COLUMN_NOTES = (
    "final / best: the metric of the last epoch / the best epoch (after training started), "
    "mean ± sample std over seeds.",
    "to target: the first epoch (iteration, second) where the metric reached the target; "
    "(k/n) when only k of n seeds reached it.",
    "loss spikes: epochs whose eval loss rose above (1 + threshold) × its running minimum.",
    "plateau: epochs before the accuracy first left chance level (+ tolerance).",
    "epoch / total time: wall-clock seconds of training (evaluation included).",
)


def trials_table(result: Any) -> str:
    """One row per trial of an experiment: variant, seed, status, last epoch and metric."""
    rows = []
    for t in result.trials:
        last = t.records[-1] if t.records else {}
        metric = last.get("eval_accuracy", last.get("eval_loss", last.get("train_loss")))
        rows.append(
            (
                t.variant,
                t.seed,
                t.status,
                last.get("epoch", "—"),
                m.fmt(metric),
                lr_text(t.auto_lr) if t.auto_lr is not None else "",
                f"{t.elapsed:.1f}",
                "reused" if t.reused else "",
            )
        )
    return m.table(
        ["variant", "seed", "status", "epochs", "final metric", "auto LR", "seconds", ""],
        rows,
        caption="Every trial (records in <variant>/seed-<n>/records.jsonl)",
        numeric=(1, 3, 4, 5, 6),
    )


def experiment_sections(found: Found) -> list[Section]:
    """Schedules, training curves and the comparison of one experiment directory."""
    source: ExperimentSource = found.value
    result = source.result
    label = found.label
    anchor = anchor_of(label)
    sections = []
    auto = {}
    for t in result.trials:
        if t.auto_lr is not None:
            auto.setdefault(t.variant, []).append(f"seed {t.seed}: {lr_text(t.auto_lr)}")
    auto_text = {k: "; ".join(v) for k, v in auto.items()}
    try:
        schedules = experiment_schedules(source)
        sched_body = schedules_block(schedules, auto_text)
    except FIGURE_ERRORS as exc:
        sched_body = m.note(f"Schedules not shown: {exc}", kind="warn")
    body = (
        sched_body + auto_finds(label, source.finds) + auto_range_tests(label, source.range_tests)
    )
    if body:
        sections.append(Section(f"schedules-{anchor}", f"Schedules — {label}", body))
    records = result.records()
    if records:
        curves = figure_or_note(
            lambda: figures.curves_figure(records),
            alt=f"Training curves of {label}: loss, accuracy, LR and momentum per epoch",
            caption="Mean over seeds per variant (line) ± one sample standard deviation "
            "(band); eval solid, train dashed. Epoch 0 is the evaluation before training.",
        )
        ttt = figure_or_note(
            lambda: figures.time_to_target_figure(result.comparison),
            alt=f"Time to target of {label}",
            caption="How fast each variant reached the target (error bars: ± std over the "
            "seeds that reached it; k/n: seeds that did).",
        )
        sections.append(Section(f"curves-{anchor}", f"Training curves — {label}", curves + ttt))
    if result.comparison is not None:
        body = comparison_table(result.comparison)
        body += m.details("How the columns are measured", m.bullets(COLUMN_NOTES))
        body += m.details("Every trial", trials_table(result))
        sections.append(Section(f"comparison-{anchor}", f"Comparison — {label}", body))
    else:
        sections.append(
            Section(
                f"comparison-{anchor}",
                f"Comparison — {label}",
                m.note("No trial has finished yet: nothing to compare.", kind="warn"),
            )
        )
    return sections


def headline(comparison: Any) -> list[str]:
    """One sentence per variant: final metric ± std, time to target, and the best one."""
    lines = []
    for v in comparison.variants:
        role = " (control)" if v.name == comparison.control else ""
        text = f"{v.name}{role}: final {comparison.metric} {pm_text(v.final_metric)}"
        text += f" over {len(v.seeds)} seed(s)"
        if comparison.target is not None:
            if v.reached:
                text += (
                    f"; reached {comparison.target:.4g} in {pm_text(v.epochs_to_target, 1)} epochs "
                    f"({v.reached}/{len(v.seeds)} seeds)"
                )
            else:
                text += f"; never reached {comparison.target:.4g}"
        if v.diverged:
            text += f"; {v.diverged} diverged"
        lines.append(text + ".")
    finite = [v for v in comparison.variants if v.final_metric.n]
    if len(finite) > 1:
        pick = max if comparison.higher_is_better else min
        best = pick(finite, key=lambda v: v.final_metric.mean)
        lines.append(f"Best final {comparison.metric}: {best.name}.")
    return lines
