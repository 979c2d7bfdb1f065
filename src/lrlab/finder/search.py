"""``find_lr``'s search state: the rounds of short runs, their scores, the answer.

:class:`Search` holds one search — the range test, the window, every short run — and runs
the rounds (:meth:`Search.rounds`: the first round over the window, growing at an edge, then
the survivors at longer horizons, one more run beyond an edge, longer rounds while nothing was
learnt); :meth:`Search.result` turns it into a :class:`~lrlab.finder.find_result.FindResult`.
The maths of each decision is :mod:`lrlab.finder.choose`'s; the loop that trains the copies
is :func:`lrlab.copies.driving.run_schedule`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from lrlab._console import StageBar
from lrlab.batches import StepFn, Unpack
from lrlab.copies.driving import DIVERGED, NOT_RUN, OK, STOPPED, Trace, run_schedule
from lrlab.copies.select import Copies, train_copies
from lrlab.copies.sequential import capture_tensors, restore_tensors
from lrlab.evaluate import evaluate
from lrlab.finder import choose as rule
from lrlab.finder.find_result import Candidate, FindResult
from lrlab.finder.find_settings import FindSettings
from lrlab.finder.holdout import Holdout
from lrlab.finder.planned import unit_schedule
from lrlab.precision import FULL, Precision
from lrlab.seeding import derive_seed


class Search:
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
        # The planned run's update (the range test's settings): the short runs make it too.
        self.precision: Precision = FULL
        self.grad_clip: float | None = None
        self.accumulation = 1

    def prepare(
        self, work: nn.Module, recipe: Any, step: StepFn, hold: Holdout, metric_fns: dict,
        criterion: Any, unpack: Unpack | None, device: torch.device, seed: int,
    ) -> None:  # fmt: skip
        self.work, self.recipe, self.step, self.hold = work, recipe, step, hold
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
        h, n = self.horizons[r], self.s.short_run_seeds
        orders = f" × {n} data orders" if n > 1 else ""
        stages.start(f"round {r + 1}: {len(lrs)} LRs × {h} steps{orders}", total=h * n)
        self._run(lrs, h, stages)

    def orders(self) -> list[tuple[int, int]]:
        """The data orders of the short runs, as ``(seed, first epoch)``: the planned run's
        own first (its seed, epochs 0, 1, ...: the one order by default), then the data of
        far-away epochs with derived seeds. A loader that orders by epoch (lrlab's loaders,
        a shuffling ``DataLoader``) gives another order for each; a plain list of batches has
        one order, and only the random numbers (dropout) differ."""
        out = [(self.seed, 0)]
        for j in range(1, self.s.short_run_seeds):
            out.append((derive_seed(self.seed, "short-run-order", j), j * _ORDER_STRIDE))
        return out

    def _run(self, lrs: list[float], h: int, stages: StageBar) -> None:
        """Train the candidates ``lrs`` for ``h`` updates, once per data order; record them
        (their curves and scores are the means over the orders)."""
        checkpoints = _checkpoints(h, self.s.checkpoints)
        names = list(self.metric_fns)
        traces: list[Trace] = []
        complete = True
        for order in self.orders():
            outcome = self._train(lrs, h, checkpoints, order, stages)
            self.engine = outcome.engine
            self.notes += [note for note in outcome.notes if note not in self.notes]
            self.short_steps += outcome.record.copy_steps
            traces.append(outcome.record)
            if not outcome.complete:
                complete = False
                break
        trace = _mean_trace(traces)
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
        if not complete:
            self.complete = False
            raise KeyboardInterrupt

    def _train(
        self,
        lrs: list[float],
        h: int,
        checkpoints: list[int],
        order: tuple[int, int],
        stages: StageBar,
    ) -> Any:
        """One training of the candidates from the start state, the data in ``order``."""
        restore_tensors(self.work, self.start)
        copies = Copies(
            work=self.work,
            step=self.step,
            criterion=self.criterion if isinstance(self.criterion, nn.Module) else None,
            unpack=self.unpack,
            device=self.device,
            recipe=self.recipe,
            lrs=list(lrs),
            metrics=self.metric_fns,
            precision=self.precision,
            grad_clip=self.grad_clip,
        )
        unit = self.units[h]
        momentum = self.drive_momentum

        def hyper(t: int) -> tuple[float, float | None]:
            scale, m = unit(t)
            return scale, (m if momentum else None)

        names = list(self.metric_fns)

        def drive(engine: Any, trace: Trace) -> None:
            run_schedule(
                engine, self.hold.train, self.hold.eval, trace, hyper=hyper, seed=order[0],
                threshold=self.threshold, rng_devices=self.rng_devices, tick=stages.advance,
                accumulation=self.accumulation, first_epoch=order[1],
            )  # fmt: skip

        return train_copies(
            copies,
            self.s.method,
            lambda: Trace(checkpoints, len(lrs), names),
            drive,
            lambda trace: trace.steps > 0,
            label="find_lr",
        )

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
        rt_steps = 0 if rt is None else rt.num_steps  # LR steps: one update each, like the runs
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


# Another data order reads the epochs this far on (no planned run is this long in epochs).
_ORDER_STRIDE = 100_000


def _mean_trace(traces: list[Trace]) -> Trace:
    """The traces of one set of candidates under several data orders as one: the mean of
    the held-out values (NaN where any order has none), and per candidate the worst status —
    not run (interrupted) over diverged over stopped over ok."""
    if len(traces) == 1:
        return traces[0]
    first = traces[0]
    out = Trace(first.checkpoints, first.num_copies, list(first.metrics))
    out.loss = np.mean([t.loss for t in traces], axis=0)
    out.metrics = {m: np.mean([t.metrics[m] for t in traces], axis=0) for m in first.metrics}
    rank = {NOT_RUN: 3, DIVERGED: 2, STOPPED: 1, OK: 0}
    for k in range(first.num_copies):
        out.status[k] = max((str(t.status[k]) for t in traces), key=rank.__getitem__)
    out.steps = max(t.steps for t in traces)
    out.copy_steps = sum(t.copy_steps for t in traces)
    return out
