"""Trials: one variant × one seed, built from the config and run with ``lrlab.fit``.

Controlled comparison is the point, so for a given seed every variant starts from the SAME
initial weights (``Task.model(seed)``: drawn from ``derive_seed(seed, "init")``) and sees the
SAME data order (``Task.data(seed=seed)``: ``derive_seed(seed, "data")``); the global RNG
(dropout, ...) is seeded with ``derive_seed(seed, "train")``. Only the schedule and the
optimizer overrides differ.

Everything here is a module-level function of picklable arguments (:class:`TrialSpec`,
:class:`AutoSpec`): the process-pool and Ray executors ship them to workers. A worker runs
with ``torch.set_num_threads(threads)`` (1 by default) so every executor reduces floats in
the same order and produces the same records.

``auto`` learning rates are :mod:`lrlab.experiment.auto`'s: the trial gets the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lrlab.stops as stops
from lrlab._io import write_text
from lrlab.batches import num_batches
from lrlab.errors import InvalidArgument
from lrlab.experiment import peaks
from lrlab.experiment.config import Experiment, Variant
from lrlab.optim.registry import OptimizerSpec
from lrlab.parallel.worker import STOP, torch_threads, warm_torch
from lrlab.rundir import locked
from lrlab.signals import StopOnRequest
from lrlab.train.budget import bind_schedule, planned_updates

# fit stop reasons after which a trial is finished (never re-run); "interrupted" is not.
FINISHED = stops.FINISHED


def trial_dir(root: str | Path, variant: str, seed: int) -> Path:
    """``<root>/<variant>/seed-<seed>`` — where a trial's files live."""
    return Path(root) / variant / f"seed-{int(seed)}"


def load_task(exp: Experiment) -> Any:
    """The experiment's :class:`lrlab.tasks.Task` (built-in or from the user's factory)."""
    if exp.task is not None:
        from lrlab.tasks import get_task

        return get_task(exp.task, **exp.task_options)
    from lrlab.tasks import load_user_task

    task = load_user_task(exp.factory)
    return task.with_options(**exp.task_options) if exp.task_options else task


def choose_optimizer(task: Any, exp: Experiment, variant: Variant) -> OptimizerSpec:
    """The task's optimizer, then the experiment's settings, then the variant's overrides
    (:meth:`lrlab.optim.OptimizerSpec.replace`: a different *name* keeps only the LR — SGD's
    momentum does not carry to Adam — and ``momentum`` is ``betas[0]`` for the Adam family).
    """
    cfg = exp.optimizer.merged(variant.optimizer)
    spec = OptimizerSpec(task.optimizer.name.lower(), dict(task.optimizer.kwargs)).replace(
        cfg.name,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        nesterov=cfg.nesterov,
        betas=None if cfg.betas is None else tuple(cfg.betas),
        momentum=cfg.momentum,
        **cfg.options,
    )
    if "lr" not in spec.kwargs:  # replaced by the schedule at every step anyway
        spec = spec.replace(lr=1e-3)
    return spec


def trial_epochs(exp: Experiment, task: Any) -> int | None:
    """The epoch budget of a trial (``None`` under an iteration budget)."""
    return None if exp.iterations else (exp.epochs or task.epochs)


def total_steps(exp: Experiment, task: Any, batches_per_epoch: int | None) -> int | None:
    """Optimizer updates in the budget: what ``fit`` will do (the one formula,
    :func:`lrlab.train.budget.planned_updates`)."""
    return planned_updates(
        batches_per_epoch,
        epochs=trial_epochs(exp, task),
        iterations=exp.iterations,
        accumulation_steps=exp.accumulation_steps,
    )


def schedule_params(
    variant: Variant,
    *,
    lr: float | None,
    auto_lr: float | None,
    source: Variant | None = None,
) -> dict[str, Any]:
    """The variant's schedule parameters with ``auto``, ``{same_as: ...}`` (``source``: the
    variant named) and a missing ``lr`` filled in (``total_steps`` is the run's:
    :func:`lrlab.train.budget.bind_schedule`)."""
    sched = variant.schedule
    if sched is None:
        return {}
    theirs = None if source is None or source.schedule is None else source.schedule.params
    try:
        params = peaks.resolve(sched.params, theirs, auto_lr)
    except InvalidArgument as exc:
        raise InvalidArgument(f"variant {variant.name!r}: {exc.message}", hint=exc.hint) from None
    if "lr" not in params and "lr" in sched.required():
        params["lr"] = lr
    return params


@dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one trial (plain, picklable data)."""

    experiment: dict[str, Any]
    variant: str
    seed: int
    out_dir: str
    auto_lr: float | None = None
    quiet: bool = True

    @property
    def label(self) -> str:
        return f"{self.variant}/seed-{self.seed}"


@dataclass
class TrialSetup:
    """A trial's live objects, ready for ``fit``."""

    task: Any
    model: Any
    optimizer: Any
    criterion: Any
    data: Any
    schedule: Any
    optimizer_choice: OptimizerSpec
    total_steps: int | None
    device: Any
    metrics: Any = None  # names, or a user task's {name: fn}
    config: dict[str, Any] = field(default_factory=dict)


