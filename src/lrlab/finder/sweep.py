"""The LR range test loop (Smith 2017, §3.3; fastai / torch-lr-finder's "LR finder").

Step ``i`` of ``num_iter``: set the LR to ``lr_i`` (see :mod:`lrlab.finder.maths`; every
param group keeps its ratio to the first), compute the loss of the next batch (the mean of
``accumulation_steps`` micro-batches), record it, back-propagate and update. So the loss
recorded at step ``i`` was measured *before* the update made with ``lr_i`` — the same
convention as torch-lr-finder, whose recorded losses this loop reproduces exactly.

Everything runs inside :func:`lrlab.snapshot.preserved`: the model, the optimizer and the RNG
streams are as they were when ``range_test`` returns — or raises, or is interrupted.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from lrlab._console import StageBar
from lrlab.batches import CALL_RULE, Batch, StepFn, Unpack, cycle, resolve_step, set_epoch
from lrlab.batches import to_device as move_to
from lrlab.devices import resolve_device
from lrlab.errors import DataError, LrlabError, check
from lrlab.evaluate import evaluate
from lrlab.finder.holdout import fixed_batches
from lrlab.finder.maths import DivergenceMonitor, sweep_lrs
from lrlab.finder.result import RangeTestResult
from lrlab.finder.settings import RangeTestSettings, settings_from
from lrlab.metrics import HIGHER_IS_BETTER, Metric, default_metrics
from lrlab.optim import groups
from lrlab.optim.lrfree import ready_to_step
from lrlab.precision import parse_amp
from lrlab.smoothing import EMA
from lrlab.snapshot import preserved
from lrlab.train.update import Update

# Criteria whose outputs are class scores: metric mode reports accuracy for them by default.
_FEW_STEPS = 10


def range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Batch],
    settings: RangeTestSettings | None = None,
    *,
    unpack: Unpack | None = None,
    step_fn: StepFn | None = None,
    eval_data: Iterable[Batch] | None = None,
    metrics: Any = None,
    chance: float | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    suggest: bool = True,
    **options: Any,
) -> RangeTestResult:
    """Run an LR range test and return its curves, why it stopped and a suggestion.

    Args:
        model, optimizer, criterion: the user's objects; the model stays on its device and
            all three are left exactly as they were (``lrlab.snapshot.preserved``).
        train_data: any re-iterable of batches (a DataLoader, a list, an lrlab loader);
            restarted when exhausted (``set_epoch(e)`` is called on it at each pass).
        settings, options: the sweep — a :class:`~lrlab.finder.settings.RangeTestSettings`
            and/or its fields by name: ``start_lr=1e-7``, ``end_lr=10``, ``num_iter=100``,
            ``step_mode="exp"``, ``smooth_beta=0.98``, ``diverge_th=4``, ``eval_every``,
            ``eval_batches=8``, ``accumulation_steps=1``, ``grad_clip``, ``amp=False``
            (their meaning is documented on the dataclass).
        unpack, step_fn: for batches that are not ``(inputs, targets)``
            (see :mod:`lrlab.batches`).
        eval_data, metrics: metric mode: the loss and ``metrics`` on a fixed subsample of
            ``eval_data`` every ``eval_every`` updates (:func:`lrlab.evaluate.evaluate`).
            ``metrics=None`` means accuracy for ``CrossEntropyLoss``/``NLLLoss`` criteria
            and none otherwise.
        chance: the metric of a model that learnt nothing, for the diagnosis.
        device: where batches are moved (default: the device of the model's first
            parameter). The model itself is never moved.
        progress: show a progress bar on stderr.
        suggest: compute ``result.suggestion`` (and the diagnosis in metric mode).

    Returns:
        a :class:`RangeTestResult`; ``result.config`` holds the settings (``asdict``) and
        what was measured on. Ctrl-C ends the sweep early and returns what was measured with
        ``stop_reason="interrupted"``.

    Raises:
        InvalidArgument: a setting is out of its domain (the message says which and why).
        DataError: the data yields no batch, or the first step fails on it.
    """
    s = settings_from(settings, **options)
    check(
        hasattr(optimizer, "param_groups") and len(optimizer.param_groups) > 0,
        f"optimizer must be a torch optimizer with param groups, got {type(optimizer).__name__}.",
        hint="Pass e.g. torch.optim.SGD(model.parameters(), lr=0.1).",
    )
    groups.check_optimizer(optimizer, model, where="range_test")
    if s.num_iter < _FEW_STEPS:
        warnings.warn(
            f"num_iter={s.num_iter} gives a very short curve; suggestions need more points "
            "(use num_iter >= 50, 100 is typical).",
            UserWarning,
            stacklevel=2,
        )
    schedule_lrs = sweep_lrs(s.start_lr, s.end_lr, s.num_iter, s.step_mode)
    smoother, monitor = EMA(s.smooth_beta), DivergenceMonitor(s.diverge_th)
    ratios = groups.current_ratios(optimizer)
    batch_device = _batch_device(model, device)
    precision = parse_amp(s.amp, batch_device)
    step = resolve_step(criterion, unpack=unpack, step_fn=step_fn)
    metric_fns = default_metrics(metrics, criterion)
    if eval_data is None:
        check(
            s.eval_every is None,
            f"eval_every={s.eval_every} was given without eval_data.",
            hint="Pass eval_data= (validation batches) to evaluate during the sweep.",
        )
    else:
        s = s.evaluated()
    config = {
        **s.to_dict(),
        "eval_batches": s.eval_batches if eval_data is not None else None,
        "device": str(batch_device),
        "metrics": sorted(metric_fns) if eval_data is not None else [],
        "group_ratios": ratios,
        "optimizer": type(optimizer).__name__,
        "model": type(model).__name__,
    }

    result = RangeTestResult(lrs=[], losses=[], smoothed=[], config=config)
    epoch_data = _Epochs(train_data)
    started = time.perf_counter()
    with preserved(model, optimizer, rng=True):
        # A Schedule-Free optimizer built by the user starts in eval mode, where it refuses to
        # step; the sweep puts it in train mode (the snapshot puts it back).
        ready_to_step(optimizer)
        try:
            fixed_eval = (
                None
                if eval_data is None
                else fixed_batches(eval_data, s.eval_batches, batch_device, what="eval_data")
            )
            _sweep(
                result,
                model=model,
                optimizer=optimizer,
                step=step,
                batches=cycle(epoch_data, name="train_data"),
                schedule_lrs=schedule_lrs,
                ratios=ratios,
                smoother=smoother,
                monitor=monitor,
                accumulation_steps=s.accumulation_steps,
                update=Update(optimizer, precision, s.grad_clip),
                device=batch_device,
                eval_batches=fixed_eval,
                eval_every=s.eval_every,
                metric_fns=metric_fns,
                progress=progress,
            )
        except KeyboardInterrupt:
            # Keep what was measured; `preserved` restores the model on the way out.
            result.stop_reason = "interrupted"
            result.stop_step = len(result.losses)
        except _OneShotExhausted as exc:
            warnings.warn(f"{exc} The sweep stopped early.", UserWarning, stacklevel=2)
            result.stop_reason = "data exhausted"
            result.stop_step = len(result.losses)
        finally:
            epoch_data.restore()
    result.elapsed = time.perf_counter() - started
    if suggest:
        _add_suggestions(result, metric_fns, chance)
    return result


# ----------------------------------------------------------------------------- the loop


def _sweep(
    result: RangeTestResult,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: StepFn,
    batches: Iterator[Batch],
    schedule_lrs: list[float],
    ratios: list[float],
    smoother: EMA,
    monitor: DivergenceMonitor,
    accumulation_steps: int,
    update: Update,
    device: torch.device,
    eval_batches: list[Batch] | None,
    eval_every: int | None,
    metric_fns: dict[str, Metric],
    progress: bool,
) -> None:
    """Fill ``result`` step by step (so an interruption keeps every finished step)."""
    amp_dtype = update.precision.dtype
    # Training mode once, and again after each evaluation (which restores the mode it found,
    # so this is only a guard): per step it cost ~1 % of a small CNN's step for nothing.
    model.train()
    with StageBar(progress) as bar:
        bar.start("range test", total=len(schedule_lrs))
        for i, lr in enumerate(schedule_lrs):
            groups.set_lr(optimizer, lr, ratios)
            optimizer.zero_grad()
            try:
                loss = _forward_backward(model, step, batches, accumulation_steps, update, device)
            except LrlabError:
                raise
            except Exception as exc:
                if i > 0:
                    raise
                # The first step is where a mismatch between data, model and criterion shows.
                raise DataError(
                    f"The first training step failed with {type(exc).__name__}: {exc}",
                    hint=f"Check that one batch's inputs fit the model (lrlab calls {CALL_RULE}) "
                    "and criterion(outputs, targets) works; pass unpack= or step_fn= for other "
                    "batch formats.",
                ) from exc
            result.lrs.append(lr)
            result.losses.append(loss)
            if not math.isfinite(loss):
                # No update from a NaN/inf loss: its gradients would only poison the weights.
                result.smoothed.append(math.nan)
                result.stop_reason, result.stop_step = "non-finite loss", i
                break
            smoothed = smoother.update(loss)
            result.smoothed.append(smoothed)
            update.step()
            if eval_batches is not None and eval_every is not None and (i + 1) % eval_every == 0:
                _evaluate(result, model, step, eval_batches, metric_fns, amp_dtype, i, lr)
                model.train()
            bar.advance(1, f"lr {lr:.2e} loss {smoothed:.4g}")
            if monitor.update(smoothed):
                result.stop_reason, result.stop_step = "diverged", i
                break


def _forward_backward(
    model: nn.Module,
    step: StepFn,
    batches: Iterator[Batch],
    accumulation_steps: int,
    update: Update,
    device: torch.device,
) -> float:
    """Loss of one LR step: the mean of ``accumulation_steps`` micro-batch losses.

    Each micro-batch loss is divided by ``accumulation_steps`` before ``backward`` (so the
    accumulated gradient is the gradient of the mean) and the divided losses are summed in
    float32, micro-batch order — torch-lr-finder's arithmetic, so its numbers match ours.
    """
    total: torch.Tensor | None = None
    for _ in range(accumulation_steps):
        batch = move_to(next(batches), device, non_blocking=True)
        _, part = update.backward(step, model, batch, divisor=accumulation_steps)
        total = part if total is None else total + part
    assert total is not None  # accumulation_steps >= 1
    return float(total)


def _evaluate(
    result: RangeTestResult,
    model: nn.Module,
    step: StepFn,
    eval_batches: list[Batch],
    metric_fns: dict[str, Metric],
    amp_dtype: torch.dtype | None,
    i: int,
    lr: float,
) -> None:
    values = evaluate(model, eval_batches, step, metrics=metric_fns, amp_dtype=amp_dtype)
    result.eval_steps.append(i)
    result.eval_lrs.append(lr)
    for name, value in values.items():
        result.eval.setdefault(name, []).append(float(value))


# ----------------------------------------------------------------------------- set-up


def _batch_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return resolve_device(device)  # one that exists here, or a one-line error
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


class _OneShotExhausted(DataError):
    """A one-shot iterator ran out mid-sweep: the sweep ends with what it measured."""


class _Epochs:
    """Wraps the training data so that each pass calls ``set_epoch(data, e)`` with
    ``e = 0, 1, …`` (lrlab loaders shuffle as a function of (seed, epoch), so the sweep sees
    the same batches whatever the loader did before). The loader's own epoch counters are
    state too: the integer attributes of the object ``set_epoch`` talks to (the loader, or
    its ``DistributedSampler``) are put back afterwards — only those that changed."""

    def __init__(self, data: Iterable[Batch]) -> None:
        self.data = data
        self.epoch = 0
        target: Any = None
        if hasattr(data, "set_epoch"):
            target = data
        elif hasattr(getattr(data, "sampler", None), "set_epoch"):
            target = data.sampler  # type: ignore[attr-defined]
        self._target = target
        self._counters = _int_attributes(target) if target is not None else {}

    def __iter__(self) -> Iterator[Batch]:
        # isinstance, not `iter(data) is data`: iter() on a DataLoader draws a seed from the
        # global RNG, which would change the data order (the parity tests catch it).
        if self.epoch > 0 and isinstance(self.data, Iterator):
            raise _OneShotExhausted(
                "train_data is a one-shot iterator (e.g. a generator) and ran out before the "
                "sweep ended.",
                hint="Pass a re-iterable (a list, a DataLoader, an lrlab loader), or fewer "
                "num_iter than it has batches.",
            )
        set_epoch(self.data, self.epoch)
        self.epoch += 1
        return iter(self.data)

    def restore(self) -> None:
        if self._target is None:
            return
        now = _int_attributes(self._target)
        for name, value in self._counters.items():
            if now.get(name, value) != value:
                setattr(self._target, name, value)


def _int_attributes(obj: Any) -> dict[str, int | None]:
    attrs = getattr(obj, "__dict__", {})
    return {k: v for k, v in attrs.items() if v is None or type(v) is int}


# ----------------------------------------------------------------------------- suggestions


def _add_suggestions(
    result: RangeTestResult, metric_fns: dict[str, Metric], chance: float | None
) -> None:
    """Suggestion from the raw curve; diagnosis from the metric curve (metric mode). A
    failure here never throws the measured curve away: it is reported as a warning."""
    from lrlab.suggest import diagnose, suggest

    # Suggestions read log(LR): a linear sweep that starts at 0 contributes from its 2nd step.
    keep = [i for i, lr in enumerate(result.lrs) if lr > 0]
    try:
        result.suggestion = suggest([result.lrs[i] for i in keep], [result.losses[i] for i in keep])
    except Exception as exc:
        warnings.warn(f"No suggestion: {type(exc).__name__}: {exc}", UserWarning, stacklevel=3)
    if result.suggestion is not None and result.stop_reason == "interrupted":
        # Half a sweep never looks like a whole one (its curve may end before the minimum).
        flag = (
            f"interrupted: the sweep stopped at step {result.stop_step} of "
            f"{result.config.get('num_iter')}; run it again for a full curve"
        )
        result.suggestion = dataclasses.replace(
            result.suggestion, flags=[*result.suggestion.flags, flag], trustworthy=False
        )
    if not result.eval_lrs:
        return
    name = next((m for m in metric_fns if m in HIGHER_IS_BETTER), None)
    keep = [i for i, lr in enumerate(result.eval_lrs) if lr > 0]
    lrs = [result.eval_lrs[i] for i in keep]
    try:
        if name is not None:
            values = [result.eval[name][i] for i in keep]
            result.diagnosis = diagnose(lrs, values, chance=chance, name=f"eval {name}")
        else:
            values = [result.eval["loss"][i] for i in keep]
            result.diagnosis = diagnose(lrs, values, higher_is_better=False, name="eval loss")
    except Exception as exc:
        warnings.warn(f"No diagnosis: {type(exc).__name__}: {exc}", UserWarning, stacklevel=3)
