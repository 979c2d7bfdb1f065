"""Which max LR for this planned run? find_lr against the other finders, on tasks split in a
development half (the rule may be tuned there) and a held-out half (never tuned on).

For every task of ``find_tasks`` (≥ 10 classification tasks per half, plus function
regression) × seed: the planned one-cycle run at each of 17 grid max LRs (the oracle), every
finder's answer, and the planned run at each answer (:mod:`_find_jobs`); then the scores of
:mod:`_find_scoring` — regret against the per-seed grid best beside the noise floor, LR / best
LR, whether ``[low, high]`` holds the best, cost in runs and time.

    .venv/bin/python benchmarks/find_quality.py --tasks dev                 # tune here
    .venv/bin/python benchmarks/find_quality.py --tasks all --update-md     # the published run
    .venv/bin/python benchmarks/find_quality.py --quick                     # smoke run

Trainings and finder answers are cached per (task, seed) under ``--cache``; ``find_lr``'s
answers are keyed by its settings (``--set``) and ``--tag`` (bump it when its code changes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import _find_jobs
import find_tasks
from _common import OUT_DIR, provenance, provenance_line, publish, write_report
from _find_scoring import half_summary, half_table, score_task, task_table

NAME = "find_quality"
DEFAULT_CACHE = OUT_DIR / "find_quality_cache"


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        value = parse_value(value)
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def find_key(tag: str, settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str)
    return f"find_lr:{tag}:{hashlib.sha1(blob.encode()).hexdigest()[:8]}"


def task_names(spec: str) -> list[str]:
    if spec == "dev":
        return list(find_tasks.DEV)
    if spec == "held-out":
        return list(find_tasks.HELD_OUT)
    if spec == "all":
        return list(find_tasks.DEV) + list(find_tasks.HELD_OUT)
    names = spec.split(",")
    for n in names:
        find_tasks.get(n)
    return names


def grid(name: str, quick: bool) -> list[float]:
    ft = find_tasks.get(name)
    values = ft.grid if hasattr(ft, "grid") else [
        10 ** (ft.grid_from + i / find_tasks.GRID_PER_DECADE) for i in range(find_tasks.GRID_POINTS)
    ]  # fmt: skip
    return list(values[::4]) if quick else list(values)


def finder_list(args: argparse.Namespace) -> list[str]:
    finders = [f for f in args.finders.split(",") if f]
    if "lightning" in finders and not _find_jobs.lightning_available():
        print("lightning is not installed: skipping it (pip install 'lrlab[lightning]')")
        finders.remove("lightning")
    return finders


def run_units(args: argparse.Namespace, names: list[str], settings: dict[str, Any]) -> None:
    finders = finder_list(args)
    key = find_key(args.tag, settings)
    jobs = [
        (str(args.cache), n, s, grid(n, args.quick), finders, key, settings, not args.no_train)
        for n in names
        for s in range(args.seeds)
    ]
    if args.workers <= 1:
        for job in jobs:
            print(_find_jobs.unit(*job), flush=True)
        return
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(_find_jobs.unit, *job) for job in jobs]
        for fut in as_completed(futures):
            print(fut.result(), flush=True)


def load(args: argparse.Namespace, names: list[str]) -> dict[str, dict[int, Any]]:
    caches = {}
    for n in names:
        caches[n] = {
            s: _find_jobs.Cache(args.cache, n, s).data
            for s in range(args.seeds)
            if (args.cache / n / f"{s}.json").exists()
        }
    return caches


def report(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    key = find_key(args.tag, settings)
    finders = finder_list(args)
    halves = {"development": [], "held-out": [], "regression": []}
    names = task_names(args.tasks)
    for n, caches in load(args, names).items():
        if not caches:
            continue
        ft = find_tasks.get(n)
        higher = ft.metric == "accuracy"
        scored = score_task(n, caches, grid(n, args.quick), higher, key, finders)
        scored["half"] = "held-out" if n in find_tasks.HELD_OUT else "development"
        halves["regression" if not higher else scored["half"]].append(scored)
    out = {**provenance(__file__, None), "find_key": key, "settings": settings, "halves": {}}
    for half, scores in halves.items():
        out["halves"][half] = {"tasks": scores, "summary": half_summary(scores, finders)}
    return out


def markdown(rep: dict[str, Any], finders: list[str]) -> str:
    parts = [provenance_line(rep), ""]
    titles = {
        "held-out": "Held-out half (never tuned on): accuracy points lost to the grid best",
        "development": "Development half (the rule's settings were chosen here)",
        "regression": "Function regression (both halves): % excess test MSE over the grid best",
    }
    for half in ("held-out", "development", "regression"):
        h = rep["halves"].get(half)
        if not h or not h["tasks"]:
            continue
        unit = "%" if half == "regression" else "pts"
        parts += [f"### {titles[half]}", "", half_table(h["summary"], finders), "",
                  task_table(h["tasks"], finders, unit), ""]  # fmt: skip
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="all", help="dev, held-out, all or NAME,NAME")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--finders", default=",".join(_find_jobs.FINDERS))
    p.add_argument("--set", nargs="*", default=[], help="find_lr settings KEY=VALUE")
    p.add_argument("--tag", default="v1", help="find_lr code version (bump when it changes)")
    p.add_argument("--no-train", action="store_true", help="finders only, no planned runs")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--quick", action="store_true", help="1 task, 1 seed, 5 grid points")
    p.add_argument("--out", type=Path, default=OUT_DIR / f"{NAME}.json")
    p.add_argument("--update-md", action="store_true")
    args = p.parse_args(argv)
    settings = parse_sets(args.set)
    if args.quick:
        args.tasks = args.tasks if args.tasks != "all" else find_tasks.DEV[0]
        args.seeds = 1
        settings.setdefault("max_candidates", 5)
    if not args.report_only:
        run_units(args, task_names(args.tasks), settings)
    rep = report(args, settings)
    md = markdown(rep, finder_list(args))
    write_report(args.out, rep, md)
    print(md)
    if args.update_md and not args.quick:
        publish(NAME, "find_lr: which max LR for this planned run? (issue 12)", rep, md)


if __name__ == "__main__":
    main()
