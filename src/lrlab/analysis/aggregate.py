"""Aggregation over seeds: per trial summaries, per variant mean ± std, the comparison.

Input: ``{variant: {seed: records}}`` — the epoch records of every trial, as read from
``records.jsonl``. Output: a :class:`Comparison` (a dataclass with ``to_dict``/``from_dict``)
holding one :class:`TrialSummary` per trial and one :class:`VariantSummary` per variant.

Conventions
-----------
* *final* = the last record's value; *best* = max (accuracy) / min (loss) over the records
  after training started (epoch ≥ 1; epoch 0 when the run has no trained epoch).
* mean ± std over seeds use the finite values only (a diverged run's NaN loss is left out of
  the mean and counted in ``diverged``); ``std`` is the sample standard deviation
  (``ddof = 1``), NaN for a single value.
* The target of time-to-target is ``target`` when given; otherwise the *control's* reach: the
  lowest of the control's per-seed best values, so that every control seed reaches it and the
  question becomes "how fast does each variant get where the control ends up?" (seed 000's
  "much faster than control").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrlab.analysis.measures import (
    Plateau,
    Reached,
    Record,
    Spike,
    column,
    initial_plateau,
    loss_spikes,
    time_to_target,
)
from lrlab.errors import InvalidArgument

TrialRecords = Mapping[str, Mapping[int, Sequence[Record]]]


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


def _best(values: np.ndarray, higher: bool) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan")
    return float(finite.max() if higher else finite.min())


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _last(values: np.ndarray) -> float:
    return float(values[-1]) if values.size else float("nan")


def _diverged(records: Sequence[Record]) -> bool:
    """A loss that is infinite, or present but null (JSON's NaN), means the run blew up."""
    for rec in records:
        for key in ("train_loss", "eval_loss"):
            if key not in rec or (key == "train_loss" and int(rec.get("epoch", 1)) == 0):
                continue  # the epoch-0 record has no training numbers
            value = rec[key]
            if value is None or not math.isfinite(float(value)):
                return True
    return False


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


@dataclass(frozen=True)
class Band:
    """A curve over seeds: at every ``x``, the mean and sample std of the seeds that have a
    value there (``n`` of them; ``std`` 0 when ``n`` is 1, so a band still draws)."""

    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def band(
    runs: Mapping[int, Sequence[Record]] | Sequence[Sequence[Record]],
    key: str,
    *,
    x: str = "epoch",
) -> Band:
    """Mean ± std of record field ``key`` over runs, aligned on record field ``x``
    (``"epoch"`` or ``"iteration"``). Runs of different lengths (a diverged seed) are
    aligned on their common ``x`` values; missing and non-finite values are left out."""
    seqs = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    by_x: dict[float, list[float]] = {}
    for records in seqs:
        for rec in records:
            xv, yv = rec.get(x), rec.get(key)
            if xv is None or yv is None or not math.isfinite(float(yv)):
                continue
            by_x.setdefault(float(xv), []).append(float(yv))
    xs = np.array(sorted(by_x), dtype=np.float64)
    mean = np.array([np.mean(by_x[v]) for v in xs], dtype=np.float64)
    std = np.array(
        [np.std(by_x[v], ddof=1) if len(by_x[v]) > 1 else 0.0 for v in xs], dtype=np.float64
    )
    n = np.array([len(by_x[v]) for v in xs], dtype=np.int64)
    return Band(xs, mean, std, n)


def pick_metric(trials: TrialRecords) -> tuple[str, str]:
    """``(metric, key)``: accuracy (or the first ``eval_<metric>``) if recorded, else the loss."""
    keys: set[str] = set()
    for by_seed in trials.values():
        for records in by_seed.values():
            for rec in records:
                keys.update(k for k, v in rec.items() if v is not None)
    prefix = "eval" if any(k.startswith("eval_") for k in keys) else "train"
    metrics = sorted(
        k[len(prefix) + 1 :] for k in keys if k.startswith(prefix + "_") and k != prefix + "_loss"
    )
    if "accuracy" in metrics:
        return "accuracy", f"{prefix}_accuracy"
    if metrics:
        return metrics[0], f"{prefix}_{metrics[0]}"
    return "loss", f"{prefix}_loss"


def summarize_trial(
    variant: str,
    seed: int,
    records: Sequence[Record],
    *,
    key: str = "eval_accuracy",
    higher_is_better: bool = True,
    target: float | None = None,
    chance: float | None = None,
    spike_threshold: float = 0.05,
    plateau_tol: float = 0.01,
) -> TrialSummary:
    """All the measures of one trial's records (see the module docstring for conventions)."""
    prefix = key.split("_", 1)[0]
    loss_key = f"{prefix}_loss"
    trained = [r for r in records if int(r.get("epoch", 0)) >= 1] or list(records)
    metric = column(trained, key)
    loss = column(trained, loss_key)
    epoch_times = column([r for r in records if int(r.get("epoch", 0)) >= 1], "epoch_time")
    elapsed = column(records, "elapsed")
    finite_elapsed = elapsed[np.isfinite(elapsed)]
    total = float(finite_elapsed.max()) if finite_elapsed.size else float(np.nansum(epoch_times))
    last = records[-1] if records else {}
    plateau = None
    if chance is not None and key.endswith("accuracy"):
        plateau = initial_plateau(records, chance, key=key, tol=plateau_tol)
    return TrialSummary(
        variant=variant,
        seed=int(seed),
        epochs=int(last.get("epoch", 0)),
        iterations=None if last.get("iteration") is None else int(last["iteration"]),
        final_metric=_last(metric),
        best_metric=_best(metric, higher_is_better),
        final_loss=_last(loss),
        best_loss=_best(loss, higher=False),
        mean_epoch_time=_mean(epoch_times),
        total_time=total,
        diverged=_diverged(records),
        reached=None
        if target is None
        else time_to_target(records, target, key=key, higher_is_better=higher_is_better),
        eval_spikes=tuple(loss_spikes(records, key="eval_loss", threshold=spike_threshold)),
        train_spikes=tuple(loss_spikes(records, key="train_loss", threshold=spike_threshold)),
        plateau=plateau,
    )


def _control_target(
    trials: TrialRecords, control: str, key: str, higher_is_better: bool
) -> float | None:
    bests = []
    for records in trials[control].values():
        trained = [r for r in records if int(r.get("epoch", 0)) >= 1] or list(records)
        best = _best(column(trained, key), higher_is_better)
        if math.isfinite(best):
            bests.append(best)
    if not bests:
        return None
    # The weakest seed's best: every control seed reaches it.
    return min(bests) if higher_is_better else max(bests)


def summarize_variant(name: str, summaries: Sequence[TrialSummary]) -> VariantSummary:
    """Mean ± std over seeds of one variant's trial summaries."""
    reached = [s.reached for s in summaries if s.reached is not None]
    spikes = [float(len(s.eval_spikes)) for s in summaries]
    sizes = [sp.size for s in summaries for sp in s.eval_spikes]
    plateaus = [s.plateau.epochs for s in summaries if s.plateau is not None]
    return VariantSummary(
        name=name,
        seeds=tuple(s.seed for s in summaries),
        final_metric=Stat.of([s.final_metric for s in summaries]),
        best_metric=Stat.of([s.best_metric for s in summaries]),
        final_loss=Stat.of([s.final_loss for s in summaries]),
        best_loss=Stat.of([s.best_loss for s in summaries]),
        epoch_time=Stat.of([s.mean_epoch_time for s in summaries]),
        total_time=Stat.of([s.total_time for s in summaries]),
        epochs_to_target=Stat.of([r.epoch for r in reached]),
        iterations_to_target=Stat.of([r.iteration for r in reached]),
        time_to_target=Stat.of([r.elapsed for r in reached]),
        reached=len(reached),
        spikes=Stat.of(spikes),
        max_spike=float(max(sizes)) if sizes else float("nan"),
        plateau_epochs=Stat.of(plateaus),
        diverged=sum(s.diverged for s in summaries),
    )


def compare(
    trials: TrialRecords,
    *,
    metric: str | None = None,
    target: float | None = None,
    control: str | None = None,
    chance: float | None = None,
    spike_threshold: float = 0.05,
    plateau_tol: float = 0.01,
) -> Comparison:
    """Summarize ``{variant: {seed: records}}`` into a :class:`Comparison`.

    ``metric``: the metric compared (default: accuracy when recorded, else the first metric,
    else the loss); ``target``: the time-to-target level (default: the control's reach, see
    the module docstring); ``control``: the control variant (default: the first one);
    ``chance``: the majority-class accuracy for the plateau measure (none when ``None``).
    """
    if not trials:
        raise InvalidArgument("No trials to compare.", hint="Run the experiment first.")
    names = list(trials)
    control = names[0] if control is None else control
    if control not in trials:
        raise InvalidArgument(f"control={control!r} is not one of the variants {names}.")
    if metric is None:
        metric, key = pick_metric(trials)
    else:
        key = metric if metric.startswith(("eval_", "train_")) else f"eval_{metric}"
        metric = key.split("_", 1)[1]
    from lrlab.metrics import HIGHER_IS_BETTER  # here: lrlab.metrics imports torch

    higher = metric in HIGHER_IS_BETTER
    source: str | None = "given"
    if target is None:
        target = _control_target(trials, control, key, higher)
        source = None if target is None else "control"
    summaries = {
        name: [
            summarize_trial(
                name,
                seed,
                records,
                key=key,
                higher_is_better=higher,
                target=target,
                chance=chance,
                spike_threshold=spike_threshold,
                plateau_tol=plateau_tol,
            )
            for seed, records in sorted(by_seed.items())
        ]
        for name, by_seed in trials.items()
    }
    return Comparison(
        metric=metric,
        key=key,
        higher_is_better=higher,
        target=target,
        target_source=source,
        control=control,
        spike_threshold=spike_threshold,
        chance=chance,
        variants=tuple(summarize_variant(n, s) for n, s in summaries.items()),
        trials=tuple(t for s in summaries.values() for t in s),
    )
