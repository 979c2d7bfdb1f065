r"""Ranking range tests of several candidate values of one hyper-parameter (pure, numpy only).

Smith (2018, "A disciplined approach to neural network hyper-parameters: Part 1", §4) runs
one LR range test per candidate momentum, weight decay or batch size, from the same initial
weights, and picks the candidate whose loss **falls lowest** and **stays low to the largest
learning rates**. This module turns that reading into numbers, a rule and words.

The measures of each candidate (best loss, its standard error, the LR limit, ...) are
:mod:`lrlab.compare.measures`' job; this module compares them.

**Comparing two candidates** ``a`` and ``b`` (``z = 3`` by default):

* loss: ``a`` is clearly lower when ``best_b − best_a > z · √(se_a² + se_b²)``;
* LR limit: ``a`` clearly allows more when ``x_lim_a − x_lim_b > z · √(σx_a² + σx_b²)``
  (a censored ``b`` is never clearly below: its true limit is unknown above ``end_lr``).

**Order.** Candidates are sorted by ``best`` (or by the metric with ``rank_by="metric"``)
and grouped: the lowest forms a group with every candidate tied with it within noise, the
lowest of the rest the next group, and so on. Inside a group, the larger LR limit comes
first (Smith's "stays low to the largest LRs"), then the lower loss. Curves with fewer than
5 finite points are unusable and come last.

**Recommendation.** The first candidate ``W`` is recommended when it *clearly beats every
other* candidate ``c``: a clearly lower loss, or a loss tied within noise and a clearly
larger LR limit. Otherwise the verdict is **no clear winner**, naming the candidates ``W``
does not clearly beat: their curves overlap within noise. When ``W`` wins on loss against a
``c`` that clearly allows larger LRs, a note says so (a trade-off to pair with one-cycle).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrlab.compare.measures import (
    MIN_POINTS,
    Candidate,
    CurveInput,
    Measures,
    measure,
    merge,
    repeats_of,
    smooth,
)
from lrlab.errors import check

RANK_BY = ("loss", "metric")
__all__ = ["RANK_BY", "CurveInput", "Measures", "Ranking", "merge", "rank_candidates", "smooth"]


@dataclass(frozen=True)
class Ranking:
    """The order of the candidates, the reason for each place, and the verdict.

    ``order``: candidate indices, best first; ``ranks[k]``: the 1-based place of candidate
    ``k``; ``reasons[k]``: why it is there, in words; ``recommended``: the index of the
    recommended candidate, or ``None`` ("no clear winner"); ``tied``: the indices the first
    candidate does not clearly beat (itself included; one index when there is a winner);
    ``verdict``: one sentence; ``notes``: trade-offs and warnings; ``settings``: the rule's
    parameters and the common levels (``loss_start``, ``loss_ref``, ``level``).
    """

    labels: list[str]
    measures: list[Measures]
    order: list[int]
    ranks: list[int]
    reasons: list[str]
    recommended: int | None
    tied: list[int]
    verdict: str
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "measures": [m.to_dict() for m in self.measures],
            "order": list(self.order),
            "ranks": list(self.ranks),
            "reasons": list(self.reasons),
            "recommended": self.recommended,
            "tied": list(self.tied),
            "verdict": self.verdict,
            "notes": list(self.notes),
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ranking:
        rec = d.get("recommended")
        return cls(
            labels=[str(v) for v in d["labels"]],
            measures=[Measures.from_dict(m) for m in d["measures"]],
            order=[int(i) for i in d["order"]],
            ranks=[int(i) for i in d["ranks"]],
            reasons=[str(r) for r in d["reasons"]],
            recommended=None if rec is None else int(rec),
            tied=[int(i) for i in d.get("tied") or []],
            verdict=str(d.get("verdict", "")),
            notes=[str(n) for n in d.get("notes") or []],
            settings=dict(d.get("settings") or {}),
        )


# ----------------------------------------------------------------------------- comparisons


def _primary(m: Measures, rank_by: str, higher_is_better: bool) -> tuple[float, float]:
    """(value where lower is better, its standard error) of the ranking's first criterion."""
    if rank_by == "metric":
        if m.metric_best is None:
            return math.inf, 0.0
        sign = -1.0 if higher_is_better else 1.0
        return sign * m.metric_best, m.metric_se or 0.0
    return (math.inf if m.best_loss is None else m.best_loss), m.se or 0.0


def _tol(se_a: float, se_b: float, z: float, scale: float) -> float:
    # The tiny floor keeps exactly equal curves tied when their noise is 0.
    return z * math.hypot(se_a, se_b) + 1e-12 * max(scale, 1.0)