def build_trial(
    exp: Experiment, variant: str, seed: int, *, auto_lr: float | None = None
) -> TrialSetup:
    """Model, optimizer, data and schedule of trial (``variant``, ``seed``), built by
    :func:`lrlab.tasks.build_run` (one seeding recipe for every run of a seed)."""
    v = exp.variant(variant)
    run = seeded_start(exp, v, seed)
    choice = run.optimizer_spec
    assert choice is not None  # seeded_start always chooses one
    steps = total_steps(exp, run.task, num_batches(run.data.train))
    schedule = None
    if v.schedule is not None:
        source = exp.variant(exp.lr_source(v.name))
        params = schedule_params(v, lr=choice.kwargs.get("lr"), auto_lr=auto_lr, source=source)
        schedule = bind_schedule({"name": v.schedule.name, **params}, steps)
    config = {
        "experiment": exp.name,
        "fingerprint": exp.fingerprint(),
        "variant": v.name,
        "seed": int(seed),
        "task": run.task.name,
        "task_options": dict(exp.task_options),
        "budget": {
            "epochs": trial_epochs(exp, run.task),
            "iterations": exp.iterations,
            "total_steps": steps,
        },
        "batch_size": exp.batch_size or run.task.batch_size,
        "optimizer": {"name": choice.name, **choice.kwargs},
        "schedule": None if schedule is None else schedule.to_dict(),
        "auto_lr": auto_lr,
        "device": str(run.device),
        "threads": exp.threads,
        "grad_clip": exp.grad_clip,
        "accumulation_steps": exp.accumulation_steps,
        "amp": run.amp,
    }
    return TrialSetup(
        task=run.task,
        model=run.model,
        optimizer=run.optimizer,
        criterion=run.criterion,
        data=run.data,
        schedule=schedule,
        optimizer_choice=choice,
        total_steps=steps,
        device=run.device,
        metrics=run.metrics,
        config=config,
    )


def seeded_start(exp: Experiment, v: Variant, seed: int) -> Any:
    """The seed's :class:`lrlab.tasks.RunObjects` with variant ``v``'s optimizer: the same
    for every variant (the optimizer aside), whatever ran in this process before."""
    from lrlab.tasks.run import build_run

    return build_run(
        lambda: load_task(exp),
        seed,
        device=exp.device,
        batch_size=exp.batch_size,
        optimizer=lambda task: choose_optimizer(task, exp, v),
        amp=exp.amp,
    )


@dataclass
class TrialOutcome:
    """What a worker sends back: the trial's identity, why it stopped and its records."""

    variant: str
    seed: int
    stop_reason: str
    message: str
    records: list[dict[str, Any]]
    config: dict[str, Any]
    chance_level: float | None = None
    elapsed: float = 0.0

    @property
    def finished(self) -> bool:
        return self.stop_reason in FINISHED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialOutcome:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def train_trial(
    exp: Experiment,
    setup: TrialSetup,
    out: Path,
    *,
    resume: bool = True,
    quiet: bool = True,
    csv: bool = False,
    tensorboard: bool = False,
    callbacks: Sequence[Any] = (),
) -> Any:
    """``lrlab.fit`` of a built trial into its run directory ``out`` with the experiment's
    budget, evaluation, clipping, accumulation, precision and checkpoints; the
    :class:`~lrlab.train.FitResult`. ``fit`` appends ``records.jsonl`` every epoch and
    checkpoints every ``checkpoint_every`` epochs (``lrlab train`` is one such trial)."""
    from lrlab.train import fit

    return fit(
        setup.model,
        setup.optimizer,
        setup.criterion,
        setup.data.train,
        schedule=setup.schedule,
        epochs=trial_epochs(exp, setup.task),
        iterations=exp.iterations,
        eval_data=setup.data.eval if exp.eval.enabled else None,
        metrics=setup.metrics,
        grad_clip=exp.grad_clip,
        accumulation_steps=exp.accumulation_steps,
        amp=setup.config["amp"],
        out_dir=out,
        csv=csv,
        checkpoint_every=exp.checkpoint_every,
        resume=resume,
        device=setup.device,
        quiet=quiet,
        tensorboard=tensorboard,
        eval_batches=exp.eval.batches,
        config=setup.config,
        callbacks=callbacks,
    )


def run_trial(spec: TrialSpec) -> TrialOutcome:
    """Run one trial (:func:`train_trial`) into ``spec.out_dir``, resuming what is there.

    ``config.yaml`` is written before training. The caller writes ``summary.json`` once the
    outcome is back (so a trial counts as done only when its driver knows it). In a pool
    worker, Ctrl-C / SIGTERM stop the trial after its current step (:data:`~lrlab.parallel.
    worker.STOP`), never in the middle of one; in-process, Ctrl-C is ``fit``'s as usual.
    """
    import yaml

    exp = Experiment.from_dict(spec.experiment)
    out = Path(spec.out_dir)
    with torch_threads(exp.threads), locked(out):
        setup = build_trial(exp, spec.variant, spec.seed, auto_lr=spec.auto_lr)
        write_text(out / "config.yaml", yaml.safe_dump(setup.config, sort_keys=False))
        result = train_trial(exp, setup, out, quiet=spec.quiet, callbacks=[StopOnRequest(STOP)])
    chance = getattr(setup.data, "chance_level", None)
    if chance is None:
        chance = getattr(setup.task, "chance_level", None)
    return TrialOutcome(
        variant=spec.variant,
        seed=spec.seed,
        stop_reason=result.stop_reason,
        message=result.message,
        records=[dict(r) for r in result.records],
        config=setup.config,
        chance_level=None if chance is None else float(chance),
        elapsed=float(result.elapsed),
    )


def warm_worker() -> None:
    """A pool worker's warm-up for trials: this module (with everything a trial imports) is
    imported when the function arrives, then ``fit`` and the task builder, then
    :func:`~lrlab.parallel.worker.warm_torch`."""
    import lrlab.tasks.run
    import lrlab.train  # noqa: F401

    warm_torch()
