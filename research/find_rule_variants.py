"""Other choices from the same short runs: find_lr's choice settings re-scored offline.

Research, not the library and not a benchmark. ``find_lr`` measures (range test, rounds of
short runs) and then chooses (:func:`lrlab.finder.choose.choose`, pure). Every ``find_lr``
answer cached by ``benchmarks/find_quality.py`` keeps its measurements, so a different choice
— another kernel width, drift gain, prior weight — can be scored without training: its regret
is read off the seed's oracle grid (linear in log LR between the 4-per-decade grid points;
labelled *interpolated*, coarser than the benchmark's trainings at each answer).

**Development half only.** The script refuses held-out tasks: the held-out half is judged once,
with the shipped rule (BENCHMARKS.md). This is how rounds v2 → v4 of the rule were weighed
(drift followed or not, the prior's weight); the trainings at each shipped round's answers are
the benchmark's.

    .venv/bin/python research/find_rule_variants.py --tag v4
    .venv/bin/python research/find_rule_variants.py --tag v4 --set prior_weight=0.5 drift_gain=0.5
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import find_quality
import find_tasks
from _find_jobs import lr_key

CHOICE = ("width", "drift_gain", "max_drift", "prior_weight", "halfwidth")


def rounds_of(result: dict[str, Any]) -> tuple[list[tuple[list[float], list[float]]], list[int]]:
    """The stored short runs as ``choose``'s rounds (scores: minus the final held-out loss)."""
    rounds, horizons = [], []
    for h in result["horizons"]:
        runs = sorted((c for c in result["candidates"] if c["horizon"] == h), key=lambda c: c["lr"])
        if runs:
            scores = [
                -c["loss"][-1] if c["status"] == "ok" and c["loss"][-1] is not None else math.nan
                for c in runs
            ]
            rounds.append(([c["lr"] for c in runs], scores))
            horizons.append(h)
    return rounds, horizons


def rechoose(result: dict[str, Any], overrides: dict[str, Any]) -> float | None:
    from lrlab.finder.choose import choose

    rounds, horizons = rounds_of(result)
    if not rounds:
        return None
    config = result["config"]
    params = {k: config[k] for k in CHOICE if k in config}
    params.update(overrides)
    weight = params.pop("prior_weight", 0.0)
    sug = (result.get("range_test") or {}).get("suggestion") or {}
    prior = None if "flat-curve" in result["flags"] else sug.get("lr")
    return choose(rounds, horizons, result["total_steps"], floor=-config["initial"]["loss"],
                  prior=prior, prior_weight=weight, **params).lr  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tag", default="v4", help="the find_lr answers to re-choose from")
    p.add_argument("--set", nargs="*", default=[], help="choice settings KEY=VALUE")
    p.add_argument("--cache", type=Path, default=find_quality.DEFAULT_CACHE)
    args = p.parse_args(argv)
    overrides = find_quality.parse_sets(args.set)
    unknown = set(overrides) - set(CHOICE)
    if unknown:
        sys.exit(f"not a choice setting: {sorted(unknown)} (these are: {', '.join(CHOICE)})")
    key = find_quality.find_key(args.tag, {})
    totals = {"shipped": [], "re-chosen": []}
    for name in find_tasks.DEV:  # never the held-out half
        ft = find_tasks.get(name)
        if ft.metric != "accuracy":
            continue
        per = {"shipped": [], "re-chosen": []}
        for seed in range(5):
            path = args.cache / name / f"{seed}.json"
            if not path.exists():
                continue
            cache = json.loads(path.read_text())
            found = cache["finders"].get(key)
            grid = [lr for lr in ft.grid if lr_key(lr) in cache["train"]]
            if found is None or len(grid) < len(ft.grid):
                continue
            x = np.log10(grid)
            y = np.array([cache["train"][lr_key(lr)]["final"] for lr in grid])
            untrained = cache["train"][lr_key(grid[0])]["untrained"]
            for label, lr in (
                ("shipped", found["lr"]),
                ("re-chosen", rechoose(found["result"], overrides)),
            ):
                value = untrained if lr is None else float(np.interp(math.log10(lr), x, y))
                per[label].append(100 * (y.max() - value))
        if per["shipped"]:
            means = {k: float(np.mean(v)) for k, v in per.items()}
            for k, v in means.items():
                totals[k].append(v)
            print(
                f"{name:28s} shipped {means['shipped']:6.2f}  re-chosen {means['re-chosen']:6.2f}"
            )
    for label, values in totals.items():
        mean = float(np.mean(values))
        print(f"{label}: mean interpolated regret {mean:.2f} points over {len(values)} dev tasks")


if __name__ == "__main__":
    main()
