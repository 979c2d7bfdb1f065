"""The sections of the report, each built from loaded results (:mod:`lrlab.report.sources`).

A :class:`Section` is a title, an anchor and a body of HTML made with
:mod:`lrlab.report.markup` (so every piece of user text is escaped). The builders read
results and draw figures; they write no files. A figure that cannot be drawn (a result
with nothing finite in it) becomes a note in its place: the rest of the report stands.

What the sections show follows the questions of the seed notes: which LRs can the model
take (range test: curve, suggestion, diagnosis), how did the LR move (schedules), did it
help (curves with mean ± std over seeds, the comparison table), and how to run it again
(configuration and environment).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lrlab.errors import LrlabError
from lrlab.report import figures
from lrlab.report import markup as m
from lrlab.report.sources import ExperimentSource, Found, ReportSources, SingleRun

_FIGURE_ERRORS = (LrlabError, ValueError, TypeError, KeyError, IndexError)
# How a single run is named in its figures' legends ("run eval", "run train").
RUN_LABEL = "run"


@dataclass(frozen=True)
class Section:
    """One section of the report: ``id`` is its anchor (``#id``), ``body`` trusted HTML."""

    id: str
    title: str
    body: str


# --------------------------------------------------------------------------- helpers


def _figure(draw: Callable[[], Any], *, alt: str, caption: str | None = None) -> str:
    """``draw()``'s figure as an embedded image, or a note saying why there is none."""
    try:
        fig = draw()
    except _FIGURE_ERRORS as exc:
        return m.note(f"Figure not drawn ({alt}): {exc}", kind="warn")
    if fig is None:
        return ""
    return m.figure(figures.png_data_uri(fig), alt=alt, caption=caption)


def _lr(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _pair(pair: Sequence[float] | None) -> str:
    return "—" if not pair else f"{_lr(pair[0])} – {_lr(pair[1])}"


def _pm(stat: Any, digits: int = 4) -> str:
    if stat is None or stat.n == 0:
        return "—"
    if stat.n == 1 or not math.isfinite(stat.std):
        return f"{stat.mean:.{digits}f}"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def _h3(text: str) -> str:
    return m.tag("h3", m.esc(text))


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={m.fmt(v)}" for k, v in params.items() if v is not None)


# --------------------------------------------------------------------------- range test


def suggestion_rows(result: Any) -> list[tuple[str, str]]:
    """The suggestion, its range, each rule, the low-end LRs and the sweep, as text rows."""
    sug = result.suggestion
    cfg = result.config
    where = "" if result.stop_step is None else f" at step {result.stop_step}"
    rows = [
        (
            "sweep",
            f"{_lr(cfg.get('start_lr'))} → {_lr(cfg.get('end_lr'))} "
            f"({cfg.get('step_mode', 'exp')}), {result.num_steps} steps, "
            f"{result.stop_reason}{where}",
        )
    ]
    if sug is None or sug.lr is None:
        rows.append(("suggested max LR", "none (see the flags)"))
    else:
        rows += [
            ("suggested max LR", f"{_lr(sug.lr)} ({sug.method})"),
            ("confidence range", f"{_lr(sug.low)} – {_lr(sug.high)}"),
        ]
        rows += [(f"rule: {name}", _lr(value)) for name, value in sug.rules.items()]
        rows += [
            ("one-cycle start LR (max/25 … max/10)", _pair(sug.min_lr.one_cycle)),
            ("cyclic base LR (max/4 … max/3)", _pair(sug.min_lr.cyclic)),
            ("learning onset (loss starts to drop)", _lr(sug.min_lr.onset)),
        ]
    if sug is not None:
        rows.append(("trustworthy", "yes" if sug.trustworthy else "NO — see the flags"))
    if result.min_loss_lr is not None:
        rows.append(("LR where the smoothed loss bottoms out (landmark)", _lr(result.min_loss_lr)))
    return rows


def range_test_block(label: str, result: Any, *, heading: bool = True) -> str:
    """Figure, suggestion table, flags and diagnosis of one range test."""
    parts = [_h3(f"Range test — {label}")] if heading else []
    parts.append(
        _figure(
            lambda: figures.range_test_figure(result),
            alt=f"LR range test of {label}: loss against learning rate",
            caption="Top: training loss per step (faint), the bias-corrected EMA that drives "
            "the stop rule (dashed) and the loss smoothed over log LR that the suggestion rules "
            "read (bold); the orange line is the suggested max LR, the band its "
            "confidence range. Bottom (metric mode): the metric on a fixed evaluation "
            "subsample, with the diagnosed ranges shaded.",
        )
    )
    parts.append(m.key_values(suggestion_rows(result)))
    sug = result.suggestion
    if sug is not None and sug.flags:
        parts.extend(m.note(flag, kind="warn") for flag in sug.flags)
    elif sug is not None and sug.trustworthy:
        parts.append(m.note("No flag: the curve supports the suggestion.", kind="ok"))
    if result.diagnosis is not None:
        d = result.diagnosis
        parts.append(
            m.tag("p", m.tag("strong", m.esc(f"Curve diagnosis: {d.shape}.")) + " " + m.esc(d.text))
        )
    return "".join(parts)


def range_tests_section(found: Sequence[Found]) -> Section | None:
    """Every range test found, with an introduction to reading them (``None`` when none)."""
    if not found:
        return None
    intro = m.para(
        "The LR range test trains from the initial weights while the learning rate grows "
        "step by step, and records the loss (and, in metric mode, a metric on a fixed "
        "evaluation subsample). The suggested max LR is a consensus of several rules on "
        "the smoothed curve; the flags say when the curve cannot be trusted."
    )
    body = intro + "".join(range_test_block(f.label, f.value) for f in found)
    return Section("range-test", "Range test", body)


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
                _lr(None if sug is None else sug.lr),
                "—" if sug is None else f"{_lr(sug.low)} – {_lr(sug.high)}",
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
        _h3(f"Range tests behind 'auto' — {label}")
        + table
        + range_test_block(f"{label}, seed {seed}", first, heading=False)
    )


# --------------------------------------------------------------------------- schedules


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


def run_schedule(run: SingleRun) -> tuple[Any, int] | None:
    """The schedule of a single ``fit`` run and its length in updates, when recorded."""
    from lrlab.schedules import HyperSchedule

    cfg = run.config
    if not cfg.get("schedule"):
        return None
    sched = HyperSchedule.from_dict(cfg["schedule"])
    steps = cfg.get("iterations")
    if steps is None and cfg.get("epochs") and cfg.get("updates_per_epoch"):
        steps = int(cfg["epochs"]) * int(cfg["updates_per_epoch"])
    if steps is None:
        last = run.records[-1] if run.records else {}
        steps = sched.total_steps or last.get("iteration") or 1
    return sched, int(steps)


def schedules_block(schedules: Mapping[str, tuple[Any, int]], auto: Mapping[str, str]) -> str:
    """The schedules figure and a table of their parameters (and ``auto`` LRs, if any)."""
    if not schedules:
        return ""
    headers = ["variant", "schedule", "steps", "parameters"]
    rows = []
    for label, (sched, steps) in schedules.items():
        params = _params({k: v for k, v in sched.params.items() if k != "total_steps"})
        rows.append([label, sched.name, steps, params])
    if auto:
        headers.append("auto LR per seed")
        for row in rows:
            row.append(auto.get(row[0], ""))
    fig = _figure(
        lambda: figures.schedules_figure(schedules),
        alt="Learning rate and momentum per optimizer step for each variant",
        caption="The schedules exactly as the runs applied them (0-based optimizer steps).",
    )
    return fig + m.table(headers, rows, numeric=(2,))


# --------------------------------------------------------------------------- experiments


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
                _lr(t.auto_lr) if t.auto_lr is not None else "",
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
    anchor = _anchor(label)
    sections = []
    auto = {}
    for t in result.trials:
        if t.auto_lr is not None:
            auto.setdefault(t.variant, []).append(f"seed {t.seed}: {_lr(t.auto_lr)}")
    auto_text = {k: "; ".join(v) for k, v in auto.items()}
    try:
        schedules = experiment_schedules(source)
        sched_body = schedules_block(schedules, auto_text)
    except _FIGURE_ERRORS as exc:
        sched_body = m.note(f"Schedules not shown: {exc}", kind="warn")
    body = sched_body + auto_range_tests(label, source.range_tests)
    if body:
        sections.append(Section(f"schedules-{anchor}", f"Schedules — {label}", body))
    records = result.records()
    if records:
        curves = _figure(
            lambda: figures.curves_figure(records),
            alt=f"Training curves of {label}: loss, accuracy, LR and momentum per epoch",
            caption="Mean over seeds per variant (line) ± one sample standard deviation "
            "(band); eval solid, train dashed. Epoch 0 is the evaluation before training.",
        )
        ttt = _figure(
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
        text = f"{v.name}{role}: final {comparison.metric} {_pm(v.final_metric)}"
        text += f" over {len(v.seeds)} seed(s)"
        if comparison.target is not None:
            if v.reached:
                text += (
                    f"; reached {comparison.target:.4g} in {_pm(v.epochs_to_target, 1)} epochs "
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


# --------------------------------------------------------------------------- single runs


def run_section(found: Found) -> Section:
    """A single training run: how it stopped, its curves, its schedule and its last record."""
    run: SingleRun = found.value
    label = found.label
    parts = []
    if run.stop_reason:
        state = f"Stopped: {run.stop_reason}" + (f" — {run.message}" if run.message else "")
        parts.append(m.note(state, kind="ok" if run.stop_reason == "completed" else "warn"))
    parts.append(
        _figure(
            lambda: figures.curves_figure({RUN_LABEL: {0: run.records}}),
            alt=f"Training curves of {label}",
            caption="Loss, accuracy, LR and momentum per epoch (epoch 0: before training).",
        )
    )
    try:
        sched = run_schedule(run)
    except _FIGURE_ERRORS:
        sched = None
    if sched is not None:
        parts.append(schedules_block({RUN_LABEL: sched}, {}))
    last = run.records[-1]
    parts.append(
        m.key_values(
            (k, v) for k, v in last.items() if k not in ("eval_time",) and not isinstance(v, dict)
        )
    )
    return Section(f"run-{_anchor(label)}", f"Training run — {label}", "".join(parts))


# --------------------------------------------------------------------------- scans, vary


def scan_section(found: Found) -> Section:
    """A look-ahead scan: the best LR per horizon with its tolerance band, and its figures."""
    scan = found.value
    label = found.label
    rows = [
        (b.horizon, _lr(b.lr), f"{_lr(b.low)} – {_lr(b.high)}", m.fmt(b.value)) for b in scan.best()
    ]
    body = m.para(
        f"{len(scan.lrs)} learning rates trained for each horizon ({scan.unit}) from the "
        f"same start; initial loss {m.fmt(scan.initial_loss)}; method {scan.method}."
    )
    body += _figure(
        lambda: figures.scan_figure(scan),
        alt=f"Look-ahead scan of {label}: loss against LR per horizon",
        caption="Loss after each horizon against the LR; the best LR and its 5 % band marked.",
    )
    body += _figure(lambda: figures.scan_heatmap_figure(scan), alt=f"Scan heat map of {label}")
    body += m.table(
        [f"horizon ({scan.unit})", "best LR", "within 5 %", "loss"], rows, numeric=(0, 1, 2, 3)
    )
    body += "".join(m.note(n) for n in scan.notes)
    if not scan.complete:
        body += m.note("Interrupted: empty cells were not run.", kind="warn")
    return Section(f"scan-{_anchor(label)}", f"Look-ahead scan — {label}", body)


def vary_section(found: Found) -> Section:
    """A comparison of range tests across a hyper-parameter: verdict, overlay, ranking."""
    comp = found.value
    label = found.label
    body = m.note(f"Verdict: {comp.verdict}", kind="ok" if comp.recommendation else "info")
    body += _figure(
        lambda: figures.vary_figure(comp),
        alt=f"Range tests of {comp.name} candidates in {label}",
        caption="One smoothed loss curve per candidate value; dots: each one's suggested max LR.",
    )
    ranking = comp.ranking
    rows = []
    for k, cand in enumerate(comp.candidates):
        rank = ranking.ranks[k] if ranking else "—"
        reason = ranking.reasons[k] if ranking else ""
        rows.append((cand.label, _lr(cand.suggested_lr), rank, reason))
    body += m.table(["candidate", "suggested max LR", "rank", "why"], rows, numeric=(1, 2))
    if ranking is not None:
        body += "".join(m.note(n) for n in ranking.notes)
    return Section(f"vary-{_anchor(label)}", f"{comp.name} comparison — {label}", body)


# --------------------------------------------------------------------------- config, env


def config_section(
    sources: ReportSources, environment: Mapping[str, Any], env_note: str
) -> Section:
    """How to run it again: the command, the configs, the seeds, the environment."""
    parts = []
    demo = sources.demo
    if demo and demo.get("command"):
        parts.append(m.pre(str(demo["command"]), label="Command"))
    for f in sources.experiments:
        result = f.value.result
        seeds = sorted({t.seed for t in result.trials}) or result.config.get("seeds", [])
        parts.append(
            m.key_values(
                [
                    ("experiment", result.name),
                    ("seeds", ", ".join(str(s) for s in seeds)),
                    ("executor", result.executor),
                    ("fingerprint", result.fingerprint),
                    ("re-run / resume", f"lrlab compare {f.path / 'experiment.yaml'}"),
                ]
            )
        )
        parts.append(
            m.details(f"{f.label}/experiment.yaml (the full config)", m.pre(f.value.yaml_text))
        )
        devices = sorted({str(c.get("device")) for c in f.value.trial_configs.values()})
        if devices:
            parts.append(m.para(f"Trials ran on: {', '.join(devices)}."))
    for f in sources.range_tests:
        cfg = {k: v for k, v in f.value.config.items() if not isinstance(v, (dict, list))}
        parts.append(m.details(f"Range test settings — {f.label}", m.key_values(cfg)))
    for f in sources.runs:
        cfg = {k: v for k, v in f.value.config.items() if not isinstance(v, dict)}
        parts.append(m.details(f"Run settings — {f.label}", m.key_values(cfg)))
    for f in sources.scans:
        cfg = {k: v for k, v in f.value.config.items() if not isinstance(v, (dict, list))}
        parts.append(m.details(f"Scan settings — {f.label}", m.key_values(cfg)))
    parts.append(m.tag("h3", m.esc("Environment")) + m.para(env_note))
    parts.append(m.key_values(environment))
    return Section("configuration", "Configuration and environment", "".join(parts))


def problems_section(problems: Iterable[str]) -> Section | None:
    """Files that could not be read, one warning each (``None`` when there are none)."""
    items = list(problems)
    if not items:
        return None
    body = "".join(m.note(p, kind="warn") for p in items)
    return Section("problems", "Problems", body)


def _anchor(label: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
    return out or "root"
