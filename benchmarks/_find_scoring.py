"""Scoring the find_lr benchmark: regret, the noise floor, LR ratios, coverage, cost (pure).

Per (task, seed), from the cached trainings (:mod:`_find_jobs`):

* **grid best** — the best final test metric over the oracle grid for that seed, and its LR;
* **regret** of a finder — grid best − the metric of the planned run at the finder's LR, in
  accuracy points (classification); for MSE tasks ``100 · (achieved / best − 1)``, % excess;
  a finder that gives no LR scores the untrained model;
* **noise floor** (per task) — the regret of the best *fixed* grid LR (the one with the best
  mean over seeds) against the per-seed bests: what even an oracle that knew the best LR in
  expectation loses to seed noise. A regret near the floor cannot be told from it;
* **LR ratio** — finder LR / grid-best LR (geometric mean over seeds);
* **coverage** — whether ``[low, high]`` holds the grid-best LR;
* **cost** — ``find_lr``'s optimizer steps / planned steps (``runs``) and its seconds over
  the seconds of the planned training at its answer, which runs right after it in the same
  job (``time``: both under the same machine load).

Re-scoring stored ``find_lr`` measurements with another choice, without training, is
research (``research/find_rule_variants.py``, development half only).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from _common import fmt, geomean, markdown_table

METHODS = ("find_lr", "curve", "valley", "torch-lr-finder", "lightning")


def regret(achieved: float, best: float, higher: bool) -> float:
    if higher:
        return 100.0 * (best - achieved)
    return 100.0 * (achieved / best - 1.0) if best > 0 else math.nan


def grid_arrays(cache: Mapping[str, Any], grid: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    from _find_jobs import lr_key

    train = cache["train"]
    x = np.array([lr for lr in grid if lr_key(lr) in train], dtype=float)
    y = np.array([train[lr_key(lr)]["final"] for lr in x], dtype=float)
    return x, y


def score_task(
    name: str,
    caches: Mapping[int, Mapping[str, Any]],
    grid: Sequence[float],
    higher: bool,
    find_key: str,
    methods: Sequence[str],
) -> dict[str, Any]:
    """Every number of one task (see the module docstring)."""
    from _find_jobs import lr_key

    seeds = sorted(caches)
    best, best_lr, table = {}, {}, []
    for s in seeds:
        x, y = grid_arrays(caches[s], grid)
        i = int(np.argmax(y) if higher else np.argmin(y))
        best[s], best_lr[s] = float(y[i]), float(x[i])
        table.append(y)
    common = min(len(r) for r in table)
    mean_curve = np.mean([r[:common] for r in table], axis=0)
    j = int(np.argmax(mean_curve) if higher else np.argmin(mean_curve))
    floor = statistics.fmean(
        regret(float(table[k][j]), best[s], higher) for k, s in enumerate(seeds)
    )
    out: dict[str, Any] = {
        "task": name,
        "seeds": seeds,
        "best": best,
        "best_lr": best_lr,
        "noise_floor": floor,
        "fixed_lr": float(grid[j]),
        "methods": {},
    }
    for m in methods:
        key = find_key if m == "find_lr" else m
        per_seed = []
        for s in seeds:
            f = caches[s]["finders"].get(key)
            if f is None:
                continue
            lr = f.get("lr")
            train = caches[s]["train"]
            untrained = next(iter(train.values()))["untrained"]
            t = train.get(lr_key(lr)) if lr is not None else None
            achieved = untrained if lr is None else (t["final"] if t else math.nan)
            low, high = f.get("low"), f.get("high")
            # The planned run at the finder's LR ran right after the finder, in the same job:
            # the same machine load for both (grid runs ran at other times).
            planned = t["seconds"] if t else math.nan
            per_seed.append({
                "seed": s, "lr": lr, "achieved": achieved,
                "regret": regret(achieved, best[s], higher)
                if math.isfinite(achieved) else math.nan,
                "ratio": lr / best_lr[s] if lr else math.nan,
                "covered": None if low is None or high is None else bool(low <= best_lr[s] <= high),
                "runs": f.get("cost_runs"), "time": f.get("seconds", math.nan) / planned,
                "flags": f.get("flags", []),
            })  # fmt: skip
        if per_seed:
            out["methods"][m] = summarise(per_seed)
    return out


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    regrets = [p["regret"] for p in per_seed if math.isfinite(p["regret"])]
    covered = [p["covered"] for p in per_seed if p["covered"] is not None]
    runs = [p["runs"] for p in per_seed if p["runs"] is not None]
    times = [p["time"] for p in per_seed if math.isfinite(p["time"])]
    return {
        "per_seed": per_seed,
        "regret": statistics.fmean(regrets) if regrets else math.nan,
        "regret_sd": statistics.stdev(regrets) if len(regrets) > 1 else 0.0,
        "ratio": geomean([p["ratio"] for p in per_seed]),
        "coverage": statistics.fmean(covered) if covered else math.nan,
        "runs": statistics.median(runs) if runs else math.nan,
        "time": statistics.median(times) if times else math.nan,
        "no_lr": sum(p["lr"] is None for p in per_seed),
    }


def half_summary(scores: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Means over the tasks of one half (each task's mean over seeds counts once)."""
    out: dict[str, Any] = {
        "tasks": len(scores),
        "noise_floor": statistics.fmean(t["noise_floor"] for t in scores) if scores else math.nan,
    }
    for m in methods:
        rows = [t["methods"][m] for t in scores if m in t["methods"]]
        if not rows:
            continue
        pairs = [p for r in rows for p in r["per_seed"]]
        covered = [p["covered"] for p in pairs if p["covered"] is not None]
        out[m] = {
            "tasks": len(rows),
            "regret": statistics.fmean(r["regret"] for r in rows),
            "worst": max(r["regret"] for r in rows),
            "over_1": sum(r["regret"] > 1.0 for r in rows),
            "ratio": geomean([r["ratio"] for r in rows]),
            "coverage": statistics.fmean(covered) if covered else math.nan,
            "runs": statistics.median(p["runs"] for p in pairs) if pairs[0]["runs"] is not None
            else math.nan,
            "time": statistics.median(p["time"] for p in pairs if math.isfinite(p["time"]))
            if any(math.isfinite(p["time"]) for p in pairs) else math.nan,
        }  # fmt: skip
    return out


