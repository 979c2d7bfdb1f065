"""The sections of the report, each built from loaded results (:mod:`lrlab.report.sources`):
range tests, single runs, scans, comparisons of range tests, configuration, problems; an
experiment's sections are :mod:`lrlab.report.experiment_sections`'.

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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lrlab.report import figures
from lrlab.report import markup as m
from lrlab.report.pieces import (
    FIGURE_ERRORS,
    RUN_LABEL,
    Section,
    anchor_of,
    figure_or_note,
    h3,
    lr_text,
    pair_text,
    params_text,
)
from lrlab.report.sources import Found, ReportSources, SingleRun


def suggestion_rows(result: Any) -> list[tuple[str, str]]:
    """The suggestion, its range, each rule, the low-end LRs and the sweep, as text rows."""
    sug = result.suggestion
    cfg = result.config
    where = "" if result.stop_step is None else f" at step {result.stop_step}"
    rows = [
        (
            "sweep",
            f"{lr_text(cfg.get('start_lr'))} → {lr_text(cfg.get('end_lr'))} "
            f"({cfg.get('step_mode', 'exp')}), {result.num_steps} steps, "
            f"{result.stop_reason}{where}",
        )
    ]
    if sug is None or sug.lr is None:
        rows.append(("suggested max LR", "none (see the flags)"))
    else:
        rows += [
            ("suggested max LR", f"{lr_text(sug.lr)} ({sug.method})"),
            ("confidence range", f"{lr_text(sug.low)} – {lr_text(sug.high)}"),
        ]
        rows += [(f"rule: {name}", lr_text(value)) for name, value in sug.rules.items()]
        rows += [
            ("one-cycle start LR (max/25 … max/10)", pair_text(sug.min_lr.one_cycle)),
            ("cyclic base LR (max/4 … max/3)", pair_text(sug.min_lr.cyclic)),
            ("learning onset (loss starts to drop)", lr_text(sug.min_lr.onset)),
        ]
    if sug is not None:
        rows.append(("trustworthy", "yes" if sug.trustworthy else "NO — see the flags"))
    if result.min_loss_lr is not None:
        rows.append(
            ("LR where the smoothed loss bottoms out (landmark)", lr_text(result.min_loss_lr))
        )
    return rows


def range_test_block(label: str, result: Any, *, heading: bool = True) -> str:
    """Figure, suggestion table, flags and diagnosis of one range test."""
    parts = [h3(f"Range test — {label}")] if heading else []
    parts.append(
        figure_or_note(
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


def find_rows(result: Any) -> list[tuple[str, str]]:
    """The numbers of one ``find_lr`` answer, as key/value rows."""
    cost = result.cost
    best = ", ".join(
        f"{h} steps: {lr_text(b)}"
        for h, b in zip(result.horizons, result.best_per_horizon, strict=False)
    )
    return [
        ("max LR", lr_text(result.lr)),
        (
            "interval",
            "—" if result.lr is None else f"{lr_text(result.low)} – {lr_text(result.high)}",
        ),
        ("planned run", f"{result.total_steps} steps of {result.schedule.get('name')}"),
        ("judged by", f"held-out {result.score}: {result.holdout}"),
        ("best LR per short-run length", best or "—"),
        ("cost", f"{cost.get('runs', 0):.2f} training runs ({cost.get('seconds', 0):.1f} s)"),
        ("engine", str(result.config.get("engine", "—"))),
    ]


def find_block(label: str, result: Any, *, heading: bool = True) -> str:
    """Figure, answer table and flags of one ``find_lr``."""
    parts = [h3(f"find_lr — {label}")] if heading else []
    parts.append(
        figure_or_note(
            lambda: figures.find_figure(result),
            alt=f"find_lr for {label}: the range test and the short runs",
            caption="Left: the range test with the window of candidate peak LRs (shaded) and "
            "the answer (black). Right: each short run's held-out score against its peak LR, "
            "one colour per run length (crosses: runs that diverged or stopped), the smoothed "
            "response the choice read, the answer and its interval.",
        )
    )
    parts.append(m.key_values(find_rows(result)))
    if result.flags:
        parts.extend(m.note(flag, kind="warn") for flag in result.flags)
    else:
        parts.append(m.note("No flag.", kind="ok"))
    return "".join(parts)


def finds_section(found: Sequence[Found]) -> Section | None:
    """Every ``find_lr`` answer found (``None`` when none)."""
    if not found:
        return None
    intro = m.para(
        'find_lr answers "which max LR for this planned run?": a range test proposes a '
        "window of candidate peak LRs, and short runs of the planned schedule, compressed to "
        "a fraction of the run and judged on held-out batches, decide. The interval is meant "
        "to contain the best peak LR; the cost counts every optimizer step spent, in planned "
        "runs."
    )
    body = intro + "".join(find_block(f.label, f.value) for f in found)
    return Section("find-lr", "find_lr: the max LR", body)


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
        params = params_text({k: v for k, v in sched.params.items() if k != "total_steps"})
        rows.append([label, sched.name, steps, params])
    if auto:
        headers.append("auto LR per seed")
        for row in rows:
            row.append(auto.get(row[0], ""))
    fig = figure_or_note(
        lambda: figures.schedules_figure(schedules),
        alt="Learning rate and momentum per optimizer step for each variant",
        caption="The schedules exactly as the runs applied them (0-based optimizer steps).",
    )
    return fig + m.table(headers, rows, numeric=(2,))


def run_section(found: Found) -> Section:
    """A single training run: how it stopped, its curves, its schedule and its last record."""
    run: SingleRun = found.value
    label = found.label
    parts = []
    if run.stop_reason:
        state = f"Stopped: {run.stop_reason}" + (f" — {run.message}" if run.message else "")
        parts.append(m.note(state, kind="ok" if run.stop_reason == "completed" else "warn"))
    parts.append(
        figure_or_note(
            lambda: figures.curves_figure({RUN_LABEL: {0: run.records}}),
            alt=f"Training curves of {label}",
            caption="Loss, accuracy, LR and momentum per epoch (epoch 0: before training).",
        )
    )
    try:
        sched = run_schedule(run)
    except FIGURE_ERRORS:
        sched = None
    if sched is not None:
        parts.append(schedules_block({RUN_LABEL: sched}, {}))
    last = run.records[-1]
    parts.append(
        m.key_values(
            (k, v) for k, v in last.items() if k not in ("eval_time",) and not isinstance(v, dict)
        )
    )
    return Section(f"run-{anchor_of(label)}", f"Training run — {label}", "".join(parts))


def scan_section(found: Found) -> Section:
    """A look-ahead scan: the best LR per horizon with its tolerance band, and its figures."""
    scan = found.value
    label = found.label
    rows = [
        (b.horizon, lr_text(b.lr), f"{lr_text(b.low)} – {lr_text(b.high)}", m.fmt(b.value))
        for b in scan.best()
    ]
    body = m.para(
        f"{len(scan.lrs)} learning rates trained for each horizon ({scan.unit}) from the "
        f"same start; initial loss {m.fmt(scan.initial_loss)}; method {scan.method}."
    )
    body += figure_or_note(
        lambda: figures.scan_figure(scan),
        alt=f"Look-ahead scan of {label}: loss against LR per horizon",
        caption="Loss after each horizon against the LR; the best LR and its 5 % band marked.",
    )
    body += figure_or_note(
        lambda: figures.scan_heatmap_figure(scan), alt=f"Scan heat map of {label}"
    )
    body += m.table(
        [f"horizon ({scan.unit})", "best LR", "within 5 %", "loss"], rows, numeric=(0, 1, 2, 3)
    )
    body += "".join(m.note(n) for n in scan.notes)
    if not scan.complete:
        body += m.note("Interrupted: empty cells were not run.", kind="warn")
    return Section(f"scan-{anchor_of(label)}", f"Look-ahead scan — {label}", body)


def vary_section(found: Found) -> Section:
    """A comparison of range tests across a hyper-parameter: verdict, overlay, ranking."""
    comp = found.value
    label = found.label
    body = m.note(f"Verdict: {comp.verdict}", kind="ok" if comp.recommendation else "info")
    body += figure_or_note(
        lambda: figures.vary_figure(comp),
        alt=f"Range tests of {comp.name} candidates in {label}",
        caption="One smoothed loss curve per candidate value; dots: each one's suggested max LR.",
    )
    ranking = comp.ranking
    rows = []
    for k, cand in enumerate(comp.candidates):
        rank = ranking.ranks[k] if ranking else "—"
        reason = ranking.reasons[k] if ranking else ""
        rows.append((cand.label, lr_text(cand.suggested_lr), rank, reason))
    body += m.table(["candidate", "suggested max LR", "rank", "why"], rows, numeric=(1, 2))
    if ranking is not None:
        body += "".join(m.note(n) for n in ranking.notes)
    return Section(f"vary-{anchor_of(label)}", f"{comp.name} comparison — {label}", body)


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
