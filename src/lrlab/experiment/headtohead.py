"""The head-to-head of a finished experiment: what :mod:`lrlab.analysis.headtohead` needs,
read from its directory, and the files it writes.

For every variant and seed: the final metric and the first time the target was reached
(the comparison's), the finder's cost when the variant's peak LR came from it — its own
``auto``, or the ``auto`` of the variant it is ``same_as`` (:mod:`lrlab.experiment.peaks`) —
the peak LR it trained with, and the LR-free flags its records raised. The finder's cost is
read from the cache record ``auto`` left under ``auto-lr/`` (matched by seed, optimizer and
the variant it planned for):
``find_lr``'s ``cost`` (its range test included) where the record has one, else the range
test's seconds and steps.

Files (``write_head_to_head``): ``head_to_head.json`` (:class:`HeadToHead`, reloadable) and
``head_to_head.md`` (the table).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lrlab._io import canonical, read_json, write_json
from lrlab.analysis.headtohead import HeadToHead, TrialCost, entry, to_markdown
from lrlab.analysis.lrfree import flag_code, raised
from lrlab.errors import InvalidArgument
from lrlab.experiment import peaks

HEAD_TO_HEAD_JSON = "head_to_head.json"
HEAD_TO_HEAD_MD = "head_to_head.md"


def finder_cost(record: Mapping[str, Any]) -> tuple[float, int]:
    """``(seconds, updates)`` the finder spent on one ``auto`` answer (its cache record):
    ``find_lr``'s ``cost`` (``seconds``, ``steps``) when the record holds one, else the
    range test's ``elapsed`` and the number of steps it ran."""
    for holder in (record, *(v for v in record.values() if isinstance(v, Mapping))):
        cost = holder.get("cost")
        if isinstance(cost, Mapping) and "seconds" in cost:
            return float(cost["seconds"]), int(cost.get("steps") or 0)
    sweep = record.get("range_test") or {}
    return float(sweep.get("elapsed") or 0.0), len(sweep.get("lrs") or ())


def _optimizer_key(name: Any, kwargs: Mapping[str, Any]) -> str:
    return json.dumps(canonical({"name": str(name), "kwargs": dict(kwargs)}), sort_keys=True)


def _finder_records(root: Path) -> list[Mapping[str, Any]]:
    """The ``auto`` cache records of an experiment (unreadable ones skipped: a cache file is
    a convenience; without it the cost is unknown, NaN)."""
    out = []
    for path in sorted((root / "auto-lr").glob("*.json")):
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(record, Mapping) and isinstance(record.get("optimizer"), Mapping):
            out.append(record)
    return out


def _finder_record(
    records: list[Mapping[str, Any]], seed: int, optimizer: Mapping[str, Any], variant: str
) -> Mapping[str, Any] | None:
    """The cache record of ``variant``'s ``auto`` answer for ``seed``: matched by seed and
    optimizer, and — where one seed and optimizer have several (one per planned run) — by
    the variant ``find_lr`` planned for (its ``config``)."""
    kwargs = {k: v for k, v in optimizer.items() if k != "name"}
    key = _optimizer_key(optimizer.get("name", ""), kwargs)
    mine = [
        r
        for r in records
        if int(r.get("seed", -1)) == seed
        and _optimizer_key(r["optimizer"].get("name", ""), r["optimizer"].get("kwargs") or {})
        == key
    ]
    planned = [r for r in mine if _planned_for(r) == variant]
    return (planned or mine or [None])[0]


def _planned_for(record: Mapping[str, Any]) -> Any:
    return ((record.get("find") or {}).get("config") or {}).get("variant")


def _trial_config(directory: str) -> dict[str, Any]:
    path = Path(directory) / "config.yaml"
    if not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(loaded) if isinstance(loaded, dict) else {}


def _schedule_params(variant: Mapping[str, Any]) -> dict[str, Any]:
    schedule = variant.get("schedule")
    if not isinstance(schedule, Mapping):
        return {}
    return {k: v for k, v in schedule.items() if k != "name"}


