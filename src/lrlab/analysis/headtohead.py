r"""A head-to-head of LR schedules and LR-free optimizers on one task: intervals, and time to
target with the finder's cost charged (pure, numpy only).

**95 % intervals.** The final metric of ``n`` seeds is reported as the Student-t interval of
its mean, ``x̄ ± t_{0.975, n−1} · s / √n`` (``s`` the sample standard deviation):
:func:`t_quantile` is exact to the printed digits for ``n − 1 ≤ 30`` (a table) and uses the
Cornish–Fisher expansion beyond (error < 1e-3).

**The finder's cost.** A variant whose peak LR came from the finder (``auto``, or
``same_as`` a variant that used it) could not have started without it: its time to target is
``t_reach + t_finder`` (seconds) and ``u_reach + u_finder`` (updates), per seed.

Performance profiles across tasks are :mod:`lrlab.analysis.profiles`'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

LEVEL = 0.95

# t_{0.975, df} for df = 1..30 (two-sided 95 %).
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959963984540054


def t_quantile(df: int) -> float:
    """``t_{0.975, df}``, the two-sided 95 % quantile of Student's t with ``df`` degrees of
    freedom (``df >= 1``)."""
    if df < 1:
        raise ValueError(f"{df=} must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975  # Cornish–Fisher: z + (z³ + z)/(4ν) + (5z⁵ + 16z³ + 3z)/(96ν²)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Interval:
    """The mean of the finite ``values`` and its 95 % t-interval ``[low, high]`` (NaN bounds
    for fewer than two values)."""

    mean: float
    low: float
    high: float
    n: int
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Interval:
        raw = tuple(math.nan if v is None else float(v) for v in values)
        x = np.array([v for v in raw if math.isfinite(v)], dtype=np.float64)
        if x.size == 0:
            return cls(math.nan, math.nan, math.nan, 0, raw)
        mean = float(x.mean())
        if x.size < 2:
            return cls(mean, math.nan, math.nan, 1, raw)
        half = t_quantile(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
        return cls(mean, mean - half, mean + half, int(x.size), raw)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interval:
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        values = tuple(num(v) for v in d.get("values", ()))
        return cls(num(d["mean"]), num(d["low"]), num(d["high"]), int(d["n"]), values)


@dataclass(frozen=True)
class TrialCost:
    """One trial's reach of the target (``None``: never) and what its LR cost to find."""

    seed: int
    seconds: float | None  # elapsed when the target was first reached
    updates: int | None
    finder_seconds: float = 0.0
    finder_updates: int = 0

    @property
    def total_seconds(self) -> float | None:
        return None if self.seconds is None else self.seconds + self.finder_seconds

    @property
    def total_updates(self) -> int | None:
        return None if self.updates is None else self.updates + self.finder_updates


def median_cost(values: Sequence[float | None], seeds: int) -> float:
    """The median over ``seeds`` trials of a time to target, unreached trials counted as
    ``∞`` (so the median is finite only when at least half of them reached it)."""
    if seeds == 0:
        return math.inf
    filled = [math.inf if v is None else float(v) for v in values]
    filled += [math.inf] * (seeds - len(filled))
    return float(np.median(np.array(filled, dtype=np.float64)))


@dataclass(frozen=True)
class Entry:
    """One variant of a head-to-head: the final metric and the time to target (finder
    included) as intervals over seeds, the LR it trained with and where that came from."""

    variant: str
    optimizer: str
    lr_from: str  # "given", "finder", "finder, as <variant>", "estimated d·lr"
    seeds: int
    final: Interval
    seconds_to_target: Interval
    updates_to_target: Interval
    reached: int
    finder_seconds: float
    finder_updates: float
    lr: Interval
    diverged: int = 0
    flags: dict[str, int] = field(default_factory=dict)

    def cost(self, unit: str = "seconds") -> float:
        """The profile's cost: the median time to target over seeds (``∞`` when fewer than
        half reached it), in ``"seconds"`` or ``"updates"``, finder included."""
        interval = self.seconds_to_target if unit == "seconds" else self.updates_to_target
        reached = [v for v in interval.values if math.isfinite(v)]
        return median_cost(reached, self.seeds)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("final", "seconds_to_target", "updates_to_target", "lr"):
            d[k] = d[k].to_dict()
        d["flags"] = dict(self.flags)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        intervals = {
            k: Interval.from_dict(d[k])
            for k in ("final", "seconds_to_target", "updates_to_target", "lr")
        }
        plain = {k: d[k] for k in cls.__dataclass_fields__ if k not in intervals and k in d}
        return cls(**plain, **intervals)


