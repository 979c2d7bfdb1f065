"""The results of an aggregation (plain data with ``to_dict`` / ``from_dict``): a
:class:`Stat` (mean ± std over seeds), a :class:`TrialSummary` per trial, a
:class:`VariantSummary` per variant, and the :class:`Comparison` holding them
(:func:`lrlab.analysis.aggregate.compare` computes it; its conventions are documented there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrlab.analysis.measures import Plateau, Reached, Spike
from lrlab.errors import InvalidArgument


@dataclass(frozen=True)
class Stat:
    """Mean ± sample std of the finite values among ``values`` (``n`` of them)."""

    mean: float
    std: float
    n: int
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        raw = tuple(float("nan") if v is None else float(v) for v in values)
        finite = np.array([v for v in raw if math.isfinite(v)], dtype=np.float64)
        if finite.size == 0:
            return cls(float("nan"), float("nan"), 0, raw)
        std = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
        return cls(float(finite.mean()), std, int(finite.size), raw)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Stat:
        def num(v: Any) -> float:
            return float("nan") if v is None else float(v)

        return cls(num(d["mean"]), num(d["std"]), int(d["n"]), tuple(num(v) for v in d["values"]))


@dataclass(frozen=True)
class TrialSummary:
    """The numbers of one trial (one variant, one seed)."""

    variant: str
    seed: int
    epochs: int
    iterations: int | None
    final_metric: float
    best_metric: float
    final_loss: float
    best_loss: float
    mean_epoch_time: float
    total_time: float
    diverged: bool
    reached: Reached | None
    eval_spikes: tuple[Spike, ...]
    train_spikes: tuple[Spike, ...]
    plateau: Plateau | None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["reached"] = None if self.reached is None else self.reached.to_dict()
        d["eval_spikes"] = [s.to_dict() for s in self.eval_spikes]
        d["train_spikes"] = [s.to_dict() for s in self.train_spikes]
        d["plateau"] = None if self.plateau is None else self.plateau.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSummary:
        def num(v: Any) -> float:
            return float("nan") if v is None else float(v)

        return cls(
            variant=str(d["variant"]),
            seed=int(d["seed"]),
            epochs=int(d["epochs"]),
            iterations=None if d.get("iterations") is None else int(d["iterations"]),
            final_metric=num(d["final_metric"]),
            best_metric=num(d["best_metric"]),
            final_loss=num(d["final_loss"]),
            best_loss=num(d["best_loss"]),
            mean_epoch_time=num(d["mean_epoch_time"]),
            total_time=num(d["total_time"]),
            diverged=bool(d["diverged"]),
            reached=None if d.get("reached") is None else Reached.from_dict(d["reached"]),
            eval_spikes=tuple(Spike.from_dict(s) for s in d.get("eval_spikes", [])),
            train_spikes=tuple(Spike.from_dict(s) for s in d.get("train_spikes", [])),
            plateau=None if d.get("plateau") is None else Plateau.from_dict(d["plateau"]),
        )


@dataclass(frozen=True)
class VariantSummary:
    """One variant over its seeds: every measure as a :class:`Stat`."""

    name: str
    seeds: tuple[int, ...]
    final_metric: Stat
    best_metric: Stat
    final_loss: Stat
    best_loss: Stat
    epoch_time: Stat
    total_time: Stat
    epochs_to_target: Stat
    iterations_to_target: Stat
    time_to_target: Stat
    reached: int
    spikes: Stat
    max_spike: float
    plateau_epochs: Stat
    diverged: int

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            d[k] = v.to_dict() if isinstance(v, Stat) else (list(v) if k == "seeds" else v)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VariantSummary:
        kwargs: dict[str, Any] = {}
        for k, f in cls.__dataclass_fields__.items():
            v = d[k]
            if f.type in ("Stat", Stat):
                kwargs[k] = Stat.from_dict(v)
            elif k == "seeds":
                kwargs[k] = tuple(int(s) for s in v)
            elif k == "max_spike":
                kwargs[k] = float("nan") if v is None else float(v)
            else:
                kwargs[k] = v
        return cls(**kwargs)


@dataclass(frozen=True)
class Comparison:
    """Everything the comparison table and figures show.

    ``metric``: the metric compared (``"accuracy"``, or ``"loss"`` when records have no
    metric); ``key``: the record field it was read from (``eval_accuracy``);
    ``target``/``target_source``: the time-to-target level and where it came from
    (``"given"`` or ``"control"``); ``control``: the control variant's name.
    """

    metric: str
    key: str
    higher_is_better: bool
    target: float | None
    target_source: str | None
    control: str | None
    spike_threshold: float
    chance: float | None
    variants: tuple[VariantSummary, ...]
    trials: tuple[TrialSummary, ...] = field(default=())

    def variant(self, name: str) -> VariantSummary:
        for v in self.variants:
            if v.name == name:
                return v
        raise InvalidArgument(
            f"No variant named {name!r}.", hint=f"Known: {[v.name for v in self.variants]}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "key": self.key,
            "higher_is_better": self.higher_is_better,
            "target": self.target,
            "target_source": self.target_source,
            "control": self.control,
            "spike_threshold": self.spike_threshold,
            "chance": self.chance,
            "variants": [v.to_dict() for v in self.variants],
            "trials": [t.to_dict() for t in self.trials],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Comparison:
        return cls(
            metric=str(d["metric"]),
            key=str(d["key"]),
            higher_is_better=bool(d["higher_is_better"]),
            target=None if d.get("target") is None else float(d["target"]),
            target_source=d.get("target_source"),
            control=d.get("control"),
            spike_threshold=float(d["spike_threshold"]),
            chance=None if d.get("chance") is None else float(d["chance"]),
            variants=tuple(VariantSummary.from_dict(v) for v in d["variants"]),
            trials=tuple(TrialSummary.from_dict(t) for t in d.get("trials", [])),
        )
