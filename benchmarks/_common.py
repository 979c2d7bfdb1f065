"""Helpers shared by the benchmark scripts: provenance, JSON output, markdown tables, timing.

Every benchmark records *how* its numbers were made next to the numbers: the exact command,
the date, the machine (cores, load, torch / numpy / python versions, threads) and the git
revision (with a ``+dirty`` mark when tracked files differ from it). :func:`provenance` gathers
those; :func:`write_report` writes a JSON report through :mod:`lrlab._io` (atomic, non-finite
floats as ``null``) and the markdown beside it.

``BENCHMARKS.md`` keeps one section per benchmark between markers
(``<!-- bench:NAME -->`` … ``<!-- /bench:NAME -->``); :func:`update_benchmarks_md` replaces one
section and leaves the others alone, so scripts only touch the file when asked to
(``--update-md``), never from a ``--quick`` smoke run.

Timing: :func:`interleaved` runs competing variants in turns (A B A B …) after a warm-up and
reports medians, so a burst of load from another process hits every variant alike.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "benchmarks" / "out"
RESULTS_DIR = ROOT / "benchmarks" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


# --- provenance -------------------------------------------------------------------------------


def git_revision(root: Path = ROOT) -> str:
    """``git rev-parse --short HEAD``, with ``+dirty`` when tracked files under ``src/``,
    ``benchmarks/`` (results aside) or ``research/`` differ from it — edits elsewhere do not
    count;
    ``"unknown"`` outside a repository."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "src",
                "benchmarks",
                "research",
                ":(exclude)benchmarks/results",  # results written by the benchmarks themselves
            ],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (``None`` where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info() -> dict[str, Any]:
    """Cores, load, platform and library versions (torch imported here, not at module load)."""
    import numpy as np
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": load_average(),
    }


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run, as typed from the repository root."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(script).resolve()
    try:
        shown = str(path.relative_to(ROOT))
    except ValueError:
        shown = str(path)
    return " ".join([".venv/bin/python", shown, *map(shlex.quote, args)])


def provenance(script: str, argv: Sequence[str] | None) -> dict[str, Any]:
    """``{"command", "date", "git_rev", "machine"}`` for the top of every report."""
    return {
        "command": command_line(script, argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "git_rev": git_revision(),
        "machine": machine_info(),
    }


def provenance_line(report: Mapping[str, Any]) -> str:
    """One markdown line: command, date, machine and revision of a report."""
    m = report.get("machine", {})
    load = m.get("load_average")
    load_txt = f", load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (1/5/15 min)" if load else ""
    return (
        f"`{report.get('command', '?')}` — {report.get('date', '?')}, "
        f"{m.get('cpus', '?')} CPU cores ({m.get('processor', '?')}), torch {m.get('torch', '?')}, "
        f"{m.get('torch_threads', '?')} torch thread(s){load_txt}, git {report.get('git_rev', '?')}"
    )


# --- output -----------------------------------------------------------------------------------


def write_report(path: str | os.PathLike, report: Mapping[str, Any], markdown: str | None = None):
    """Write ``report`` as JSON (atomic; NaN/inf → ``null``) and ``markdown`` beside it
    (same name, ``.md``). Returns the JSON path."""
    from lrlab._io import write_json

    out = write_json(path, dict(report))
    if markdown is not None:
        md = Path(out).with_suffix(".md")
        tmp = md.with_suffix(".md.tmp")
        tmp.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
        tmp.replace(md)
    return out


_SECTION = "<!-- bench:{name} -->"
_SECTION_END = "<!-- /bench:{name} -->"


def update_benchmarks_md(name: str, body: str, path: str | os.PathLike = BENCHMARKS_MD) -> Path:
    """Replace the section ``name`` of ``BENCHMARKS.md`` with ``body`` (append it if absent).

    The section is everything between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``;
    text outside the markers (other benchmarks, hand-written notes) is kept byte for byte.
    """
    p = Path(path)
    text = p.read_text() if p.exists() else "# Benchmarks\n"
    start, end = _SECTION.format(name=name), _SECTION_END.format(name=name)
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = p.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(p)
    return p


def publish(
    section: str,
    heading: str,
    report: Mapping[str, Any],
    markdown: str,
    *,
    label: str = "Raw results",
    indent: int | None = None,
) -> Path:
    """Commit a run: the raw report as ``benchmarks/results/SECTION.json`` and the
    ``BENCHMARKS.md`` section ``SECTION`` (``## HEADING``, a link to that file, ``markdown``),
    always from the same run. Returns the BENCHMARKS.md path."""
    from lrlab._io import write_json

    results = write_json(RESULTS_DIR / f"{section}.json", report, indent=indent)
    body = (
        f"## {heading}\n\n{label}: "
        f"`{results.relative_to(RESULTS_DIR.parent.parent)}`.\n\n{markdown}"
    )
    return update_benchmarks_md(section, body)


# --- formatting -------------------------------------------------------------------------------


def fmt(value: Any, spec: str = ".3g", missing: str = "—") -> str:
    """A number for a table: ``missing`` for ``None``/NaN, ``inf`` spelled out."""
    if value is None:
        return missing
    if isinstance(value, float):
        if math.isnan(value):
            return missing
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return format(value, spec)


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A GitHub markdown table; ``align`` is one letter per column (``l``, ``r``, ``c``)."""
    align = align or "l" + "r" * (len(headers) - 1)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- statistics and timing --------------------------------------------------------------------


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value; NaN for none)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return math.nan, math.nan
    if len(vals) == 1:
        return vals[0], 0.0
    return statistics.fmean(vals), statistics.stdev(vals)


def geomean(values: Sequence[float]) -> float:
    """Geometric mean of positive values (NaN when there is none)."""
    vals = [float(v) for v in values if v is not None and float(v) > 0 and math.isfinite(v)]
    if not vals:
        return math.nan
    return math.exp(statistics.fmean(math.log(v) for v in vals))


def interleaved(
    variants: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Time each variant ``repeats`` times in turns (A B C A B C …) after ``warmup`` untimed
    rounds; returns ``{name: [seconds, ...]}``. The order of the variants rotates every round,
    so none always runs right after another's cache-warming. A variant that returns a float
    has timed itself (its set-up excluded): that number is used instead of the wall time."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            own = variants[name]()
            wall = time.perf_counter() - t0
            times[name].append(float(own) if isinstance(own, float) else wall)
    return times


def set_single_thread() -> None:
    """One torch thread (the machine is shared; also what each pool worker uses)."""
    import torch

    torch.set_num_threads(1)
    # Inter-op threads can only be set once per process, before any parallel work.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