def _clearly_lower(a: tuple[float, float], b: tuple[float, float], z: float) -> bool:
    """``a``'s value is below ``b``'s by more than the noise allows."""
    if math.isinf(b[0]) and not math.isinf(a[0]):
        return True
    if math.isinf(a[0]):
        return False
    return b[0] - a[0] > _tol(a[1], b[1], z, abs(a[0]) + abs(b[0]))


def _clearly_larger_limit(a: Measures, b: Measures, z: float) -> bool:
    """``a``'s LR limit is above ``b``'s by more than their uncertainties allow."""
    if a.lr_limit is None:
        return False
    if b.lr_limit is None:
        return True
    if b.limit_kind == "censored":
        return False  # b's true limit lies somewhere above its last LR
    tol = z * math.hypot(a.limit_sigma or 0.0, b.limit_sigma or 0.0)
    return a.x_limit - b.x_limit > tol


def _beats(a: Measures, b: Measures, z: float, rank_by: str, hib: bool) -> tuple[bool, str]:
    """Whether ``a`` clearly beats ``b``, and the reason in words (from ``b``'s side)."""
    if a.usable and not b.usable:
        return True, "unusable curve"
    pa, pb = _primary(a, rank_by, hib), _primary(b, rank_by, hib)
    what = "eval metric" if rank_by == "metric" else "loss"
    if _clearly_lower(pa, pb, z):
        return True, f"{what} clearly worse ({_fmt(abs(pb[0] - pa[0]))} > {z:g}·se)"
    if _clearly_lower(pb, pa, z):
        return False, f"{what} clearly better"
    if _clearly_larger_limit(a, b, z):
        return True, f"{what} tied within noise; LR limit clearly lower"
    return False, f"{what} and LR limit within noise"


def _fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _order(
    measures: list[Measures], labels: list[str], z: float, rank_by: str, hib: bool
) -> list[int]:
    """Groups of candidates tied on the primary criterion, best group first; inside a group
    the larger LR limit first, then the better primary value. Exact ties (identical curves)
    are broken by label, so the order does not depend on the order the candidates came in."""
    usable = [k for k, m in enumerate(measures) if m.usable]
    rest = sorted(
        (k for k, m in enumerate(measures) if not m.usable),
        key=lambda k: (-measures[k].points, labels[k]),
    )
    remaining = sorted(usable, key=lambda k: (_primary(measures[k], rank_by, hib)[0], labels[k]))
    order: list[int] = []
    while remaining:
        pl = _primary(measures[remaining[0]], rank_by, hib)
        group = [
            k for k in remaining if not _clearly_lower(pl, _primary(measures[k], rank_by, hib), z)
        ]
        group.sort(
            key=lambda k: (
                -measures[k].x_limit,
                _primary(measures[k], rank_by, hib)[0],
                labels[k],
            )
        )
        order += group
        remaining = [k for k in remaining if k not in group]
    return order + rest


def _describe(m: Measures, level: float | None, metric_name: str | None) -> str:
    if not m.usable:
        return f"unusable: only {m.points} finite loss(es) before the sweep stopped"
    parts = [f"lowest loss {_fmt(m.best_loss, 4)} ±{_fmt(m.se, 2)} at lr {_fmt(m.lr_best)}"]
    if m.limit_kind == "never-low":
        parts.append(f"never below the common level {_fmt(level, 4)}")
    elif m.limit_kind == "censored":
        parts.append(f"stays low past the last lr {_fmt(m.lr_limit)} (no divergence)")
    elif m.limit_kind in ("non-finite", "stopped"):
        parts.append(f"stays low until it diverges at lr {_fmt(m.lr_limit)}")
    else:
        parts.append(f"stays low up to lr {_fmt(m.lr_limit)}")
    if m.metric_best is not None:
        parts.append(f"best eval {metric_name or 'metric'} {_fmt(m.metric_best, 4)}")
    return "; ".join(parts)


