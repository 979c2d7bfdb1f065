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

import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import RandomSampler

from lrlab.batches import Batch, StepFn, Unpack
from lrlab.compare import knobs
from lrlab.compare.confirm import confirm_one_cycle, confirmed_best
from lrlab.compare.ranking import RANK_BY, CurveInput, rank_candidates
from lrlab.compare.result import CandidateResult, ComparisonResult
from lrlab.data.loader import TensorLoader
from lrlab.errors import InvalidArgument, check
from lrlab.finder import range_test
from lrlab.optim import groups
from lrlab.seeding import derive_seed, seed_everything
from lrlab.snapshot import capture_rng, preserved, restore_rng

BUDGETS = ("samples", "steps")
# Measured on mnist1d (docs/hyperparameter_tests.md): the Adam β1 ranked first by its LR
# limit trained clearly worse than the default 0.9; with SGD the same test picked well.
ADAM_MOMENTUM_NOTE = (
    "momentum is betas[0] of an Adam-family optimizer here: Smith's reading (lowest loss, "
    "largest LR) was made for SGD momentum, and a larger beta1 can tolerate larger LRs in a "
    "short sweep without training better; check with confirm_with_one_cycle=epochs."
)


@dataclass(frozen=True)
class _Candidate:
    """One candidate's settings: its value, steps, evaluation spacing and data."""

    value: Any
    label: str
    num_iter: int
    eval_every: int | None
    batch_size: int | None
    data: Any


def compare_range_tests(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | knobs.OptimizerFactory,
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    train_data: Iterable[Batch],
    *,
    vary: dict[str, Sequence[Any]],
    data_factory: knobs.DataFactory | None = None,
    budget: str = "samples",
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
    rank_by: str = "loss",
    z: float = 3.0,
    rise: float = 0.25,
    confirm_with_one_cycle: int | None = None,
    confirm_lr: float | None = None,
    repeats: int = 1,
    workers: int = 1,
    progress: bool = False,
    on_candidate: Callable[[CandidateResult], None] | None = None,
) -> ComparisonResult:
    """Run one LR range test per candidate value of one hyper-parameter and rank them.

    Args:
        model, criterion, train_data: as for :func:`lrlab.range_test`; left exactly as they
            were afterwards.
        optimizer: the optimizer to test (an instance: each candidate gets it with a fresh
            state and the candidate's value in every param group), or a factory called as
            ``factory(model.parameters(), **{name: value})`` when it accepts that keyword,
            else ``factory(model.parameters())`` and the value written into the groups.
        vary: ``{name: [values]}``, one hyper-parameter: ``"momentum"`` (SGD/RMSprop
            ``momentum`` or Adam's ``betas[0]``), ``"weight_decay"``, ``"batch_size"``, any
            other param-group key (``"nesterov"``, ``"eps"``...) or factory argument.
        data_factory: ``batch_size -> training batches``, needed to vary the batch size of
            data that is not an lrlab ``TensorLoader`` (e.g. a ``DataLoader``).
        budget: for ``batch_size``: ``"samples"`` (every candidate reads the same samples;
            ``num_iter`` is the largest batch's steps) or ``"steps"`` (``num_iter`` each).
        start_lr ... progress: the range test's arguments (:func:`lrlab.range_test`), the
            same for every candidate.
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
        a :class:`ComparisonResult`. Ctrl-C keeps the finished candidates (and the partial
        curve of the one in flight) with ``stop_reason="interrupted"``. An error after some
        candidates finished carries them as ``exc.partial_result``.

    Example::

        cmp = lrlab.compare_range_tests(model, opt, nn.CrossEntropyLoss(), loader,
                                        vary={"momentum": [0.99, 0.97, 0.95, 0.9]},
                                        start_lr=1e-5, end_lr=1, num_iter=100)
        print(cmp.verdict, cmp.max_lrs)      # the max LR each momentum allows
        cmp.save("vary.json"); cmp.plot()
    """
    started = time.perf_counter()
    name, values = knobs.parse_vary(vary)
    _check_settings(
        budget=budget,
        rank_by=rank_by,
        eval_data=eval_data,
        z=z,
        rise=rise,
        workers=workers,
        repeats=repeats,
        num_iter=num_iter,
        confirm_with_one_cycle=confirm_with_one_cycle,
        confirm_lr=confirm_lr,
    )
    _check_optimizer(optimizer, model, name, values)
    plans = _plans(name, values, train_data, data_factory, budget, num_iter, eval_every, eval_data)
    if repeats > 1:
        for plan in plans:
            _check_shuffles(plan.data)
    sweep = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "step_mode": step_mode,
        "smooth_beta": smooth_beta,
        "diverge_th": diverge_th,
        "unpack": unpack,
        "step_fn": step_fn,
        "eval_data": eval_data,
        "eval_batches": eval_batches,
        "metrics": metrics,
        "chance": chance,
        "accumulation_steps": accumulation_steps,
        "grad_clip": grad_clip,
        "amp": amp,
        "device": device,
    }
    confirm = None
    if confirm_with_one_cycle is not None:
        confirm = {
            "epochs": confirm_with_one_cycle,
            "lr": confirm_lr,
            "cycle_momentum": name != knobs.MOMENTUM,
        }
    job = _Job(model, optimizer, criterion, name, plans, sweep, confirm, repeats)
    runner = _run_sequential if workers == 1 else _run_pool
    candidates, interrupted, error = runner(job, workers, progress, on_candidate)
    result = ComparisonResult(
        name=name,
        candidates=candidates,
        stop_reason="interrupted" if interrupted else "completed",
        config=_config(
            name, values, plans, sweep, budget, rank_by, z, rise, confirm, workers, repeats
        ),
    )
    _finish(result, rank_by=rank_by, z=z, rise=rise)
    result.elapsed = time.perf_counter() - started
    if error is not None:
        error.partial_result = result  # type: ignore[attr-defined]
        raise error
    return result


