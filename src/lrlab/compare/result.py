"""The result of a comparison: every candidate's range test, the ranking, and the verdict."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrlab._io import read_json, write_json
from lrlab.compare.ranking import Ranking
from lrlab.errors import DataError
from lrlab.finder.result import RangeTestResult

if TYPE_CHECKING:
    from lrlab.compare.plot import ComparisonFigure

_KIND = "lrlab.compare"
_VERSION = 1


@dataclass
class Confirmation:
    """A short one-cycle run of one candidate (Smith's weight-decay check: the lowest *test*
    loss at the end of a short run wins).

    ``max_lr``: the one-cycle peak used (``None``: skipped, ``message`` says why);
    ``final``: the last epoch record of :func:`lrlab.train.fit` (``eval_loss``,
    ``eval_accuracy``, ``train_loss``, ...); ``stop_reason``: the fit's.
    """

    max_lr: float | None
    epochs: int
    final: dict[str, Any] = field(default_factory=dict)
    stop_reason: str = "completed"
    message: str = ""

    @property
    def eval_loss(self) -> float | None:
        v = self.final.get("eval_loss")
        return None if v is None or not math.isfinite(float(v)) else float(v)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "epochs": self.epochs,
            "final": dict(self.final),
            "stop_reason": self.stop_reason,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Confirmation:
        max_lr = d.get("max_lr")
        return cls(
            max_lr=None if max_lr is None else float(max_lr),
            epochs=int(d.get("epochs", 0)),
            final=dict(d.get("final") or {}),
            stop_reason=str(d.get("stop_reason", "completed")),
            message=str(d.get("message", "")),
        )


@dataclass
class CandidateResult:
    """One candidate value: its range test and, optionally, its one-cycle confirmation.

    ``num_iter``/``batch_size``: the steps its sweep planned and its batch size (they differ
    between candidates only when the batch size is varied). ``repeats``: the extra range
    tests of ``compare_range_tests(repeats=R)`` (same sweep, other data orders; ``range_test``
    is the first run).
    """

    value: Any
    label: str
    range_test: RangeTestResult
    num_iter: int
    batch_size: int | None = None
    confirmation: Confirmation | None = None
    repeats: list[RangeTestResult] = field(default_factory=list)

    @property
    def runs(self) -> list[RangeTestResult]:
        """Every range test of this candidate: the first run, then the repeats."""
        return [self.range_test, *self.repeats]

    @property
    def suggested_lr(self) -> float | None:
        """The candidate's own suggested max LR (what its one-cycle should peak at)."""
        sug = self.range_test.suggestion
        return None if sug is None else sug.lr

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": self.label,
            "num_iter": self.num_iter,
            "batch_size": self.batch_size,
            "range_test": self.range_test.to_dict(),
            "repeats": [r.to_dict() for r in self.repeats],
            "confirmation": None if self.confirmation is None else self.confirmation.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidateResult:
        conf = d.get("confirmation")
        bs = d.get("batch_size")
        return cls(
            value=d["value"],
            label=str(d["label"]),
            range_test=RangeTestResult.from_dict(d["range_test"]),
            num_iter=int(d["num_iter"]),
            batch_size=None if bs is None else int(bs),
            confirmation=None if conf is None else Confirmation.from_dict(conf),
            repeats=[RangeTestResult.from_dict(r) for r in d.get("repeats") or []],
        )


@dataclass
class ComparisonResult:
    """Range tests of several values of one hyper-parameter, ranked.

    Attributes:
        name: the hyper-parameter varied (``"momentum"``, ``"weight_decay"``, ...).
        candidates: one :class:`CandidateResult` per value, in the order given.
        ranking: :class:`lrlab.compare.ranking.Ranking` (order, reasons, verdict), or
            ``None`` when fewer than two candidates finished (interrupted).
        confirmed: the value with the lowest eval loss after the one-cycle confirmation
            runs (``None`` without them).
        stop_reason: ``"completed"`` or ``"interrupted"`` (the candidates that finished are
            kept; the one in flight keeps its partial curve).
        config: the settings (range-test arguments, budget rule, ...).
        elapsed: wall-clock seconds.
    """

    name: str
    candidates: list[CandidateResult]
    ranking: Ranking | None = None
    confirmed: Any = None
    stop_reason: str = "completed"
    config: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0

    # -- convenience ----------------------------------------------------------------------

    @property
    def values(self) -> list[Any]:
        return [c.value for c in self.candidates]

    @property
    def recommendation(self) -> Any:
        """The recommended value, or ``None`` when there is no clear winner."""
        if self.ranking is None or self.ranking.recommended is None:
            return None
        return self.candidates[self.ranking.recommended].value

    @property
    def verdict(self) -> str:
        return "no ranking" if self.ranking is None else self.ranking.verdict

    @property
    def max_lrs(self) -> dict[str, float | None]:
        """Each candidate's suggested max LR, by label (e.g. the LR each momentum allows)."""
        return {c.label: c.suggested_lr for c in self.candidates}

    def ranked(self) -> list[CandidateResult]:
        """The candidates, best first."""
        if self.ranking is None:
            return list(self.candidates)
        return [self.candidates[k] for k in self.ranking.order]

    # -- (de)serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "version": _VERSION,
            "name": self.name,
            "candidates": [c.to_dict() for c in self.candidates],
            "ranking": None if self.ranking is None else self.ranking.to_dict(),
            "recommendation": self.recommendation,
            "confirmed": self.confirmed,
            "stop_reason": self.stop_reason,
            "config": dict(self.config),
            "elapsed": self.elapsed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComparisonResult:
        if d.get("kind", _KIND) != _KIND:
            raise DataError(
                f"This is not a comparison result (kind={d.get('kind')!r}).",
                hint="Load a vary.json written by lrlab find --vary / ComparisonResult.save.",
            )
        ranking = d.get("ranking")
        return cls(
            name=str(d["name"]),
            candidates=[CandidateResult.from_dict(c) for c in d["candidates"]],
            ranking=None if ranking is None else Ranking.from_dict(ranking),
            confirmed=d.get("confirmed"),
            stop_reason=str(d.get("stop_reason", "completed")),
            config=dict(d.get("config") or {}),
            elapsed=float(d.get("elapsed") or 0.0),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomically; non-finite numbers as ``null``)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ComparisonResult:
        return cls.from_dict(read_json(path))

    # -- plotting --------------------------------------------------------------------------

    def plot(
        self, ax: Any = None, *, metric_ax: Any = None, show_raw: bool = False
    ) -> ComparisonFigure:
        """Overlaid curves (see :func:`lrlab.compare.plot.plot_comparison`)."""
        from lrlab.compare.plot import plot_comparison

        return plot_comparison(self, ax=ax, metric_ax=metric_ax, show_raw=show_raw)

    def __str__(self) -> str:
        return f"{self.name} comparison of {len(self.candidates)} candidates: {self.verdict}"