def rank_candidates(
    curves: Sequence[Candidate],
    labels: Sequence[str],
    *,
    rank_by: str = "loss",
    higher_is_better: bool = True,
    metric_name: str | None = None,
    z: float = 3.0,
    rise: float = 0.25,
    decades: float = 0.25,
) -> Ranking:
    """Rank candidates' range tests; recommend one when the evidence is clear.

    Args:
        curves: one :class:`CurveInput` per candidate (at least two), or a list of them
            per candidate: its repeated range tests (same LRs, other data orders), whose
            mean curve is ranked with the run-to-run spread in its standard errors.
        labels: how each candidate is named in the reasons (``"momentum=0.9"``).
        rank_by: ``"loss"`` (lowest smoothed training loss, Smith's reading) or
            ``"metric"`` (best eval metric reached; metric mode).
        higher_is_better: the direction of the eval metric (accuracy: ``True``).
        metric_name: the metric's name for the reasons.
        z: how many standard errors make a difference clear.
        rise: the common level sits ``rise`` of the best drop above the lowest loss.
        decades: the smoothing width in decades of LR.

    Returns:
        a :class:`Ranking` (see the module docstring for the rule).
    """
    check(len(curves) >= 2, f"ranking needs at least 2 candidates, got {len(curves)}.")
    check(
        len(labels) == len(curves),
        f"labels has {len(labels)} entries but there are {len(curves)} curves.",
    )
    check(rank_by in RANK_BY, f"{rank_by=} must be one of {RANK_BY}.")
    check(z > 0 and math.isfinite(z), f"{z=} must be a positive number.")
    check(0 < rise < 1, f"{rise=} must be in (0, 1).")
    check(decades > 0, f"{decades=} must be > 0.")
    rep_inputs = [repeats_of(c) for c in curves]
    merged = [merge(r) for r in rep_inputs]
    smoothed = [smooth(c.lrs, c.losses, decades) for c in merged]
    rep_smoothed = [
        [smooth(r.lrs, r.losses, decades) for r in reps] if len(reps) > 1 else []
        for reps in rep_inputs
    ]
    ok = [s for s in smoothed if s.x.size >= MIN_POINTS]
    level = loss_start = loss_ref = None
    if ok:
        loss_start = float(np.median([s.fit[0] for s in ok]))
        loss_ref = float(min(float(np.min(s.fit)) for s in ok))
        if loss_start > loss_ref:
            level = loss_ref + rise * (loss_start - loss_ref)
    measures = [
        measure(s, c, level, higher_is_better, rs, ri)
        for s, c, rs, ri in zip(smoothed, merged, rep_smoothed, rep_inputs, strict=True)
    ]
    check(
        rank_by != "metric" or any(m.metric_best is not None for m in measures),
        "rank_by='metric' needs eval metric curves (metric mode).",
        hint="Pass eval_data= to the range tests, or rank by loss.",
    )
    hib = higher_is_better
    labels = [str(x) for x in labels]
    order = _order(measures, labels, z, rank_by, hib)
    ranks = [0] * len(curves)
    for place, k in enumerate(order, start=1):
        ranks[k] = place
    lead = order[0]
    lm = measures[lead]
    notes: list[str] = []
    not_beaten = [lead]
    why_not = {}
    for k in order[1:]:
        won, why = _beats(lm, measures[k], z, rank_by, hib)
        why_not[k] = why
        if not won:
            not_beaten.append(k)
        elif measures[k].usable and _clearly_larger_limit(measures[k], lm, z):
            notes.append(
                f"trade-off: {labels[lead]} reaches a clearly lower "
                f"{'eval metric' if rank_by == 'metric' else 'loss'}, but {labels[k]} stays "
                f"low to a clearly larger LR ({_fmt(measures[k].lr_limit)} vs "
                f"{_fmt(lm.lr_limit)}); pair each with its own max LR."
            )
    if not lm.usable:
        recommended = None
        verdict = "no clear winner: no candidate produced a usable curve."
    elif len(not_beaten) == 1:
        recommended = lead
        verdict = f"recommend {labels[lead]}: it clearly beats every other candidate."
    else:
        recommended = None
        names = ", ".join(labels[k] for k in not_beaten)
        verdict = (
            f"no clear winner among {names}: their curves overlap within noise "
            f"(loss and LR limit within {z:g} standard errors)."
        )
    tied_on_primary = [
        labels[j]
        for j in order[1:]
        if measures[j].usable
        and not _clearly_lower(_primary(lm, rank_by, hib), _primary(measures[j], rank_by, hib), z)
    ]
    what = "loss" if rank_by == "loss" else "eval metric"
    reasons = []
    for k in range(len(curves)):
        if k != lead:
            head = why_not[k]
        elif tied_on_primary:
            head = (
                f"{what} tied within noise with {', '.join(tied_on_primary)}; "
                "the largest LR limit among them"
            )
        else:
            head = f"clearly the best {what}"
        reasons.append(
            f"{_ordinal(ranks[k])}: {head} — {_describe(measures[k], level, metric_name)}"
        )
    if level is None and ok:
        notes.append("no candidate's loss descends: the ranking compares flat curves.")
    settings = {
        "rank_by": rank_by,
        "z": z,
        "rise": rise,
        "decades": decades,
        "loss_start": loss_start,
        "loss_ref": loss_ref,
        "level": level,
        "metric": metric_name,
        "higher_is_better": higher_is_better,
        "repeats": max(m.repeats for m in measures),
    }
    return Ranking(
        labels=labels,
        measures=measures,
        order=order,
        ranks=ranks,
        reasons=reasons,
        recommended=recommended,
        tied=sorted(not_beaten, key=order.index),
        verdict=verdict,
        notes=notes,
        settings=settings,
    )