# ----------------------------------------------------------------------------- set-up


def _check_settings(
    *,
    budget: str,
    rank_by: str,
    eval_data: Any,
    z: float,
    rise: float,
    workers: int,
    repeats: int,
    num_iter: int,
    confirm_with_one_cycle: int | None,
    confirm_lr: float | None,
) -> None:
    """The comparison's own settings (the range test checks its arguments itself, before
    the first candidate computes anything)."""

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
    check(
        positive_int(num_iter) and num_iter >= 2,
        f"num_iter={num_iter!r} must be an integer >= 2.",
    )
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


def _plans(
    name: str,
    values: list[Any],
    train_data: Any,
    data_factory: knobs.DataFactory | None,
    budget: str,
    num_iter: int,
    eval_every: int | None,
    eval_data: Any,
) -> list[_Candidate]:
    if eval_data is not None and eval_every is None:
        eval_every = max(1, num_iter // 20)  # range_test's default, fixed on the reference
    if name != knobs.BATCH_SIZE:
        if data_factory is not None:
            raise InvalidArgument(
                f"data_factory is for varying batch_size; {name!r} is varied here.",
                hint="Drop data_factory=.",
            )
        size = getattr(train_data, "batch_size", None)
        return [
            _Candidate(v, knobs.label(name, v), num_iter, eval_every, size, train_data)
            for v in values
        ]
    ref = max(values)
    plans = []
    for b in values:
        scale = ref / b if budget == "samples" else 1.0
        plans.append(
            _Candidate(
                b,
                knobs.label(name, b),
                max(2, round(num_iter * scale)),
                None if eval_every is None else max(1, round(eval_every * scale)),
                b,
                knobs.rebatch(train_data, b, data_factory),
            )
        )
    return plans


def _config(
    name: str,
    values: list[Any],
    plans: list[_Candidate],
    sweep: dict[str, Any],
    budget: str,
    rank_by: str,
    z: float,
    rise: float,
    confirm: dict[str, Any] | None,
    workers: int,
    repeats: int,
) -> dict[str, Any]:
    plain = {
        k: v
        for k, v in sweep.items()
        if k not in ("unpack", "step_fn", "eval_data", "metrics", "device")
    }
    return {
        "name": name,
        "values": list(values),
        **plain,
        "device": None if sweep["device"] is None else str(sweep["device"]),
        "metric_mode": sweep["eval_data"] is not None,
        "num_iter": [p.num_iter for p in plans],
        "eval_every": [p.eval_every for p in plans],
        "batch_size": [p.batch_size for p in plans],
        "budget": budget if name == knobs.BATCH_SIZE else None,
        "rank_by": rank_by,
        "z": z,
        "rise": rise,
        "confirm_with_one_cycle": None if confirm is None else confirm["epochs"],
        "confirm_lr": None if confirm is None else confirm["lr"],
        "workers": workers,
        "repeats": repeats,
    }


# ----------------------------------------------------------------------------- running


@dataclass
class _Job:
    """Everything one candidate's run needs (pickled as a whole for the pool, so the
    optimizer keeps referring to the model's own parameters)."""

    model: nn.Module
    optimizer: Any
    criterion: Any
    name: str
    plans: list[_Candidate]
    sweep: dict[str, Any]
    confirm: dict[str, Any] | None
    repeats: int = 1


def _check_shuffles(data: Any) -> None:
    """Repeats need a data order that a seed can change."""
    if isinstance(data, TensorLoader) and data.shuffle:
        return
    if isinstance(getattr(data, "sampler", None), RandomSampler):
        return
    raise InvalidArgument(
        f"repeats > 1 reads the training data in other orders, but this "
        f"{type(data).__name__} does not shuffle.",
        hint="Use a shuffling loader (TensorLoader(shuffle=True), DataLoader(shuffle=True)), "
        "or repeats=1.",
    )


def _repeat_data(data: Any, r: int) -> Any:
    """Repeat ``r``'s data: a TensorLoader reshuffled from a derived seed; a DataLoader's own
    generators are reseeded (the global RNG, which its sampler otherwise draws from, is
    reseeded by the caller). Repeat 0 is the data as given."""
    if r == 0:
        return data
    if isinstance(data, TensorLoader):
        return TensorLoader(
            data.x,
            data.y,
            data.batch_size,
            shuffle=data.shuffle,
            seed=derive_seed(data.seed, "repeat", r),
            drop_last=data.drop_last,
            augment=data.augment,
            transform=data.transform,
        )
    for g in _generators(data):
        g.manual_seed(derive_seed(0, "repeat", r, "loader"))
    return data


def _generators(data: Any) -> list[torch.Generator]:
    """The torch generators a DataLoader draws its order from (its own, its samplers')."""
    found: list[torch.Generator] = []
    for obj in (
        data,
        getattr(data, "sampler", None),
        getattr(getattr(data, "batch_sampler", None), "sampler", None),
    ):
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def _run_one(job: _Job, k: int, progress: bool, r: int = 0) -> CandidateResult:
    """Candidate ``k``'s range test number ``r`` (and, for ``r = 0``, its confirmation), from
    the state the caller set."""
    plan = job.plans[k]
    if r > 0:
        seed_everything(derive_seed(0, "repeat", r))  # another run: dropout, samplers
    data = _repeat_data(plan.data, r)
    opt = knobs.build_optimizer(job.optimizer, job.model, job.name, plan.value)
    rt = range_test(
        job.model,
        opt,
        job.criterion,
        data,
        num_iter=plan.num_iter,
        eval_every=plan.eval_every,
        progress=progress,
        **job.sweep,
    )
    rt.config["candidate"] = plan.label
    rt.config["repeat"] = r
    if job.name == knobs.MOMENTUM:
        rt.config["momentum_key"] = groups.momentum_key(opt.param_groups[0])
    cand = CandidateResult(
        value=plan.value,
        label=plan.label,
        range_test=rt,
        num_iter=plan.num_iter,
        batch_size=plan.batch_size,
    )
    if r == 0 and job.confirm is not None and rt.stop_reason != "interrupted":
        # The range test restored the model; the optimizer is rebuilt fresh for training.
        opt = knobs.build_optimizer(job.optimizer, job.model, job.name, plan.value)
        fit_kwargs = {
            key: job.sweep[key]
            for key in ("unpack", "step_fn", "grad_clip", "accumulation_steps", "amp")
        }
        if job.sweep["metrics"] is not None:
            fit_kwargs["metrics"] = job.sweep["metrics"]
        cand.confirmation = confirm_one_cycle(
            job.model,
            opt,
            job.criterion,
            plan.data,
            job.sweep["eval_data"],
            epochs=job.confirm["epochs"],
            max_lr=job.confirm["lr"] or cand.suggested_lr,
            cycle_momentum=job.confirm["cycle_momentum"],
            **fit_kwargs,
        )
    return cand


RunOutcome = tuple[list[CandidateResult], bool, BaseException | None]


def _interrupted(cand: CandidateResult) -> bool:
    conf = cand.confirmation
    return cand.range_test.stop_reason == "interrupted" or (
        conf is not None and conf.stop_reason == "interrupted"
    )


def _run_sequential(
    job: _Job,
    workers: int,
    progress: bool,
    on_candidate: Callable[[CandidateResult], None] | None,
) -> RunOutcome:
    instance = job.optimizer if isinstance(job.optimizer, torch.optim.Optimizer) else None
    gens = [g for p in job.plans for g in _generators(p.data)]
    gens = [g for i, g in enumerate(gens) if all(g is not h for h in gens[:i])]
    done: list[CandidateResult] = []
    interrupted = False
    error: BaseException | None = None
    with preserved(job.model, instance, rng=True) as snap:
        gen_states = [g.get_state() for g in gens]
        try:
            for k in range(len(job.plans)):
                cand = None
                for r in range(job.repeats):
                    snap.restore()
                    for g, state in zip(gens, gen_states, strict=True):
                        g.set_state(state)
                    run = _run_one(job, k, progress, r)
                    if cand is None:
                        cand = run
                        done.append(cand)
                    else:
                        cand.repeats.append(run.range_test)
                    if _interrupted(run):
                        interrupted = True
                        break
                if on_candidate is not None and cand is not None:
                    on_candidate(cand)
                if interrupted:
                    break
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:
            if not done:
                raise  # nothing computed yet: the plain error is the clearest
            error = exc
        finally:
            for g, state in zip(gens, gen_states, strict=True):
                g.set_state(state)
    return done, interrupted, error


def _pool_job(payload: tuple[bytes, int, int]) -> CandidateResult:
    """Run in a pool worker: unpickle the job, restore the caller's RNG, run candidate k's
    repeat r."""
    from lrlab.parallel.worker import interruptible, torch_threads

    blob, k, r = payload
    job, rng = pickle.loads(blob)
    with torch_threads(1), interruptible():
        restore_rng(rng)
        return _run_one(job, k, progress=False, r=r)


def _run_pool(
    job: _Job,
    workers: int,
    progress: bool,
    on_candidate: Callable[[CandidateResult], None] | None,
) -> RunOutcome:
    from lrlab.parallel.executors import ProcessExecutor

    if isinstance(job.optimizer, torch.optim.Optimizer):
        # Workers start from the optimizer's hyper-parameters, with a fresh state each.
        with preserved(None, job.optimizer, rng=False):
            job.optimizer.state.clear()
            blob = _pickle(job)
    else:
        blob = _pickle(job)
    n = len(job.plans)
    results: dict[tuple[int, int], CandidateResult] = {}
    errors: dict[tuple[int, int], BaseException] = {}

    def on_done(payload: tuple[bytes, int, int], out: Any) -> None:
        key = (payload[1], payload[2])
        if isinstance(out, BaseException):
            errors[key] = out
            return
        results[key] = out
        k = key[0]
        if on_candidate is not None and all((k, r) in results for r in range(job.repeats)):
            on_candidate(_assemble(results, k, job.repeats))

    jobs = [(blob, k, r) for k in range(n) for r in range(job.repeats)]
    interrupted = False
    try:
        ProcessExecutor(min(workers, len(jobs))).run(_pool_job, jobs, on_done)
    except KeyboardInterrupt:
        interrupted = True
    done = [_assemble(results, k, job.repeats) for k in range(n) if (k, 0) in results]
    interrupted = interrupted or any(_interrupted(c) for c in results.values())
    error = None
    if errors:
        error = errors[min(errors)]
        if not done:
            raise error
    return done, interrupted, error


def _assemble(results: dict[tuple[int, int], CandidateResult], k: int, repeats: int):
    """Candidate ``k`` from its first run and whichever repeats came back."""
    cand = results[(k, 0)]
    cand.repeats = [results[(k, r)].range_test for r in range(1, repeats) if (k, r) in results]
    return cand


def _pickle(job: _Job) -> bytes:
    try:
        return pickle.dumps((job, capture_rng()))
    except Exception as exc:
        raise InvalidArgument(
            f"workers > 1 sends the model, optimizer, loss and data to worker processes, "
            f"but they cannot be pickled ({type(exc).__name__}: {exc}).",
            hint="Use module-level functions instead of lambdas (factories, step_fn, unpack), "
            "or workers=1.",
        ) from exc


# ----------------------------------------------------------------------------- ranking


def _finish(
    result: ComparisonResult,
    *,
    rank_by: str,
    z: float,
    rise: float,
) -> None:
    """Rank the finished candidates and pick the confirmation's winner."""
    cands = result.candidates
    if len(cands) < 2:
        return
    metric_name = _metric_name(cands)
    from lrlab.metrics import HIGHER_IS_BETTER

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
