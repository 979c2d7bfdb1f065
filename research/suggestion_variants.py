"""Candidate changes of lrlab's suggestion rule, scored on the stored benchmark curves.

Research, not the library and not a benchmark: each variant in :data:`RULE_VARIANTS` is a
hypothesis about where the best one-cycle max LR sits on a range-test curve (a step to the
left, the first LR at the bottom, a shift by the uncertainty or by the rise's slowness,
regimes of the curve, other aggregations of the consensus's votes, a wider smoother). Every
stored robustness sweep of the committed full runs of ``benchmarks/suggestion_quality.py``
(listed and held-out tasks: ``benchmarks/results/suggestion_quality*.json``) goes through
lrlab's suggestion and through each variant; the regret of each suggestion is read off the
oracle curves (no training, ~1 min). ``--noise`` adds how much one training varies at max LRs
within ±2 % of the oracle's (how small a regret 3 seeds can resolve; trainings cached like the
benchmark's). ``docs/suggestions.md`` (round two) reads the table: no variant is shipped.

    .venv/bin/python research/suggestion_variants.py                       # the table
    .venv/bin/python research/suggestion_variants.py --noise --update-md   # ... and BENCHMARKS.md
    .venv/bin/python research/suggestion_variants.py --quick               # smoke run

Writes ``benchmarks/out/suggestion_quality_variants.json`` and ``.md`` beside it; with
``--update-md`` its BENCHMARKS.md section and ``benchmarks/results/suggestion_quality_variants
.json``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The benchmark's helpers (its stored results, cache and training jobs) live beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import suggestion_quality as quality
from _common import (
    OUT_DIR,
    RESULTS_DIR,
    fmt,
    markdown_table,
    provenance,
    provenance_line,
    publish,
    set_single_thread,
    write_report,
)

NAME = "suggestion_variants"
SECTION = f"{quality.NAME}_variants"  # its BENCHMARKS.md section and results file


# --- stored curves, prepared for every candidate rule (pure) -----------------------------------
#
# The script reads the raw results of full runs (listed and held-out tasks), puts every stored
# range test through lrlab's suggestion and through each candidate rule below, and reads the
# regret of each suggestion off the oracle curves: no training, ~1 min. ``--noise`` adds the
# resolution of the regret itself (trainings at the oracle LR ± 1–2 %, cached like the others).

STORED_RESULTS = (
    RESULTS_DIR / f"{quality.NAME}.json",
    RESULTS_DIR / f"{quality.NAME}_held-out.json",
)
# The defaults of lrlab.suggest.suggest that the views below reproduce.
_TRIM, _N_BOOT = 0.15, 24
NOISE_OFFSETS = (-0.02, -0.01, 0.01, 0.02)


@dataclass(frozen=True)
class CurveView:
    """One stored range test, prepared once for every candidate rule: the raw curve, lrlab's
    suggestion, the log-LR smoothed curve (``x = log10 lr``, width ``h``), the perturbed curves
    the consensus's members vote on (:func:`lrlab.suggest.consensus.perturbed_fits`), the
    bootstrap resamples (:func:`~lrlab.suggest.consensus.bootstrap_fits`) and the standard
    error of the smoothed curve (``σ/√k``, as the ``never-descends`` flag computes it)."""

    lrs: np.ndarray
    losses: np.ndarray
    suggestion: Any
    x: np.ndarray
    fit: np.ndarray
    h: float
    perturbed: list[tuple[np.ndarray, np.ndarray]]
    boot: np.ndarray
    se: float


def curve_view(lrs: Sequence[float], losses: Sequence[float]) -> CurveView | None:
    """A :class:`CurveView`, or ``None`` where lrlab gives no suggestion (no rule is scored
    there: a variant changes how a suggestion is made, not whether)."""
    from lrlab.suggest import suggest
    from lrlab.suggest.consensus import bootstrap_fits, perturbed_fits
    from lrlab.suggest.curve import bandwidth, noise_scale, prepare, smooth_log

    s = suggest(lrs, losses)
    curve = prepare(lrs, losses)
    if s.lr is None or curve.n < 5:
        return None
    h = bandwidth(curve.x)
    fit, _ = smooth_log(curve.x, curve.losses, h)
    spacing = float(np.median(np.diff(curve.x)))
    se = noise_scale(curve.losses, fit) / math.sqrt(max(1.0, 2 * h / spacing))
    return CurveView(
        lrs=np.asarray(lrs, dtype=np.float64),
        losses=np.asarray(losses, dtype=np.float64),
        suggestion=s,
        x=curve.x,
        fit=fit,
        h=h,
        perturbed=perturbed_fits(curve, h, _TRIM),
        boot=bootstrap_fits(curve, fit, h, _N_BOOT),
        se=se,
    )


def first_below(x: np.ndarray, y: np.ndarray, above_min: float) -> float | None:
    """The lowest ``x`` (interpolated) at or before the minimum where ``y ≤ min y + above_min``:
    where the curve first reaches its bottom. ``None`` without a descent."""
    i = int(np.argmin(y))
    if i == 0 or y[0] <= y[i]:
        return None
    level = y[i] + above_min
    j = int(np.argmax(y[: i + 1] <= level))
    if j == 0:
        return float(x[0])
    t = (y[j - 1] - level) / (y[j - 1] - y[j]) if y[j - 1] != y[j] else 1.0
    return float(x[j - 1] + min(max(t, 0.0), 1.0) * (x[j] - x[j - 1]))


def _first_row(x: np.ndarray, y: np.ndarray, rule: str, **params: float) -> float | None:
    """lrlab's ``rule`` (divisor 1) on the one curve ``y`` at ``x = log10 lr``."""
    from lrlab.suggest.rules import edge_rows, minimum_rows

    rows = {"minimum": minimum_rows, "edge": edge_rows}[rule]
    ok, lr = rows(x, y[None, :], divisor=1.0, **params)
    return float(lr[0]) if ok[0] else None


