"""``fit``: a plain training loop with schedules, records, checkpoints and callbacks.

``fit`` states the run once: the budget (:mod:`lrlab.train.budget`: epochs or updates, and a
schedule's length bound to it), the options, the run directory and what to resume from;
:class:`lrlab.train.loop.EpochLoop` runs the epochs (its docstring reads one epoch top to
bottom).

Budgets: ``epochs=N`` runs N full epochs; ``iterations=T`` runs until T optimizer updates,
so the last epoch may stop part-way (its record has ``"partial": true``; its train values
are means over the batches it ran; evaluation still follows it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrlab._io import jsonable
from lrlab.batches import Batch, StepFn
from lrlab.errors import Diverged
from lrlab.metrics import Metric
from lrlab.optim import groups
from lrlab.precision import parse_amp
from lrlab.rundir import locks_out_dir
from lrlab.train.budget import Budget, bind_schedule
from lrlab.train.callbacks import CallbackList, TensorBoardLogger
from lrlab.train.checkpoint import prior_checkpoint, restore_run
from lrlab.train.loop import DIVERGED_HINT, EpochLoop
from lrlab.train.lrfree import lrfree_hooks
from lrlab.train.options import build_step, check_options, default_metrics, place_model
from lrlab.train.records import RecordWriter
from lrlab.train.result import FitResult
from lrlab.train.runstate import RunState
from lrlab.train.update import Update


@locks_out_dir  # one writer per run directory (lrlab.rundir.locked)
def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Batch],
    *,
    schedule: Any = None,
    epochs: int | None = None,
    iterations: int | None = None,
    eval_data: Iterable[Batch] | None = None,
    metrics: str | Sequence[str | Metric] | Mapping[str, Metric] | None = None,
    grad_clip: float | None = None,
    accumulation_steps: int = 1,
    amp: str | bool | None = False,
    callbacks: Sequence[Any] = (),
    out_dir: str | os.PathLike | None = None,
    csv: bool = False,
    checkpoint_every: int | None = None,
    resume: bool = False,
    unpack: Callable[[Batch], tuple[Any, Any]] | None = None,
    step_fn: StepFn | None = None,
    device: str | torch.device | None = None,
    quiet: bool = False,
    tensorboard: bool | str | os.PathLike = False,
    eval_batches: int | None = None,
    config: Mapping[str, Any] | None = None,
    on_divergence: str = "stop",
) -> FitResult:
    """Train ``model`` and return its epoch records.

    Args:
        model, optimizer: any ``nn.Module`` and any ``torch.optim.Optimizer`` over its
            parameters (param-group LR ratios are kept by the schedule).
        criterion: ``loss = criterion(model(inputs), targets)``; or ``None`` with ``step_fn``.
        train_data: re-iterable batches (DataLoader, ``lrlab`` loader, list). Its
            ``set_epoch(e)`` (0-based) is called before each epoch when it has one.
        schedule: a ``lrlab.schedules.HyperSchedule``; update ``t`` (0-based) uses
            ``schedule.lr(t)`` (and ``momentum(t)``), written into the optimizer through
            ``lrlab.optim.driver.ScheduleDriver`` before the update. ``None``: the optimizer's own
            LR throughout. A schedule without its length — ``{"name": "one-cycle",
            "max_lr": 0.1}`` or a function of ``total_steps`` — gets the run's number of
            updates (:func:`lrlab.train.budget.bind_schedule`): the budget is stated once.
        epochs / iterations: the budget, exactly one of them. ``iterations`` counts optimizer
            updates (Smith's unit); the last epoch then may be partial.
        eval_data: evaluated (``lrlab.evaluate.evaluate``) before training (record of epoch 0)
            and after every epoch; ``eval_batches`` limits it to the first batches.
        metrics: names or callables (``lrlab.metrics``); ``None`` means ``"accuracy"`` when
            ``criterion`` is a ``CrossEntropyLoss`` / ``NLLLoss``, else none; ``()`` for none.
        grad_clip: max L2 norm of all gradients (``clip_grad_norm_``; unscaled first in fp16).
        accumulation_steps: ``k`` micro-batches per update, each loss divided by the size of
            its group (``k``, or fewer for the last group of an epoch), so the update follows
            the mean gradient of the group. The schedule counts updates, not micro-batches.
        amp: ``False``, ``"bf16"`` (CUDA or CPU autocast) or ``"fp16"`` (CUDA only, with a
            ``torch.amp.GradScaler``).
        callbacks: objects with optional hooks (:mod:`lrlab.train.callbacks`).
        out_dir: run directory: ``records.jsonl`` (one line per epoch, fsynced before the next
            epoch), ``records.csv`` if ``csv``, ``checkpoint.pt`` if ``checkpoint_every``,
            ``tensorboard/`` if ``tensorboard`` (or the directory it names).
        checkpoint_every: save a checkpoint every this many epochs and at the end.
        resume: continue from ``out_dir/checkpoint.pt`` (or start fresh when there is none).
            Without it, an ``out_dir`` that already holds a run is an error.
        unpack, step_fn: other batch formats (:mod:`lrlab.batches`).
        device: move the model there (and batches on the fly); ``None``: the model's device.
        quiet: print nothing (otherwise a progress bar and one line per epoch on stderr).
        config: the caller's description of the run (JSON-able): kept in the result and in
            checkpoints; resuming with a different config is refused.
        on_divergence: what a non-finite training loss does: ``"stop"`` (return with
            ``stop_reason="diverged"``), ``"raise"`` (:class:`lrlab.errors.Diverged` after the
            records are saved) or ``"ignore"``.

    Returns:
        :class:`FitResult` with the records, the stop reason, and the run's settings.

    Example::

        result = lrlab.fit(model, opt, nn.CrossEntropyLoss(), train_loader,
                           schedule={"name": "one-cycle", "max_lr": 0.1},  # 10 epochs long
                           epochs=10, eval_data=test_loader, out_dir="runs/one-cycle")
        print(result.final["eval_accuracy"], result.best["eval_accuracy"])
    """
    # An optimizer on another model's parameters (or with momentum 1.5) would "complete"
    # with this model unchanged or blown up: refused before anything runs.
    groups.check_optimizer(optimizer, model, where="fit")
    budget = Budget.build(
        train_data,
        schedule=schedule,
        epochs=epochs,
        iterations=iterations,
        accumulation_steps=accumulation_steps,
    )
    schedule = bind_schedule(schedule, budget.iterations)
    budget.check_schedule(schedule)
    check_options(
        grad_clip=grad_clip,
        out_dir=out_dir,
        csv=csv,
        checkpoint_every=checkpoint_every,
        resume=resume,
        tensorboard=tensorboard,
        eval_batches=eval_batches,
        on_divergence=on_divergence,
        config=config,
    )
    dev = place_model(model, device)
    precision = parse_amp(amp, dev)
    amp_dtype = precision.dtype
    step = build_step(criterion, unpack=unpack, step_fn=step_fn, device=dev)
    metric_fns = default_metrics(metrics, criterion)
    out = Path(out_dir) if out_dir is not None else None

    cbs = list(callbacks)
    if tensorboard:
        assert out is not None  # checked above
        tb_dir = out / "tensorboard" if tensorboard is True else Path(tensorboard)
        cbs.append(TensorBoardLogger(tb_dir))
    if not quiet:
        from lrlab.train.progress import ProgressBar

        cbs.append(ProgressBar())
    hooks = CallbackList(cbs)

    # The driver captures the param groups' LR ratios now, from the optimizer as the user
    # built it, before a checkpoint overwrites the groups' lr: a resumed run then has exactly
    # the ratios of an uninterrupted one.
    driver = _make_driver(optimizer, schedule)
    update = Update(optimizer, precision, grad_clip)

    run = RunState(
        model=model,
        optimizer=optimizer,
        schedule=schedule,
        out_dir=out,
        epochs=budget.epochs,
        iterations=budget.iterations,
        batches_per_epoch=budget.batches_per_epoch,
    )
    fingerprint = {
        "schedule": jsonable(schedule.to_dict()) if schedule is not None else None,
        "optimizer": type(optimizer).__name__,
        "accumulation_steps": accumulation_steps,
        "grad_clip": grad_clip,
        "amp": str(amp_dtype) if amp_dtype else None,
        "config": jsonable(dict(config)) if config is not None else None,
    }
    settings = {
        "epochs": epochs,
        "iterations": iterations,
        "batches_per_epoch": budget.batches_per_epoch,
        "updates_per_epoch": budget.updates_per_epoch,
        "metrics": list(metric_fns),
        "eval_batches": eval_batches,
        "checkpoint_every": checkpoint_every,
        "device": str(dev),
        **fingerprint,
    }

    writer = RecordWriter(out, csv=csv) if out is not None else None
    payload = None
    if out is not None:
        payload = prior_checkpoint(out, resume=resume)
    elapsed_before = 0.0
    if payload is not None:
        assert out is not None
        elapsed_before = restore_run(
            payload, run, update=update, hooks=hooks, fingerprint=fingerprint, out_dir=out
        )
        if payload.get("stop_reason") == "callback" or budget.done(run.epoch, run.iteration):
            # Nothing left to do: the run finished before (re-running a finished trial).
            if writer is not None:
                writer.reset(run.records)
            reason = payload.get("stop_reason") or "completed"
            return _result(run, reason, "", settings, elapsed_before)
    if writer is not None:
        writer.reset(run.records)

    loop = EpochLoop(
        run_state=run,
        budget=budget,
        step=step,
        metric_fns=metric_fns,
        hooks=hooks,
        driver=driver,
        update=update,
        amp_dtype=amp_dtype,
        device=dev,
        train_data=train_data,
        eval_data=eval_data,
        eval_batches=eval_batches,
        writer=writer,
        checkpoint_every=checkpoint_every,
        fingerprint=fingerprint,
        elapsed_before=elapsed_before,
        on_divergence=on_divergence,
        lrfree=lrfree_hooks(
            optimizer,
            model,
            step=step,
            train_data=train_data,
            amp_dtype=amp_dtype,
            total_updates=budget.iterations,
        ),
    )
    loop.run(rng_state=payload["rng"] if payload is not None else None)
    result = _result(run, run.stop_reason or "completed", run.message, settings, loop.elapsed())
    if run.stop_reason == "diverged" and on_divergence == "raise":
        raise Diverged(run.message, hint=DIVERGED_HINT)
    return result


def _make_driver(optimizer: torch.optim.Optimizer, schedule: Any) -> Any:
    if schedule is None:
        return None
    from lrlab.optim.driver import ScheduleDriver

    return ScheduleDriver(optimizer, schedule)


def _result(
    run: RunState, stop_reason: str, message: str, settings: dict[str, Any], elapsed: float
) -> FitResult:
    epochs = max((int(r.get("epoch", 0)) for r in run.records), default=0)
    return FitResult(
        records=list(run.records),
        stop_reason=stop_reason,
        message=message,
        epochs=epochs,
        iterations=run.iteration,
        elapsed=elapsed,
        config=jsonable(settings),
        out_dir=str(run.out_dir) if run.out_dir is not None else None,
    )
