r"""Performance profiles of methods across tasks (pure, numpy only).

Performance profiles (Dolan & Moré 2002, "Benchmarking optimization software with
performance profiles"; the form AlgoPerf scores training algorithms with, Dahl et al. 2023).
For task ``p`` and method ``m`` with cost ``c_{p,m}`` (here the median time to target over
seeds, ``∞`` when fewer than half of them reach it), the ratio ``r_{p,m} = c_{p,m} /
min_m c_{p,m}`` and the profile ``ρ_m(τ) = |{p : r_{p,m} ≤ τ}| / |P|``: the share of tasks on
which ``m`` is within a factor ``τ`` of the best. The score is the normalised area under
``ρ_m`` on ``[1, τ_max]``, ``(1/|P|) Σ_p max(0, τ_max − r_{p,m}) / (τ_max − 1)``: 1 when ``m``
is the fastest everywhere, 0 when it is never within ``τ_max``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

TAU_MAX = 4.0


@dataclass(frozen=True)
class Profile:
    """Performance profiles of methods over tasks (see the module docstring): ``ratios[m]``
    holds ``r_{p,m}`` for every task in ``tasks`` order (``∞``: never reached)."""

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    ratios: dict[str, tuple[float, ...]]
    unit: str = "seconds"

    def rho(self, method: str, tau: float) -> float:
        """``ρ_m(τ)``: the share of tasks where ``method`` is within ``tau`` of the best."""
        r = self.ratios[method]
        return sum(x <= tau for x in r) / len(r) if r else math.nan

    def score(self, method: str, tau_max: float = TAU_MAX) -> float:
        """The normalised area under ``ρ_m`` on ``[1, tau_max]``."""
        r = self.ratios[method]
        return float(np.mean([max(0.0, tau_max - x) / (tau_max - 1) for x in r])) if r else 0.0

    def steps(self, method: str, tau_max: float = TAU_MAX) -> tuple[list[float], list[float]]:
        """The step function ``ρ_m`` on ``[1, tau_max]`` as ``(τ, ρ)`` corners to draw."""
        finite = sorted(x for x in self.ratios[method] if x <= tau_max)
        taus = [1.0, *finite, tau_max]
        return taus, [self.rho(method, t) for t in taus]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": list(self.tasks),
            "methods": list(self.methods),
            "ratios": {
                m: [None if math.isinf(x) else x for x in r] for m, r in self.ratios.items()
            },
            "unit": self.unit,
            "scores": {m: self.score(m) for m in self.methods},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        ratios = {
            str(m): tuple(math.inf if x is None else float(x) for x in r)
            for m, r in d["ratios"].items()
        }
        return cls(tuple(d["tasks"]), tuple(d["methods"]), ratios, str(d.get("unit", "seconds")))


def performance_profile(costs: Mapping[str, Mapping[str, float]], unit: str = "seconds") -> Profile:
    """The profile of ``{task: {method: cost}}`` (lower is better; ``∞`` or a method missing
    from a task: never reached there). On a task nobody reached, every ratio is ``∞``."""
    tasks = tuple(costs)
    methods = tuple(dict.fromkeys(m for by_method in costs.values() for m in by_method))
    ratios: dict[str, list[float]] = {m: [] for m in methods}
    for task in tasks:
        row = {m: float(costs[task].get(m, math.inf)) for m in methods}
        best = min(row.values(), default=math.inf)
        for m in methods:
            ok = math.isfinite(best) and math.isfinite(row[m]) and best > 0
            ratios[m].append(row[m] / best if ok else (1.0 if row[m] == best == 0 else math.inf))
    return Profile(tasks, methods, {m: tuple(r) for m, r in ratios.items()}, unit)


def rows(by_unit: Mapping[str, Profile]) -> tuple[list[str], list[list[str]]]:
    """A table of profiles (one per unit: ``"seconds"``, ``"updates"``): per method,
    ``ρ(1)`` (the share of tasks where it is the fastest), ``ρ(2)`` and the score."""
    headers = ["variant"]
    for unit in by_unit:
        headers += [f"{unit}: ρ(1)", "ρ(2)", f"score (τ ≤ {TAU_MAX:g})"]
    methods = next(iter(by_unit.values())).methods if by_unit else ()
    body = []
    for m in methods:
        cells = [m]
        for p in by_unit.values():
            cells += [f"{p.rho(m, 1.0):.2f}", f"{p.rho(m, 2.0):.2f}", f"{p.score(m):.2f}"]
        body.append(cells)
    return headers, body


def to_markdown(by_unit: Mapping[str, Profile]) -> str:
    """The profile table as markdown."""
    headers, body = rows(by_unit)
    tasks = ", ".join(next(iter(by_unit.values())).tasks) if by_unit else ""
    return (
        "\n".join(
            [
                f"Performance profile over {tasks} (median time to target, finder included).",
                "",
                "| " + " | ".join(headers) + " |",
                "|" + "|".join("---" for _ in headers) + "|",
                *("| " + " | ".join(r) + " |" for r in body),
            ]
        )
        + "\n"
    )


def to_rich(by_unit: Mapping[str, Profile]) -> Any:
    """The profile table for the terminal."""
    from rich.table import Table

    headers, body = rows(by_unit)
    table = Table(title="Performance profile (median time to target, finder included)")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in body:
        table.add_row(*r)
    return table
