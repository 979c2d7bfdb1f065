"""The demo's directory: what identifies a demo (:class:`DemoSettings`, ``demo.json``), when an
earlier one is reused, and what ``--fresh`` may delete: only the files of the demo's own
manifest (``demo.json``'s ``manifest``: every file name the demo writes), never a file a user
put there, even inside the demo's sub-directories.

Layout of ``out`` (default ``runs/demo``)::

    demo.json                    settings, environment, status, the command, a summary
    range-test/range_test.json   the range test (and range_test.png)
    onecycle-vs-controls/        the experiment directory (demo.yaml's name; lrlab.experiment)
    report.html                  the report
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lrlab._io import read_json, write_json
from lrlab.errors import InvalidArgument

DEMO_JSON = "demo.json"
RANGE_TEST_DIR = "range-test"
REPORT_NAME = "report.html"
CONFIG = "demo.yaml"


@functools.cache
def demo_config() -> dict[str, Any]:
    """The demo's experiment config (``lrlab/cli/demo.yaml``) as plain data."""
    from lrlab.experiment import load_experiment

    with resources.as_file(resources.files("lrlab.cli") / CONFIG) as path:
        return load_experiment(path).to_dict()


def _default_task() -> str:
    return str(demo_config()["task"])


def _default_seeds() -> tuple[int, ...]:
    return tuple(int(s) for s in demo_config()["seeds"])


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs: the config's experiment on ``task`` over ``seeds`` (defaults: the
    config's); ``epochs=None`` picks :func:`lrlab.cli._demo_run.demo_epochs` for the task."""

    task: str = field(default_factory=_default_task)
    seeds: tuple[int, ...] = field(default_factory=_default_seeds)
    epochs: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if not self.seeds:
            raise InvalidArgument("seeds is empty: the demo needs at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            raise InvalidArgument(f"seeds={list(self.seeds)} has duplicates.")
        if self.epochs is not None and self.epochs < 1:
            raise InvalidArgument(f"epochs={self.epochs} must be >= 1.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoSettings:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "seeds" in known:
            known["seeds"] = tuple(int(s) for s in known["seeds"])
        return cls(**known)

    def result_fields(self) -> dict[str, Any]:
        """The settings that change results: a directory holding a demo with other values
        of these is not reused. Seeds may be added or dropped (trials are per seed) as long
        as the first one, the range test's, stays."""
        d = self.to_dict()
        d["range_test_seed"] = d.pop("seeds")[0]  # the range test runs from the first seed
        return d


def seeds_option(seeds: Sequence[int]) -> str:
    """The ``--seeds`` value for ``seeds``: a count for ``0..n-1`` (``"3"``), else a list
    (``"5,7"``; a single seed keeps a comma, ``"5,"``, since ``"5"`` would be a count)."""
    if tuple(seeds) == tuple(range(len(seeds))):
        return str(len(seeds))
    text = ",".join(str(s) for s in seeds)
    return text if len(seeds) > 1 else f"{text},"


def command_line(out: Path, settings: DemoSettings) -> str:
    """The ``lrlab demo`` command that reproduces these settings."""
    parts = ["lrlab demo", f"--task {settings.task}", f"--out {out}"]
    parts.append(f"--seeds {seeds_option(settings.seeds)}")
    if settings.epochs is not None:
        parts.append(f"--epochs {settings.epochs}")
    if settings.device != "auto":
        parts.append(f"--device {settings.device}")
    return " ".join(parts)


def manifest(settings: DemoSettings) -> list[str]:
    """Every file the demo may write for ``settings``, relative to its directory: what
    ``--fresh`` may delete (kept in ``demo.json``)."""
    from lrlab.experiment.directory import EXPERIMENT_YAML
    from lrlab.experiment.result import SUMMARY_JSON
    from lrlab.rundir import result_path
    from lrlab.train.checkpoint import CHECKPOINT, STALE_RECORDS
    from lrlab.train.records import RECORDS_CSV, RECORDS_JSONL

    exp = str(demo_config()["name"])
    files = [DEMO_JSON, REPORT_NAME]
    for name in ("find.json", "find.png", "range_test.json", "range_test.png"):
        for complete in (True, False):
            files.append(result_path(RANGE_TEST_DIR, name, complete=complete).as_posix())
    files += [f"{exp}/{n}" for n in (EXPERIMENT_YAML, SUMMARY_JSON, "table.md", "table.csv")]
    trial = ("config.yaml", RECORDS_JSONL, RECORDS_CSV, CHECKPOINT, STALE_RECORDS, SUMMARY_JSON)
    for variant in demo_config()["variants"]:
        for seed in settings.seeds:
            files += [f"{exp}/{variant['name']}/seed-{int(seed)}/{n}" for n in trial]
    return files


def _remove_own_files(out: Path, files: Sequence[str]) -> list[Path]:
    """Delete the listed files under ``out``, then the directories that this left empty;
    return what is left in those directories (files lrlab did not write)."""
    dirs: set[Path] = set()
    for name in files:
        path = out / name
        if not path.resolve().is_relative_to(out.resolve()):
            continue  # a manifest never points outside the demo
        if path.is_file() or path.is_symlink():
            path.unlink()
        parent = path.parent
        while parent != out and parent.resolve().is_relative_to(out.resolve()):
            dirs.add(parent)
            parent = parent.parent
    kept: list[Path] = []
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):  # deepest first
        if d.is_dir():
            if any(d.iterdir()):
                kept += [p for p in d.iterdir() if p.is_file()]
            else:
                d.rmdir()
    return sorted(kept)


def prepare_out(
    out: Path,
    settings: DemoSettings,
    *,
    fresh: bool,
    say: Callable[[str], None] | None = None,
) -> bool:
    """Check (or clear, with ``fresh``) the demo directory; return whether an earlier demo
    with the same settings is there to reuse. ``fresh`` deletes only what the earlier demo's
    manifest lists; ``say`` gets a line naming the files it kept.

    Raises:
        InvalidArgument: ``out`` holds something that is not a demo, or a demo with other
            settings (and ``fresh`` is off).
    """
    from lrlab.rundir import LOCK_NAME

    marker = out / DEMO_JSON
    if not out.exists():
        return False
    if not out.is_dir():
        raise InvalidArgument(f"--out {out} is a file, not a directory.")
    if not marker.is_file():
        if any(p.name != LOCK_NAME for p in out.iterdir()):
            raise InvalidArgument(
                f"{out} exists and is not an lrlab demo directory (no {DEMO_JSON}).",
                hint="Use another --out directory (the demo never deletes files it did not write).",
            )
        return False
    if fresh:
        try:
            old = read_json(marker)
            files = old.get("manifest") or manifest(DemoSettings.from_dict(old["settings"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidArgument(
                f"{marker} cannot be read back, so --fresh cannot tell the demo's files from "
                "yours.",
                hint="Delete the demo's files by hand, or use another --out directory.",
            ) from None
        kept = _remove_own_files(out, [str(f) for f in files])
        if kept and say is not None:
            shown = ", ".join(str(p.relative_to(out)) for p in kept[:5])
            more = f" and {len(kept) - 5} more" if len(kept) > 5 else ""
            say(f"--fresh kept {len(kept)} file(s) lrlab did not write: {shown}{more}.")
        return False
    try:
        old = DemoSettings.from_dict(read_json(marker)["settings"])
    except (OSError, ValueError, KeyError, TypeError, InvalidArgument):
        raise InvalidArgument(
            f"{marker} cannot be read back.", hint="Run with --fresh to start over."
        ) from None
    if old.result_fields() != settings.result_fields():
        changed = [
            f"{k}: {old.result_fields()[k]!r} -> {v!r}"
            for k, v in settings.result_fields().items()
            if old.result_fields().get(k) != v
        ]
        raise InvalidArgument(
            f"{out} holds a demo with other settings ({'; '.join(changed)}).",
            hint="Add --fresh to replace it, or use another --out directory.",
        )
    return True


def write_marker(out: Path, state: dict[str, Any]) -> None:
    """``demo.json``: what the demo is doing or did (the report reads it)."""
    write_json(out / DEMO_JSON, state)
