"""Result dataclasses of :mod:`lrlab.suggest`: :class:`Suggestion`, :class:`MinLR`,
:class:`Diagnosis`. Each round-trips through ``to_dict()`` / ``from_dict()`` (JSON-safe:
non-finite floats are written as ``null`` by :mod:`lrlab._io`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lrlab.errors import InvalidArgument

if TYPE_CHECKING:  # only for type hints: schedules is imported lazily inside the methods
    from lrlab.schedules import HyperSchedule


def _opt_float(v: Any) -> float | None:
    """``None`` and NaN (how JSON stores a missing value) both mean "no value"."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


@dataclass(frozen=True)
class MinLR:
    """Where the low end of a cyclic or one-cycle schedule can sit, given the max LR.

    ``cyclic``: ``(max/4, max/3)``, Smith (2017, §3.3): "set base_lr to 1/3 or 1/4 of
    max_lr". ``one_cycle``: ``(max/25, max/10)``, the start of a one-cycle (Smith, 2018;
    ``div_factor=25`` in torch's ``OneCycleLR``, 10 in Smith & Topin, 2019). ``onset``: the
    LR where the loss first starts to drop on a log-scale sweep (seed notes, 12 May 2019):
    below it the model does not learn; ``None`` when the sweep started inside the descent.
    """

    cyclic: tuple[float, float] | None = None
    one_cycle: tuple[float, float] | None = None
    onset: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cyclic": list(self.cyclic) if self.cyclic else None,
            "one_cycle": list(self.one_cycle) if self.one_cycle else None,
            "onset": self.onset,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MinLR:
        def pair(v: Any) -> tuple[float, float] | None:
            return None if v is None else (float(v[0]), float(v[1]))

        return cls(pair(d.get("cyclic")), pair(d.get("one_cycle")), _opt_float(d.get("onset")))


@dataclass(frozen=True)
class Suggestion:
    """A suggested maximum learning rate with its confidence range and the evidence.

    ``lr``: the suggestion (``None`` when the curve cannot support one; ``flags`` say why);
    ``[low, high]``: the confidence range; ``method``: how ``lr`` was obtained
    (``"consensus"`` for lrlab's default, or a rule's name); ``rules``: each individual rule's
    answer; ``flags``: human-readable warnings, each starting with a short code
    (``"too-short: ..."``); ``trustworthy``: no flag that invalidates the curve;
    ``min_lr``: low ends for cyclic / one-cycle schedules; ``evidence``: the numbers the
    flags were decided from (noise, drop, LR at the minimum, divergence LR, ...).
    """

    lr: float | None
    low: float | None = None
    high: float | None = None
    method: str = "consensus"
    rules: dict[str, float | None] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    trustworthy: bool = False
    min_lr: MinLR = field(default_factory=MinLR)
    evidence: dict[str, float | None] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.lr is None:
            head = "no suggestion"
        else:
            head = f"lr={self.lr:.3g} [{_fmt(self.low)}, {_fmt(self.high)}]"
        rules = ", ".join(f"{k} {_fmt(v)}" for k, v in self.rules.items())
        trust = "trustworthy" if self.trustworthy else "NOT trustworthy"
        codes = ", ".join(f.split(":", 1)[0] for f in self.flags)
        tail = f"; flags: {codes}" if codes else ""
        return f"{head} ({self.method}; {rules}); {trust}{tail}"

    def _need_lr(self, what: str) -> float:
        if self.lr is None:
            raise InvalidArgument(
                f"this suggestion has no learning rate, so it cannot build {what}: "
                + ("; ".join(self.flags) or "the curve was empty"),
                hint="Re-run the range test as the flags say, or pass max_lr explicitly.",
            )
        return self.lr

    def one_cycle(self, total_steps: int, **kwargs: Any) -> HyperSchedule:
        """``lrlab.schedules.one_cycle(max_lr=self.lr, total_steps=..., **kwargs)``.

        The one-cycle starts at ``max_lr / div_factor`` (25 by default, inside
        ``min_lr.one_cycle``); pass ``div_factor=`` or any other ``one_cycle`` argument.
        """
        from lrlab.schedules import one_cycle

        max_lr = kwargs.pop("max_lr", None) or self._need_lr("a one-cycle schedule")
        return one_cycle(max_lr=max_lr, total_steps=total_steps, **kwargs)

    def cyclic(self, step_size_up: int, **kwargs: Any) -> HyperSchedule:
        """``lrlab.schedules.cyclic(base_lr=max/4, max_lr=self.lr, step_size_up=..., ...)``.

        ``base_lr`` defaults to the low end of ``min_lr.cyclic`` (Smith's max/4); pass
        ``base_lr=self.min_lr.onset`` to start where the loss begins to drop instead.
        """
        from lrlab.schedules import cyclic

        max_lr = kwargs.pop("max_lr", None) or self._need_lr("a cyclic schedule")
        base_lr = kwargs.pop("base_lr", None) or max_lr / 4.0
        return cyclic(base_lr=base_lr, max_lr=max_lr, step_size_up=step_size_up, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "low": self.low,
            "high": self.high,
            "method": self.method,
            "rules": dict(self.rules),
            "flags": list(self.flags),
            "trustworthy": self.trustworthy,
            "min_lr": self.min_lr.to_dict(),
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Suggestion:
        return cls(
            lr=_opt_float(d.get("lr")),
            low=_opt_float(d.get("low")),
            high=_opt_float(d.get("high")),
            method=str(d.get("method", "consensus")),
            rules={str(k): _opt_float(v) for k, v in (d.get("rules") or {}).items()},
            flags=[str(f) for f in d.get("flags") or []],
            trustworthy=bool(d.get("trustworthy", False)),
            min_lr=MinLR.from_dict(d.get("min_lr") or {}),
            evidence={str(k): _opt_float(v) for k, v in (d.get("evidence") or {}).items()},
        )


@dataclass(frozen=True)
class Diagnosis:
    """The shape of a metric-vs-LR curve (see :func:`lrlab.suggest.diagnose`).

    ``shape``: ``"plateau"``, ``"hill"``, ``"collapse"``, ``"flat"`` or ``"inconclusive"``;
    ``ranges``: named LR intervals (e.g. ``"rise"``, ``"plateau"``, ``"collapse"``);
    ``text``: one paragraph in words for reports; ``best_lr`` / ``best``: where the smoothed
    metric peaks and its value there; ``evidence``: the numbers behind the decision.
    """

    shape: str
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    text: str = ""
    best_lr: float | None = None
    best: float | None = None
    evidence: dict[str, float | None] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.shape}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "ranges": {k: [lo, hi] for k, (lo, hi) in self.ranges.items()},
            "text": self.text,
            "best_lr": self.best_lr,
            "best": self.best,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        return cls(
            shape=str(d["shape"]),
            ranges={str(k): (float(v[0]), float(v[1])) for k, v in (d.get("ranges") or {}).items()},
            text=str(d.get("text", "")),
            best_lr=_opt_float(d.get("best_lr")),
            best=_opt_float(d.get("best")),
            evidence={str(k): _opt_float(v) for k, v in (d.get("evidence") or {}).items()},
        )
