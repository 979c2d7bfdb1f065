"""What an experiment leaves: :class:`TrialResult` per (variant, seed) and
:class:`ExperimentResult` (trials, comparison), plain data that round-trips through
``summary.json`` and reloads from a run directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrlab._io import read_json
from lrlab.analysis import Comparison, render
from lrlab.errors import InvalidArgument
from lrlab.experiment.trials import FINISHED, trial_dir
from lrlab.train.records import read_records

SUMMARY_JSON = "summary.json"


@dataclass
class TrialResult:
    """One trial as the experiment sees it: identity, status, ``auto`` LR, records."""

    variant: str
    seed: int
    status: str
    message: str = ""
    auto_lr: float | None = None
    dir: str = ""
    elapsed: float = 0.0
    reused: bool = False  # finished in an earlier run of the same command
    chance_level: float | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "records"}
        if records:
            d["records"] = [dict(r) for r in self.records]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialResult:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns (and ``summary.json`` holds, without records)."""

    name: str
    dir: str
    config: dict[str, Any]
    fingerprint: str
    executor: str
    trials: list[TrialResult]
    comparison: Comparison | None
    elapsed: float = 0.0

    def records(self) -> dict[str, dict[int, list[dict[str, Any]]]]:
        """``{variant: {seed: records}}`` of the finished trials, in config order."""
        out: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for t in self.trials:
            if t.finished:
                out.setdefault(t.variant, {})[t.seed] = t.records
        return out

    def trial(self, variant: str, seed: int) -> TrialResult:
        for t in self.trials:
            if t.variant == variant and t.seed == seed:
                return t
        raise InvalidArgument(f"No trial {variant}/seed-{seed} in experiment {self.name!r}.")

    def table(self, fmt: str = "markdown") -> str:
        """The comparison table as text (``markdown``, ``csv`` or ``text``)."""
        if self.comparison is None:
            return "(no finished trial to compare)\n"
        return render(self.comparison, fmt)

    def _repr_html_(self) -> str:
        """Jupyter's view: curves per variant (mean ± std over seeds) and the comparison."""
        from lrlab._html import result_html
        from lrlab.analysis import table
        from lrlab.analysis.plot import plot_overview

        done = sum(t.finished for t in self.trials)
        head = f"experiment {self.name}: {done}/{len(self.trials)} trials finished"
        if self.comparison is None:
            return result_html(head, [("directory", self.dir)])
        headers, body = table.rows(self.comparison, compact=True)
        return result_html(
            head,
            body,
            headers=headers,
            notes=[table.title(self.comparison)],
            draw=lambda fig: plot_overview(self, fig=fig),
            size=(10.0, 7.0),
        )

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        return {
            "name": self.name,
            "dir": self.dir,
            "config": self.config,
            "fingerprint": self.fingerprint,
            "executor": self.executor,
            "elapsed": self.elapsed,
            "trials": [t.to_dict(records=records) for t in self.trials],
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExperimentResult:
        comp = d.get("comparison")
        return cls(
            name=str(d["name"]),
            dir=str(d["dir"]),
            config=dict(d["config"]),
            fingerprint=str(d["fingerprint"]),
            executor=str(d.get("executor", "")),
            trials=[TrialResult.from_dict(t) for t in d["trials"]],
            comparison=None if comp is None else Comparison.from_dict(comp),
            elapsed=float(d.get("elapsed", 0.0)),
        )

    @classmethod
    def load(cls, directory: str | Path) -> ExperimentResult:
        """An experiment directory's result, records read back from the trials' files."""
        root = Path(directory)
        path = root / SUMMARY_JSON
        if not path.is_file():
            raise InvalidArgument(
                f"{root} has no {SUMMARY_JSON}: not a finished lrlab experiment directory.",
                hint="Run `lrlab compare CONFIG.yaml` first (or re-run it to finish it).",
            )
        result = cls.from_dict(read_json(path))
        result.dir = str(root)
        for t in result.trials:
            t.dir = str(trial_dir(root, t.variant, t.seed))
            t.records = read_records(t.dir)  # validated: a damaged file is an error naming it
        return result
