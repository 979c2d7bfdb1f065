"""``compare_range_tests``: one LR range test per candidate value of a hyper-parameter, all
from the same start, ranked (Smith, 2018, "A disciplined approach to neural network
hyper-parameters: Part 1", §4).

**Same start.** Everything runs inside :func:`lrlab.snapshot.preserved` of the model and the
optimizer. Before each candidate the snapshot is restored — weights, buffers, optimizer
hyper-parameters, and the python / numpy / torch RNG streams — the optimizer's state is
cleared (fresh momentum buffers and Adam moments: a buffer built under another value is not
neutral), and the generators of a ``DataLoader`` (its own ``generator=``, its sampler's) are
put back too. So every candidate's first loss is computed from the same weights on the same
batch, and the candidates see the same batches in the same order. Afterwards the user's
objects are exactly as they were.

**Batch size, fairly.** Varying ``batch_size`` re-batches the *same* permutation of samples
(a :class:`~lrlab.data.loader.TensorLoader` orders epoch ``e`` by ``(seed, e)`` only; a
``DataLoader`` built by ``data_factory`` draws its permutation from the restored RNG). With
``budget="samples"`` (default) every candidate sees the same number of samples,
``num_iter × max(batch sizes)``: the largest batch makes ``num_iter`` steps, a batch ``b``
makes ``num_iter × max / b``, over the same LR window, so at every LR of the sweep each
candidate has read the same samples. ``budget="steps"`` gives every candidate ``num_iter``
steps (larger batches then read more data). Metric-mode evaluations are spaced the same way.

**Cost.** Candidates run one after the other by default. ``workers=N`` runs them on a local
pool of ``N`` spawned processes with one torch thread each (the model, optimizer, loss and
data are pickled to them, so lambdas do not travel); the pool gives the same numbers as a
sequential run with one thread. On a small CPU model the pool's start-up (a torch import
per worker) costs about as much as a range test: see ``docs/hyperparameter_tests.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from lrlab.batches import Batch, StepFn, Unpack
from lrlab.compare import knobs
from lrlab.compare.candidates import (
    CandidateSpec,
    Confirm,
    Job,
    RangeTestInputs,
    check_shuffles,
)
from lrlab.compare.confirm import confirmed_best
from lrlab.compare.ranking import RANK_BY, CurveInput, rank_candidates
from lrlab.compare.result import CandidateResult, ComparisonResult
from lrlab.compare.runners import run_pool, run_sequential
from lrlab.errors import InvalidArgument, check
from lrlab.finder.settings import RangeTestSettings, settings_from
from lrlab.metrics import HIGHER_IS_BETTER
from lrlab.optim import groups

BUDGETS = ("samples", "steps")
# Measured on mnist1d (docs/hyperparameter_tests.md): the Adam β1 ranked first by its LR
# limit trained clearly worse than the default 0.9; with SGD the same test picked well.
ADAM_MOMENTUM_NOTE = (
    "momentum is betas[0] of an Adam-family optimizer here: Smith's reading (lowest loss, "
    "largest LR) was made for SGD momentum, and a larger beta1 can tolerate larger LRs in a "
    "short sweep without training better; check with confirm_with_one_cycle=epochs."
)


def compare_range_tests(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | knobs.OptimizerFactory,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Batch],
    settings: RangeTestSettings | None = None,
    *,
    vary: dict[str, Sequence[Any]],
    data_factory: knobs.DataFactory | None = None,
    budget: str = "samples",
    unpack: Unpack | None = None,
    step_fn: StepFn | None = None,
    eval_data: Iterable[Batch] | None = None,
    metrics: Any = None,
    chance: float | None = None,
    device: torch.device | str | None = None,
    rank_by: str = "loss",
    z: float = 3.0,
    rise: float = 0.25,
    confirm_with_one_cycle: int | None = None,
    confirm_lr: float | None = None,
    repeats: int = 1,
    workers: int = 1,
    progress: bool = False,
    on_candidate: Callable[[CandidateResult], None] | None = None,
    **options: Any,
) -> ComparisonResult:
    """Run one LR range test per candidate value of one hyper-parameter and rank them.

    Args:
        model, criterion, train_data: as for :func:`lrlab.range_test`; left exactly as they
            were afterwards.
        optimizer: the optimizer to test (an instance: each candidate gets it with a fresh
            state and the candidate's value in every param group), or a factory called as
            ``factory(model.parameters(), **{name: value})`` when it accepts that keyword,
            else ``factory(model.parameters())`` and the value written into the groups.
        settings, options: the sweep, the same for every candidate — a
            :class:`~lrlab.finder.settings.RangeTestSettings` and/or its fields by name
            (``start_lr=``, ``end_lr=``, ``num_iter=``, ...). With ``budget="samples"`` a
            batch-size candidate replaces ``num_iter`` and ``eval_every`` by its own share.
        vary: ``{name: [values]}``, one hyper-parameter: ``"momentum"`` (SGD/RMSprop
            ``momentum`` or Adam's ``betas[0]``), ``"weight_decay"``, ``"batch_size"``, any
            other param-group key (``"nesterov"``, ``"eps"``...) or factory argument.
        data_factory: ``batch_size -> training batches``, needed to vary the batch size of
            data that is not an lrlab ``TensorLoader`` (e.g. a ``DataLoader``).
        budget: for ``batch_size``: ``"samples"`` (every candidate reads the same samples;
            ``num_iter`` is the largest batch's steps) or ``"steps"`` (``num_iter`` each).
        unpack ... device, progress: the range test's other arguments
            (:func:`lrlab.range_test`), the same for every candidate.
        rank_by, z, rise: the ranking rule (:mod:`lrlab.compare.ranking`): rank by the lowest
            smoothed ``"loss"`` or, in metric mode, by the best eval ``"metric"``; ``z``
            standard errors make a difference clear; ``rise`` places the common level that
            defines each candidate's LR limit.
        confirm_with_one_cycle: epochs of a short one-cycle run per candidate (peaking at its
            own suggested max LR, or ``confirm_lr``), compared on the final eval loss —
            Smith's check for weight decay. Off by default; needs ``eval_data``.
        repeats: range tests per candidate. Repeat ``r ≥ 1`` reads another data order (and
            other dropout masks): the training data is reshuffled from a seed derived from
            ``r`` (the same for every candidate), the initial weights stay the same. The
            ranking reads the mean curve, with the spread between repeats in its standard
            errors — the honest noise when one curve's residuals understate it. Needs
            shuffled data (a ``TensorLoader``, or a ``DataLoader`` with ``shuffle=True``).
        workers: run the candidates on a pool of this many processes (1: in this process).
        on_candidate: called with each :class:`CandidateResult` as it finishes.

    Returns:
        a :class:`ComparisonResult` whose ``config`` holds the settings (``asdict``, with
        each candidate's ``num_iter`` / ``eval_every`` as lists). Ctrl-C keeps the finished
        candidates (and the partial curve of the one in flight) with
        ``stop_reason="interrupted"``. An error after some candidates finished carries them
        as ``exc.partial_result``.

    Example::

        cmp = lrlab.compare_range_tests(model, opt, nn.CrossEntropyLoss(), loader,
                                        vary={"momentum": [0.99, 0.97, 0.95, 0.9]},
                                        start_lr=1e-5, end_lr=1, num_iter=100)
        print(cmp.verdict, cmp.max_lrs)      # the max LR each momentum allows
        cmp.save("vary.json"); cmp.plot()
    """
    started = time.perf_counter()
    name, values = knobs.parse_vary(vary)
    s = settings_from(settings, **options)
    _check_comparison(
        budget=budget,
        rank_by=rank_by,
        eval_data=eval_data,
        z=z,
        rise=rise,
        workers=workers,
        repeats=repeats,
        confirm_with_one_cycle=confirm_with_one_cycle,
        confirm_lr=confirm_lr,
    )
    _check_optimizer(optimizer, model, name, values)
    if eval_data is not None:
        s = s.evaluated()  # range_test's default spacing, fixed on the reference steps
    specs = _candidates(name, values, train_data, data_factory, budget, s)
    if repeats > 1:
        for spec in specs:
            check_shuffles(spec.data)
    inputs = RangeTestInputs(unpack, step_fn, eval_data, metrics, chance, device)
    confirm = None
    if confirm_with_one_cycle is not None:
        confirm = Confirm(confirm_with_one_cycle, confirm_lr, name != knobs.MOMENTUM)
    job = Job(model, optimizer, criterion, name, specs, s, inputs, confirm, repeats)
    runner = run_sequential if workers == 1 else run_pool
    candidates, interrupted, error = runner(job, workers, progress, on_candidate)
    result = ComparisonResult(
        name=name,
        candidates=candidates,
        stop_reason="interrupted" if interrupted else "completed",
        config={
            "name": name,
            "values": list(values),
            **s.to_dict(),
            "chance": chance,
            "device": None if device is None else str(device),
            "metric_mode": eval_data is not None,
            "num_iter": [c.num_iter for c in specs],
            "eval_every": [c.eval_every for c in specs],
            "batch_size": [c.batch_size for c in specs],
            "budget": budget if name == knobs.BATCH_SIZE else None,
            "rank_by": rank_by,
            "z": z,
            "rise": rise,
            "confirm_with_one_cycle": confirm_with_one_cycle,
            "confirm_lr": None if confirm is None else confirm_lr,
            "workers": workers,
            "repeats": repeats,
        },
    )
    _rank(result, rank_by=rank_by, z=z, rise=rise)
    result.elapsed = time.perf_counter() - started
    if error is not None:
        error.partial_result = result  # type: ignore[attr-defined]
        raise error
    return result


# ----------------------------------------------------------------------------- set-up


def _check_comparison(
    *,
    budget: str,
    rank_by: str,
    eval_data: Any,
    z: float,
    rise: float,
    workers: int,
    repeats: int,
    confirm_with_one_cycle: int | None,
    confirm_lr: float | None,
) -> None:
    """The comparison's own settings (the range test's were checked by
    :func:`~lrlab.finder.settings.settings_from`), before anything computes."""

    def positive_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    check(budget in BUDGETS, f"{budget=} must be one of {BUDGETS}.")
    check(rank_by in RANK_BY, f"{rank_by=} must be one of {RANK_BY}.")
    check(
        rank_by != "metric" or eval_data is not None,
        "rank_by='metric' needs eval_data (metric mode).",
        hint="Pass eval_data= (validation batches), or rank by loss.",
    )
    check(z > 0, f"{z=} must be > 0.")
    check(0 < rise < 1, f"{rise=} must be in (0, 1).")
    check(positive_int(workers), f"{workers=} must be an integer >= 1.")
    check(positive_int(repeats), f"{repeats=} must be an integer >= 1.")
    if confirm_with_one_cycle is not None:
        check(
            positive_int(confirm_with_one_cycle),
            f"confirm_with_one_cycle={confirm_with_one_cycle!r} must be a number of epochs >= 1.",
        )
        check(
            eval_data is not None,
            "confirm_with_one_cycle compares the candidates' test loss, but eval_data is None.",
            hint="Pass eval_data= (held-out batches).",
        )
    check(
        confirm_lr is None or confirm_lr > 0,
        f"{confirm_lr=} must be a positive learning rate (or None for each candidate's own).",
    )


def _check_optimizer(optimizer: Any, model: nn.Module, name: str, values: list[Any]) -> None:
    """Fail before anything runs when a candidate's optimizer cannot be built."""
    if isinstance(optimizer, torch.optim.Optimizer):
        check(len(optimizer.param_groups) > 0, "The optimizer has no param groups.")
        if name != knobs.BATCH_SIZE:
            groups.require(optimizer, name)
        return
    # A factory: build every candidate's optimizer once (no state, no step) to surface errors.
    for value in values:
        knobs.build_optimizer(optimizer, model, name, value)


def _candidates(
    name: str,
    values: list[Any],
    train_data: Any,
    data_factory: knobs.DataFactory | None,
    budget: str,
    s: RangeTestSettings,
) -> list[CandidateSpec]:
    """One spec per value; a batch size ``b`` under ``budget="samples"`` makes
    ``num_iter × max(b) / b`` steps (and evaluates that much less often)."""
    if name != knobs.BATCH_SIZE:
        if data_factory is not None:
            raise InvalidArgument(
                f"data_factory is for varying batch_size; {name!r} is varied here.",
                hint="Drop data_factory=.",
            )
        size = getattr(train_data, "batch_size", None)
        return [
            CandidateSpec(v, knobs.label(name, v), s.num_iter, s.eval_every, size, train_data)
            for v in values
        ]
    ref = max(values)
    specs = []
    for b in values:
        scale = ref / b if budget == "samples" else 1.0
        specs.append(
            CandidateSpec(
                b,
                knobs.label(name, b),
                max(2, round(s.num_iter * scale)),
                None if s.eval_every is None else max(1, round(s.eval_every * scale)),
                b,
                knobs.rebatch(train_data, b, data_factory),
            )
        )
    return specs


# ----------------------------------------------------------------------------- ranking


def _rank(result: ComparisonResult, *, rank_by: str, z: float, rise: float) -> None:
    """Rank the finished candidates and pick the confirmation's winner."""
    cands = result.candidates
    if len(cands) < 2:
        return
    metric_name = _metric_name(cands)
    curves = []
    for c in cands:
        runs = []
        for rt in c.runs:
            values = rt.eval.get(metric_name, []) if metric_name else []
            runs.append(
                CurveInput(
                    lrs=rt.lrs,
                    losses=rt.losses,
                    stop_reason=rt.stop_reason,
                    metric_lrs=rt.eval_lrs if values else (),
                    metric=values,
                    max_lr=None if rt.suggestion is None else rt.suggestion.lr,
                )
            )
        curves.append(runs)
    result.ranking = rank_candidates(
        curves,
        [c.label for c in cands],
        rank_by=rank_by,
        higher_is_better=metric_name in HIGHER_IS_BETTER if metric_name else True,
        metric_name=metric_name,
        z=z,
        rise=rise,
    )
    if any(c.range_test.config.get("momentum_key") == "betas" for c in cands):
        result.ranking.notes.append(ADAM_MOMENTUM_NOTE)
    confirmations = [c.confirmation for c in cands]
    if any(c is not None for c in confirmations):
        best = confirmed_best(confirmations)
        result.confirmed = None if best is None else cands[best].value


def _metric_name(cands: list[CandidateResult]) -> str | None:
    """The eval metric the range tests recorded (the first that is not the loss)."""
    for c in cands:
        for key in c.range_test.eval:
            if key != "loss":
                return key
        if "loss" in c.range_test.eval:
            return "loss"
    return None
