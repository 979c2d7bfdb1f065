"""``ScanResult``: the loss (and metrics) after each horizon for each learning rate.

Cells are indexed ``[h][k]``: horizon ``horizons[h]``, learning rate ``lrs[k]``. ``losses``
holds the evaluation loss where the cell's status is ``"ok"`` and NaN elsewhere;
``raw_losses`` keeps what was measured also for stopped cells (so a plot can show how far
above the threshold they went); ``status`` says why a cell is empty (``"stopped"``: above
``stop_factor`` × the initial loss, here or at an earlier horizon; ``"diverged"``:
non-finite; ``"not run"``: never reached).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lrlab import _io
from lrlab.errors import InvalidArgument
from lrlab.metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class Best:
    """The best learning rate at one horizon, with its tolerance band.

    ``low``..``high`` is the contiguous run of LRs around the best whose value is within
    ``tolerance`` (relative) of the best value: ``v ≤ best + tolerance·|best|`` for a loss,
    ``v ≥ best − tolerance·|best|`` for a higher-is-better metric. ``lr`` is NaN when every
    cell of the horizon is empty.
    """

    horizon: int
    lr: float
    value: float
    low: float
    high: float
    index: int
    metric: str = "loss"
    tolerance: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_in_row(
    lrs: np.ndarray, values: np.ndarray, *, higher_is_better: bool, tolerance: float
) -> tuple[int, float, float, float]:
    """``(index, value, low_lr, high_lr)`` of the best finite value of ``values``.

    Pure: ``values`` is one horizon's row (NaN = empty cell). Returns index ``-1`` and NaNs
    when the row has no finite value.
    """
    finite = np.isfinite(values)
    if not finite.any():
        return -1, math.nan, math.nan, math.nan
    masked = np.where(finite, values, -np.inf if higher_is_better else np.inf)
    i = int(np.argmax(masked) if higher_is_better else np.argmin(masked))
    best = float(values[i])
    margin = tolerance * abs(best)
    ok = finite & ((values >= best - margin) if higher_is_better else (values <= best + margin))
    lo = hi = i
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    while hi < len(values) - 1 and ok[hi + 1]:
        hi += 1
    return i, best, float(lrs[lo]), float(lrs[hi])


@dataclass
class ScanResult:
    """The look-ahead scan (see :func:`lrlab.scan`): LR × horizon grid of outcomes."""

    lrs: list[float]
    horizons: list[int]
    unit: str
    losses: list[list[float]]
    raw_losses: list[list[float]]
    status: list[list[str]]
    initial_loss: float
    stop_factor: float | None = 1.1
    stop_threshold: float | None = None
    metrics: dict[str, list[list[float]]] = field(default_factory=dict)
    initial_metrics: dict[str, float] = field(default_factory=dict)
    method: str = "batched"
    complete: bool = True
    elapsed: float = math.nan
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # -- reading the result ----------------------------------------------------------------

    def values(self, metric: str = "loss") -> np.ndarray:
        """``[H, K]`` array of ``metric`` (``"loss"`` or a metric name); NaN = empty cell."""
        if metric == "loss":
            return np.asarray(self.losses, dtype=float)
        if metric not in self.metrics:
            raise InvalidArgument(
                f"metric={metric!r} was not measured by this scan.",
                hint=f"Measured: {['loss', *self.metrics]}.",
            )
        raw = np.asarray(self.metrics[metric], dtype=float)
        return np.where(np.asarray(self.status) == "ok", raw, np.nan)

    def best(
        self,
        horizon: int | None = None,
        *,
        metric: str = "loss",
        tolerance: float = 0.05,
        higher_is_better: bool | None = None,
    ) -> Best | list[Best]:
        """The best LR at ``horizon`` (a value of ``horizons``), or a list for every horizon.

        ``tolerance`` (relative, e.g. 0.05 = 5 %) sets the band ``low..high`` of LRs that do
        about as well. Accuracy-like metrics are maximised (``lrlab.metrics.HIGHER_IS_BETTER``).
        """
        if not tolerance >= 0:
            raise InvalidArgument(f"{tolerance=} must be >= 0.")
        if higher_is_better is None:
            higher_is_better = metric in HIGHER_IS_BETTER
        table = self.values(metric)
        lrs = np.asarray(self.lrs, dtype=float)

        def one(h_index: int) -> Best:
            i, value, low, high = best_in_row(
                lrs, table[h_index], higher_is_better=higher_is_better, tolerance=tolerance
            )
            return Best(
                horizon=self.horizons[h_index],
                lr=float(lrs[i]) if i >= 0 else math.nan,
                value=value,
                low=low,
                high=high,
                index=i,
                metric=metric,
                tolerance=tolerance,
            )

        if horizon is None:
            return [one(h) for h in range(len(self.horizons))]
        if horizon not in self.horizons:
            raise InvalidArgument(
                f"horizon={horizon} is not one of the scanned horizons {self.horizons}."
            )
        return one(self.horizons.index(horizon))

    @property
    def best_lr(self) -> dict[int, float]:
        """``{horizon: best LR by loss}`` (NaN where a horizon has no valid cell)."""
        return {b.horizon: b.lr for b in self.best()}  # type: ignore[union-attr]

    def summary(self, tolerance: float = 0.05) -> str:
        """A few lines: the best LR and its band per horizon."""
        lines = [
            f"look-ahead scan: {len(self.lrs)} LRs × horizons {self.horizons} {self.unit}, "
            f"initial loss {self.initial_loss:.4g} ({self.method})"
        ]
        for b in self.best(tolerance=tolerance):  # type: ignore[union-attr]
            unit = self.unit.rstrip("s") if b.horizon == 1 else self.unit
            if math.isnan(b.lr):
                lines.append(f"  {b.horizon:>5} {unit}: no LR stayed below the threshold")
            else:
                lines.append(
                    f"  {b.horizon:>5} {unit}: best lr {b.lr:.3g} (loss {b.value:.4g}), "
                    f"within {tolerance:.0%}: {b.low:.3g} .. {b.high:.3g}"
                )
        if not self.complete:
            lines.append("  (interrupted: empty cells were not run)")
        return "\n".join(lines)

    # -- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["best"] = [b.to_dict() for b in self.best()]  # type: ignore[union-attr]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanResult:
        def grid(rows: Any) -> list[list[float]]:
            return [_io.floats(r) for r in rows or []]

        return cls(
            lrs=_io.floats(d["lrs"]),
            horizons=[int(h) for h in d["horizons"]],
            unit=str(d["unit"]),
            losses=grid(d["losses"]),
            raw_losses=grid(d.get("raw_losses", d["losses"])),
            status=[list(r) for r in d["status"]],
            initial_loss=_nan(d["initial_loss"]),
            stop_factor=d.get("stop_factor"),
            stop_threshold=d.get("stop_threshold"),
            metrics={k: grid(v) for k, v in (d.get("metrics") or {}).items()},
            initial_metrics={k: _nan(v) for k, v in (d.get("initial_metrics") or {}).items()},
            method=d.get("method", "batched"),
            complete=bool(d.get("complete", True)),
            elapsed=_nan(d.get("elapsed")),
            config=dict(d.get("config") or {}),
            notes=list(d.get("notes") or []),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomic); non-finite numbers become ``null``."""
        return _io.write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ScanResult:
        return cls.from_dict(_io.read_json(path))

    # -- figures ---------------------------------------------------------------------------

    def plot(self, *, metric: str = "loss", tolerance: float = 0.05, axes: Any = None) -> Any:
        """One panel per horizon (LR on a log axis), as seed 003's 2×2 grid; returns
        ``(figure, axes)``. See :func:`lrlab.scanning.plots.plot_scan`."""
        from lrlab.scanning.plots import plot_scan

        return plot_scan(self, metric=metric, tolerance=tolerance, axes=axes)

    def heatmap(self, *, metric: str = "loss", ax: Any = None) -> Any:
        """LR × horizon heat map; returns ``(figure, axes)``. See
        :func:`lrlab.scanning.plots.heatmap_scan`."""
        from lrlab.scanning.plots import heatmap_scan

        return heatmap_scan(self, metric=metric, ax=ax)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)
