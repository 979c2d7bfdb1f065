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

import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from lrlab.batches import Batch, StepFn, Unpack, cycle, resolve_step, set_epoch
from lrlab.batches import to_device as move_to
from lrlab.errors import DataError, InvalidArgument, LrlabError, check
from lrlab.evaluate import evaluate
from lrlab.finder.maths import SWEEPS, DivergenceMonitor, sweep_lrs
from lrlab.finder.result import RangeTestResult
from lrlab.metrics import HIGHER_IS_BETTER, Metric, resolve_metrics
from lrlab.optim import groups
from lrlab.precision import parse_amp
from lrlab.smoothing import EMA
from lrlab.snapshot import preserved
from lrlab.train.update import Update

# Criteria whose outputs are class scores: metric mode reports accuracy for them by default.
_CLASSIFICATION_LOSSES: tuple[type[nn.Module], ...] = (nn.CrossEntropyLoss, nn.NLLLoss)
_FEW_STEPS = 10


def range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Batch],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    step_mode: str = "exp",
    smooth_beta: float = 0.98,
    diverge_th: float | None = 4.0,
    unpack: Unpack | None = None,
    step_fn: StepFn | None = None,
    eval_data: Iterable[Batch] | None = None,
    eval_every: int | None = None,
    eval_batches: int = 8,
    metrics: Any = None,
    chance: float | None = None,
    accumulation_steps: int = 1,
    grad_clip: float | None = None,
    amp: bool | str = False,
    device: torch.device | str | None = None,
    progress: bool = False,
    suggest: bool = True,
) -> RangeTestResult:
    """Run an LR range test and return its curves, why it stopped and a suggestion.

    Args:
        model, optimizer, criterion: the user's objects; the model stays on its device and
            all three are left exactly as they were (``lrlab.snapshot.preserved``).
        train_data: any re-iterable of batches (a DataLoader, a list, an lrlab loader);
            restarted when exhausted (``set_epoch(e)`` is called on it at each pass).
        start_lr, end_lr, num_iter, step_mode: the sweep: ``num_iter`` steps from
            ``start_lr`` to ``end_lr`` inclusive, ``"exp"`` (log-spaced; needs
            ``start_lr > 0``) or ``"linear"``. The first param group gets these LRs;
            group ``g`` gets ``lr · lr_g / lr_0`` with ``lr_g`` its LR at call time.
        smooth_beta: weight of the past in the bias-corrected EMA of the loss
            (``lrlab.smoothing``; torch-lr-finder's ``smooth_f`` is ``1 − smooth_beta``).
        diverge_th: stop when the smoothed loss rises above its best by more than
            ``diverge_th · max(|best|, first − best)`` (see :mod:`lrlab.finder.maths`);
            ``None`` never stops on divergence. A NaN/inf loss always stops the sweep.
        unpack, step_fn: for batches that are not ``(inputs, targets)``
            (see :mod:`lrlab.batches`).
        eval_data, eval_every, eval_batches, metrics: metric mode. After every
            ``eval_every``-th update, evaluate loss and ``metrics`` on the first
            ``eval_batches`` batches of ``eval_data`` (read once, so the subsample is fixed)
            through :func:`lrlab.evaluate.evaluate`. ``metrics=None`` means accuracy for
            ``CrossEntropyLoss``/``NLLLoss`` criteria and none otherwise. ``eval_every``
            defaults to ``max(1, num_iter // 20)``. Cost: ``num_iter / eval_every ×
            eval_batches`` forward passes.
        chance: the metric of a model that learnt nothing, for the diagnosis.
        accumulation_steps: micro-batches per LR step; their losses are averaged
            (each back-propagated divided by ``accumulation_steps``).
        grad_clip: clip the gradients' global norm to this value before each update.
        amp: ``False``; ``"bf16"`` (CUDA or CPU autocast); ``"fp16"`` (CUDA, with a
            GradScaler); ``True`` (CUDA only: bf16 where supported, else fp16).
        device: where batches are moved (default: the device of the model's first
            parameter). The model itself is never moved.
        progress: show a progress bar on stderr.
        suggest: compute ``result.suggestion`` (and the diagnosis in metric mode).

    Returns:
        a :class:`RangeTestResult`. Ctrl-C ends the sweep early and returns what was
        measured with ``stop_reason="interrupted"``.

    Raises:
        InvalidArgument: a setting is out of its domain (the message says which and why).
        DataError: the data yields no batch, or the first step fails on it.
    """
    _validate(start_lr, end_lr, num_iter, step_mode, smooth_beta, accumulation_steps, grad_clip)
    check(
        hasattr(optimizer, "param_groups") and len(optimizer.param_groups) > 0,
        f"optimizer must be a torch optimizer with param groups, got {type(optimizer).__name__}.",
        hint="Pass e.g. torch.optim.SGD(model.parameters(), lr=0.1).",
    )
    if num_iter < _FEW_STEPS:
        warnings.warn(
            f"num_iter={num_iter} gives a very short curve; suggestions need more points "
            "(use num_iter >= 50, 100 is typical).",
            UserWarning,
            stacklevel=2,
        )
    lrs_plan = sweep_lrs(start_lr, end_lr, num_iter, step_mode)
    smoother, monitor = EMA(smooth_beta), DivergenceMonitor(diverge_th)
    ratios = groups.current_ratios(optimizer)
    batch_device = _batch_device(model, device)
    precision = parse_amp(amp, batch_device)
    step = resolve_step(criterion, unpack=unpack, step_fn=step_fn)
    metric_fns = _default_metrics(criterion, metrics)
    if eval_data is None:
        check(
            eval_every is None,
            f"eval_every={eval_every} was given without eval_data.",
            hint="Pass eval_data= (validation batches) to evaluate during the sweep.",
        )
    else:
        eval_every = max(1, num_iter // 20) if eval_every is None else eval_every
        check(
            isinstance(eval_every, int) and eval_every >= 1,
            f"eval_every={eval_every!r} must be an integer >= 1.",
        )
        check(
            isinstance(eval_batches, int) and eval_batches >= 1,
            f"eval_batches={eval_batches!r} must be an integer >= 1.",
        )
    config = {
        "start_lr": float(start_lr),
        "end_lr": float(end_lr),
        "num_iter": int(num_iter),
        "step_mode": step_mode,
        "smooth_beta": float(smooth_beta),
        "diverge_th": diverge_th,
        "accumulation_steps": int(accumulation_steps),
        "grad_clip": grad_clip,
        "amp": amp if isinstance(amp, (bool, str)) else str(amp),
        "device": str(batch_device),
        "eval_every": eval_every,
        "eval_batches": eval_batches if eval_data is not None else None,
        "metrics": sorted(metric_fns) if eval_data is not None else [],
        "group_ratios": ratios,
        "optimizer": type(optimizer).__name__,
        "model": type(model).__name__,
    }

    result = RangeTestResult(lrs=[], losses=[], smoothed=[], config=config)
    epoch_data = _Epochs(train_data)
    started = time.perf_counter()
    with preserved(model, optimizer, rng=True):
        try:
            fixed_eval = (
                None
                if eval_data is None
                else _fixed_subsample(eval_data, eval_batches, batch_device)
            )
            _sweep(
                result,
                model=model,
                optimizer=optimizer,
                step=step,
                batches=cycle(epoch_data, name="train_data"),
                lrs_plan=lrs_plan,
                ratios=ratios,
                smoother=smoother,
                monitor=monitor,
                accumulation_steps=accumulation_steps,
                update=Update(optimizer, precision, grad_clip),
                device=batch_device,
                eval_batches=fixed_eval,
                eval_every=eval_every,
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
    lrs_plan: list[float],
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
    bar = _Progress(len(lrs_plan)) if progress else None
    # Training mode once, and again after each evaluation (which restores the mode it found,
    # so this is only a guard): per step it cost ~1 % of a small CNN's step for nothing.
    model.train()
    try:
        for i, lr in enumerate(lrs_plan):
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
                    hint="Check that model(inputs) and criterion(outputs, targets) work on one "
                    "batch of train_data; pass unpack= or step_fn= for other batch formats.",
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
            if bar is not None:
                bar.advance(lr, smoothed)
            if monitor.update(smoothed):
                result.stop_reason, result.stop_step = "diverged", i
                break
    finally:
        if bar is not None:
            bar.close()


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


def _validate(
    start_lr: float,
    end_lr: float,
    num_iter: int,
    step_mode: str,
    smooth_beta: float,
    accumulation_steps: int,
    grad_clip: float | None,
) -> None:
    check(
        step_mode in SWEEPS,
        f"step_mode={step_mode!r} is not a sweep; expected one of {sorted(SWEEPS)}.",
    )
    check(
        isinstance(num_iter, int) and not isinstance(num_iter, bool) and num_iter >= 2,
        f"num_iter={num_iter!r} must be an integer >= 2 (a sweep needs a start and an end).",
        hint="100 is typical; use at least 50 for a trustworthy suggestion.",
    )
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        check(
            isinstance(value, (int, float)) and math.isfinite(value),
            f"{name}={value!r} must be a finite number.",
        )
    if step_mode == "exp":
        check(
            start_lr > 0,
            f"start_lr={start_lr!r} must be > 0 for an exponential sweep.",
            hint="Use a small positive start such as 1e-7, or step_mode='linear'.",
        )
    else:
        check(start_lr >= 0, f"start_lr={start_lr!r} must be >= 0.")
    check(
        end_lr > start_lr,
        f"start_lr={start_lr!r} must be smaller than end_lr={end_lr!r}.",
        hint="The sweep goes up from start_lr to end_lr; swap them.",
    )
    check(0.0 <= smooth_beta < 1.0, f"smooth_beta={smooth_beta!r} must be in [0, 1).")
    check(
        isinstance(accumulation_steps, int) and accumulation_steps >= 1,
        f"accumulation_steps={accumulation_steps!r} must be an integer >= 1.",
    )
    check(
        grad_clip is None or (math.isfinite(grad_clip) and grad_clip > 0),
        f"grad_clip={grad_clip!r} must be a positive max norm (or None for no clipping).",
    )


def _batch_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidArgument(
                f"device={device!r} is not a device torch knows.",
                hint="Use 'cpu', 'cuda' or 'cuda:N' (or None for the model's device).",
            ) from exc
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def _default_metrics(criterion: Any, metrics: Any) -> dict[str, Metric]:
    if metrics is None:
        if isinstance(criterion, _CLASSIFICATION_LOSSES):
            return resolve_metrics(["accuracy"])
        return {}
    return resolve_metrics(metrics)


def _fixed_subsample(data: Iterable[Batch], n: int, device: torch.device) -> list[Batch]:
    """The first ``n`` batches of ``data``, read once and kept (on ``device``): every
    evaluation sees the same samples, and a shuffling loader is not re-drawn each time."""
    batches = [move_to(b, device) for b in itertools.islice(iter(data), n)]
    if not batches:
        raise DataError(
            "eval_data yielded no batches.",
            hint="Pass a non-empty validation set (or no eval_data to skip metric mode).",
        )
    return batches


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


class _Progress:
    """A rich progress bar on stderr (imported only when asked for)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("range test"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("", total=total)
        self._bar.start()

    def advance(self, lr: float, loss: float) -> None:
        self._bar.update(self._task, advance=1, description=f"lr {lr:.2e} loss {loss:.4g}")

    def close(self) -> None:
        self._bar.stop()


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