def _peak(config: Mapping[str, Any]) -> float:
    """The peak LR (multiplier) a trial's resolved schedule used, else its optimizer's LR."""
    params = (config.get("schedule") or {}).get("params") or {}
    for key in ("max_lr", "lr"):
        if params.get(key) is not None:
            return float(params[key])
    return float((config.get("optimizer") or {}).get("lr", math.nan))


def head_to_head(result: Any) -> HeadToHead:
    """The :class:`HeadToHead` of a finished :class:`~lrlab.experiment.ExperimentResult`
    (its ``dir`` holds the trials' ``config.yaml`` and the ``auto-lr/`` cache)."""
    comparison = result.comparison
    if comparison is None:
        raise InvalidArgument(
            f"Experiment {result.name!r} has no finished trial: no head-to-head to write.",
            hint="Run (or re-run) it to the end first.",
        )
    root = Path(result.dir)
    variants = {v["name"]: v for v in result.config["variants"]}
    sources = peaks.references([(n, _schedule_params(v)) for n, v in variants.items()])
    finders = _finder_records(root)
    trials = {(t.variant, t.seed): t for t in result.trials}
    entries = []
    for summary in comparison.variants:
        name = summary.name
        source = sources.get(name, name)
        uses_finder = any(v == peaks.AUTO for v in _schedule_params(variants[source]).values())
        finals, costs, lrs, flags = [], [], [], {}
        lr_from = "given"
        optimizer = ""
        for ts in (t for t in comparison.trials if t.variant == name):
            trial = trials[(name, ts.seed)]
            config = _trial_config(trial.dir)
            optimizer = str((config.get("optimizer") or {}).get("name", optimizer))
            spent = (0.0, 0)
            if uses_finder:
                src = trials.get((source, ts.seed))
                theirs = (_trial_config(src.dir) if src else {}).get("optimizer") or {}
                record = _finder_record(finders, ts.seed, theirs, source)
                spent = finder_cost(record) if record is not None else (math.nan, 0)
            reached = ts.reached
            costs.append(
                TrialCost(
                    ts.seed,
                    None if reached is None else reached.elapsed,
                    None if reached is None else reached.iteration,
                    *spent,
                )
            )
            finals.append(ts.final_metric)
            d = [r["d"] for r in trial.records if r.get("d") is not None]
            if d:
                lr_from = "estimated d·lr"
                lrs.append(float(d[-1]) * _peak(config))
            else:
                lrs.append(_peak(config))
            for code in {flag_code(f) for f in raised(trial.records)}:
                flags[code] = flags.get(code, 0) + 1
        if uses_finder and lr_from == "given":
            lr_from = "finder" if source == name else f"finder, as {source}"
        entries.append(
            entry(
                name,
                optimizer=optimizer,
                lr_from=lr_from,
                finals=finals,
                costs=costs,
                lrs=lrs,
                diverged=summary.diverged,
                flags=flags,
            )
        )
    return HeadToHead(
        task=str(result.config.get("task") or result.config.get("factory") or result.name),
        metric=comparison.metric,
        higher_is_better=comparison.higher_is_better,
        target=comparison.target,
        control=comparison.control,
        entries=tuple(entries),
    )


def write_head_to_head(result: Any) -> HeadToHead:
    """Compute the head-to-head of ``result`` and write ``head_to_head.json`` and
    ``head_to_head.md`` into its directory."""
    h = head_to_head(result)
    root = Path(result.dir)
    write_json(root / HEAD_TO_HEAD_JSON, h.to_dict())
    (root / HEAD_TO_HEAD_MD).write_text(to_markdown(h), encoding="utf-8")
    return h


def load_head_to_head(directory: str | Path) -> HeadToHead | None:
    """The head-to-head an experiment directory holds (``None`` when it has none)."""
    path = Path(directory) / HEAD_TO_HEAD_JSON
    return HeadToHead.from_dict(read_json(path)) if path.is_file() else None
