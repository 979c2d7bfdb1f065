"""The self-contained HTML report: ``build_report(run_dir)`` → one HTML string.

One file, nothing else: figures are base64 PNG ``data:`` URIs, the stylesheet is inlined
(``report.css``, package data), no script, no web font, no external link — it opens from
an e-mail attachment on a phone. The page template (``report.html``) is filled with
:class:`string.Template`; every value put into it is escaped or built by
:mod:`lrlab.report.markup`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from lrlab import __version__
from lrlab._io import atomic_file
from lrlab.report import markup as m
from lrlab.report.experiment_sections import experiment_sections, headline
from lrlab.report.headtohead_sections import head_to_head_section, profile_section
from lrlab.report.pieces import Section
from lrlab.report.sections import (
    config_section,
    finds_section,
    problems_section,
    range_tests_section,
    run_section,
    scan_section,
    vary_section,
)
from lrlab.report.sources import ReportSources, load_sources

REPORT_NAME = "report.html"


def _package_text(name: str) -> str:
    return resources.files("lrlab.report").joinpath(name).read_text(encoding="utf-8")


def default_title(sources: ReportSources) -> str:
    """The page title when none is given: the demo's task, the experiment's name, or the
    directory's name."""
    demo = sources.demo or {}
    if demo.get("settings", {}).get("task"):
        return f"lrlab demo — {demo['settings']['task']}"
    if len(sources.experiments) == 1 and not (sources.range_tests or sources.runs):
        return f"Experiment {sources.experiments[0].value.result.name}"
    return f"lrlab report — {sources.root.resolve().name}"


def overview_section(sources: ReportSources) -> Section:
    """What the report holds and the main numbers, before any figure."""
    items = []
    demo = sources.demo or {}
    if demo.get("summary"):
        items.append(str(demo["summary"]))
    for f in sources.range_tests:
        sug = f.value.suggestion
        if sug is not None and sug.lr is not None:
            trust = "" if sug.trustworthy else " (NOT trustworthy: see its flags)"
            items.append(
                f"Range test {f.label}: suggested max LR {sug.lr:.3g}, confidence range "
                f"{sug.low:.3g} – {sug.high:.3g}{trust}."
                if sug.low is not None and sug.high is not None
                else f"Range test {f.label}: suggested max LR {sug.lr:.3g}{trust}."
            )
        else:
            items.append(f"Range test {f.label}: no suggestion (see its flags).")
        if f.value.diagnosis is not None:
            items.append(f"Curve diagnosis: {f.value.diagnosis.shape}.")
    for f in sources.experiments:
        result = f.value.result
        done = sum(t.finished for t in result.trials)
        items.append(f"Experiment {result.name}: {done} finished trial(s).")
        if result.comparison is not None:
            items.extend(headline(result.comparison))
    for f in sources.runs:
        last = f.value.records[-1]
        shown = {k: last[k] for k in ("eval_accuracy", "eval_loss", "train_loss") if k in last}
        numbers = ", ".join(f"{k} {m.fmt(v)}" for k, v in shown.items())
        items.append(f"Training run {f.label}: epoch {last.get('epoch')}, {numbers}.")
    for f in sources.scans:
        best = ", ".join(f"{h} {f.value.unit}: {m.fmt(lr, 3)}" for h, lr in f.value.best_lr.items())
        items.append(f"Look-ahead scan {f.label}: best LR per horizon — {best}.")
    for f in sources.comparisons:
        items.append(f"{f.value.name} comparison {f.label}: {f.value.verdict}.")
    if sources.problems:
        items.append(f"{len(sources.problems)} problem(s) reading the directory: see the end.")
    return Section("overview", "At a glance", m.bullets(items, class_="glance"))


