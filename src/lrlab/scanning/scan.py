"""``scan()``: many learning rates × horizons from one start state (seed 003's question).

"If I train for 1, 2, 4, 8 … epochs at this learning rate, from where the model is now,
where do I end up?" For every learning rate ``lrs[k]`` a copy of the model starts from the
model's current state (optimizer fresh, or carried from the user's optimizer), trains on
the same batches in the same order, and is evaluated after each horizon. Unlike the range
test — one run whose LR grows every step, so each loss mixes the effect of all earlier
LRs — every cell here is a clean answer for one constant LR and one training length.

Seed 003's procedure, made fast and exact:

- horizons share one pass: the ``h``-epoch value is read off the longest run at epoch ``h``,
  which equals training ``h`` epochs from scratch (same data, same random numbers);
- the K copies train at once (:mod:`.batched`) where the model allows it, else one after the
  other (:mod:`.sequential`), with the same results to float tolerance;
- a copy whose loss exceeds ``stop_factor ×`` the initial loss at an evaluation point is
  stopped (seed 003: ``if loss > initialLoss * 1.1``), a non-finite one is diverged; both
  leave the batched computation, so they cost nothing afterwards and poison nothing.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lrlab._console import StageBar
from lrlab.batches import StepFn, Unpack, resolve_step
from lrlab.copies.optimizer import OptimizerFactory, resolve_optimizer
from lrlab.copies.select import METHODS, Copies, Outcome, train_copies
from lrlab.devices import resolve_device
from lrlab.errors import DataError, InvalidArgument, LrlabError, check
from lrlab.evaluate import evaluate
from lrlab.metrics import Metric, resolve_metrics
from lrlab.optim import groups
from lrlab.scanning.loop import NOT_RUN, Record, run_horizons, stop_threshold
from lrlab.scanning.result import ScanResult

UNITS = ("epochs", "steps")


def log_lrs(start: float = 1e-6, end: float = 100.0, num: int = 32) -> list[float]:
    """``num`` learning rates log-spaced from ``start`` to ``end`` (both included).

    The default grid (1e-6 … 100, 32 values, ~4 per decade) is seed 003's range.
    """
    check(num >= 1, f"{num=} must be >= 1.")
    check(
        0 < start <= end and math.isfinite(end),
        f"start={start}, end={end}: need 0 < start <= end, both finite.",
    )
    if num == 1:
        return [float(start)]
    return [float(v) for v in np.logspace(math.log10(start), math.log10(end), num)]


def check_lrs(lrs: Iterable[float] | None) -> list[float]:
    """Validated learning rates, sorted ascending (default: :func:`log_lrs`)."""
    if lrs is None:
        return log_lrs()
    try:
        values = [float(v) for v in lrs]
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"lrs={lrs!r} is not a list of numbers.") from exc
    if not values:
        raise InvalidArgument(
            "lrs is empty: the scan needs at least one learning rate.",
            hint="Pass e.g. lrs=lrlab.scanning.log_lrs(1e-6, 100, 32), or leave lrs=None.",
        )
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise InvalidArgument(
            f"lrs must be positive and finite; got {bad[:5]}.",
            hint="Learning rates are scanned on a log axis: use values > 0.",
        )
    values.sort()
    duplicates = sorted({a for a, b in itertools.pairwise(values) if a == b})
    if duplicates:
        raise InvalidArgument(f"lrs has duplicates {duplicates[:5]}.", hint="Remove them.")
    return values


def check_horizons(horizons: Iterable[int]) -> list[int]:
    """Validated horizons: positive integers, strictly increasing."""
    try:
        values = list(horizons)
    except TypeError as exc:
        raise InvalidArgument(f"horizons={horizons!r} is not a list of integers.") from exc
    if not values:
        raise InvalidArgument("horizons is empty.", hint="Use e.g. horizons=(1, 2, 4, 8).")
    if any(isinstance(h, bool) or int(h) != h for h in values):
        raise InvalidArgument(f"horizons={values} must be whole numbers.")
    ints = [int(h) for h in values]
    if any(h <= 0 for h in ints):
        raise InvalidArgument(f"horizons={ints} must all be positive (>= 1).")
    if any(b <= a for a, b in itertools.pairwise(ints)):
        raise InvalidArgument(
            f"horizons={ints} must be strictly increasing, without duplicates.",
            hint=f"Use horizons={sorted(set(ints))}.",
        )
    return ints


def scan(
    model: nn.Module,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Any],
    *,
    lrs: Sequence[float] | None = None,
    horizons: Sequence[int] = (1, 2, 4, 8),
    unit: str = "epochs",
    optimizer: str | OptimizerFactory | torch.optim.Optimizer = "sgd",
    optimizer_kwargs: Mapping[str, Any] | None = None,
    carry_optimizer_state: bool = False,
    eval_data: Iterable[Any] | None = None,
    metrics: str | Iterable[str | Metric] | Mapping[str, Metric] | None = None,
    stop_factor: float | None = 1.1,
    mask_stopped: bool = True,
    method: str = "auto",
    unpack: Unpack | None = None,
    step_fn: StepFn | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ScanResult:
    """Train a copy of ``model`` per learning rate for each horizon; return the outcomes.

    Args:
        model: the start state (as it is now). It is never modified: the scan trains copies.
        criterion: ``loss = criterion(model(inputs), targets)``; or ``None`` with ``step_fn``.
        train_data: re-iterable batches (a DataLoader, a list, an lrlab loader).
        lrs: learning rates (sorted ascending; default 32 log-spaced values 1e-6 … 100).
        horizons: training lengths at which every copy is evaluated, strictly increasing.
        unit: ``"epochs"`` (full passes over ``train_data``) or ``"steps"`` (optimizer updates).
        optimizer: ``"sgd"``, ``"adam"``, ``"adamw"`` (with ``optimizer_kwargs``), a factory
            ``f(params, lr) -> Optimizer``, or the user's optimizer (its class, per-group
            hyper-parameters and LR ratios are reused).
        carry_optimizer_state: copy the user's optimizer state (moments, momentum buffers,
            step count) into every copy instead of starting fresh (seed 003 starts fresh).
        eval_data: where the loss is measured after each horizon (default: ``train_data``,
            as in seed 003), through :func:`lrlab.evaluate.evaluate`'s definition.
        metrics: extra metrics evaluated with the loss (``"accuracy"``, ...).
        stop_factor: a copy whose evaluation loss exceeds
            ``initial + (stop_factor − 1)·|initial|`` is *stopped*: its cell is empty (NaN).
            ``None`` disables the rule (non-finite losses still count as diverged).
        mask_stopped: True (default): a stopped copy trains no further (its later horizons
            are empty too) — seed 003's early stop, and it saves compute. False: it keeps
            training, so a copy that recovers at a longer horizon is still measured there.
        method: ``"batched"`` (K copies at once), ``"sequential"`` (one at a time), or
            ``"auto"``: batched, falling back to sequential (with a warning and a note in
            the result) when the model or optimizer cannot be batched. Batched scans of
            plain ``Linear``/activation stacks on the CPU use grouped matrix products
            (:mod:`lrlab.copies.grouped`), others ``torch.func.vmap``;
            ``result.config["engine"]`` says which ran (same numbers either way).
        unpack, step_fn: other batch formats (see :mod:`lrlab.batches`).
        seed: data order and random numbers (same seed, same results).
        device: where to train (default: the model's device).
        progress: show a progress bar on stderr.

    Returns:
        A :class:`ScanResult`; ``result.best()`` gives the best LR per horizon with a band.
        An interrupted scan (Ctrl-C) returns what it measured, with ``complete=False``.
    """
    lr_list = check_lrs(lrs)
    horizon_list = check_horizons(horizons)
    check(unit in UNITS, f"unit={unit!r} must be one of {UNITS}.")
    check(method in METHODS, f"method={method!r} must be one of {METHODS}.")
    if stop_factor is not None:
        check(
            math.isfinite(stop_factor) and stop_factor >= 1.0,
            f"{stop_factor=} must be >= 1 (e.g. 1.1), or None to disable the stop rule.",
        )
    if hasattr(optimizer, "param_groups"):  # an instance: it must train this model
        groups.check_optimizer(optimizer, model, where="scan")
    if eval_data is None and next(iter(train_data), None) is None:
        # The scan measures on train_data then: say so, not "evaluation data is empty".
        raise DataError(
            "train_data yielded no batches: nothing to train or measure.",
            hint="Check the dataset is not empty (and pass a re-iterable, not a generator).",
        )
    started = time.perf_counter()
    target = _model_device(model) if device is None else resolve_device(device)
    metric_fns = resolve_metrics(metrics)
    step = resolve_step(criterion, unpack=unpack, step_fn=step_fn, device=target)
    eval_source = train_data if eval_data is None else eval_data
    try:
        work = copy.deepcopy(model).to(target)
    except Exception as exc:  # deepcopy of exotic modules; say what to do
        raise InvalidArgument(
            f"The model could not be copied (copy.deepcopy failed: {exc}).",
            hint="The scan trains copies and never touches your model; make it deep-copyable.",
        ) from exc
    # The optimizer recipe names the parameters of `model`; `work` has the same names.
    recipe = resolve_optimizer(
        optimizer, model, kwargs=optimizer_kwargs, carry_state=carry_optimizer_state
    )
    rng_devices = [target.index or 0] if target.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        initial = evaluate(work, eval_source, step, metrics=metric_fns)
        if not math.isfinite(initial["loss"]):
            raise LrlabError(
                f"The model's loss at the start is {initial['loss']}: nothing can be scanned.",
                hint="Check the model and data (NaN weights or inputs?).",
            )
        threshold = stop_threshold(initial["loss"], stop_factor)
        copies = Copies(
            work=work,
            step=step,
            criterion=criterion if step_fn is None else None,
            unpack=unpack,
            device=target,
            recipe=recipe,
            lrs=lr_list,
            metrics=metric_fns,
        )
        run = _Run(
            copies=copies,
            train_data=train_data,
            eval_data=eval_source,
            horizons=horizon_list,
            unit=unit,
            seed=seed,
            threshold=threshold,
            mask_stopped=mask_stopped,
            rng_devices=rng_devices,
            progress=progress,
        )
        outcome = run.execute(method)
        record = outcome.record
    return ScanResult(
        lrs=lr_list,
        horizons=horizon_list,
        unit=unit,
        losses=record.losses().tolist(),
        raw_losses=record.raw.tolist(),
        status=record.status.tolist(),
        initial_loss=float(initial["loss"]),
        stop_factor=stop_factor,
        stop_threshold=threshold,
        metrics={k: v.tolist() for k, v in record.metrics.items()},
        initial_metrics={k: float(v) for k, v in initial.items() if k != "loss"},
        method=outcome.method,
        complete=outcome.complete,
        elapsed=time.perf_counter() - started,
        config={
            "optimizer": recipe.describe(),
            "seed": seed,
            "mask_stopped": mask_stopped,
            "eval_data": "train_data" if eval_data is None else "eval_data",
            "device": str(target),
            "method_requested": method,
            "engine": outcome.engine,
        },
        notes=outcome.notes,
    )


@dataclass
class _Run:
    """One scan: its copies (:class:`lrlab.copies.select.Copies`) and the loop settings."""

    copies: Copies
    train_data: Iterable[Any]
    eval_data: Iterable[Any]
    horizons: list[int]
    unit: str
    seed: int
    threshold: float | None
    mask_stopped: bool
    rng_devices: list[int]
    progress: bool

    def execute(self, method: str) -> Outcome[Record]:
        names = list(self.copies.metrics)
        with StageBar(self.progress) as bar:
            bar.start("scan", total=None)
            tick = bar.advance

            def drive(engine: Any, record: Record) -> None:
                run_horizons(
                    engine,
                    self.train_data,
                    self.eval_data,
                    record,
                    horizons=self.horizons,
                    unit=self.unit,
                    seed=self.seed,
                    threshold=self.threshold,
                    mask_stopped=self.mask_stopped,
                    rng_devices=self.rng_devices,
                    tick=tick,
                )

            return train_copies(
                self.copies,
                method,
                lambda: Record(len(self.horizons), len(self.copies.lrs), names),
                drive,
                lambda record: bool((record.status != NOT_RUN).any()),
                label="scan",
            )


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
