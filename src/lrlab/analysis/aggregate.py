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
from dataclasses import dataclass

import numpy as np

from lrlab.analysis.measures import (
    Record,
    column,
    initial_plateau,
    loss_spikes,
    time_to_target,
)
from lrlab.analysis.summaries import Comparison, Stat, TrialSummary, VariantSummary
from lrlab.errors import InvalidArgument

__all__ = [
    "Band",
    "Comparison",
    "Stat",
    "TrialSummary",
    "VariantSummary",
    "band",
    "compare",
    "pick_metric",
    "summarize_trial",
    "summarize_variant",
]

TrialRecords = Mapping[str, Mapping[int, Sequence[Record]]]


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