def bottom_centre(x: np.ndarray, y: np.ndarray, frac: float = 0.25) -> float | None:
    """Vertex of a parabola fitted to the contiguous bottom region ``y ≤ min + frac·drop``
    (the minimum's vertex when that region has fewer than 5 points or is not convex)."""
    i = int(np.argmin(y))
    drop = y[0] - y[i]
    if i == 0 or drop <= 0:
        return None
    inside = y <= y[i] + frac * drop
    lo, hi = i, i
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    while hi < y.size - 1 and inside[hi + 1]:
        hi += 1
    vertex = _first_row(x, y, "minimum")
    if hi - lo < 4:
        return None if vertex is None else math.log10(vertex)
    a, b, _ = np.polyfit(x[lo : hi + 1], y[lo : hi + 1], 2)
    if a <= 0:
        return None if vertex is None else math.log10(vertex)
    return float(np.clip(-b / (2 * a), x[lo], x[hi]))


def _rows(view: CurveView) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every perturbed curve as ``(x, y)``."""
    return [(x, row) for x, fits in view.perturbed for row in fits]


def _capped(view: CurveView, lr: float) -> float:
    """lrlab's cap for a window that stops while the loss still falls (``end_lr / 2``)."""
    if any(f.startswith("still-falling") for f in view.suggestion.flags):
        return min(lr, 10 ** float(view.x[-1]) / 2.0)
    return lr


def _votes(view: CurveView) -> np.ndarray:
    from lrlab.suggest.members import member_votes

    return np.array([v for x, fits in view.perturbed for row in member_votes(x, fits) for v in row])


def _median_of(view: CurveView, landmark: Callable[[np.ndarray, np.ndarray], float | None]):
    """``10^median`` of a log10 landmark over the perturbed curves (capped as lrlab is)."""
    votes = [v for x, y in _rows(view) if (v := landmark(x, y)) is not None]
    return _capped(view, 10 ** float(np.median(votes))) if votes else None


def _scaled(k: float) -> Callable[[CurveView], float | None]:
    return lambda view: view.suggestion.lr * k