def build_sections(
    sources: ReportSources, environment: Mapping[str, Any], env_note: str
) -> list[Section]:
    """Every section, in reading order: overview, range tests, experiments (schedules,
    curves, comparison), single runs, scans, hyper-parameter comparisons, configuration
    and environment, problems."""
    sections: list[Section | None] = [overview_section(sources)]
    sections.append(finds_section(sources.finds))
    sections.append(range_tests_section(sources.range_tests))
    for f in sources.experiments:
        sections.extend(experiment_sections(f))
        sections.append(head_to_head_section(f))
    sections.extend(profile_section(f) for f in sources.profiles)
    sections.extend(run_section(f) for f in sources.runs)
    sections.extend(scan_section(f) for f in sources.scans)
    sections.extend(vary_section(f) for f in sources.comparisons)
    sections.append(config_section(sources, environment, env_note))
    sections.append(problems_section(sources.problems))
    return [s for s in sections if s is not None]


def render_page(
    title: str, subtitle: str, sections: Sequence[Section], *, source: str, generated: str
) -> str:
    """The whole page from its sections (template and CSS from the package)."""
    nav = "".join(m.tag("li", m.tag("a", m.esc(s.title), href=f"#{s.id}")) for s in sections)
    body = "\n".join(
        m.tag("section", m.tag("h2", m.esc(s.title)) + s.body, id=s.id) for s in sections
    )
    return Template(_package_text("report.html")).substitute(
        title=m.esc(title),
        subtitle=m.esc(subtitle),
        nav=nav,
        sections=body,
        css=_package_text("report.css"),
        version=m.esc(__version__),
        generated=m.esc(generated),
        source=m.esc(source),
    )


def _environment(sources: ReportSources) -> tuple[dict[str, Any], str]:
    recorded = (sources.demo or {}).get("environment")
    if isinstance(recorded, dict) and recorded:
        return dict(recorded), "Recorded when the run happened."
    from lrlab.report.environment import environment

    return environment(), (
        "Recorded when this report was written: the runs did not record theirs (the device "
        "each run used is in its settings above)."
    )


def build_report(
    path: str | os.PathLike,
    *,
    title: str | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> str:
    """The HTML report of everything lrlab wrote under ``path`` (see
    :func:`lrlab.report.sources.load_sources`), as a string. A file that cannot be read
    (damaged records, a torn JSON) is listed in the report's Problems section and handed to
    ``on_problem`` (the CLI prints it), never dropped silently.

    Raises:
        InvalidArgument: ``path`` does not exist or holds no lrlab result.
    """
    sources = load_sources(path)
    for problem in sources.problems if on_problem is not None else ():
        on_problem(problem)
    env, env_note = _environment(sources)
    sections = build_sections(sources, env, env_note)
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    kinds = [
        (len(sources.finds), "find_lr"),
        (len(sources.range_tests), "range test"),
        (len(sources.experiments), "experiment"),
        (len(sources.runs), "training run"),
        (len(sources.scans), "scan"),
        (len(sources.comparisons), "hyper-parameter comparison"),
    ]
    subtitle = ", ".join(f"{n} {what}{'s' if n > 1 else ''}" for n, what in kinds if n)
    return render_page(
        title or default_title(sources),
        f"{subtitle} from {Path(path).resolve().name or path}",
        sections,
        source=str(path),
        generated=now,
    )


def default_output(path: str | os.PathLike) -> Path:
    """Where the report goes without ``out``: ``report.html`` in the run directory (next
    to the file for a single result file)."""
    p = Path(path)
    return (p.parent if p.is_file() else p) / REPORT_NAME


def write_report(
    path: str | os.PathLike, out: str | os.PathLike | None = None, *, title: str | None = None
) -> Path:
    """Write the report of ``path`` to ``out`` (default ``<path>/report.html``) atomically
    (a reader never sees half a file) and return where it went.

    Example::

        from lrlab.report import write_report
        write_report("runs/demo")            # -> runs/demo/report.html
    """
    text = build_report(path, title=title)
    target = Path(out) if out is not None else default_output(path)
    with atomic_file(target) as fh:
        fh.write(text)
    return target
