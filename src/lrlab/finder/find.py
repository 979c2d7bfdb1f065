"""``find_lr``: the peak LR for *this* planned run — a range test proposes, short runs decide.

1. **Propose.** A range test (its steps are counted in the cost) gives the window: from where
   learning starts to past where the loss diverges, below and beyond the curve's minimum
   (:func:`lrlab.finder.choose.window`).
2. **Decide.** Candidate peak LRs log-spaced over the window each get a short run of the
   planned schedule compressed to a fraction of ``total_steps``, all from the same start
   state, on the same batches, judged on held-out batches (:mod:`lrlab.finder.holdout`).
   The candidates train at once in lrlab's batched engines where the model allows, else one
   after the other, with the same answer (:mod:`lrlab.copies`). Two horizons measure how the
   best LR drifts with training length; when the best candidate sits at the window's edge,
   the window grows there.
3. **Choose** (:func:`lrlab.finder.choose.choose`): a smoothed, risk-averse response over
   log LR, extrapolated to the planned length, with an interval.

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

import numpy as np
import torch
from torch import nn

from lrlab._console import StageBar
from lrlab.batches import Batch, StepFn, Unpack, resolve_step
from lrlab.copies.driving import OK, Trace, run_schedule
from lrlab.copies.optimizer import build_torch_optimizer, resolve_optimizer
from lrlab.copies.select import Copies, train_copies
from lrlab.copies.sequential import capture_tensors, restore_tensors
from lrlab.errors import InvalidArgument, check
from lrlab.evaluate import evaluate
from lrlab.finder import choose as rule
from lrlab.finder.find_result import Candidate, FindResult
from lrlab.finder.find_settings import FindSettings, find_settings_from
from lrlab.finder.holdout import Holdout, holdout
from lrlab.finder.planned import (
    ScheduleSpec,
    as_fractions,
    planned_schedule,
    schedule_name,
    unit_schedule,
)
from lrlab.finder.sweep import range_test
from lrlab.metrics import HIGHER_IS_BETTER, default_metrics
from lrlab.optim import ScheduleDriver, groups
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
    groups.check_holds_model(optimizer, model, where="find_lr")
    started = time.perf_counter()
    dev = _model_device(model) if device is None else torch.device(device)
    metric_fns = default_metrics(metrics, criterion)
    score_name, higher = _score(s.score, metric_fns)
    step = resolve_step(criterion, unpack=unpack, step_fn=step_fn, device=dev)
    search = _Search(s, total_steps, horizons, units, score_name, higher)
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
        stopped = rt.stop_reason in ("diverged", "non-finite loss")
        search.window = rule.window(
            curve_lrs, curve, below_min=s.below_min, above_divergence=s.above_divergence,
            stopped=stopped,
        )  # fmt: skip
        work = copy.deepcopy(model).to(dev)
        plan = resolve_optimizer(optimizer, model)
        search.prepare(work, plan, step, hold, metric_fns, criterion, unpack, dev, seed)
        search.drive_momentum = _drives_momentum(plan, work, schedule, horizons[0], opts)
        try:
            search.rounds(stages)
        except KeyboardInterrupt:
            return search.result(started, ["interrupted"], complete=False)
    return search.result(started, [], complete=search.complete)


class _Search:
    """The state of one search: the range test, the window, the measured short runs."""

    def __init__(
        self,
        settings: FindSettings,
        total_steps: int,
        horizons: list[int],
        units: dict[int, Callable[[int], tuple[float, float | None]]],
        score_name: str,
        higher: bool,
    ) -> None:
        self.s = settings
        self.total_steps = total_steps
        self.horizons = horizons
        self.units = units
        self.score_name = score_name
        self.higher = higher
        self.range_test: Any = None
        self.window: rule.Window | None = None
        self.candidates: dict[tuple[int, float], Candidate] = {}
        self.short_steps = 0
        self.complete = True
        self.engine = ""
        self.notes: list[str] = []
        self.floor = float("nan")
        self.holdout_source = ""
        self.holdout_exact = True
        self.drive_momentum = False
        self.schedule: dict[str, Any] = {}
        self.schedule_spec: Any = None
        self.escalated = 0

    def prepare(
        self, work: nn.Module, plan: Any, step: StepFn, hold: Holdout, metric_fns: dict,
        criterion: Any, unpack: Unpack | None, device: torch.device, seed: int,
    ) -> None:  # fmt: skip
        self.work, self.plan, self.step, self.hold = work, plan, step, hold
        self.metric_fns, self.criterion, self.unpack = metric_fns, criterion, unpack
        self.device, self.seed = device, seed
        self.holdout_source, self.holdout_exact = hold.source, hold.exact
        # The sequential engine trains `work` in place: every run starts from this state.
        self.start = capture_tensors(work)
        initial = evaluate(work, hold.eval, step, metrics=metric_fns)
        self.initial = {k: float(v) for k, v in initial.items()}
        loss0 = self.initial["loss"]
        # A run whose held-out loss climbs this far above the untrained model's has failed.
        self.threshold = (
            None if self.s.stop_factor is None else loss0 + (self.s.stop_factor - 1) * abs(loss0)
        )
        self.floor = self._as_score(initial)
        self.rng_devices = [device.index or 0] if device.type == "cuda" else []

    def _as_score(self, values: Mapping[str, float]) -> float:
        value = float(values[self.score_name])
        return value if self.higher else -value

    def rounds(self, stages: StageBar) -> None:
        """Successive halving: every candidate of the window at the first horizon (the window
        grows at an edge), then the ``keep`` best around the peak at each longer horizon."""
        s, window = self.s, self.window
        assert window is not None
        grid = rule.log_grid(window.low, window.high, s.per_decade, s.max_candidates)
        self._round(0, grid, stages)
        for _ in range(s.extensions):
            side = self.edge_to_extend()
            if side is None:
                break
            self._round(0, rule.extension(self.lrs(0), side, s.extend_by), stages)
        # The pool: first-round candidates that trained (a run that failed short fails long).
        pool = [lr for lr, sc in zip(*self.round_scores(0), strict=True) if np.isfinite(sc)]
        for r in range(1, len(self.horizons)):
            top = rule.best_of(*self.round_scores(r - 1), self.floor, s.width)
            keep = rule.survivors(pool, top, s.keep)
            todo = [lr for lr in keep if (self.horizons[r], lr) not in self.candidates]
            if not keep:
                break
            self._round(r, todo, stages)
        self._beyond_edge(pool, stages)
        self._escalate(pool, stages)

    def _beyond_edge(self, pool: list[float], stages: StageBar) -> None:
        """The last round's peak at the edge of its runs: one more run beyond it, if the pool
        has one (the next longer horizon would have included it)."""
        last = len(self.horizons) - 1
        lrs, scores = self.round_scores(last)
        if last > 0 and lrs and any(np.isfinite(scores)):
            side = rule.edge_of(lrs, scores, self.floor, self.s.width)
            beyond = [lr for lr in pool if (lr > max(lrs) if side == "high" else lr < min(lrs))]
            if side is not None and beyond:
                nxt = min(beyond) if side == "high" else max(beyond)
                self._round(last, [nxt], stages)

    def _escalate(self, pool: list[float], stages: StageBar) -> None:
        """While the longest round learnt nothing the noise could not explain (a long plateau:
        nothing is learnt in a quarter of the run at any LR), run it again twice as long — up to
        ``max_fraction`` of the run — with the candidates around its peak, or spread over the
        pool when no round learnt anything."""
        s = self.s
        noise = rule.noise_of(*self.round_scores(0), self.floor, s.width)
        while pool:
            last = len(self.horizons) - 1
            lrs, scores = self.round_scores(last)
            if rule.learnt(scores, self.floor, noise):
                return
            h = 2 * self.horizons[last]
            if h > s.max_fraction * self.total_steps:
                return
            self.horizons.append(h)
            self.units[h] = unit_schedule(self.schedule_spec, h, self.schedule["options"])
            self.escalated += 1
            if any(rule.learnt(self.round_scores(r)[1], self.floor, noise) for r in range(last)):
                top = rule.best_of(lrs, scores, self.floor, s.width)
                todo = rule.survivors(pool, top, s.keep)
            else:
                todo = rule.spread(pool, s.keep + 1)
            self._round(len(self.horizons) - 1, todo, stages)

    def _round(self, r: int, lrs: list[float], stages: StageBar) -> None:
        h = self.horizons[r]
        stages.start(f"round {r + 1}: {len(lrs)} LRs × {h} steps", total=h)
        self._run(lrs, h, stages)

    def _run(self, lrs: list[float], h: int, stages: StageBar) -> None:
        restore_tensors(self.work, self.start)
        copies = Copies(
            work=self.work,
            step=self.step,
            criterion=self.criterion if isinstance(self.criterion, nn.Module) else None,
            unpack=self.unpack,
            device=self.device,
            plan=self.plan,
            lrs=list(lrs),
            metrics=self.metric_fns,
        )
        unit = self.units[h]
        momentum = self.drive_momentum

        def hyper(t: int) -> tuple[float, float | None]:
            scale, m = unit(t)
            return scale, (m if momentum else None)

        checkpoints = _checkpoints(h, self.s.checkpoints)
        names = list(self.metric_fns)

        def drive(engine: Any, trace: Trace) -> None:
            run_schedule(
                engine, self.hold.train, self.hold.eval, trace, hyper=hyper, seed=self.seed,
                threshold=self.threshold, rng_devices=self.rng_devices, tick=stages.advance,
            )  # fmt: skip

        outcome = train_copies(
            copies,
            self.s.method,
            lambda: Trace(checkpoints, len(lrs), names),
            drive,
            lambda trace: trace.steps > 0,
            label="find_lr",
        )
        self.engine, self.notes = outcome.engine, self.notes + outcome.notes
        trace = outcome.record
        self.short_steps += trace.copy_steps
        for k, lr in enumerate(lrs):
            status = str(trace.status[k])
            values = {"loss": float(trace.loss[-1, k])}
            values.update({m: float(trace.metrics[m][-1, k]) for m in names})
            finite = status == OK and bool(np.isfinite(values[self.score_name]))
            self.candidates[(h, float(lr))] = Candidate(
                lr=float(lr),
                horizon=h,
                steps=list(checkpoints),
                loss=[float(v) for v in trace.loss[:, k]],
                metrics={m: [float(v) for v in trace.metrics[m][:, k]] for m in names},
                status=status,
                score=self._as_score(values) if finite else None,
            )
        if not outcome.complete:
            self.complete = False
            raise KeyboardInterrupt

    def lrs(self, r: int) -> list[float]:
        h = self.horizons[r]
        return sorted(lr for (hh, lr) in self.candidates if hh == h)

    def round_scores(self, r: int) -> tuple[list[float], list[float]]:
        """Round ``r``'s LRs and scores (NaN where a run diverged or stopped)."""
        lrs = self.lrs(r)
        h = self.horizons[r]
        scores = [self.candidates[(h, lr)].score for lr in lrs]
        return lrs, [float("nan") if v is None else float(v) for v in scores]

    def choice(self) -> rule.Choice:
        rounds = [self.round_scores(r) for r in range(len(self.horizons))]
        measured = [i for i, (lrs, _) in enumerate(rounds) if lrs]
        rounds = [rounds[i] for i in measured]
        return rule.choose(
            rounds, [self.horizons[i] for i in measured], self.total_steps, floor=self.floor,
            width=self.s.width, drift_gain=self.s.drift_gain, max_drift=self.s.max_drift,
            prior=self.prior(), prior_weight=self.s.prior_weight, halfwidth=self.s.halfwidth,
        )  # fmt: skip

    def prior(self) -> float | None:
        """The range test's curve-only suggestion: the answer is shrunk toward it."""
        sug = getattr(self.range_test, "suggestion", None)
        if sug is None or self.window is None or "flat-curve" in self.window.flags:
            return None  # a flat curve's "suggestion" is noise
        return sug.lr

    def edge_to_extend(self) -> str | None:
        """The side to grow the window on: the first round's peak sits at that edge, and
        (above) the edge candidate trained — past a divergence there is nothing to find."""
        lrs, scores = self.round_scores(0)
        side = rule.edge_of(lrs, scores, self.floor, self.s.width)
        if side == "high" and not np.isfinite(scores[-1]):
            return None
        return side

    def result(self, started: float, flags: list[str], *, complete: bool) -> FindResult:
        rt = self.range_test
        rt_steps = 0 if rt is None else rt.num_steps * int(rt.config.get("accumulation_steps", 1))
        choice = self.choice() if self.candidates else None
        all_flags = list(flags)
        if self.window is not None:
            all_flags += list(self.window.flags)
        if choice is not None:
            all_flags += list(choice.flags)
            if choice.edge is not None:
                all_flags.append(f"edge-{choice.edge}")
        if not self.holdout_exact:
            all_flags.append("holdout-overlap")
        if self.horizons and self.horizons[0] == self.total_steps:
            all_flags.append("short-runs-are-full-runs")
        if self.escalated:
            all_flags.append(f"escalated-{self.escalated}x")
        spent = rt_steps + self.short_steps
        w = self.window
        return FindResult(
            lr=None if choice is None else choice.lr,
            low=None if choice is None else choice.low,
            high=None if choice is None else choice.high,
            total_steps=self.total_steps,
            schedule=self.schedule,
            score=self.score_name,
            holdout=self.holdout_source,
            candidates=sorted(self.candidates.values(), key=lambda c: (c.horizon, c.lr)),
            horizons=list(self.horizons),
            best_per_horizon=[] if choice is None else list(choice.best_per_horizon),
            drift=None if choice is None else choice.drift,
            window={}
            if w is None
            else {
                "low": w.low,
                "high": w.high,
                "start_lr": w.start_lr,
                "min_lr": w.min_lr,
                "divergence_lr": w.divergence_lr,
            },
            range_test=rt,
            cost={
                "steps": float(spent),
                "runs": spent / self.total_steps,
                "seconds": time.perf_counter() - started,
                "range_test_steps": float(rt_steps),
                "short_run_steps": float(self.short_steps),
            },
            flags=list(dict.fromkeys(all_flags)),
            complete=complete,
            config={
                **self.s.to_dict(),
                "engine": self.engine,
                "notes": self.notes,
                "floor": self.floor,
                "initial": getattr(self, "initial", None),
                "tolerance": None if choice is None else choice.tolerance,
                "device": str(getattr(self, "device", "")),
                "seed": getattr(self, "seed", None),
            },
        )


def _checkpoints(h: int, count: int) -> list[int]:
    """``count`` evaluation points over ``h`` updates, the last one at ``h``."""
    points = sorted({max(1, round(h * (i + 1) / count)) for i in range(count)})
    return [p for p in points if p <= h]


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
    plan: Any, work: nn.Module, schedule: ScheduleSpec, horizon: int, opts: Mapping[str, Any]
) -> bool:
    """Whether the planned schedule's momentum would be written into this optimizer (the
    rule of :class:`lrlab.optim.ScheduleDriver`, which ``fit`` uses), asked of a probe."""
    probe = build_torch_optimizer(plan, dict(work.named_parameters()), 1.0)
    return ScheduleDriver(probe, planned_schedule(schedule, 1.0, horizon, opts)).drives_momentum


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")