def _first_at_bottom(frac: float) -> Callable[[CurveView], float | None]:
    """Hypothesis 1: the first LR whose smoothed loss is within ``frac`` of the drop from the
    minimum."""
    return lambda view: _median_of(
        view, lambda x, y: first_below(x, y, frac * float(y[0] - y.min()))
    )


def _first_within_se(c: float) -> Callable[[CurveView], float | None]:
    """Hypothesis 1 with the tolerance in standard errors of the smoothed curve: the lowest LR
    statistically indistinguishable from the minimum (the one-standard-error rule of model
    selection, Breiman et al. 1984; Hastie et al., ESL §7.10)."""
    return lambda view: _median_of(view, lambda x, y: first_below(x, y, c * view.se))


def _at_most(rule: Callable[[CurveView], float | None]) -> Callable[[CurveView], float | None]:
    def capped(view: CurveView) -> float | None:
        other = rule(view)
        return view.suggestion.lr if other is None else min(view.suggestion.lr, other)

    return capped


def _width_shift(lam: float, source: str) -> Callable[[CurveView], float | None]:
    """Hypothesis 2: left of the suggestion by ``lam`` × the log-width of its uncertainty —
    ``[low, high]`` (``"range"``) or the interquartile range of the votes (``"votes"``)."""

    def shifted(view: CurveView) -> float | None:
        s = view.suggestion
        if source == "range":
            width = math.log10(s.high / s.low)
        else:
            q25, q75 = np.percentile(_votes(view), [25, 75])
            width = float(q75 - q25)
        return s.lr * 10 ** (-lam * width)

    return shifted


def _rise_shift(rise: float, r0: float, mu: float) -> Callable[[CurveView], float | None]:
    """Hypothesis 3: left of the suggestion by ``mu × max(0, r − r0)`` decades, with ``r`` the
    distance (decades, median over the perturbed curves) from the minimum to where the loss
    has climbed back ``rise`` of its drop: a gentle rise moves the suggestion left."""

    def shifted(view: CurveView) -> float | None:
        dists = []
        for x, y in _rows(view):
            e, m = _first_row(x, y, "edge", rise=rise), _first_row(x, y, "minimum")
            if e is not None and m is not None:
                dists.append(math.log10(e / m))
        if not dists:
            return view.suggestion.lr
        return view.suggestion.lr * 10 ** (-mu * max(0.0, float(np.median(dists)) - r0))

    return shifted


def _low_rise(k: float) -> Callable[[CurveView], float | None]:
    """× ``k`` where the loss climbs back less than its drop after the minimum (``rise_height``
    of :func:`curve_features` < 1: a plateau, e.g. a network of dead units with a constant
    output, rather than a divergence)."""

    def scaled(view: CurveView) -> float | None:
        low = curve_features(view)["rise_height"] < 1.0
        return view.suggestion.lr * (k if low else 1.0)

    return scaled


def _plateau_below_start(k: float) -> Callable[[CurveView], float | None]:
    """× ``k`` where the loss, after its minimum, climbed back between a quarter and all of
    its drop and then stayed there for ≥ 0.3 decade of LR (a plateau below the starting loss,
    not a window that ends during the rise)."""

    def scaled(view: CurveView) -> float | None:
        f = curve_features(view)
        plateau = 0.25 < f["rise_height"] < 1.0 and f["plateau"] >= 0.3
        return view.suggestion.lr * (k if plateau else 1.0)

    return scaled


def hodges_lehmann(v: np.ndarray) -> float:
    """Median of the pairwise means ``(v_i + v_j)/2, i ≤ j`` (Hodges & Lehmann 1963)."""
    w = (v[:, None] + v[None, :]) / 2
    return float(np.median(w[np.triu_indices(v.size)]))


def _aggregate(fn: Callable[[np.ndarray], float]) -> Callable[[CurveView], float | None]:
    """The same votes as lrlab's, combined by ``fn`` instead of the median."""
    return lambda view: _capped(view, 10 ** fn(np.sort(_votes(view))))


