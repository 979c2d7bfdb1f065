"""``find_lr``: the peak LR for *this* planned run — a range test proposes, short runs decide.

1. **Propose.** A range test (its steps are counted in the cost) gives the window: from where
   learning starts to past where the loss diverges, below and beyond the curve's minimum
   (:func:`lrlab.finder.choose.window`).
2. **Decide.** Candidate peak LRs log-spaced over the window each get a short run of the
   planned schedule compressed to a fraction of ``total_steps``, all from the same start
   state, on the same batches, judged on held-out batches (:mod:`lrlab.finder.holdout`).
   The candidates train at once in lrlab's batched engines where the model allows, else one
   after the other, with the same answer (:mod:`lrlab.copies`). Each update is the planned
   run's, as in the range test: its ``accumulation_steps``, ``grad_clip`` and ``amp``
   (``settings.range_test``); the batched engines accumulate and clip (per copy) but train
   in full precision, so a run under autocast trains its copies one after the other. Two
   horizons measure how the
   best LR drifts with training length; when the best candidate sits at the window's edge,
   the window grows there.
3. **Choose** (:func:`lrlab.finder.choose.choose`): a smoothed, risk-averse response over
   log LR, shrunk toward the range test's curve-only suggestion, with an interval that the
   measured drift widens.

Everything runs inside :func:`lrlab.snapshot.preserved`: the model, the optimizer and every RNG
stream are as they were afterwards (also on error and Ctrl-C; Ctrl-C returns what was done).
The short runs train private copies with fresh optimizer state of the user's optimizer class
and hyper-parameters (param groups keep their LR ratios).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

import lrlab.stops as stops
from lrlab._console import StageBar
from lrlab.batches import Batch, StepFn, Unpack, resolve_step
from lrlab.copies.optimizer import build_torch_optimizer, resolve_optimizer
from lrlab.devices import resolve_device
from lrlab.errors import InvalidArgument, check
from lrlab.finder import choose as rule
from lrlab.finder.find_result import FindResult
from lrlab.finder.find_settings import FindSettings, find_settings_from
from lrlab.finder.holdout import holdout
from lrlab.finder.planned import (
    ScheduleSpec,
    as_fractions,
    planned_schedule,
    schedule_name,
    unit_schedule,
)
from lrlab.finder.search import Search
from lrlab.finder.sweep import range_test
from lrlab.metrics import HIGHER_IS_BETTER, default_metrics
from lrlab.optim import ScheduleDriver, groups
from lrlab.precision import parse_amp
from lrlab.seeding import derive_seed, seed_everything
from lrlab.snapshot import preserved


def find_lr(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Batch],
    *,
    total_steps: int,
    eval_data: Iterable[Batch] | None = None,
    schedule: ScheduleSpec = "one-cycle",
    schedule_options: Mapping[str, Any] | None = None,
    settings: FindSettings | None = None,
    unpack: Unpack | None = None,
    step_fn: StepFn | None = None,
    metrics: Any = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    **options: Any,
) -> FindResult:
    """The peak LR of the planned run (see the module docstring), with the evidence.

    Args:
        model, optimizer, criterion, train_data: as for :func:`lrlab.range_test`; the
            optimizer's class and hyper-parameters are what the planned run uses (its LR only
            sets the ratios between param groups).
        total_steps: the planned run's length in optimizer updates.
        eval_data: held-out batches that judge the candidates (default: a split carved from
            ``train_data``; ``result.holdout`` says how).
        schedule, schedule_options: the planned schedule — a policy name (``"one-cycle"``,
            ``"wsd"``, ``"warmup-linear"``, ... any :func:`lrlab.schedules.plannable`) and
            its :func:`lrlab.schedules.for_run` options, or a callable
            ``f(peak_lr, total_steps) -> HyperSchedule``.
        settings, options: a :class:`~lrlab.finder.find_settings.FindSettings` and/or its
            fields by name (short-run fractions, candidate density, score, method, ...).
        unpack, step_fn: other batch formats (see :mod:`lrlab.batches`).
        metrics: metrics evaluated on the held-out batches (default: accuracy for a
            classification loss).
        seed: the short runs' data order and the range test's random numbers.
        device: where batches go and the copies train (default: the model's device).
        progress: show the stages on stderr.

    Returns:
        a :class:`~lrlab.finder.find_result.FindResult`.
    """
    s = find_settings_from(settings, **options)
    check(
        isinstance(total_steps, int) and not isinstance(total_steps, bool) and total_steps >= 1,
        f"total_steps={total_steps!r} must be a positive integer (the planned run's updates).",
        hint="E.g. total_steps=epochs * len(train_loader).",
    )
    opts = as_fractions(schedule_options or {}, total_steps)
    horizons = s.horizons(total_steps)
    units = {h: unit_schedule(schedule, h, opts) for h in horizons}  # bad schedules fail now
    check(
        hasattr(optimizer, "param_groups") and len(optimizer.param_groups) > 0,
        f"optimizer must be a torch optimizer with param groups, got {type(optimizer).__name__}.",
    )
    groups.check_optimizer(optimizer, model, where="find_lr")
    started = time.perf_counter()
    dev = _model_device(model) if device is None else resolve_device(device)
    metric_fns = default_metrics(metrics, criterion)
    score_name, higher = _score(s.score, metric_fns)
    step = resolve_step(criterion, unpack=unpack, step_fn=step_fn, device=dev)
    search = Search(s, total_steps, horizons, units, score_name, higher)
    search.schedule = {"name": schedule_name(schedule), "options": opts}
    search.schedule_spec = schedule
    with preserved(model, optimizer), StageBar(progress, "find_lr: ") as stages:
        seed_everything(derive_seed(seed, "find"))
        hold = holdout(
            train_data, eval_data, fraction=s.holdout_fraction, max_batches=s.eval_batches,
            seed=seed, device=dev,
        )  # fmt: skip
        stages.start("range test")
        rt_settings = s.range_test_settings(total_steps)
        metric_mode = rt_settings.eval_every is not None
        # The range test trains where the short runs train; in metric mode it is evaluated on
        # the same held-out batches that judge them.
        rt = range_test(
            model, optimizer, criterion, hold.train, rt_settings, unpack=unpack,
            step_fn=step_fn, device=device, suggest=True,
            eval_data=hold.eval if metric_mode else None,
            metrics=metrics if metric_mode else None,
        )  # fmt: skip
        search.range_test = rt
        if rt.stop_reason == "interrupted":
            return search.result(started, ["interrupted"], complete=False)
        curve_lrs, curve = rt.rule_curve()
        stopped = rt.stop_reason in stops.DIVERGENCE
        search.window = rule.window(
            curve_lrs, curve, below_min=s.below_min, above_divergence=s.above_divergence,
            stopped=stopped,
        )  # fmt: skip
        work = copy.deepcopy(model).to(dev)
        recipe = resolve_optimizer(optimizer, model)
        search.prepare(work, recipe, step, hold, metric_fns, criterion, unpack, dev, seed)
        # The short runs make the planned run's update, as the range test does: its
        # precision, clipping and gradient accumulation.
        search.precision = parse_amp(rt_settings.amp, dev)
        search.grad_clip = rt_settings.grad_clip
        search.accumulation = rt_settings.accumulation_steps
        search.drive_momentum = _drives_momentum(recipe, work, schedule, horizons[0], opts)
        try:
            search.rounds(stages)
        except KeyboardInterrupt:
            return search.result(started, ["interrupted"], complete=False)
    return search.result(started, [], complete=search.complete)


def _score(score: str, metric_fns: Mapping[str, Any]) -> tuple[str, bool]:
    """The judged quantity and whether higher is better."""
    if score in ("auto", "loss"):
        return "loss", False
    if score not in metric_fns:
        raise InvalidArgument(
            f"score={score!r} is not one of the evaluated metrics {sorted(metric_fns)}.",
            hint="Use score='loss', or pass metrics=[...] that include it.",
        )
    return score, score in HIGHER_IS_BETTER


def _drives_momentum(
    recipe: Any, work: nn.Module, schedule: ScheduleSpec, horizon: int, opts: Mapping[str, Any]
) -> bool:
    """Whether the planned schedule's momentum would be written into this optimizer (the
    rule of :class:`lrlab.optim.ScheduleDriver`, which ``fit`` uses), asked of a probe."""
    probe = build_torch_optimizer(recipe, dict(work.named_parameters()), 1.0)
    return ScheduleDriver(probe, planned_schedule(schedule, 1.0, horizon, opts)).drives_momentum


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")
