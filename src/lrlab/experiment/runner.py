"""``run_experiment``: run directories, skip/resume, the executor, the comparison.

On disk (``out/<experiment>/``)::

    experiment.yaml            the config (its fingerprint guards the directory)
    summary.json               ExperimentResult.to_dict(records=False): trials + comparison
    table.md, table.csv        the comparison table
    auto-lr/seed-<n>-<h>.json  cached range tests behind ``auto`` (one per seed × optimizer)
    <variant>/seed-<n>/        one trial: config.yaml, records.jsonl, checkpoint.pt,
                               summary.json (written when the trial finished)

Re-running the same command skips finished trials (``summary.json`` present and records
intact; a damaged one runs again) and resumes the others from their checkpoints. Running a
*different* experiment (another fingerprint: task, budget, optimizer, variants, device, ... —
seeds, target and analysis settings may change) into the same directory is refused, and so
is a second run into it while one is going (``.lrlab.lock``). Ctrl-C (or SIGTERM) stops the
run — no new trial starts, running ones stop after their current step —, keeps what
finished and raises :class:`lrlab.errors.Interrupted`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lrlab._io import write_json, write_text
from lrlab.analysis import compare
from lrlab.errors import Interrupted, LrlabError
from lrlab.experiment.auto import (
    AutoSpec,
    auto_cache_path,
    find_auto_lr,
    planned_run,
    read_auto_lr,
    write_auto_lr,
)
from lrlab.experiment.config import Experiment, load_experiment
from lrlab.experiment.directory import (
    EXPERIMENT_YAML,
    finished_trial,
    prepare_directory,
    save_outcome,
)
from lrlab.experiment.result import SUMMARY_JSON, ExperimentResult, TrialResult
from lrlab.experiment.trials import (
    TrialSpec,
    choose_optimizer,
    load_task,
    run_trial,
    trial_dir,
    warm_worker,
)
from lrlab.parallel.executors import TRIAL_MODULES, ProcessExecutor, make_executor
from lrlab.rundir import check_out_dir, locked

__all__ = ["EXPERIMENT_YAML", "SUMMARY_JSON", "ExperimentResult", "TrialResult", "run_experiment"]

# How the pool prepares for trials: the fork server imports what every trial imports once,
# each worker then builds one optimizer (:func:`lrlab.experiment.trials.warm_worker`).
POOL_OPTIONS: dict[str, Any] = {"preload": TRIAL_MODULES, "warm": warm_worker}


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
    root = check_out_dir(Path(out), option="out") / exp.name
    with locked(root, say=say):  # one writer: a second run into root is refused, named
        return _run_locked(exp, root, say, t0, quiet, (executor, workers, address))


def _run_locked(
    exp: Experiment,
    root: Path,
    say: Callable[[str], None],
    t0: float,
    quiet: bool,
    executor: tuple[str, int | None, str | None],
) -> ExperimentResult:
    """:func:`run_experiment` once it holds the directory's lock (``executor``: its name,
    workers and address)."""
    prepare_directory(root, exp)
    fingerprint = exp.fingerprint()
    results: dict[tuple[str, int], TrialResult] = {}
    todo: list[tuple[str, int]] = []
    for seed in exp.seeds:
        for v in exp.variants:
            label = f"{v.name}/seed-{seed}"
            done = finished_trial(
                trial_dir(root, v.name, seed),
                fingerprint,
                on_damaged=lambda line, label=label: say(f"  {label}: {line}"),
            )
            if done is not None:
                results[(v.name, seed)] = done
            else:
                todo.append((v.name, seed))
    if results:
        say(f"{exp.name}: {len(results)} finished trial(s) reused, {len(todo)} to run.")
    # The pool starts now: its workers import torch while this process loads the task.
    name, workers, address = executor
    runner = make_executor(
        name, jobs=len(todo), workers=workers, address=address, log=say, **POOL_OPTIONS
    )
    if todo and isinstance(runner, ProcessExecutor):
        runner.start()

    failures: list[tuple[str, BaseException]] = []
    count = [len(results)]
    total = len(exp.seeds) * len(exp.variants)

    def failed(spec: TrialSpec | AutoSpec, outcome: Any) -> bool:
        """Whether a job's outcome is an error (recorded and said). An interrupt, which
        came back before the job could record it (or from an incomplete find_lr, which is
        no answer), stops the whole run."""
        if isinstance(outcome, KeyboardInterrupt):
            raise KeyboardInterrupt
        if isinstance(outcome, BaseException):
            failures.append((spec.label, outcome))
            say(f"  {spec.label}: FAILED — {outcome}")
            return True
        return False

    def trial_done(spec: TrialSpec, outcome: Any) -> None:
        if failed(spec, outcome):
            return
        result = save_outcome(Path(spec.out_dir), outcome, fingerprint)
        results[(spec.variant, spec.seed)] = result
        count[0] += result.finished
        say(f"  [{count[0]}/{total}] {spec.label}: {_describe(result)}")
        if result.status == "interrupted":
            raise KeyboardInterrupt  # Ctrl-C reached the trial first: stop the whole run

    def auto_done(spec: AutoSpec, record: Any) -> None:
        if not failed(spec, record):
            say(f"  {spec.label}: suggested lr {write_auto_lr(spec.cache, record):.4g}")

    try:
        with runner:
            # Loaded here only when needed (auto LRs; a user factory, to fail early): while
            # the pool's workers start, this process leaves them the CPU.
            needs_task = exp.factory is not None or any(_needs_auto(exp, v) for v, _ in todo)
            task = load_task(exp) if needs_task else None
            auto_specs, auto_wanted = _auto_jobs(exp, task, root, todo)
            trials_left = [t for t in todo if not _needs_auto(exp, t[0]) or t in auto_wanted]
            if auto_specs:
                say(f"{exp.name}: {len(auto_specs)} find_lr run(s) for 'auto' on {runner.name}.")
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

    result = _finish(exp, root, fingerprint, runner.name, results, t0)
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
    return exp.needs_auto(variant)


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
        source = exp.lr_source(name)  # {same_as: V}: V's answer, computed once
        choice = choose_optimizer(task, exp, exp.variant(source))
        path = auto_cache_path(root, seed, choice, planned_run(exp, source))
        wanted[(name, seed)] = path
        if read_auto_lr(path) is None and path not in specs:
            specs[path] = AutoSpec(exp.to_dict(), source, seed, str(path))
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
        write_text(root / "table.md", result.table("markdown"))
        write_text(root / "table.csv", result.table("csv"))
        if exp.analysis.head_to_head:
            from lrlab.experiment.headtohead import write_head_to_head

            write_head_to_head(result)
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
