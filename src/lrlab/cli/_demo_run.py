"""``lrlab demo``'s stages: the whole workflow of the seed notes on a CPU-sized task.

1. **Find** — ``find_lr`` behind ``max_lr: auto`` (:func:`lrlab.experiment.auto.auto_find`:
   a range test with ``demo.yaml``'s ``range_test`` settings — metric mode, on find_lr's
   held-out batches — then short one-cycle runs that decide), once, from the first seed's
   initial weights, for the trials' planned length: the peak LR with its interval and cost.
2. **Prove** — ``demo.yaml``'s experiment with ``auto`` replaced by that LR
   (:func:`plan_experiment`), on the experiment's default executor (a process pool when
   there are several CPUs), followed through its files (:mod:`lrlab.experiment.progress`).
3. **Report** — the comparison table and ``report.html`` (:mod:`lrlab.report`).

Running the demo again into the same directory **reuses** what finished: the search and
every finished trial (unfinished ones resume from their checkpoints), then rewrites the
report — so Ctrl-C followed by the same command resumes. ``fresh=True`` deletes the demo's
own files first (:mod:`lrlab.cli._demo_dir`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrlab._io import save_figure
from lrlab.cli._demo_dir import (
    RANGE_TEST_DIR,
    DemoSettings,
    command_line,
    demo_config,
    manifest,
    prepare_out,
    write_marker,
)
from lrlab.errors import Interrupted, InvalidArgument, LrlabError
from lrlab.experiment.progress import ExperimentWatcher, LineProgress, Progress
from lrlab.rundir import check_out_dir, locked, result_path

# Budget of each trial: the task's epochs, capped so that a trial makes about this many
# optimizer updates (mnist1d-cnn: 40 batches per epoch -> 12 epochs).
MAX_UPDATES = 500
# The step-decay control divides the LR by 10 halfway through the run (torch's StepLR with
# step_size = half the updates): the textbook "train, then drop the LR" recipe.
STEP_DECAY_AT = 0.5


@dataclass
class DemoResult:
    """What :func:`run_demo` did: the settings, ``find_lr``'s answer (and its range test),
    the experiment, the report's path and the time it took (``reused``: parts taken from an
    earlier run)."""

    out: Path
    settings: DemoSettings
    found: Any  # lrlab.finder.FindResult
    range_test: Any  # lrlab.finder.RangeTestResult (found.range_test)
    experiment: Any  # lrlab.experiment.ExperimentResult
    report: Path
    elapsed: float
    reused: list[str] = field(default_factory=list)

    @property
    def max_lr(self) -> float:
        return float(self.found.lr)


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
    """``demo.yaml``'s experiment on ``task`` × ``seeds`` for ``epochs``: ``auto`` replaced by
    ``max_lr``, a missing ``lr`` by ``control_lr`` and the step decay's ``step_size`` by
    :data:`STEP_DECAY_AT` of the run's updates (:func:`lrlab.train.budget.planned_updates`).
    Pure: builds the :class:`lrlab.experiment.Experiment`, runs nothing."""
    from lrlab.experiment import Experiment
    from lrlab.schedules import policy_params
    from lrlab.train.budget import planned_updates

    config = demo_config()
    total = planned_updates(batches_per_epoch, epochs=epochs, iterations=None)
    assert total is not None
    variants = []
    for v in config["variants"]:
        name = v["schedule"]["name"]
        params = {k: (max_lr if val == "auto" else val) for k, val in v["schedule"].items()}
        lr_param = policy_params(name).get("lr")
        if lr_param is not None and lr_param.default is lr_param.empty and "lr" not in params:
            params["lr"] = control_lr
        if name == "step-decay":
            params["step_size"] = max(1, math.ceil(total * STEP_DECAY_AT))
        variants.append({**v, "schedule": params})
    return Experiment(
        **{
            **config,
            "task": task,
            "seeds": list(seeds),
            "epochs": epochs,
            "device": device,
            "variants": variants,
        }
    )


def _find(
    settings: DemoSettings, folder: Path, *, reuse: bool, progress: bool
) -> tuple[Any, int, int, bool]:
    """The demo's ``find_lr`` — loaded from ``folder/find.json`` when an earlier complete one of
    the same seed and planned length is there, else the experiment's ``auto`` search from the
    first seed, saved with its range test and figures — the trials' epochs, the training
    batches per epoch, and whether it was reused."""
    from lrlab.devices import resolve_device
    from lrlab.experiment import Experiment
    from lrlab.experiment.auto import auto_find
    from lrlab.finder import FindResult
    from lrlab.parallel.worker import torch_threads
    from lrlab.report.figures import range_test_figure
    from lrlab.tasks import get_task

    seed = settings.seeds[0]
    task = get_task(settings.task)
    batches = len(task.data(seed=seed, device=resolve_device(settings.device)).train)
    epochs = settings.epochs or demo_epochs(task.epochs, batches)
    path = folder / "find.json"
    if reuse and path.is_file():
        try:
            old = FindResult.load(path)
        except (OSError, ValueError, KeyError, TypeError):
            old = None
        same = old is not None and old.config.get("seed") == seed
        if same and old.complete and old.lr is not None and old.total_steps == epochs * batches:
            return old, epochs, batches, True
    config = demo_config()
    exp = Experiment(
        **{
            **config,
            "task": settings.task,
            "seeds": [seed],
            "device": settings.device,
            "epochs": epochs,
        }
    )
    auto = next(v["name"] for v in config["variants"] if "auto" in v["schedule"].values())
    # One thread, like the experiment's trials: the same numbers whatever the machine's
    # thread count, and no oversubscribed cores while the process pool starts.
    with torch_threads(1):
        found, _ = auto_find(exp, auto, seed, progress=progress)
    found.save(result_path(folder, path.name, complete=found.complete))  # partial: beside
    if found.complete:
        save_figure(found.plot().fig, folder / "find.png", dpi=110)
        if found.range_test is not None:
            found.range_test.save(folder / "range_test.json")
            save_figure(range_test_figure(found.range_test), folder / "range_test.png", dpi=110)
    return found, epochs, batches, False


def run_demo(
    out: str | Path = "runs/demo",
    *,
    task: str | None = None,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    device: str = "auto",
    executor: str = "auto",
    workers: int | None = None,
    fresh: bool = False,
    quiet: bool = False,
    progress: Progress | None = None,
) -> DemoResult:
    """find_lr → one-cycle vs constant and step-decay controls × seeds → report.

    Args:
        out: the demo directory (layout: :mod:`lrlab.cli._demo_dir`).
        task, seeds: a built-in task and the seeds (default: ``demo.yaml``'s, mnist1d-cnn
            and 0, 1, 2); one trial per variant and seed; find_lr uses the first seed.
        epochs: epochs per trial (default :func:`demo_epochs`: about 500 updates).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...; executor / workers: see
            :func:`lrlab.experiment.run_experiment` (default: a process pool when there
            are several CPUs).
        fresh: delete an earlier demo in ``out`` first (default: reuse what finished).
        quiet: no progress output; ``progress``: where progress goes instead of plain
            lines on stderr (the CLI passes rich bars).

    Raises:
        Interrupted: Ctrl-C; what finished is saved and the same call resumes.
        InvalidArgument: unknown task, bad settings, ``out`` holding something else, or a
            find_lr that finds no LR.
    """
    from lrlab.parallel import EXECUTORS
    from lrlab.tasks import get_task

    t0 = time.perf_counter()
    out = Path(out)
    given = {"task": task, "epochs": epochs, "device": device}
    if seeds is not None:
        given["seeds"] = tuple(int(s) for s in seeds)
    settings = DemoSettings(**{k: v for k, v in given.items() if v is not None})
    the_task = get_task(settings.task)  # unknown names fail here, with close matches
    # Checked now, not after the range test has run.
    if executor != "auto" and executor not in EXECUTORS:
        raise InvalidArgument(
            f"executor={executor!r} is not an executor.",
            hint=f"Use one of: auto, {', '.join(EXECUTORS)}.",
        )
    if workers is not None and workers < 1:
        raise InvalidArgument(f"workers={workers} must be >= 1.")
    check_out_dir(out)
    with locked(out):  # one demo at a time in a directory
        return _run_locked(out, settings, the_task, t0, executor, workers, fresh, quiet, progress)


def _run_locked(
    out: Path,
    settings: DemoSettings,
    the_task: Any,
    t0: float,
    executor: str,
    workers: int | None,
    fresh: bool,
    quiet: bool,
    progress: Progress | None,
) -> DemoResult:
    """:func:`run_demo` once it holds the directory's lock."""
    from lrlab.experiment import run_experiment
    from lrlab.report import write_report
    from lrlab.report.environment import environment

    show = progress if progress is not None else LineProgress(quiet)
    reuse = prepare_out(out, settings, fresh=fresh, say=show.message)
    state: dict[str, Any] = {
        "settings": settings.to_dict(),
        "status": "running",
        "command": command_line(out, settings),
        "environment": environment(device=settings.device),
        "manifest": manifest(settings),  # what --fresh may delete, and nothing else
    }
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, state)
    reused: list[str] = []
    try:
        show.stage("Find the max LR (range test, then short one-cycle runs)")
        found, n_epochs, batches, was_reused = _find(
            settings,
            out / RANGE_TEST_DIR,
            reuse=reuse,
            progress=not quiet and progress is not None,
        )
        if was_reused:
            reused.append("find_lr")
        rt = found.range_test
        if not found.complete:
            raise Interrupted(
                f"Demo interrupted during find_lr; what it measured is in {out / RANGE_TEST_DIR}.",
                hint=f"Run `{state['command']}` again to start it over.",
            )
        if found.lr is None:
            write_report(out)
            raise InvalidArgument(
                f"find_lr found no max LR for {settings.task} ({', '.join(found.flags)}); "
                f"nothing to train with. Its runs are in {out / 'report.html'}.",
                hint="Try another --task, or lrlab find with a wider --start-lr/--end-lr.",
            )
        show.message(
            f"  find_lr: max LR {found.lr:.3g} (interval {found.low:.3g} – {found.high:.3g}; "
            f"cost {found.cost['runs']:.2f} training runs)" + (" (reused)" if was_reused else "")
        )
        control_lr = float(the_task.optimizer.kwargs.get("lr", found.lr / 10))
        exp = plan_experiment(
            task=settings.task,
            seeds=settings.seeds,
            epochs=n_epochs,
            batches_per_epoch=batches,
            max_lr=float(found.lr),
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
            summary=_summary(settings, found, experiment, n_epochs, control_lr),
        )
        write_marker(out, state)
        report = write_report(out)
    except Interrupted as exc:
        state["status"] = "interrupted"
        write_marker(out, state)
        if exc.message.startswith("Demo interrupted"):
            raise
        what = exc.message.removeprefix("Interrupted: ")
        raise Interrupted(
            f"Demo interrupted: {what} find_lr's answer is in {out / RANGE_TEST_DIR}.",
            hint=f"Run `{state['command']}` again to resume (finished trials are reused); "
            f"`lrlab report {out}` makes a report of what finished.",
        ) from None
    except KeyboardInterrupt:
        # Ctrl-C outside find_lr and the trials (which handle it themselves): loading
        # data, writing the report. Everything finished before is on disk.
        state["status"] = "interrupted"
        write_marker(out, state)
        raise Interrupted(
            f"Demo interrupted; what finished is saved in {out}.",
            hint=f"Run `{state['command']}` again to resume (finished parts are reused).",
        ) from None
    except LrlabError:
        state["status"] = "failed"
        write_marker(out, state)
        raise
    finally:
        show.finish()
    return DemoResult(
        out=out,
        settings=settings,
        found=found,
        range_test=rt,
        experiment=experiment,
        report=report,
        elapsed=time.perf_counter() - t0,
        reused=reused,
    )


def _summary(
    settings: DemoSettings, found: Any, experiment: Any, epochs: int, control_lr: float
) -> str:
    """One sentence for the top of the report."""
    return (
        f"lrlab demo on {settings.task}: find_lr chose a max LR of {found.lr:.3g} for the "
        f"planned {found.total_steps}-step one-cycle run (cost {found.cost['runs']:.2f} runs); "
        f"one-cycle at that LR was compared with a constant LR and a step decay from "
        f"{control_lr:.3g} (the task's default), {epochs} epochs, seeds "
        f"{', '.join(str(s) for s in settings.seeds)}, identical initial weights per seed "
        f"({experiment.executor} executor)."
    )