def _families(view: CurveView) -> float | None:
    """The members grouped by what they read — the minimum, the rise (the three edges, their
    median), the descent (steepest) — one vote per group and perturbed curve."""
    from lrlab.suggest.members import MEMBERS

    votes = []
    for x, y in _rows(view):
        lrs = 10**x
        edges = [v for n in ("edge10/1.7", "edge25/2.3", "edge50/3.3") if (v := MEMBERS[n](lrs, y))]
        for v in (MEMBERS["minimum"](lrs, y), MEMBERS["steepest*3.3"](lrs, y)):
            if v:
                votes.append(math.log10(v))
        if edges:
            votes.append(math.log10(float(np.median(edges))))
    return _capped(view, 10 ** float(np.median(votes))) if votes else None


def _centre_member(view: CurveView) -> float | None:
    """lrlab's members with the minimum replaced by the centre of the bottom
    (:func:`bottom_centre`, a parabola fitted where the loss is within 25 % of the drop)."""
    from lrlab.suggest.members import MEMBERS

    votes = []
    for x, y in _rows(view):
        lrs = 10**x
        for name, member in MEMBERS.items():
            v = bottom_centre(x, y) if name == "minimum" else member(lrs, y)
            if v is not None:
                votes.append(v if name == "minimum" else math.log10(v))
    return _capped(view, 10 ** float(np.median(votes))) if votes else None


def _bandwidth(decades: float) -> Callable[[CurveView], float | None]:
    from lrlab.suggest import suggest

    return lambda view: suggest(view.lrs, view.losses, decades=decades).lr


# name -> (rule, what it tests). The first is the reference every other is compared with.
RULE_VARIANTS: dict[str, tuple[Callable[[CurveView], float | None], str]] = {
    "lrlab": (lambda view: view.suggestion.lr, "the rule (consensus, median of 25 votes)"),
    "lrlab × 0.7": (_scaled(0.7), "a constant step to the left"),
    "lrlab × 0.5": (_scaled(0.5), "a constant step to the left"),
    "first at bottom, 5 %": (_first_at_bottom(0.05), "H1: lowest LR within 5 % of the drop"),
    "first at bottom, 10 %": (_first_at_bottom(0.10), "H1, 10 %"),
    "min(lrlab, first at bottom 5 %)": (_at_most(_first_at_bottom(0.05)), "H1 as a cap"),
    "first within 1 SE": (_first_within_se(1.0), "H1, one-standard-error rule"),
    "first within 2 SE": (_first_within_se(2.0), "H1, two standard errors"),
    "− 0.2 × width [low, high]": (_width_shift(0.2, "range"), "H2: shift by the range"),
    "− 0.35 × IQR of votes": (_width_shift(0.35, "votes"), "H2: shift by the votes' spread"),
    "− (rise25 − 0.35)": (_rise_shift(0.25, 0.35, 1.0), "H3: shift by the rise's slowness"),
    "− 0.5 (rise50 − 0.5)": (_rise_shift(0.5, 0.5, 0.5), "H3, the 50 % rise"),
    "× 0.5 where rise height < 1": (_low_rise(0.5), "regime: the loss climbs back little"),
    "× 0.5 on a plateau below the start": (_plateau_below_start(0.5), "regime, refined"),
    "Hodges–Lehmann of votes": (_aggregate(hodges_lehmann), "aggregation"),
    "mean of votes": (_aggregate(lambda v: float(np.mean(v))), "aggregation"),
    "member groups": (_families, "aggregation: one vote per group of members"),
    "bottom centre for minimum": (_centre_member, "member: parabola over the bottom"),
    "smoothing 0.4 decade": (_bandwidth(0.4), "a wider smoother"),
}


