"""``FindResult``: what ``find_lr`` answers, with the evidence — data first, plots on request."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrlab._io import floats, read_json, write_json
from lrlab.errors import DataError, InvalidArgument
from lrlab.finder.result import RangeTestResult

_KIND = "lrlab.find_lr"
_VERSION = 1
# What the interval is meant to be (the benchmark measures how often it holds: BENCHMARKS.md).
INTERVAL_MEANING = (
    "LRs whose smoothed short-run score is within the runs' noise of the best, shifted with "
    "the horizon drift: meant to contain the best peak LR of the planned run"
)


@dataclass
class Candidate:
    """One short run: peak LR ``lr`` (first param group), ``horizon`` updates of the planned
    schedule compressed to that length, evaluated on the held-out batches after the updates
    in ``steps``. ``score`` is the final value the choice read (higher is better; ``None``
    when the run diverged or did not finish)."""

    lr: float
    horizon: int
    steps: list[int]
    loss: list[float]
    metrics: dict[str, list[float]] = field(default_factory=dict)
    status: str = "ok"
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "horizon": self.horizon,
            "steps": list(self.steps),
            "loss": list(self.loss),
            "metrics": {k: list(v) for k, v in self.metrics.items()},
            "status": self.status,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        score = d.get("score")
        return cls(
            lr=float(d["lr"]),
            horizon=int(d["horizon"]),
            steps=[int(s) for s in d.get("steps") or []],
            loss=floats(d.get("loss")),
            metrics={str(k): floats(v) for k, v in (d.get("metrics") or {}).items()},
            status=str(d.get("status", "ok")),
            score=None if score is None else float(score),
        )


@dataclass
class FindResult:
    """The max LR for one planned run, with the evidence.

    Attributes:
        lr: the chosen peak LR of the first param group (``None`` when nothing trained:
            see ``flags``); other groups keep their ratio to it.
        low, high: the interval meant to contain the best peak LR (:data:`INTERVAL_MEANING`).
        total_steps: the planned run's length (optimizer updates).
        schedule: the planned schedule, ``{"name": ..., "options": {...}}``.
        score: what judged the candidates (``"accuracy"``, another metric, or ``"loss"``).
        holdout: where the judging batches came from (``eval_data``, or how the split was
            carved from ``train_data``).
        candidates: every short run (:class:`Candidate`), horizon by horizon.
        horizons: the short runs' lengths; ``best_per_horizon`` the best LR at each;
            ``drift``: decades of best LR per decade of training length (``None``: one
            horizon).
        window: what the range test proposed (``low``, ``high``, ``start_lr``, ``min_lr``,
            ``divergence_lr``).
        range_test: the range test itself (:class:`~lrlab.finder.RangeTestResult`).
        cost: ``steps`` (optimizer updates spent, the range test's included), ``runs``
            (``steps / total_steps``), ``seconds``, and the parts.
        flags: what to look at before trusting the answer (``all-diverged``, ``edge-high``,
            ``holdout-overlap``, ``interrupted``, ...).
        complete: ``False`` when Ctrl-C ended the search (the answer uses what was done).
        config: the settings (``asdict``), the engine that ran, the device.
    """

    lr: float | None
    low: float | None
    high: float | None
    total_steps: int
    schedule: dict[str, Any]
    score: str
    holdout: str
    candidates: list[Candidate]
    horizons: list[int]
    best_per_horizon: list[float | None]
    drift: float | None
    window: dict[str, float | None]
    range_test: RangeTestResult | None
    cost: dict[str, float]
    flags: list[str] = field(default_factory=list)
    complete: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    interval: str = INTERVAL_MEANING

    # -- using the answer -------------------------------------------------------------------

    def _need_lr(self) -> float:
        if self.lr is None:
            raise InvalidArgument(
                f"find_lr found no usable LR (flags: {', '.join(self.flags) or 'none'}).",
                hint="Look at result.candidates and result.range_test; widen the range test "
                "(start_lr / end_lr) or check the model and data.",
            )
        return self.lr

    def schedule_for(self, total_steps: int | None = None, **options: Any) -> Any:
        """The planned schedule at the found peak LR (``total_steps`` defaults to the
        planned length; ``options`` override the schedule's)."""
        from lrlab.finder.planned import planned_schedule

        opts = {**self.schedule.get("options", {}), **options}
        steps = self.total_steps if total_steps is None else total_steps
        return planned_schedule(self.schedule["name"], self._need_lr(), steps, opts)

    def one_cycle(self, total_steps: int | None = None, **kwargs: Any) -> Any:
        """``lrlab.one_cycle(max_lr=self.lr, total_steps, **kwargs)`` (like
        ``Suggestion.one_cycle``; ``total_steps`` defaults to the planned length)."""
        from lrlab.schedules import one_cycle

        steps = self.total_steps if total_steps is None else total_steps
        return one_cycle(self._need_lr(), total_steps=steps, **kwargs)

    def short_runs(self, horizon: int | None = None) -> list[Candidate]:
        """The candidates of one horizon (default: the longest), sorted by LR."""
        h = max(self.horizons) if horizon is None else horizon
        return sorted((c for c in self.candidates if c.horizon == h), key=lambda c: c.lr)

    # -- (de)serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "version": _VERSION,
            "lr": self.lr,
            "low": self.low,
            "high": self.high,
            "interval": self.interval,
            "total_steps": self.total_steps,
            "schedule": dict(self.schedule),
            "score": self.score,
            "holdout": self.holdout,
            "cost": dict(self.cost),
            "flags": list(self.flags),
            "complete": self.complete,
            "horizons": list(self.horizons),
            "best_per_horizon": list(self.best_per_horizon),
            "drift": self.drift,
            "window": dict(self.window),
            "candidates": [c.to_dict() for c in self.candidates],
            "range_test": None if self.range_test is None else self.range_test.to_dict(),
            "config": dict(self.config),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FindResult:
        if d.get("kind") != _KIND:
            raise DataError(
                f"This is not a find_lr result (kind={d.get('kind')!r}).",
                hint="Load a find.json written by lrlab find / FindResult.save.",
            )

        def opt(v: Any) -> float | None:
            return None if v is None or not math.isfinite(float(v)) else float(v)

        rt = d.get("range_test")
        return cls(
            lr=opt(d.get("lr")),
            low=opt(d.get("low")),
            high=opt(d.get("high")),
            total_steps=int(d["total_steps"]),
            schedule=dict(d.get("schedule") or {}),
            score=str(d.get("score", "loss")),
            holdout=str(d.get("holdout", "")),
            candidates=[Candidate.from_dict(c) for c in d.get("candidates") or []],
            horizons=[int(h) for h in d.get("horizons") or []],
            best_per_horizon=[opt(v) for v in d.get("best_per_horizon") or []],
            drift=opt(d.get("drift")),
            window={str(k): opt(v) for k, v in (d.get("window") or {}).items()},
            range_test=None if rt is None else RangeTestResult.from_dict(rt),
            cost={str(k): float(v) for k, v in (d.get("cost") or {}).items()},
            flags=[str(f) for f in d.get("flags") or []],
            complete=bool(d.get("complete", True)),
            config=dict(d.get("config") or {}),
            interval=str(d.get("interval", INTERVAL_MEANING)),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomically; non-finite numbers as ``null``)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FindResult:
        """Read a result written by :meth:`save`."""
        return cls.from_dict(read_json(path))

    # -- showing it ----------------------------------------------------------------------

    def plot(self, axes: Any = None) -> Any:
        """The range test with the window, and the candidates' scores against LR per
        horizon with the choice and the interval (:func:`lrlab.finder.find_plot.plot_find`)."""
        from lrlab.finder.find_plot import plot_find

        return plot_find(self, axes=axes)

    def _repr_html_(self) -> str:
        """Jupyter's view: both panels of :meth:`plot` and the answer's numbers and flags."""
        from lrlab._html import fmt, result_html

        cost = self.cost
        rows = [
            ("peak LR", self.lr),
            ("interval", "—" if self.lr is None else f"{fmt(self.low)} – {fmt(self.high)}"),
            ("planned run", f"{self.total_steps} steps of {self.schedule.get('name')}"),
            ("judged by", f"held-out {self.score}: {self.holdout}"),
            ("best LR per horizon", ", ".join(
                f"{h} steps: {fmt(b)}"
                for h, b in zip(self.horizons, self.best_per_horizon, strict=False)
            )),
            ("drift (decades per decade of steps)", self.drift),
            ("cost", f"{fmt(cost.get('runs'))} runs ({fmt(cost.get('seconds'))} s)"),
            ("engine", self.config.get("engine")),
        ]  # fmt: skip
        notes = [f"flags: {', '.join(self.flags)}"] if self.flags else []
        if not self.complete:
            notes.append("interrupted: the answer uses the short runs that finished")
        return result_html(
            "find_lr", rows, notes=notes, size=(12, 4.5), draw=lambda f: self.plot(f.subplots(1, 2))
        )

    def __str__(self) -> str:
        if self.lr is None:
            return f"find_lr: no LR ({', '.join(self.flags)})"
        text = (
            f"find_lr: peak LR {self.lr:.3g} (interval {self.low:.3g}–{self.high:.3g}) for "
            f"{self.total_steps} steps of {self.schedule.get('name')}; cost "
            f"{self.cost.get('runs', math.nan):.2f} runs"
        )
        if self.flags:
            text += f"; flags: {', '.join(self.flags)}"
        return text