def entry(
    variant: str,
    *,
    optimizer: str,
    lr_from: str,
    finals: Sequence[float | None],
    costs: Sequence[TrialCost],
    lrs: Sequence[float | None],
    diverged: int = 0,
    flags: Mapping[str, int] | None = None,
) -> Entry:
    """An :class:`Entry` from per-seed numbers (one of ``finals`` / ``costs`` / ``lrs`` per
    seed, in the same order)."""
    return Entry(
        variant=variant,
        optimizer=optimizer,
        lr_from=lr_from,
        seeds=len(costs),
        final=Interval.of(finals),
        seconds_to_target=Interval.of([c.total_seconds for c in costs]),
        updates_to_target=Interval.of([c.total_updates for c in costs]),
        reached=sum(c.seconds is not None or c.updates is not None for c in costs),
        finder_seconds=float(np.mean([c.finder_seconds for c in costs])) if costs else 0.0,
        finder_updates=float(np.mean([c.finder_updates for c in costs])) if costs else 0.0,
        lr=Interval.of(lrs),
        diverged=diverged,
        flags=dict(flags or {}),
    )


@dataclass(frozen=True)
class HeadToHead:
    """The head-to-head of one task: every variant's :class:`Entry`, the compared metric and
    the target the times are measured to (the control's reach unless one was given)."""

    task: str
    metric: str
    higher_is_better: bool
    target: float | None
    control: str
    entries: tuple[Entry, ...]

    def entry(self, variant: str) -> Entry:
        return next(e for e in self.entries if e.variant == variant)

    def costs(self, unit: str = "seconds") -> dict[str, float]:
        """``{variant: median time to target}`` (finder included): a profile's row."""
        return {e.variant: e.cost(unit) for e in self.entries}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "lrlab.head_to_head",
            "task": self.task,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "target": self.target,
            "control": self.control,
            "entries": [e.to_dict() for e in self.entries],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeadToHead:
        return cls(
            task=str(d["task"]),
            metric=str(d["metric"]),
            higher_is_better=bool(d["higher_is_better"]),
            target=None if d.get("target") is None else float(d["target"]),
            control=str(d["control"]),
            entries=tuple(Entry.from_dict(e) for e in d["entries"]),
        )


HEADERS = (
    "variant", "optimizer", "LR (from)", "final {metric} (95 % CI)", "reached",
    "s to target*", "updates to target*", "finder s", "flags",
)  # fmt: skip


def _num(x: float, digits: int = 4) -> str:
    return "—" if not math.isfinite(x) else f"{x:.{digits}g}"


def _ci(i: Interval, digits: int = 4) -> str:
    if i.n == 0:
        return "—"
    if i.n == 1:
        return _num(i.mean, digits)
    return f"{_num(i.mean, digits)} [{_num(i.low, digits)}, {_num(i.high, digits)}]"


def rows(h: HeadToHead) -> tuple[list[str], list[list[str]]]:
    """The table of a head-to-head: headers and one row of text cells per variant."""
    headers = [c.format(metric=h.metric) for c in HEADERS]
    body = []
    for e in h.entries:
        flags = ", ".join(f"{code} ×{n}" for code, n in sorted(e.flags.items()))
        if e.diverged:
            flags = ", ".join(x for x in (f"diverged ×{e.diverged}", flags) if x)
        role = " (control)" if e.variant == h.control else ""
        body.append(
            [
                e.variant + role,
                e.optimizer,
                f"{_num(e.lr.mean, 3)} ({e.lr_from})",
                _ci(e.final),
                f"{e.reached}/{e.seeds}",
                _ci(e.seconds_to_target, 3),
                _ci(e.updates_to_target, 4),
                _num(e.finder_seconds, 3) if e.finder_seconds else "",
                flags,
            ]
        )
    return headers, body


def to_markdown(h: HeadToHead) -> str:
    """The table as markdown, with what the columns mean."""
    headers, body = rows(h)
    target = "—" if h.target is None else f"{h.target:.4g}"
    lines = [
        f"Head-to-head on {h.task}: final {h.metric}, mean and 95 % t-interval over seeds; "
        f"time to {h.metric} {target} (the control's reach unless given).",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
        *("| " + " | ".join(r) + " |" for r in body),
        "",
        "\\* finder included: a variant whose LR came from the finder is charged its time "
        "and updates; the interval is over the seeds that reached the target. LR: the mean "
        "peak over seeds (for Prodigy / D-Adaptation the estimated d × the peak multiplier).",
    ]
    return "\n".join(lines) + "\n"


def to_rich(h: HeadToHead) -> Any:
    """A :class:`rich.table.Table` of the head-to-head for the terminal."""
    from rich.table import Table

    headers, body = rows(h)
    target = "—" if h.target is None else f"{h.target:.4g}"
    title = f"Head-to-head on {h.task} (time to {h.metric} {target}; * finder included)"
    table = Table(title=title)
    for i, name in enumerate(headers):
        table.add_column(name, justify="left" if i < 3 or i == len(headers) - 1 else "right")
    for r in body:
        table.add_row(*r)
    return table