def load_stored(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """The stored full runs: per task its kind, group (``listed`` / ``held-out``), robustness
    sweeps and, per seed, the oracle's grid curve and LR and every stored range test."""
    from lrlab._io import read_json

    tasks: dict[str, dict[str, Any]] = {}
    for path in paths:
        report = read_json(path)
        robust = [tuple(sw) for sw in report["robust_sweeps"]]
        for name, row in report["summary"].items():
            seeds = {
                int(s): {
                    "grid": {float(k): v for k, v in o["curve"].items()},
                    "oracle_lr": o["lr"],
                    "sweeps": {},
                }
                for s, o in row["oracle"]["per_seed"].items()
            }
            tasks[name] = {
                "kind": row["kind"],
                "group": "listed" if name in quality.SETTINGS else "held-out",
                "epochs": row["epochs"],
                "robust": robust,
                "seeds": seeds,
            }
        for sw in report["sweeps"]:
            losses = [math.nan if v is None else v for v in sw["lrlab"]["losses"]]
            seed = tasks[sw["task"]]["seeds"][sw["seed"]]
            seed["sweeps"][tuple(sw["sweep"])] = (sw["lrlab"]["lrs"], losses)
    return tasks


def _metric_scale(kind: str, value: float) -> float:
    """Accuracy in percentage points; MSE as log10 (a ratio of MSEs is a difference of logs)."""
    return 100.0 * value if kind == "classification" else math.log10(value)


def pooled_curve(task: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """The oracle curve averaged over seeds (accuracy in points, or log10 MSE) on the grid:
    ``(log10 lr, values, best value)``. Averaging the seeds' curves before reading a regret off
    them removes most of one training's noise (see ``--noise``) and the upward bias of each
    seed's oracle, the best of ~20 noisy values."""
    seeds = list(task["seeds"].values())
    lrs = sorted(seeds[0]["grid"])
    vals = np.mean(
        [[_metric_scale(task["kind"], s["grid"][lr]) for lr in lrs] for s in seeds], axis=0
    )
    best = float(vals.max() if task["kind"] == "classification" else vals.min())
    return np.log10(lrs), vals, best


def _regret_on(gx: np.ndarray, vals: np.ndarray, best: float, kind: str, lr: float) -> float:
    v = float(np.interp(math.log10(lr), gx, vals))
    return best - v if kind == "classification" else v - best


def curve_features(view: CurveView) -> dict[str, float]:
    """What one curve shows, in decades of LR from its minimum (``lr_min``): where the loss has
    climbed back 25 % of its drop (``rise25``), where it first reached its bottom (within 5 %
    of the drop, ``bottom5``, negative), the log-width of ``[low, high]``; how high the loss
    climbs back after the minimum, in units of the drop (``rise_height``), and over how many
    decades of LR the sweep went on after the loss had made 90 % of that climb
    (``plateau``: the loss stopped rising while the LR kept growing)."""
    s = view.suggestion
    lr_min = s.evidence["lr_min_loss"]
    edge = s.evidence["lr_edge"]
    i = int(np.argmin(view.fit))
    drop = float(view.fit[0] - view.fit[i])
    bottom = first_below(view.x, view.fit, 0.05 * drop)
    climb = view.fit[i:] - view.fit[i]
    j90 = i + int(np.argmax(climb >= 0.9 * climb.max()))
    return {
        "rise25": math.log10(edge / lr_min) if edge else math.nan,
        "bottom5": bottom - math.log10(lr_min) if bottom is not None else math.nan,
        "width": math.log10(s.high / s.low),
        "rise_height": float(climb.max()) / drop if drop > 0 else math.nan,
        "plateau": float(view.x[-1] - view.x[j90]),
    }


def score_variants(
    tasks: Mapping[str, Mapping[str, Any]],
    variants: Mapping[str, tuple[Callable[[CurveView], float | None], str]],
) -> dict[str, Any]:
    """Every variant on every stored robustness sweep: regret read off the seed-averaged oracle
    curve (``pooled``) and off the seed's own grid curve (``per_seed``, as the main report's
    interpolated regret), spread (max/min over a seed's sweeps, median over seeds), and the
    pooled regret's difference to the first variant per (task, seed), mean ± standard error
    over the (task, seed) pairs of each group."""
    ref = next(iter(variants))
    per_task: dict[str, Any] = {}
    units: dict[str, dict[tuple[str, int], float]] = {v: {} for v in variants}
    for name, task in tasks.items():
        kind = task["kind"]
        pooled = pooled_curve(task)
        rows: dict[str, dict[str, list[float]]] = {
            v: {"pooled": [], "per_seed": [], "spread": []} for v in variants
        }
        features: list[dict[str, float]] = []
        for seed, sd in task["seeds"].items():
            glr = sorted(sd["grid"])
            own = np.log10(glr), np.array([_metric_scale(kind, sd["grid"][g]) for g in glr])
            own_best = float(own[1].max() if kind == "classification" else own[1].min())
            views = [curve_view(*sd["sweeps"][sw]) for sw in task["robust"]]
            for view in views:
                if view is not None:
                    f = curve_features(view)
                    f["oracle/min"] = math.log10(
                        sd["oracle_lr"] / view.suggestion.evidence["lr_min_loss"]
                    )
                    features.append(f)
            for v, (rule, _) in variants.items():
                lrs = [rule(view) if view is not None else None for view in views]
                ok = [lr for lr in lrs if lr is not None and lr > 0]
                pooled_r = [_regret_on(*pooled, kind, lr) for lr in ok]
                rows[v]["pooled"] += pooled_r
                rows[v]["per_seed"] += [_regret_on(*own, own_best, kind, lr) for lr in ok]
                spread = max(ok) / min(ok) if ok and len(ok) == len(lrs) else math.inf
                rows[v]["spread"].append(spread)
                units[v][(name, seed)] = statistics.fmean(pooled_r) if pooled_r else math.nan
        per_task[name] = {
            "kind": kind,
            "group": task["group"],
            # medians over the curves (decades of LR; rise_height in drops)
            "features": {k: float(np.nanmedian([f[k] for f in features])) for k in features[0]}
            if features
            else {},
            "variants": {
                v: {
                    "pooled": statistics.fmean(r["pooled"]),
                    "per_seed": statistics.fmean(r["per_seed"]),
                    "spread": statistics.median(r["spread"]),
                }
                for v, r in rows.items()
            },
        }
    groups = {
        f"{kind} {group}": [
            t for t, row in per_task.items() if row["kind"] == kind and row["group"] == group
        ]
        for kind in ("classification", "regression")
        for group in ("listed", "held-out")
    }
    summary: dict[str, Any] = {}
    for v in variants:
        summary[v] = {"description": variants[v][1]}
        for g, names in groups.items():
            if not names:
                continue
            keys = [k for k in units[v] if k[0] in names]
            diffs = [units[v][k] - units[ref][k] for k in keys]
            se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
            summary[v][g] = {
                "pooled": statistics.fmean(per_task[t]["variants"][v]["pooled"] for t in names),
                "per_seed": statistics.fmean(per_task[t]["variants"][v]["per_seed"] for t in names),
                "diff": statistics.fmean(diffs),
                "diff_se": se,
                "spread": statistics.median(per_task[t]["variants"][v]["spread"] for t in names),
            }
    return {"reference": ref, "per_task": per_task, "summary": summary}


def noise_jobs(
    tasks: Mapping[str, Mapping[str, Any]], cache: quality.Cache
) -> tuple[dict[tuple[str, int, str], dict[str, Any]], list[tuple[Callable[..., Any], tuple]]]:
    """Trainings at each seed's oracle LR × (1 + d), d in :data:`NOISE_OFFSETS`: cached ones
    and jobs to run."""
    trainings: dict[tuple[str, int, str], dict[str, Any]] = {}
    jobs: list[tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]] = []
    for name, task in tasks.items():
        for seed, sd in task["seeds"].items():
            for d in NOISE_OFFSETS:
                lr = float(quality.lr_key(sd["oracle_lr"] * (1 + d)))
                quality.queue_training(name, seed, lr, task["epochs"], cache, trainings, jobs)
    return trainings, jobs


def training_noise(
    tasks: Mapping[str, Mapping[str, Any]], trainings: Mapping[tuple[str, int, str], Any]
) -> dict[str, Any]:
    """Per task: the standard deviation of one training's final metric (points of accuracy or
    log10 MSE) among max LRs within ±2 % of a seed's oracle LR — the same schedule, weights and
    batches; only the trajectory differs — pooled over seeds, and what it means for a mean over
    3 seeds."""
    out: dict[str, Any] = {}
    for name, task in tasks.items():
        devs, dof = 0.0, 0
        for seed, sd in task["seeds"].items():
            lrs = [sd["oracle_lr"] * (1 + d) for d in NOISE_OFFSETS]
            # Not the oracle's own value: it was picked as the best of the grid (biased up).
            vals = [
                _metric_scale(task["kind"], trainings[(name, seed, quality.lr_key(lr))]["final"])
                for lr in lrs
            ]
            devs += float(np.sum((np.array(vals) - np.mean(vals)) ** 2))
            dof += len(vals) - 1
        sd_one = math.sqrt(devs / dof)
        out[name] = {
            "kind": task["kind"],
            "sd_one_training": sd_one,
            "se_mean_of_3": sd_one / math.sqrt(3),
            "trainings": dof + len(task["seeds"]),
        }
    return out


def variants_markdown(scores: Mapping[str, Any], noise: Mapping[str, Any] | None) -> str:
    ref = scores["reference"]
    summary = scores["summary"]
    per_task = scores["per_task"]
    groups = [g for g in next(iter(summary.values())) if g != "description"]
    lines = [
        "**Variants of the rule on the stored curves** (no training: every suggestion's regret "
        "read off the oracle curves, linear in log LR). Regret: percentage points of accuracy "
        "(classification), log10 of achieved / oracle MSE (regression); mean over the tasks of "
        "each group of the mean over 3 seeds × 9 sweeps (windows 1e-7→10, 1e-5→1, 1e-3→10 × "
        "num_iter 50, 100, 300), read off the oracle curve averaged over seeds; in brackets the "
        f"difference to `{ref}`, mean ± standard error over the (task, seed) pairs. Spread: "
        "max / min of the suggested LR over the 9 sweeps, median over seeds, then over the "
        "classification and the regression tasks. Lower is "
        "better everywhere.",
        "",
    ]
    headers = ["variant", *groups, "spread (cls / reg)"]
    rows = []
    for v, s in summary.items():
        cells = []
        for g in groups:
            c = s[g]
            diff = "" if v == ref else f" ({c['diff']:+.2f} ± {fmt(c['diff_se'], '.2f')})"
            cells.append(f"{c['pooled']:.2f}{diff}")
        spreads = []
        for kind in ("classification", "regression"):
            sp = [r["variants"][v]["spread"] for r in per_task.values() if r["kind"] == kind]
            spreads.append(fmt(statistics.median(sp), ".2f") if sp else "—")
        spread_txt = " / ".join(spreads)
        rows.append([f"`{v}`" if v == ref else v, *cells, spread_txt])
    lines.append(markdown_table(headers, rows))
    lines += [
        "",
        "Per task (pooled regret / spread); the same regret read off each seed's own grid "
        "curve is in the JSON (`per_seed`):",
        "",
    ]
    names = list(per_task)
    rows = [
        [
            v,
            *(
                f"{per_task[t]['variants'][v]['pooled']:.2f} / "
                f"{fmt(per_task[t]['variants'][v]['spread'], '.1f')}"
                for t in names
            ),
        ]
        for v in summary
    ]
    lines.append(markdown_table(["variant", *names], rows))
    feats = {t: r["features"] for t, r in per_task.items() if r["features"]}
    if feats:
        lines += [
            "",
            "**What one curve shows against where training is best** (medians over the curves "
            "of each task, in decades of LR from the range test's minimum): *oracle LR*, the "
            "seed's best max LR of the grid; *rise 25 %*, where the loss has climbed "
            "back a quarter of its drop; *bottom 5 %*, where it first came within 5 % of the "
            "drop of its minimum; *width*, log10(high / low) of lrlab's confidence range; "
            "*rise height*, how far the loss climbs back after the minimum (in drops); "
            "*plateau*, decades of LR swept after the loss made 90 % of that climb.",
            "",
        ]
        rows = [
            [
                t,
                f"{f['oracle/min']:+.2f}",
                f"{f['rise25']:+.2f}",
                f"{f['bottom5']:+.2f}",
                f"{f['width']:.2f}",
                f"{f['rise_height']:.2f}",
                f"{f['plateau']:.2f}",
            ]
            for t, f in feats.items()
        ]
        lines.append(
            markdown_table(
                ["task", "oracle LR", "rise 25 %", "bottom 5 %", "width", "rise height", "plateau"],
                rows,
            )
        )
    if noise:
        lines += [
            "",
            "**Resolution of the regret**: one training's final metric varies with tiny "
            f"changes of the max LR (oracle LR × (1 + d), d ∈ {list(NOISE_OFFSETS)}; same "
            "weights and batches, only the trajectory differs): standard deviation pooled over "
            "seeds, and the standard error of a mean over 3 seeds (the main table's regret).",
            "",
        ]
        rows = [
            [
                t,
                "points" if n["kind"] == "classification" else "log10 MSE",
                f"{n['sd_one_training']:.2f}",
                f"{n['se_mean_of_3']:.2f}",
            ]
            for t, n in noise.items()
        ]
        lines.append(
            markdown_table(["task", "unit", "sd of one training", "se of a 3-seed mean"], rows)
        )
    return "\n".join(lines)


def run_variants(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """Score :data:`RULE_VARIANTS` on stored results; with ``--noise``, also measure how finely
    one training resolves a regret."""
    paths = [Path(p) for p in args.stored.split(",")] if args.stored else list(STORED_RESULTS)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SystemExit(
            f"no stored results at {missing}: run the full benchmark first (listed and "
            "--tasks held-out, with --update-md) or pass --stored PATH[,PATH]."
        )
    tasks = load_stored(paths)
    if args.quick:  # smoke run: one task, the first seed, three variants
        first = next(iter(tasks))
        tasks = {first: tasks[first]}
        seed = next(iter(tasks[first]["seeds"]))
        tasks[first]["seeds"] = {seed: tasks[first]["seeds"][seed]}
    variants = dict(list(RULE_VARIANTS.items())[:3]) if args.quick else RULE_VARIANTS
    t0 = time.perf_counter()
    scores = score_variants(tasks, variants)
    noise = None
    if args.noise:
        cache = quality.Cache(None if args.fresh else args.cache)
        trainings, jobs = noise_jobs(tasks, cache)
        workers = args.workers if args.workers is not None else 2
        quality.run_phase(
            "noise trainings", jobs, workers, quality.Cache(args.cache), {}, trainings, False
        )
        noise = training_noise(tasks, trainings)
    report: dict[str, Any] = {
        **provenance(__file__, argv),
        "elapsed_s": time.perf_counter() - t0,
        "stored": [str(p) for p in paths],
        "variants": {v: d for v, (_, d) in variants.items()},
        "scores": scores,
        "noise": noise,
    }
    md = f"Assembled with {provenance_line(report)}.\n\n" + variants_markdown(scores, noise)
    print(md)
    path = write_report(args.out, report, md)
    print(f"\nwrote {path} ({report['elapsed_s']:.0f} s)", file=sys.stderr)
    if args.update_md and not args.quick:
        heading = f"Suggestion rule variants (`research/{NAME}.py`)"
        updated = publish(SECTION, heading, report, md)
        print(f"updated {updated}", file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one task, one seed, three variants")
    p.add_argument(
        "--noise",
        action="store_true",
        help="train at the oracle LR ± 1-2 %% to measure one training's noise",
    )
    p.add_argument(
        "--stored",
        default=None,
        help="comma-separated result JSONs (default: benchmarks/results/suggestion_quality*)",
    )
    p.add_argument("--out", type=Path, default=OUT_DIR / f"{SECTION}.json")
    p.add_argument("--cache", type=Path, default=OUT_DIR / "cache" / quality.NAME)
    p.add_argument("--fresh", action="store_true", help="ignore (and overwrite) the cache")
    p.add_argument("--workers", type=int, default=None, help="process pool for --noise (default 2)")
    p.add_argument(
        "--update-md",
        action="store_true",
        help="rewrite its BENCHMARKS.md section and benchmarks/results/<section>.json",
    )
    args = p.parse_args(argv)
    set_single_thread()
    return run_variants(args, argv)


if __name__ == "__main__":
    main()
