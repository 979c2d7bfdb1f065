"""``run_experiment``: run directories, skip/resume, the executor, the comparison.

On disk (``out/<experiment>/``)::

    experiment.yaml            the config (its fingerprint guards the directory)
    summary.json               ExperimentResult.to_dict(records=False): trials + comparison
    table.md, table.csv        the comparison table
    auto-lr/seed-<n>-<h>.json  cached range tests behind ``auto`` (one per seed × optimizer)
    <variant>/seed-<n>/        one trial: config.yaml, records.jsonl, checkpoint.pt,
                               summary.json (written when the trial finished)

Re-running the same command skips finished trials (``summary.json`` present) and resumes the
others from their checkpoints. Running a *different* experiment (another fingerprint: task,
budget, optimizer, variants, device, ... — seeds, target and analysis settings may change)
into the same directory is refused. Ctrl-C stops the run, keeps what finished and raises
:class:`lrlab.errors.Interrupted`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lrlab._io import read_json, read_jsonl, write_json
from lrlab.analysis import Comparison, compare, render
from lrlab.errors import Interrupted, InvalidArgument, LrlabError
from lrlab.experiment.config import Experiment, load_experiment
from lrlab.experiment.trials import (
    FINISHED,
    AutoSpec,
    TrialOutcome,
    TrialSpec,
    auto_cache_path,
    choose_optimizer,
    find_auto_lr,
    load_task,
    read_auto_lr,
    run_trial,
    trial_dir,
)
from lrlab.parallel.executors import make_executor

EXPERIMENT_YAML = "experiment.yaml"
SUMMARY_JSON = "summary.json"


@dataclass
class TrialResult:
    """One trial as the experiment sees it: identity, status, ``auto`` LR, records."""

    variant: str
    seed: int
    status: str
    message: str = ""
    auto_lr: float | None = None
    dir: str = ""
    elapsed: float = 0.0
    reused: bool = False  # finished in an earlier run of the same command
    chance_level: float | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "records"}
        if records:
            d["records"] = [dict(r) for r in self.records]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialResult:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns (and ``summary.json`` holds, without records)."""

    name: str
    dir: str
    config: dict[str, Any]
    fingerprint: str
    executor: str
    trials: list[TrialResult]
    comparison: Comparison | None
    elapsed: float = 0.0

    def records(self) -> dict[str, dict[int, list[dict[str, Any]]]]:
        """``{variant: {seed: records}}`` of the finished trials, in config order."""
        out: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for t in self.trials:
            if t.finished:
                out.setdefault(t.variant, {})[t.seed] = t.records
        return out

    def trial(self, variant: str, seed: int) -> TrialResult:
        for t in self.trials:
            if t.variant == variant and t.seed == seed:
                return t
        raise InvalidArgument(f"No trial {variant}/seed-{seed} in experiment {self.name!r}.")

    def table(self, fmt: str = "markdown") -> str:
        """The comparison table as text (``markdown``, ``csv`` or ``text``)."""
        if self.comparison is None:
            return "(no finished trial to compare)\n"
        return render(self.comparison, fmt)

    def _repr_html_(self) -> str:
        """Jupyter's view: curves per variant (mean ± std over seeds) and the comparison."""
        from lrlab._html import result_html
        from lrlab.analysis import table
        from lrlab.analysis.plot import plot_overview

        done = sum(t.finished for t in self.trials)
        head = f"experiment {self.name}: {done}/{len(self.trials)} trials finished"
        if self.comparison is None:
            return result_html(head, [("directory", self.dir)])
        headers, body = table.rows(self.comparison, compact=True)
        return result_html(
            head,
            body,
            headers=headers,
            notes=[table.title(self.comparison)],
            draw=lambda fig: plot_overview(self, fig=fig),
            size=(10.0, 7.0),
        )

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        return {
            "name": self.name,
            "dir": self.dir,
            "config": self.config,
            "fingerprint": self.fingerprint,
            "executor": self.executor,
            "elapsed": self.elapsed,
            "trials": [t.to_dict(records=records) for t in self.trials],
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExperimentResult:
        comp = d.get("comparison")
        return cls(
            name=str(d["name"]),
            dir=str(d["dir"]),
            config=dict(d["config"]),
            fingerprint=str(d["fingerprint"]),
            executor=str(d.get("executor", "")),
            trials=[TrialResult.from_dict(t) for t in d["trials"]],
            comparison=None if comp is None else Comparison.from_dict(comp),
            elapsed=float(d.get("elapsed", 0.0)),
        )

    @classmethod
    def load(cls, directory: str | Path) -> ExperimentResult:
        """An experiment directory's result, records read back from the trials' files."""
        root = Path(directory)
        path = root / SUMMARY_JSON
        if not path.is_file():
            raise InvalidArgument(
                f"{root} has no {SUMMARY_JSON}: not a finished lrlab experiment directory.",
                hint="Run `lrlab compare CONFIG.yaml` first (or re-run it to finish it).",
            )
        result = cls.from_dict(read_json(path))
        result.dir = str(root)
        for t in result.trials:
            t.dir = str(trial_dir(root, t.variant, t.seed))
            records_file = Path(t.dir) / "records.jsonl"
            if records_file.is_file():
                t.records = read_jsonl(records_file)
        return result


# --------------------------------------------------------------------------- directories


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Field paths where two plain-data configs differ (for the "different experiment" error)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += _diff(old.get(key), new.get(key), sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in _diff(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [f"{path or '(top level)'}: {old!r} -> {new!r}"]


def prepare_directory(root: Path, exp: Experiment) -> None:
    """Create ``root`` or check that it holds the same experiment; write experiment.yaml."""
    config_file = root / EXPERIMENT_YAML
    if config_file.is_file():
        try:
            old = Experiment.from_dict(yaml.safe_load(config_file.read_text(encoding="utf-8")))
        except (LrlabError, yaml.YAMLError) as exc:
            raise InvalidArgument(
                f"{config_file} cannot be read back ({exc}).",
                hint="Use another --out directory, or delete this one to start over.",
            ) from None
        if old.fingerprint() != exp.fingerprint():
            changes = _diff(old.result_fields(), exp.result_fields())
            shown = "; ".join(changes[:5]) + (" ..." if len(changes) > 5 else "")
            raise InvalidArgument(
                f"{root} holds a different experiment (fingerprint {old.fingerprint()} vs "
                f"{exp.fingerprint()}; changed: {shown}).",
                hint="Give the experiment a new name, use another --out directory, or delete "
                f"{root} to start over. (Seeds, target and analysis settings may change freely.)",
            )
    elif root.is_dir() and any(root.iterdir()):
        raise InvalidArgument(
            f"{root} exists and is not an lrlab experiment directory (no {EXPERIMENT_YAML}).",
            hint="Use another --out directory or experiment name.",
        )
    root.mkdir(parents=True, exist_ok=True)
    config_file.write_text(exp.to_yaml(), encoding="utf-8")


def finished_trial(directory: Path, fingerprint: str) -> TrialResult | None:
    """The trial saved in ``directory`` if it finished under this fingerprint, else None."""
    path = directory / SUMMARY_JSON
    if not path.is_file():
        return None
    try:
        summary = read_json(path)
    except (OSError, ValueError):
        return None
    if summary.get("fingerprint") != fingerprint or summary.get("status") not in FINISHED:
        return None
    records_file = directory / "records.jsonl"
    records = read_jsonl(records_file) if records_file.is_file() else []
    result = TrialResult.from_dict(summary)
    result.records, result.reused, result.dir = records, True, str(directory)
    return result


def _save_outcome(directory: Path, outcome: TrialOutcome, fingerprint: str) -> TrialResult:
    """Write the trial's summary.json (and, for a remote worker without shared storage, its
    config.yaml and records.jsonl) and return its :class:`TrialResult`."""
    directory.mkdir(parents=True, exist_ok=True)
    records_file = directory / "records.jsonl"
    if not records_file.is_file() and outcome.records:
        from lrlab._io import append_jsonl

        for rec in outcome.records:
            append_jsonl(records_file, rec)
    config_file = directory / "config.yaml"
    if not config_file.is_file():
        config_file.write_text(yaml.safe_dump(outcome.config, sort_keys=False), encoding="utf-8")
    result = TrialResult(
        variant=outcome.variant,
        seed=outcome.seed,
        status=outcome.stop_reason,
        message=outcome.message,
        auto_lr=outcome.config.get("auto_lr"),
        dir=str(directory),
        elapsed=outcome.elapsed,
        chance_level=outcome.chance_level,
        records=outcome.records,
    )
    if result.finished:
        last = outcome.records[-1] if outcome.records else {}
        summary = {
            **result.to_dict(records=False),
            "fingerprint": fingerprint,
            "epochs": last.get("epoch"),
            "iterations": last.get("iteration"),
            "final": last,
        }
        write_json(directory / SUMMARY_JSON, summary)
    return result


# --------------------------------------------------------------------------- the run


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_experiment(
    experiment: Experiment | str | Path | Mapping[str, Any],
    *,
    executor: str = "auto",
    workers: int | None = None,
    address: str | None = None,
    out: str | Path = "runs",
    seeds: Sequence[int] | None = None,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Run every (variant, seed) trial of ``experiment`` and compare the variants.

    Args:
        experiment: an :class:`Experiment`, a YAML path or a dict.
        executor: ``"auto"`` (a process pool when more than one trial is left and more than
            one CPU, else in-process), ``"sequential"``, ``"process"`` or ``"ray"``.
        workers: pool size (default: the CPUs available); Ray: ``num_cpus`` of a local Ray.
        address: a Ray cluster to connect to (implies ``executor="ray"`` under ``"auto"``).
        out: the parent directory; the run lives in ``out/<experiment name>``.
        seeds: replace the config's seeds (e.g. the CLI's ``--seeds``).
        quiet: no progress lines; ``log``: where progress lines go (default: stderr).

    Returns:
        :class:`ExperimentResult` with every trial's records and the :class:`Comparison`.

    Raises:
        Interrupted: on Ctrl-C, after saving every finished trial ("re-run to resume").
        InvalidArgument: bad config, or ``out`` holds a different experiment.
    """
    t0 = time.perf_counter()
    exp = load_experiment(experiment)
    if seeds is not None:
        exp = exp.with_seeds(list(seeds))
    say = (lambda _msg: None) if quiet else (log or _stderr)
    make_executor(executor, jobs=0, workers=workers, address=address)  # bad options: fail now
    root = Path(out) / exp.name
    prepare_directory(root, exp)
    fingerprint = exp.fingerprint()
    task = load_task(exp)

    results: dict[tuple[str, int], TrialResult] = {}
    todo: list[tuple[str, int]] = []
    for seed in exp.seeds:
        for v in exp.variants:
            done = finished_trial(trial_dir(root, v.name, seed), fingerprint)
            if done is not None:
                results[(v.name, seed)] = done
            else:
                todo.append((v.name, seed))
    if results:
        say(f"{exp.name}: {len(results)} finished trial(s) reused, {len(todo)} to run.")

    failures: list[tuple[str, BaseException]] = []
    auto_specs, auto_wanted = _auto_jobs(exp, task, root, todo)
    trials_left = [t for t in todo if not _needs_auto(exp, t[0]) or t in auto_wanted]
    jobs = max(len(auto_specs), len(trials_left))
    runner = make_executor(executor, jobs=jobs, workers=workers, address=address)
    count = [len(results)]
    total = len(exp.seeds) * len(exp.variants)

    def trial_done(spec: TrialSpec, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            failures.append((spec.label, outcome))
            say(f"  {spec.label}: FAILED — {outcome}")
            return
        result = _save_outcome(Path(spec.out_dir), outcome, fingerprint)
        results[(spec.variant, spec.seed)] = result
        count[0] += result.finished
        say(f"  [{count[0]}/{total}] {spec.label}: {_describe(result)}")
        if result.status == "interrupted":
            raise KeyboardInterrupt  # Ctrl-C reached the trial first: stop the whole run

    def auto_done(spec: AutoSpec, lr: Any) -> None:
        if isinstance(lr, BaseException):
            failures.append((spec.label, lr))
            say(f"  {spec.label}: FAILED — {lr}")
        else:
            say(f"  {spec.label}: suggested lr {lr:.4g}")

    try:
        with runner:
            if auto_specs:
                say(f"{exp.name}: {len(auto_specs)} range test(s) for 'auto' on {runner.name}.")
                runner.run(find_auto_lr, auto_specs, auto_done)
            auto = _read_auto(auto_wanted)
            quiet_trials = quiet or runner.name != "sequential"
            specs = [
                TrialSpec(
                    experiment=exp.to_dict(),
                    variant=name,
                    seed=seed,
                    out_dir=str(trial_dir(root, name, seed)),
                    auto_lr=auto.get((name, seed)),
                    quiet=quiet_trials,
                )
                for name, seed in trials_left
                if not _needs_auto(exp, name) or (name, seed) in auto
            ]
            if specs:
                say(f"{exp.name}: running {len(specs)} trial(s) on the {runner.name} executor.")
            runner.run(run_trial, specs, trial_done)
    except KeyboardInterrupt:
        finished = sum(r.finished for r in results.values())
        _finish(exp, root, fingerprint, runner.name, results, t0)
        raise Interrupted(
            f"Interrupted: {finished} of {total} trials finished and are saved in {root} "
            "(unfinished ones keep their last checkpoint).",
            hint="Re-run the same command to resume.",
        ) from None

    exec_name = runner.name
    result = _finish(exp, root, fingerprint, exec_name, results, t0)
    interrupted = [r for r in results.values() if r.status == "interrupted"]
    if interrupted:
        raise Interrupted(
            f"Interrupted: {len(interrupted)} trial(s) stopped early; finished ones are saved "
            f"in {root}.",
            hint="Re-run the same command to resume.",
        )
    if failures:
        _raise_failures(failures, root)
    return result


def _needs_auto(exp: Experiment, variant: str) -> bool:
    return exp.variant(variant).schedule.auto


def _auto_jobs(
    exp: Experiment, task: Any, root: Path, todo: list[tuple[str, int]]
) -> tuple[list[AutoSpec], dict[tuple[str, int], Path]]:
    """The range tests still to run (one per seed × optimizer without a cache file) and the
    cache file every pending ``auto`` trial will read its LR from."""
    wanted: dict[tuple[str, int], Path] = {}
    specs: dict[Path, AutoSpec] = {}
    for name, seed in todo:
        if not _needs_auto(exp, name):
            continue
        path = auto_cache_path(root, seed, choose_optimizer(task, exp, exp.variant(name)))
        wanted[(name, seed)] = path
        if read_auto_lr(path) is None and path not in specs:
            specs[path] = AutoSpec(exp.to_dict(), name, seed, str(path))
    return list(specs.values()), wanted


def _read_auto(wanted: Mapping[tuple[str, int], Path]) -> dict[tuple[str, int], float]:
    out = {}
    for key, path in wanted.items():
        lr = read_auto_lr(path)
        if lr is not None:
            out[key] = lr
    return out


def _describe(r: TrialResult) -> str:
    last = r.records[-1] if r.records else {}
    parts = [r.status]
    for key in ("eval_accuracy", "eval_loss", "train_loss"):
        value = last.get(key)
        if value is not None and math.isfinite(float(value)):
            parts.append(f"{key} {float(value):.4f}")
            break
    parts.append(f"{r.elapsed:.1f} s")
    if r.auto_lr is not None:
        parts.append(f"auto lr {r.auto_lr:.4g}")
    return ", ".join(parts)


def _finish(
    exp: Experiment,
    root: Path,
    fingerprint: str,
    executor: str,
    results: Mapping[tuple[str, int], TrialResult],
    t0: float,
) -> ExperimentResult:
    """Compare the finished trials; write summary.json, table.md and table.csv."""
    ordered = [
        results[(v.name, s)] for v in exp.variants for s in exp.seeds if (v.name, s) in results
    ]
    result = ExperimentResult(
        name=exp.name,
        dir=str(root),
        config=exp.to_dict(),
        fingerprint=fingerprint,
        executor=executor,
        trials=ordered,
        comparison=None,
        elapsed=time.perf_counter() - t0,
    )
    records = result.records()
    if records:
        control = exp.control_name if exp.control_name in records else next(iter(records))
        chance = next((t.chance_level for t in ordered if t.chance_level is not None), None)
        result.comparison = compare(
            records,
            metric=exp.analysis.metric,
            target=exp.target,
            control=control,
            chance=chance,
            spike_threshold=exp.analysis.spike_threshold,
            plateau_tol=exp.analysis.plateau_tol,
        )
        (root / "table.md").write_text(result.table("markdown"), encoding="utf-8")
        (root / "table.csv").write_text(result.table("csv"), encoding="utf-8")
    write_json(root / SUMMARY_JSON, result.to_dict(records=False))
    return result


def _raise_failures(failures: list[tuple[str, BaseException]], root: Path) -> None:
    label, first = failures[0]
    others = f" ({len(failures) - 1} more failed)" if len(failures) > 1 else ""
    if isinstance(first, LrlabError):
        raise type(first)(
            f"Trial {label} failed: {first.message}{others}. Finished trials are saved in {root}.",
            hint=first.hint,
        ) from first
    raise first
