"""``lrlab demo``: the whole workflow of the seed notes on a CPU-sized task, in about a minute.

1. **Find** — an LR range test from seed 0's initial weights, in metric mode (loss and eval
   accuracy against the LR), giving a suggested max LR with its confidence range and a
   diagnosis of the accuracy curve.
2. **Prove** — a controlled experiment: one-cycle at the suggested max LR against two
   controls at the task's default LR (constant, and a step decay ×0.1 halfway through the
   run), over 3 seeds; every variant of a seed starts from the same weights and sees the
   same batches (:mod:`lrlab.experiment`, on its default executor: a process pool when
   there are several CPUs).
3. **Report** — the comparison table and ``report.html`` (:mod:`lrlab.report`).

Layout of ``out`` (default ``runs/demo``)::

    demo.json                    settings, environment, status, summary
    range-test/range_test.json   the range test (and range_test.png)
    onecycle-vs-controls/        the experiment directory (see lrlab.experiment)
    report.html                  the report

Running the demo again into the same directory **reuses** what finished: the range test
(when its settings match) and every finished trial (unfinished ones resume from their
checkpoints), then rewrites the report — so Ctrl-C followed by the same command resumes.
``fresh=True`` deletes the demo's own files first; a directory that holds something else,
or a demo with other settings, is refused with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lrlab._io import read_json, read_jsonl, write_json
from lrlab.errors import Interrupted, InvalidArgument, LrlabError

DEFAULT_TASK = "mnist1d-cnn"
DEFAULT_SEEDS = (0, 1, 2)
# Budget of each trial: the task's epochs, capped so that a trial makes about this many
# optimizer updates (mnist1d-cnn: 40 batches per epoch -> 12 epochs).
MAX_UPDATES = 500
DEMO_JSON = "demo.json"
RANGE_TEST_DIR = "range-test"
EXPERIMENT_NAME = "onecycle-vs-controls"
REPORT_NAME = "report.html"
# The step-decay control divides the LR by 10 halfway through the run (torch's StepLR with
# step_size = half the updates): the textbook "train, then drop the LR" recipe.
STEP_DECAY_GAMMA = 0.1
STEP_DECAY_PARTS = 2
# Range-test stop reasons after which a saved test is complete enough to reuse.
_REUSABLE = ("completed", "diverged", "non-finite loss")


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs. ``epochs=None`` picks :func:`demo_epochs` for the task; the
    range test sweeps the task's LR window in ``num_iter`` steps, evaluating the metric on
    ``eval_batches`` batches every ``eval_every`` steps."""

    task: str = DEFAULT_TASK
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    epochs: int | None = None
    num_iter: int = 100
    eval_every: int = 5
    eval_batches: int = 4
    device: str = "auto"

    def __post_init__(self) -> None:
        if not self.seeds:
            raise InvalidArgument("seeds is empty: the demo needs at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            raise InvalidArgument(f"seeds={list(self.seeds)} has duplicates.")
        if self.epochs is not None and self.epochs < 1:
            raise InvalidArgument(f"epochs={self.epochs} must be >= 1.")
        if self.num_iter < 10:
            raise InvalidArgument(f"num_iter={self.num_iter} must be >= 10.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoSettings:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "seeds" in known:
            known["seeds"] = tuple(int(s) for s in known["seeds"])
        return cls(**known)

    def result_fields(self) -> dict[str, Any]:
        """The settings that change results: a directory holding a demo with other values
        of these is not reused. Seeds may be added or dropped (trials are per seed) as long
        as the first one, the range test's, stays."""
        d = self.to_dict()
        d["range_test_seed"] = d.pop("seeds")[0]  # the range test runs from the first seed
        return d


@dataclass
class DemoResult:
    """What :func:`run_demo` did: the settings, the range test, the experiment, the
    report's path and the time it took (``reused``: parts taken from an earlier run)."""

    out: Path
    settings: DemoSettings
    range_test: Any  # lrlab.finder.RangeTestResult
    experiment: Any  # lrlab.experiment.ExperimentResult
    report: Path
    elapsed: float
    reused: list[str] = field(default_factory=list)

    @property
    def max_lr(self) -> float:
        return float(self.range_test.suggestion.lr)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "settings": self.settings.to_dict(),
            "range_test": str(self.out / RANGE_TEST_DIR / "range_test.json"),
            "experiment": str(self.experiment.dir),
            "report": str(self.report),
            "elapsed": self.elapsed,
            "reused": list(self.reused),
            "max_lr": self.max_lr,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoResult:
        """Read back from the files the paths point to."""
        from lrlab.experiment import ExperimentResult
        from lrlab.finder import RangeTestResult

        return cls(
            out=Path(d["out"]),
            settings=DemoSettings.from_dict(d["settings"]),
            range_test=RangeTestResult.load(d["range_test"]),
            experiment=ExperimentResult.load(d["experiment"]),
            report=Path(d["report"]),
            elapsed=float(d.get("elapsed", 0.0)),
            reused=list(d.get("reused", [])),
        )


# --------------------------------------------------------------------------- pure planning


def demo_epochs(task_epochs: int, batches_per_epoch: int, max_updates: int = MAX_UPDATES) -> int:
    """``min(task_epochs, max(1, max_updates // batches_per_epoch))``: the task's own budget,
    capped at about ``max_updates`` optimizer updates per trial."""
    return max(1, min(int(task_epochs), max_updates // max(1, int(batches_per_epoch))))


def plan_experiment(
    *,
    task: str,
    seeds: Sequence[int],
    epochs: int,
    batches_per_epoch: int,
    max_lr: float,
    control_lr: float,
    device: str = "auto",
) -> Any:
    """The demo's experiment: one-cycle at ``max_lr`` (torch's defaults: 30 % warm-up,
    start at max/25, cyclical momentum 0.95 → 0.85 → 0.95) against a constant
    ``control_lr`` (the control) and a step decay from ``control_lr``, ×0.1 after every
    ``1/STEP_DECAY_PARTS`` of the run (halfway). Pure: builds the
    :class:`lrlab.experiment.Experiment`, runs nothing."""
    from lrlab.experiment import Experiment

    total = epochs * batches_per_epoch
    step_size = max(1, math.ceil(total / STEP_DECAY_PARTS))
    return Experiment(
        name=EXPERIMENT_NAME,
        description=(
            f"lrlab demo: one-cycle at the range test's suggested max LR ({max_lr:.3g}) "
            f"against a constant and a step-decay LR ({control_lr:.3g}, the task's default)."
        ),
        task=task,
        seeds=list(seeds),
        epochs=epochs,
        device=device,
        variants=[
            {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": max_lr}},
            {"name": "constant", "schedule": {"name": "constant", "lr": control_lr}},
            {
                "name": "step-decay",
                "schedule": {
                    "name": "step-decay",
                    "lr": control_lr,
                    "step_size": step_size,
                    "gamma": STEP_DECAY_GAMMA,
                },
            },
        ],
        control="constant",
    )


def seeds_option(seeds: Sequence[int]) -> str:
    """The ``--seeds`` value for ``seeds``: a count for ``0..n-1`` (``"3"``), else a list
    (``"5,7"``; a single seed keeps a comma, ``"5,"``, since ``"5"`` would be a count)."""
    if tuple(seeds) == tuple(range(len(seeds))):
        return str(len(seeds))
    text = ",".join(str(s) for s in seeds)
    return text if len(seeds) > 1 else f"{text},"


def command_line(out: Path, settings: DemoSettings) -> str:
    """The ``lrlab demo`` command that reproduces these settings."""
    parts = ["lrlab demo", f"--task {settings.task}", f"--out {out}"]
    parts.append(f"--seeds {seeds_option(settings.seeds)}")
    if settings.epochs is not None:
        parts.append(f"--epochs {settings.epochs}")
    if settings.device != "auto":
        parts.append(f"--device {settings.device}")
    return " ".join(parts)


# --------------------------------------------------------------------------- progress


class DemoProgress(Protocol):
    """Where the demo reports what it is doing (the CLI draws rich bars from it)."""

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage starts (``total``: its units of work, when known)."""

    def update(self, completed: int, detail: str = "") -> None:
        """``completed`` units of the current stage are done."""

    def message(self, text: str) -> None:
        """A line worth keeping (a finished trial, a suggestion)."""

    def finish(self) -> None:
        """The demo is over (also on errors): stop drawing."""


class LineProgress:
    """Plain lines on stderr (``quiet``: nothing) — the Python API's default."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def stage(self, name: str, total: int | None = None) -> None:
        self.message(f"== {name}")

    def update(self, completed: int, detail: str = "") -> None:
        """Progress counts are for bars; lines carry the messages only."""

    def message(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def finish(self) -> None:
        """Nothing to stop."""


class ExperimentWatcher:
    """Follows an experiment running elsewhere (pool workers) through its files.

    Every ``interval`` seconds it counts the epochs each trial has written to its
    ``records.jsonl`` (flushed once per epoch) and reports the total to
    ``progress.update``; a trial whose ``summary.json`` appears is announced once with its
    final numbers. Reading files needs no cooperation from the workers and works the same
    for every executor.
    """

    def __init__(
        self,
        root: Path,
        trials: Sequence[tuple[str, int]],
        progress: DemoProgress,
        *,
        interval: float = 0.5,
    ) -> None:
        self.root = root
        self.trials = list(trials)
        self.progress = progress
        self.interval = interval
        self._announced: set[tuple[str, int]] = set()
        self._reused: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _dir(self, variant: str, seed: int) -> Path:
        return self.root / variant / f"seed-{seed}"

    def poll(self) -> int:
        """Epochs written so far over all trials; announces newly finished trials."""
        done = 0
        for variant, seed in self.trials:
            directory = self._dir(variant, seed)
            records = directory / "records.jsonl"
            if records.is_file():
                rows = read_jsonl(records)
                done += sum(1 for r in rows if int(r.get("epoch", 0)) > 0)
            summary = directory / "summary.json"
            if (variant, seed) not in self._announced and summary.is_file():
                self._announced.add((variant, seed))
                reused = (variant, seed) in self._reused
                self.progress.message(_trial_line(variant, seed, summary, reused=reused))
        finished = len(self._announced)
        detail = f"{finished}/{len(self.trials)} trials finished"
        if done == 0 and finished == 0:
            detail = "starting the workers, waiting for the first epoch"
        self.progress.update(done, detail=detail)
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except (OSError, ValueError):
                continue  # a file being replaced right now: read it next time

    def __enter__(self) -> ExperimentWatcher:
        # Trials finished before this run started are reused by the runner: say so.
        self._reused = {
            (v, s) for v, s in self.trials if (self._dir(v, s) / "summary.json").is_file()
        }
        self._thread = threading.Thread(target=self._run, name="lrlab-demo-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError, ValueError):
            self.poll()  # the final state, once


def _trial_line(variant: str, seed: int, summary_path: Path, *, reused: bool = False) -> str:
    try:
        summary = read_json(summary_path)
    except (OSError, ValueError):
        return f"  {variant}/seed-{seed}: finished"
    final = summary.get("final") or {}
    shown = next(
        (
            f"{key} {float(final[key]):.4f}"
            for key in ("eval_accuracy", "eval_loss", "train_loss")
            if final.get(key) is not None
        ),
        "",
    )
    elapsed = summary.get("elapsed")
    tail = f", {elapsed:.1f} s" if isinstance(elapsed, (int, float)) else ""
    note = " (reused: finished in an earlier run)" if reused else ""
    return f"  {variant}/seed-{seed}: {summary.get('status', 'finished')}, {shown}{tail}{note}"


# --------------------------------------------------------------------------- the directory


def _demo_paths(out: Path) -> list[Path]:
    return [
        out / RANGE_TEST_DIR,
        out / EXPERIMENT_NAME,
        out / REPORT_NAME,
        out / DEMO_JSON,
    ]


def prepare_out(out: Path, settings: DemoSettings, *, fresh: bool) -> bool:
    """Check (or clear, with ``fresh``) the demo directory; return whether an earlier demo
    with the same settings is there to reuse.

    Raises:
        InvalidArgument: ``out`` holds something that is not a demo, or a demo with other
            settings (and ``fresh`` is off).
    """
    marker = out / DEMO_JSON
    if not out.exists():
        return False
    if not out.is_dir():
        raise InvalidArgument(f"--out {out} is a file, not a directory.")
    if not marker.is_file():
        if any(out.iterdir()):
            raise InvalidArgument(
                f"{out} exists and is not an lrlab demo directory (no {DEMO_JSON}).",
                hint="Use another --out directory (the demo never deletes files it did not write).",
            )
        return False
    if fresh:
        for path in _demo_paths(out):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        return False
    try:
        old = DemoSettings.from_dict(read_json(marker)["settings"])
    except (OSError, ValueError, KeyError, TypeError, InvalidArgument):
        raise InvalidArgument(
            f"{marker} cannot be read back.", hint="Run with --fresh to start over."
        ) from None
    if old.result_fields() != settings.result_fields():
        changed = [
            f"{k}: {old.result_fields()[k]!r} -> {v!r}"
            for k, v in settings.result_fields().items()
            if old.result_fields().get(k) != v
        ]
        raise InvalidArgument(
            f"{out} holds a demo with other settings ({'; '.join(changed)}).",
            hint="Add --fresh to replace it, or use another --out directory.",
        )
    return True


# --------------------------------------------------------------------------- the run


def _range_test(
    task: Any,
    data: Any,
    settings: DemoSettings,
    path: Path,
    *,
    device: Any,
    reuse: bool,
    progress: bool,
) -> tuple[Any, bool]:
    """The demo's range test: loaded from ``path`` when an earlier complete one with the
    same settings is there, else run from seed 0's initial weights and saved."""
    from lrlab.finder import RangeTestResult, range_test
    from lrlab.parallel.worker import torch_threads
    from lrlab.seeding import derive_seed, seed_everything

    seed = settings.seeds[0]
    if reuse and path.is_file():
        try:
            old = RangeTestResult.load(path)
        except (OSError, ValueError, KeyError, TypeError):
            old = None
        same = old is not None and old.config.get("seed") == seed
        if same and old.stop_reason in _REUSABLE and old.suggestion is not None:
            return old, True
    low, high = task.lr_range
    seed_everything(derive_seed(seed, "range-test"))
    model = task.model(seed=seed, device=device)
    # One thread, like the experiment's trials: the same numbers whatever the machine's
    # thread count (reductions run in another order with more threads), and no oversubscribed
    # cores while the process pool starts.
    with torch_threads(1):
        result = range_test(
            model,
            task.make_optimizer(model),
            task.criterion(),
            data.train,
            start_lr=low,
            end_lr=high,
            num_iter=settings.num_iter,
            eval_data=data.eval,
            eval_every=settings.eval_every,
            eval_batches=settings.eval_batches,
            metrics=list(task.metrics),
            chance=data.chance_level,
            # the task's autocast on CUDA, as `lrlab find` and the experiment's trials use it
            amp=task.amp if (device.type == "cuda" and getattr(task, "amp", None)) else False,
            progress=progress,
        )
    result.config.update({"task": task.name, "seed": seed})
    result.save(path)
    from lrlab.report.figures import range_test_figure

    range_test_figure(result).savefig(path.with_suffix(".png"), dpi=110)
    return result, False


def _write_marker(out: Path, state: dict[str, Any]) -> None:
    write_json(out / DEMO_JSON, state)


def run_demo(
    out: str | Path = "runs/demo",
    *,
    task: str = DEFAULT_TASK,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    epochs: int | None = None,
    device: str = "auto",
    executor: str = "auto",
    workers: int | None = None,
    fresh: bool = False,
    quiet: bool = False,
    progress: DemoProgress | None = None,
) -> DemoResult:
    """Range test → one-cycle vs constant and step-decay controls × seeds → report.

    Args:
        out: the demo directory (see the module docstring for its layout).
        task: a built-in task (``lrlab tasks``); ``mnist1d-cnn`` by default.
        seeds: one trial per variant and seed; the range test uses the first seed.
        epochs: epochs per trial (default :func:`demo_epochs`: about 500 updates).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...; executor / workers: see
            :func:`lrlab.experiment.run_experiment` (default: a process pool when there
            are several CPUs).
        fresh: delete an earlier demo in ``out`` first (default: reuse what finished).
        quiet: no progress output; ``progress``: where progress goes instead of plain
            lines on stderr (the CLI passes rich bars).

    Returns:
        :class:`DemoResult`; ``result.experiment.comparison`` is the comparison.

    Raises:
        Interrupted: Ctrl-C; what finished is saved and the same call resumes.
        InvalidArgument: unknown task, bad settings, ``out`` holding something else, or a
            range test that suggests no LR.
    """
    from lrlab.devices import resolve_device
    from lrlab.experiment import run_experiment
    from lrlab.parallel import EXECUTORS
    from lrlab.report import write_report
    from lrlab.report.environment import environment
    from lrlab.tasks import get_task

    t0 = time.perf_counter()
    out = Path(out)
    settings = DemoSettings(
        task=task, seeds=tuple(int(s) for s in seeds), epochs=epochs, device=device
    )
    the_task = get_task(settings.task)  # unknown names fail here, with close matches
    dev = resolve_device(settings.device)
    # Checked now, not after the range test has run.
    if executor != "auto" and executor not in EXECUTORS:
        raise InvalidArgument(
            f"executor={executor!r} is not an executor.",
            hint=f"Use one of: auto, {', '.join(EXECUTORS)}.",
        )
    if workers is not None and workers < 1:
        raise InvalidArgument(f"workers={workers} must be >= 1.")
    reuse = prepare_out(out, settings, fresh=fresh)
    show = progress if progress is not None else LineProgress(quiet)
    state: dict[str, Any] = {
        "settings": settings.to_dict(),
        "status": "running",
        "command": command_line(out, settings),
        "environment": environment(device=settings.device),
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_marker(out, state)
    reused: list[str] = []
    try:
        show.stage("Range test")
        data = the_task.data(seed=settings.seeds[0], device=dev)
        rt, was_reused = _range_test(
            the_task,
            data,
            settings,
            out / RANGE_TEST_DIR / "range_test.json",
            device=dev,
            reuse=reuse,
            progress=not quiet and progress is not None,
        )
        if was_reused:
            reused.append("range test")
        if rt.stop_reason == "interrupted":
            raise Interrupted(
                f"Demo interrupted during the range test (step {rt.stop_step}); its partial "
                f"curve is in {out / RANGE_TEST_DIR}.",
                hint=f"Run `{state['command']}` again to start it over.",
            )
        sug = rt.suggestion
        if sug is None or sug.lr is None:
            write_report(out)
            flags = "; ".join(sug.flags) if sug is not None else "no curve"
            raise InvalidArgument(
                f"The range test of {settings.task} suggests no max LR ({flags}); nothing to "
                f"train with. Its curve is in {out / 'report.html'}.",
                hint="Try another --task, or lrlab find with a wider --start-lr/--end-lr.",
            )
        show.message(
            f"  suggested max LR {sug.lr:.3g} (range {sug.low:.3g} – {sug.high:.3g})"
            + (f"; diagnosis: {rt.diagnosis.shape}" if rt.diagnosis is not None else "")
            + (" (reused)" if was_reused else "")
        )

        batches = len(data.train)
        n_epochs = settings.epochs or demo_epochs(the_task.epochs, batches)
        control_lr = float(the_task.optimizer.kwargs.get("lr", sug.lr / 10))
        exp = plan_experiment(
            task=settings.task,
            seeds=settings.seeds,
            epochs=n_epochs,
            batches_per_epoch=batches,
            max_lr=float(sug.lr),
            control_lr=control_lr,
            device=settings.device,
        )
        trials = [(v.name, s) for s in exp.seeds for v in exp.variants]
        show.stage(
            f"Training {len(trials)} trials ({len(exp.variants)} variants × "
            f"{len(exp.seeds)} seeds, {n_epochs} epochs each)",
            total=len(trials) * n_epochs,
        )
        with ExperimentWatcher(out / exp.name, trials, show):
            experiment = run_experiment(
                exp, executor=executor, workers=workers, out=out, quiet=True
            )
        if any(t.reused for t in experiment.trials):
            reused.append(f"{sum(t.reused for t in experiment.trials)} trial(s)")

        show.stage("Report")
        elapsed = time.perf_counter() - t0
        state.update(
            status="completed",
            elapsed=elapsed,
            reused=reused,
            summary=_summary(settings, rt, experiment, n_epochs, control_lr),
        )
        _write_marker(out, state)
        report = write_report(out)
    except Interrupted as exc:
        state["status"] = "interrupted"
        _write_marker(out, state)
        if exc.message.startswith("Demo interrupted"):
            raise
        what = exc.message.removeprefix("Interrupted: ")
        raise Interrupted(
            f"Demo interrupted: {what} The range test is in {out / RANGE_TEST_DIR}.",
            hint=f"Run `{state['command']}` again to resume (finished trials are reused); "
            f"`lrlab report {out}` makes a report of what finished.",
        ) from None
    except KeyboardInterrupt:
        # Ctrl-C outside the range test and the trials (which handle it themselves): loading
        # data, writing the report. Everything finished before is on disk.
        state["status"] = "interrupted"
        _write_marker(out, state)
        raise Interrupted(
            f"Demo interrupted; what finished is saved in {out}.",
            hint=f"Run `{state['command']}` again to resume (finished parts are reused).",
        ) from None
    except LrlabError:
        state["status"] = "failed"
        _write_marker(out, state)
        raise
    finally:
        show.finish()
    return DemoResult(
        out=out,
        settings=settings,
        range_test=rt,
        experiment=experiment,
        report=report,
        elapsed=time.perf_counter() - t0,
        reused=reused,
    )


def _summary(
    settings: DemoSettings, rt: Any, experiment: Any, epochs: int, control_lr: float
) -> str:
    """One sentence for the top of the report."""
    sug = rt.suggestion
    return (
        f"lrlab demo on {settings.task}: the range test suggested a max LR of {sug.lr:.3g}; "
        f"one-cycle at that LR was compared with a constant LR and a step decay from "
        f"{control_lr:.3g} (the task's default), {epochs} epochs, seeds "
        f"{', '.join(str(s) for s in settings.seeds)}, identical initial weights per seed "
        f"({experiment.executor} executor)."
    )
