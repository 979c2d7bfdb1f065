"""What a run directory holds: finding and loading every lrlab result in it.

``lrlab report DIR`` works on whatever lrlab wrote, so this module recognises results by
their files and loads them with their own ``load``/``from_dict``:

==========================  ============================================================
file                        result
==========================  ============================================================
``find.json``               :class:`lrlab.finder.FindResult` (``lrlab find``, the demo)
``range_test.json``         :class:`lrlab.finder.RangeTestResult` (``lrlab find``)
``scan.json``               :class:`lrlab.scanning.ScanResult` (``lrlab scan``)
``vary.json``               :class:`lrlab.compare.ComparisonResult` (``lrlab find --vary``)
``experiment.yaml``         an experiment directory (``lrlab compare``); its trials and
                            its ``auto-lr/`` range tests belong to it
``records.jsonl``           a single training run (``lrlab train``, ``lrlab.fit``)
``demo.json``               what ``lrlab demo`` did (settings, environment)
``profile.json``            performance profiles across tasks (``lrlab compare --preset``)
==========================  ============================================================

An experiment directory's ``head_to_head.json`` (``analysis: {head_to_head: true}``) is
loaded with it.

The directory itself and its sub-directories (up to :data:`MAX_DEPTH` levels) are searched,
so a directory holding several results (the demo's range test and experiment) gives one
report. A file that cannot be read is reported as a *problem* and the rest still loads:
a report of a half-finished run is still a report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lrlab._io import read_json, read_text
from lrlab._yaml import read_yaml
from lrlab.errors import InvalidArgument, LrlabError
from lrlab.train.records import read_records

RANGE_TEST_JSON = "range_test.json"
FIND_JSON = "find.json"
SCAN_JSON = "scan.json"
VARY_JSON = "vary.json"
EXPERIMENT_YAML = "experiment.yaml"
RECORDS_JSONL = "records.jsonl"
DEMO_JSON = "demo.json"
PROFILE_JSON = "profile.json"
MAX_DEPTH = 3
# Directories that never hold results of their own.
_SKIP_DIRS = {"tensorboard", "auto-lr", "__pycache__"}
_LOAD_ERRORS = (LrlabError, OSError, ValueError, KeyError, TypeError, IndexError, yaml.YAMLError)


@dataclass
class Found:
    """One loaded result: a short label (its path relative to the report's root), the file
    or directory it came from, and the loaded object."""

    label: str
    path: Path
    value: Any


@dataclass
class SingleRun:
    """A training run outside an experiment: its epoch records and what ``fit`` saved."""

    records: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None
    message: str = ""
    elapsed: float | None = None


@dataclass
class ExperimentSource:
    """An experiment directory: the result, the range tests behind ``auto`` (one per seed
    and optimizer), each trial's resolved config (schedule with its numbers filled in) and
    the config file as written."""

    result: Any  # lrlab.experiment.ExperimentResult
    range_tests: list[tuple[int, Any]] = field(default_factory=list)
    finds: list[tuple[int, Any]] = field(default_factory=list)
    trial_configs: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    yaml_text: str = ""
    head_to_head: Any = None  # lrlab.analysis.headtohead.HeadToHead


@dataclass
class ReportSources:
    """Everything found under a report's root, in a stable order (sorted paths)."""

    root: Path
    demo: dict[str, Any] | None = None
    finds: list[Found] = field(default_factory=list)
    range_tests: list[Found] = field(default_factory=list)
    scans: list[Found] = field(default_factory=list)
    comparisons: list[Found] = field(default_factory=list)
    experiments: list[Found] = field(default_factory=list)
    runs: list[Found] = field(default_factory=list)
    profiles: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No result at all (problems aside)."""
        found = (self.finds, self.range_tests, self.scans, self.comparisons, self.experiments)
        return not (any(found) or self.runs or self.profiles)


# --------------------------------------------------------------------------- loaders


def load_find(path: Path) -> Any:
    """A ``find.json`` as a :class:`lrlab.finder.FindResult`."""
    from lrlab.finder import FindResult

    return FindResult.load(path)


def load_range_test(path: Path) -> Any:
    """A ``range_test.json`` as a :class:`lrlab.finder.RangeTestResult`."""
    from lrlab.finder import RangeTestResult

    return RangeTestResult.load(path)


def load_scan(path: Path) -> Any:
    """A ``scan.json`` as a :class:`lrlab.scanning.ScanResult`."""
    from lrlab.scanning import ScanResult

    return ScanResult.load(path)


def load_vary(path: Path) -> Any:
    """A ``vary.json`` as a :class:`lrlab.compare.ComparisonResult`."""
    from lrlab.compare import ComparisonResult

    return ComparisonResult.load(path)


def load_profiles(path: Path) -> dict[str, Any]:
    """A ``profile.json`` as ``{unit: lrlab.analysis.profiles.Profile}``."""
    from lrlab.analysis.profiles import Profile

    data = read_json(path)
    if data.get("kind") != "lrlab.performance_profile":
        raise ValueError(f"kind={data.get('kind')!r} is not lrlab.performance_profile")
    return {unit: Profile.from_dict(p) for unit, p in data["profiles"].items()}


def load_single_run(directory: Path) -> SingleRun:
    """Records from ``records.jsonl``; settings from ``config.yaml`` (an experiment's trial)
    and ``summary.json`` (what ``lrlab train`` saves: its ``config`` wins), stop reason from
    ``summary.json`` (``stop_reason``, or a trial's ``status``)."""
    run = SingleRun(records=read_records(directory))  # validated: damage is a problem, named
    if (directory / "config.yaml").is_file():
        loaded = read_yaml(directory / "config.yaml", what="config.yaml")
        run.config = dict(loaded) if isinstance(loaded, dict) else {}
    summary = directory / "summary.json"
    if summary.is_file():
        data = read_json(summary)
        if isinstance(data, dict):
            run.config = dict(data.get("config") or run.config)
            run.stop_reason = data.get("stop_reason") or data.get("status")
            run.message = str(data.get("message") or "")
            run.elapsed = data.get("elapsed")
    return run


def load_experiment_dir(directory: Path) -> ExperimentSource:
    """The experiment in ``directory`` (it must hold ``summary.json``: ``lrlab compare``
    writes it at the end and on Ctrl-C) with its ``auto`` range tests and trial configs."""
    from lrlab.experiment import ExperimentResult

    result = ExperimentResult.load(directory)
    source = ExperimentSource(result=result)
    source.yaml_text = read_text(directory / EXPERIMENT_YAML, what=EXPERIMENT_YAML)
    from lrlab.experiment.headtohead import load_head_to_head

    source.head_to_head = load_head_to_head(directory)
    for path in sorted((directory / "auto-lr").glob("*.json")):
        try:
            cached = read_json(path)
            from lrlab.finder import FindResult, RangeTestResult

            seed = int(cached.get("seed", 0))
            if cached.get("find"):
                source.finds.append((seed, FindResult.from_dict(cached["find"])))
            elif cached.get("range_test"):  # an experiment from before find_lr
                source.range_tests.append((seed, RangeTestResult.from_dict(cached["range_test"])))
        except _LOAD_ERRORS:
            continue  # a cache file is a convenience; the trials' auto_lr is what counts
    for trial in result.trials:
        config_file = Path(trial.dir) / "config.yaml"
        if config_file.is_file():
            try:
                loaded = read_yaml(config_file, what="config.yaml")
            except (OSError, LrlabError):
                continue
            if isinstance(loaded, dict):
                source.trial_configs[(trial.variant, trial.seed)] = loaded
    return source


# --------------------------------------------------------------------------- discovery


def _walk(root: Path) -> Iterator[tuple[Path, set[str]]]:
    """``(directory, file names)`` for ``root`` and its sub-directories up to
    :data:`MAX_DEPTH`, sorted; an experiment directory's sub-directories are its trials,
    not separate results, so the walk does not enter them."""
    for current, dirs, files in os.walk(root, followlinks=True):  # depth-limited: no cycles
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        names = set(files)
        if EXPERIMENT_YAML in names or depth >= MAX_DEPTH:
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        yield here, names


def _label(root: Path, path: Path) -> str:
    rel = path.relative_to(root)
    return root.name if rel == Path(".") else rel.as_posix()


def load_sources(path: str | os.PathLike) -> ReportSources:
    """Find and load every lrlab result under ``path`` (a directory, or one result file).

    Raises:
        InvalidArgument: ``path`` does not exist, or holds no lrlab result at all.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidArgument(
            f"{str(root)!r} does not exist.",
            hint="Pass a directory written by lrlab (find, scan, train, compare, demo).",
        )
    if root.is_file():
        sources = _load_file(root)
    else:
        sources = ReportSources(root=root)
        for directory, names in _walk(root):
            _load_directory(sources, root, directory, names)
    if sources.empty:
        looked = ", ".join((RANGE_TEST_JSON, SCAN_JSON, VARY_JSON, EXPERIMENT_YAML, RECORDS_JSONL))
        problems = f" Problems: {'; '.join(sources.problems)}." if sources.problems else ""
        raise InvalidArgument(
            f"{str(root)!r} holds no lrlab result (looked for {looked}).{problems}",
            hint="Point lrlab report at the --out directory of lrlab find, scan, train, "
            "compare or demo.",
        )
    return sources


def _try(sources: ReportSources, label: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except _LOAD_ERRORS as exc:
        sources.problems.append(f"{label}: could not be read ({exc})")
        return None


def _load_directory(sources: ReportSources, root: Path, directory: Path, names: set[str]) -> None:
    label = _label(root, directory)
    if DEMO_JSON in names and sources.demo is None:
        demo = _try(sources, f"{label}/{DEMO_JSON}", read_json, directory / DEMO_JSON)
        sources.demo = demo if isinstance(demo, dict) else None
    if EXPERIMENT_YAML in names:
        if "summary.json" not in names:
            sources.problems.append(
                f"{label}: an experiment without summary.json (it never got past its start); "
                "re-run its lrlab compare command to finish it"
            )
            return
        exp = _try(sources, label, load_experiment_dir, directory)
        if exp is not None:
            sources.experiments.append(Found(label, directory, exp))
        return
    for name in sorted(n for n in names if ".partial." in n and n.endswith(".json")):
        sources.problems.append(
            f"{label}/{name}: an interrupted result (not shown); run its command again for "
            "a complete one"
        )
    for name, kind, loader in (
        (FIND_JSON, sources.finds, load_find),
        (RANGE_TEST_JSON, sources.range_tests, load_range_test),
        (SCAN_JSON, sources.scans, load_scan),
        (VARY_JSON, sources.comparisons, load_vary),
        (PROFILE_JSON, sources.profiles, load_profiles),
    ):
        if name in names:
            value = _try(sources, f"{label}/{name}", loader, directory / name)
            if value is not None:
                kind.append(Found(label, directory / name, value))
    if RECORDS_JSONL in names:
        run = _try(sources, label, load_single_run, directory)
        if run is not None and run.records:
            sources.runs.append(Found(label, directory, run))


def _load_file(path: Path) -> ReportSources:
    """A report of one result file (``range_test.json``, ``scan.json``, ``vary.json``,
    ``records.jsonl``); other JSON files are recognised by their ``kind`` field."""
    sources = ReportSources(root=path.parent)
    name = path.name
    if name == RECORDS_JSONL:
        _load_directory(sources, path.parent, path.parent, {RECORDS_JSONL})
        return sources
    kinds = {
        FIND_JSON: "lrlab.find_lr",
        RANGE_TEST_JSON: "lrlab.range_test",
        VARY_JSON: "lrlab.compare",
        SCAN_JSON: "scan",
    }
    kind = kinds.get(name)
    if kind is None and name.endswith(".json"):
        data = _try(sources, name, read_json, path)
        if isinstance(data, dict):
            kind = data.get("kind") or ("scan" if {"lrs", "horizons"} <= set(data) else None)
    loaders = {
        "lrlab.find_lr": (sources.finds, load_find),
        "lrlab.range_test": (sources.range_tests, load_range_test),
        "lrlab.compare": (sources.comparisons, load_vary),
        "scan": (sources.scans, load_scan),
    }
    if kind not in loaders:
        raise InvalidArgument(
            f"{str(path)!r} is not an lrlab result file.",
            hint="Pass a run directory, or find.json / range_test.json / scan.json / vary.json / "
            "records.jsonl.",
        )
    target, loader = loaders[kind]
    value = _try(sources, name, loader, path)
    if value is not None:
        target.append(Found(path.parent.name or name, path, value))
    return sources
