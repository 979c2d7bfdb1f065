"""The result of a range test: data first (lists, JSON), plotting on request."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lrlab.stops as stops
from lrlab._io import floats, read_json, write_json
from lrlab.errors import DataError

if TYPE_CHECKING:
    from lrlab.finder.plot import RangeTestFigure
    from lrlab.suggest import Diagnosis, Suggestion

# Why a sweep ended (RangeTestResult.stop_reason).
STOP_REASONS = stops.RANGE_TEST  # the names live in lrlab.stops
_KIND = "lrlab.range_test"
_VERSION = 1


@dataclass
class RangeTestResult:
    """One LR range test.

    Attributes:
        lrs: the LR of the first param group at every recorded step (other groups kept
            their ratio to it; see ``config["group_ratios"]``).
        losses: the raw training loss of every step: the loss of that step's batch (mean of
            its micro-batches with accumulation) computed *before* the update made with
            ``lrs[i]``. A non-finite last value is the loss that stopped the sweep.
        smoothed: the bias-corrected EMA of ``losses`` (``lrlab.smoothing``) that the stop
            rule read.
        stop_reason: ``"completed"``, ``"diverged"``, ``"non-finite loss"``,
            ``"interrupted"`` (Ctrl-C) or ``"data exhausted"`` (a one-shot iterator ran out).
        stop_step: the 0-based step at which the sweep stopped early (the last recorded step
            for divergence / non-finite loss, the step in flight for an interruption or
            exhausted data); ``None`` when it completed.
        eval_steps, eval_lrs: where metric mode evaluated (after the update of that step,
            made with that LR).
        eval: ``{"loss": [...], "<metric>": [...]}`` on the fixed evaluation subsample.
        suggestion: :class:`lrlab.suggest.Suggestion` from the raw curve, or ``None``.
        diagnosis: :class:`lrlab.suggest.Diagnosis` of the metric curve (metric mode only).
        config: the arguments of the test (JSON-safe).
        elapsed: wall-clock seconds of the sweep.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stop_reason: str = "completed"
    stop_step: int | None = None
    eval_steps: list[int] = field(default_factory=list)
    eval_lrs: list[float] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=dict)
    suggestion: Suggestion | None = None
    diagnosis: Diagnosis | None = None
    config: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0

    # -- convenience ----------------------------------------------------------------------

    @property
    def num_steps(self) -> int:
        """How many steps were recorded."""
        return len(self.lrs)

    def rule_curve(self) -> tuple[list[float], list[float]]:
        """``(lrs, loss)``: the curve the suggestion rules read.

        The raw losses up to the first non-finite one, smoothed over log LR with a fixed width
        in decades (:func:`lrlab.suggest.smoothed_curve`). Unlike the EMA in ``smoothed`` —
        which follows the steps, lags behind the rising LR and drives only the stop rule — it
        has no lag, so its minimum is where the loss really bottoms out.
        """
        from lrlab.suggest import smoothed_curve

        finite = 0
        for loss in self.losses:
            if not math.isfinite(loss):
                break
            finite += 1
        if finite == 0:
            return [], []
        values = smoothed_curve(self.lrs[:finite], self.losses[:finite])
        return list(self.lrs[: len(values)]), [float(v) for v in values]

    @property
    def min_loss_lr(self) -> float | None:
        """The LR where :meth:`rule_curve` is lowest (a landmark, not a suggestion: the default
        suggestion aims near it, the older rules well below it)."""
        lrs, values = self.rule_curve()
        return lrs[min(range(len(values)), key=values.__getitem__)] if values else None

    # -- (de)serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "version": _VERSION,
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "smoothed": list(self.smoothed),
            "stop_reason": self.stop_reason,
            "stop_step": self.stop_step,
            "eval_steps": list(self.eval_steps),
            "eval_lrs": list(self.eval_lrs),
            "eval": {k: list(v) for k, v in self.eval.items()},
            "suggestion": None if self.suggestion is None else self.suggestion.to_dict(),
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "config": dict(self.config),
            "elapsed": self.elapsed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RangeTestResult:
        if d.get("kind", _KIND) != _KIND:
            raise DataError(
                f"This is not a range-test result (kind={d.get('kind')!r}).",
                hint="Load a range_test.json written by lrlab find / RangeTestResult.save.",
            )
        suggestion = diagnosis = None
        if d.get("suggestion") is not None:
            from lrlab.suggest import Suggestion

            suggestion = Suggestion.from_dict(d["suggestion"])
        if d.get("diagnosis") is not None:
            from lrlab.suggest import Diagnosis

            diagnosis = Diagnosis.from_dict(d["diagnosis"])
        stop_step = d.get("stop_step")
        return cls(
            lrs=floats(d["lrs"]),
            losses=floats(d["losses"]),
            smoothed=floats(d["smoothed"]),
            stop_reason=str(d.get("stop_reason", "completed")),
            stop_step=None if stop_step is None else int(stop_step),
            eval_steps=[int(s) for s in d.get("eval_steps") or []],
            eval_lrs=floats(d.get("eval_lrs")),
            eval={str(k): floats(v) for k, v in (d.get("eval") or {}).items()},
            suggestion=suggestion,
            diagnosis=diagnosis,
            config=dict(d.get("config") or {}),
            elapsed=float(d.get("elapsed") or 0.0),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomically; non-finite numbers as ``null``)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> RangeTestResult:
        """Read a result written by :meth:`save`."""
        return cls.from_dict(read_json(path))

    # -- plotting --------------------------------------------------------------------------

    def plot(self, ax: Any = None, *, show_raw: bool = True) -> RangeTestFigure:
        """Loss against LR (see :func:`lrlab.finder.plot.plot_range_test`)."""
        from lrlab.finder.plot import plot_range_test

        return plot_range_test(self, ax=ax, show_raw=show_raw)

    def _repr_html_(self) -> str:
        """Jupyter's view: the curve (:meth:`plot`) and the suggestion's numbers and flags."""
        from lrlab._html import fmt, result_html

        sug = self.suggestion
        where = "" if self.stop_step is None else f" at step {self.stop_step}"
        rows = [
            ("suggested max LR", None if sug is None else sug.lr),
            ("confidence range", "—" if sug is None else f"{fmt(sug.low)} – {fmt(sug.high)}"),
            ("trustworthy", None if sug is None else sug.trustworthy),
            ("LR at the loss minimum", self.min_loss_lr),
            ("steps", self.num_steps),
            ("stopped", f"{self.stop_reason}{where}"),
        ]
        if self.diagnosis is not None:
            rows.append(("metric curve", self.diagnosis.shape))
        notes = [] if sug is None else sug.flags
        return result_html(
            "LR range test", rows, notes=notes, draw=lambda f: self.plot(f.subplots())
        )

    def __str__(self) -> str:
        where = "" if self.stop_step is None else f" at step {self.stop_step}"
        head = f"range test: {self.num_steps} steps, {self.stop_reason}{where}"
        if self.suggestion is not None:
            head += f"; {self.suggestion}"
        return head
