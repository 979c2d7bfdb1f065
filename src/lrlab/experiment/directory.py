"""An experiment's run directory: created or checked against the config's fingerprint
(``experiment.yaml``), finished trials found and reused, finished trials' outcomes saved.
Nothing here deletes a file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lrlab._io import append_jsonl, read_json, read_jsonl, write_json
from lrlab.errors import InvalidArgument, LrlabError
from lrlab.experiment.config import Experiment
from lrlab.experiment.result import SUMMARY_JSON, TrialResult
from lrlab.experiment.trials import FINISHED, TrialOutcome

EXPERIMENT_YAML = "experiment.yaml"


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Field paths where two plain-data configs differ (for the "different experiment" error)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += _diff(old.get(key), new.get(key), sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in _diff(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [f"{path or '(top level)'}: {old!r} -> {new!r}"]


def prepare_directory(root: Path, exp: Experiment) -> None:
    """Create ``root`` or check that it holds the same experiment; write experiment.yaml."""
    config_file = root / EXPERIMENT_YAML
    if config_file.is_file():
        try:
            old = Experiment.from_dict(yaml.safe_load(config_file.read_text(encoding="utf-8")))
        except (LrlabError, yaml.YAMLError) as exc:
            raise InvalidArgument(
                f"{config_file} cannot be read back ({exc}).",
                hint="Use another --out directory, or delete this one to start over.",
            ) from None
        if old.fingerprint() != exp.fingerprint():
            changes = _diff(old.result_fields(), exp.result_fields())
            shown = "; ".join(changes[:5]) + (" ..." if len(changes) > 5 else "")
            raise InvalidArgument(
                f"{root} holds a different experiment (fingerprint {old.fingerprint()} vs "
                f"{exp.fingerprint()}; changed: {shown}).",
                hint="Give the experiment a new name, use another --out directory, or delete "
                f"{root} to start over. (Seeds, target and analysis settings may change freely.)",
            )
    elif root.is_dir() and any(root.iterdir()):
        raise InvalidArgument(
            f"{root} exists and is not an lrlab experiment directory (no {EXPERIMENT_YAML}).",
            hint="Use another --out directory or experiment name.",
        )
    root.mkdir(parents=True, exist_ok=True)
    config_file.write_text(exp.to_yaml(), encoding="utf-8")


def finished_trial(directory: Path, fingerprint: str) -> TrialResult | None:
    """The trial saved in ``directory`` if it finished under this fingerprint, else None."""
    path = directory / SUMMARY_JSON
    if not path.is_file():
        return None
    try:
        summary = read_json(path)
    except (OSError, ValueError):
        return None
    if summary.get("fingerprint") != fingerprint or summary.get("status") not in FINISHED:
        return None
    records_file = directory / "records.jsonl"
    records = read_jsonl(records_file) if records_file.is_file() else []
    result = TrialResult.from_dict(summary)
    result.records, result.reused, result.dir = records, True, str(directory)
    return result


def save_outcome(directory: Path, outcome: TrialOutcome, fingerprint: str) -> TrialResult:
    """Write the trial's summary.json (and, for a remote worker without shared storage, its
    config.yaml and records.jsonl) and return its :class:`TrialResult`."""
    directory.mkdir(parents=True, exist_ok=True)
    records_file = directory / "records.jsonl"
    if not records_file.is_file() and outcome.records:
        for rec in outcome.records:
            append_jsonl(records_file, rec)
    config_file = directory / "config.yaml"
    if not config_file.is_file():
        config_file.write_text(yaml.safe_dump(outcome.config, sort_keys=False), encoding="utf-8")
    result = TrialResult(
        variant=outcome.variant,
        seed=outcome.seed,
        status=outcome.stop_reason,
        message=outcome.message,
        auto_lr=outcome.config.get("auto_lr"),
        dir=str(directory),
        elapsed=outcome.elapsed,
        chance_level=outcome.chance_level,
        records=outcome.records,
    )
    if result.finished:
        last = outcome.records[-1] if outcome.records else {}
        summary = {
            **result.to_dict(records=False),
            "fingerprint": fingerprint,
            "epochs": last.get("epoch"),
            "iterations": last.get("iteration"),
            "final": last,
        }
        write_json(directory / SUMMARY_JSON, summary)
    return result
