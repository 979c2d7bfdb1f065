"""``FitResult``: what ``fit`` returns (and what ``lrlab train`` saves as ``summary.json``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lrlab.stops as stops
from lrlab._io import read_json, write_json
from lrlab.metrics import HIGHER_IS_BETTER

STOP_REASONS = stops.FIT

# Record fields that are bookkeeping, not measurements.
_NOT_MEASURED = {"epoch_time", "eval_time"}


@dataclass
class FitResult:
    """The outcome of one ``fit`` call.

    - ``records``: one dict per epoch (epoch 0 = evaluation before training, when eval data
      was given), the same rows as ``records.jsonl``;
    - ``stop_reason``: ``"completed"`` (budget reached), ``"diverged"`` (non-finite loss),
      ``"callback"`` (a callback asked to stop) or ``"interrupted"`` (Ctrl-C);
      ``message`` says the same in words (empty when completed);
    - ``epochs`` (last epoch with a record), ``iterations`` (optimizer updates done),
      ``elapsed`` (seconds, across resumes); ``config``: the settings of the run;
    - derived: :attr:`final` (the last record) and :attr:`best` (best value of every
      train/eval measurement and the epoch it happened).
    """

    records: list[dict[str, Any]]
    stop_reason: str
    message: str = ""
    epochs: int = 0
    iterations: int = 0
    elapsed: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    out_dir: str | None = None

    @property
    def final(self) -> dict[str, Any]:
        """The last record (``{}`` when there is none)."""
        return dict(self.records[-1]) if self.records else {}

    @property
    def best(self) -> dict[str, dict[str, Any]]:
        """``{field: {"value": v, "epoch": e}}`` for every ``train_*`` / ``eval_*`` field:
        the maximum for accuracy-like metrics (``lrlab.metrics.HIGHER_IS_BETTER``), the
        minimum otherwise. Missing and non-finite values are ignored; ties keep the earliest
        epoch."""
        out: dict[str, dict[str, Any]] = {}
        for record in self.records:
            for key, value in record.items():
                if not key.startswith(("train_", "eval_")) or key in _NOT_MEASURED:
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if not math.isfinite(value):
                    continue
                higher = key.split("_", 1)[1] in HIGHER_IS_BETTER
                current = out.get(key)
                better = current is None or (
                    value > current["value"] if higher else value < current["value"]
                )
                if better:
                    out[key] = {"value": float(value), "epoch": record.get("epoch")}
        return out

    def history(self, key: str) -> list[float]:
        """The values of one record field over epochs (NaN where missing)."""
        values = [r.get(key) for r in self.records]
        return [math.nan if v is None else float(v) for v in values]

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": [dict(r) for r in self.records],
            "stop_reason": self.stop_reason,
            "message": self.message,
            "epochs": self.epochs,
            "iterations": self.iterations,
            "elapsed": self.elapsed,
            "config": dict(self.config),
            "out_dir": self.out_dir,
            "final": self.final,
            "best": self.best,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitResult:
        """Inverse of :meth:`to_dict` (``final`` / ``best`` are recomputed)."""
        return cls(
            records=[dict(r) for r in d.get("records", [])],
            stop_reason=str(d["stop_reason"]),
            message=str(d.get("message", "")),
            epochs=int(d.get("epochs", 0)),
            iterations=int(d.get("iterations", 0)),
            elapsed=float(d.get("elapsed", 0.0)),
            config=dict(d.get("config", {})),
            out_dir=d.get("out_dir"),
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: loss, accuracy, LR and momentum per epoch (the report's overview
        of one run) and each measurement's last and best value."""
        from lrlab._html import result_html
        from lrlab.analysis.plot import plot_overview

        runs = {"fit": {0: self.records}}
        last, best = self.final, self.best
        rows = [(k, last.get(k), b["value"], b["epoch"]) for k, b in best.items()]
        title = f"fit: {self.epochs} epochs, {self.iterations} updates, {self.stop_reason}"
        return result_html(
            f"{title} ({self.elapsed:.1f} s)",
            rows,
            headers=["measurement", "last epoch", "best", "at epoch"],
            notes=[self.message] if self.message else [],
            draw=(lambda fig: plot_overview(runs, fig=fig)) if self.records else None,
            size=(10.0, 7.0),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON (atomically)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FitResult:
        return cls.from_dict(read_json(path))
