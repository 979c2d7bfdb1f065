"""An experiment's run directory: created or checked against the config's fingerprint
(``experiment.yaml``), finished trials found and reused — only when their records are
intact —, finished trials' outcomes saved. Files are written atomically; nothing here
deletes a file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from lrlab._io import read_json, write_json, write_text
from lrlab._yaml import read_yaml
from lrlab.errors import DamagedFile, InvalidArgument, LrlabError
from lrlab.experiment.config import Experiment
from lrlab.experiment.result import SUMMARY_JSON, TrialResult
from lrlab.experiment.trials import FINISHED, TrialOutcome
from lrlab.rundir import LOCK_NAME
from lrlab.train.records import RecordWriter, read_records

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
            old = Experiment.from_dict(read_yaml(config_file, what=EXPERIMENT_YAML))
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
    elif root.is_dir() and any(p.name != LOCK_NAME for p in root.iterdir()):
        raise InvalidArgument(
            f"{root} exists and is not an lrlab experiment directory (no {EXPERIMENT_YAML}).",
            hint="Use another --out directory or experiment name.",
        )
    root.mkdir(parents=True, exist_ok=True)
    write_text(config_file, exp.to_yaml())


def finished_trial(
    directory: Path, fingerprint: str, *, on_damaged: Callable[[str], None] | None = None
) -> TrialResult | None:
    """The trial saved in ``directory`` if it finished under this fingerprint, else None.

    A finished trial whose records are damaged (a torn line, a duplicated or missing epoch,
    fewer epochs than its summary says, or no records at all) is not reused: ``on_damaged``
    gets one line saying why, and the trial runs again — ``fit`` then rewrites the records
    from its final checkpoint (exact), or trains it again from the start."""
    path = directory / SUMMARY_JSON
    if not path.is_file():
        return None
    try:
        summary = read_json(path)
    except (OSError, ValueError):
        return None
    if summary.get("fingerprint") != fingerprint or summary.get("status") not in FINISHED:
        return None
    try:
        records = read_records(directory)
        last = records[-1] if records else {}
        ends = (last.get("epoch"), last.get("iteration"))
        if ends != (summary.get("epochs"), summary.get("iterations")):
            raise DamagedFile(
                f"{directory / 'records.jsonl'}: the records end at epoch {ends[0]}, its "
                f"summary at epoch {summary.get('epochs')}."
            )
    except DamagedFile as exc:
        if on_damaged is not None:
            on_damaged(f"{exc.message} It is finished but cannot be trusted: running it again.")
        return None
    result = TrialResult.from_dict(summary)
    result.records, result.reused, result.dir = records, True, str(directory)
    return result


def save_outcome(directory: Path, outcome: TrialOutcome, fingerprint: str) -> TrialResult:
    """Write the trial's records (from the outcome: they travel with it, so this works for a
    Ray worker on another machine too), config.yaml and, once finished, summary.json;
    return its :class:`TrialResult`."""
    directory.mkdir(parents=True, exist_ok=True)
    RecordWriter(directory).reset(outcome.records)  # atomic: exactly the outcome's records
    write_text(directory / "config.yaml", yaml.safe_dump(outcome.config, sort_keys=False))
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