def task_table(scores: Sequence[Mapping[str, Any]], methods: Sequence[str], unit: str) -> str:
    headers = ["task", "floor", *[f"{m} {unit}" for m in methods], "find_lr LR/best",
               "find_lr in [low, high]", "find_lr runs", "find_lr time"]  # fmt: skip
    rows = []
    for t in scores:
        fl = t["methods"].get("find_lr", {})
        row = [t["task"], fmt(t["noise_floor"], ".2f")]
        for m in methods:
            r = t["methods"].get(m)
            row.append("—" if r is None else f"{r['regret']:.2f} ± {r['regret_sd']:.2f}")
        row += [
            fmt(fl.get("ratio"), ".2f"),
            fmt(fl.get("coverage"), ".0%"),
            fmt(fl.get("runs"), ".2f"),
            fmt(fl.get("time"), ".2f"),
        ]
        rows.append(row)
    return markdown_table(headers, rows)


def half_table(summary: Mapping[str, Any], methods: Sequence[str]) -> str:
    headers = ["method", "mean regret", "worst task", "tasks > 1", "LR / best", "interval holds",
               "median runs", "median time"]  # fmt: skip
    rows = []
    for m in methods:
        r = summary.get(m)
        if r is None:
            continue
        rows.append([
            m, fmt(r["regret"], ".2f"), fmt(r["worst"], ".2f"), f"{r['over_1']}/{r['tasks']}",
            fmt(r["ratio"], ".2f"), fmt(r["coverage"], ".0%"), fmt(r["runs"], ".2f"),
            fmt(r["time"], ".2f"),
        ])  # fmt: skip
    rows.append(["noise floor", fmt(summary["noise_floor"], ".2f"), "", "", "", "", "", ""])
    return markdown_table(headers, rows)
