"""lrlab's default suggestion: a consensus of the rules with a confidence range and flags.

Algorithm (all on ``x = log10(lr)``; see ``docs/suggestions.md``):

1. :func:`~lrlab.suggest.curve.prepare` cuts the curve at its first non-finite loss.
2. The losses are smoothed in log LR with a fixed width in decades
   (:func:`~lrlab.suggest.curve.smooth_log`, width ``h`` from
   :func:`~lrlab.suggest.curve.bandwidth`), so the curve the rules read does not move when
   the sweep is sampled more or less densely (the EMA's lag does).
3. Every rule of :data:`~lrlab.suggest.rules.RULES` reads that curve; the same rules also read
   perturbed versions of it — smoothing widths ``0.7h`` and ``1.4h``, and the sweep with its
   first or last ``trim`` of decades cut off (a narrower window). Each (rule, variant) pair is
   one *vote* ``x_k``.
4. The suggestion is the median vote, ``lr = 10^median(x_k)``; the confidence range
   ``[low, high]`` is the 20th–80th percentile of the votes. The median ignores a rule that is
   off on this curve as long as most agree; the range is wide when the rules disagree or when
   cutting the window moves them — exactly the cases where a different sweep would give a
   different answer.
5. Flags (each a code and a sentence) report curves that cannot be trusted: too few points,
   no meaningful drop, too noisy for the drop, the minimum at the first points; and
   warnings that do not invalidate the curve: still falling at ``end_lr`` (the window caps
   the suggestion), already falling at ``start_lr``, rules disagreeing widely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrlab.errors import check
from lrlab.smoothing import ema
from lrlab.suggest import minlr
from lrlab.suggest.curve import Curve, bandwidth, noise_scale, prepare, smooth_log
from lrlab.suggest.rules import RULES
from lrlab.suggest.types import MinLR, Suggestion

# Flags whose presence makes a curve untrustworthy; the others are warnings.
BLOCKING = frozenset({"too-short", "never-descends", "too-noisy", "no-descent-in-window"})

_BANDWIDTH_MULTS = (0.7, 1.0, 1.4)


def _votes(curve: Curve, h: float, trim: float) -> dict[str, list[float]]:
    """log10 LR votes of every rule on the smoothed curve and its perturbations."""
    votes: dict[str, list[float]] = {name: [] for name in RULES}
    variants: list[tuple[slice, float]] = [(slice(None), m) for m in _BANDWIDTH_MULTS]
    cut = trim * curve.decades
    if cut > 0 and curve.n >= 20:
        head = int(np.searchsorted(curve.x, curve.x[0] + cut))
        tail = int(np.searchsorted(curve.x, curve.x[-1] - cut, side="right"))
        variants += [(slice(head, None), 1.0), (slice(None, tail), 1.0)]
    for sl, mult in variants:
        x, y = curve.x[sl], curve.losses[sl]
        if x.size < 5:
            continue
        fit, _ = smooth_log(x, y, h * mult)
        for name, rule in RULES.items():
            v = rule(10**x, fit)
            if v is not None:
                votes[name].append(float(np.log10(v)))
    return votes


def _empty(curve: Curve | None, flags: list[str]) -> Suggestion:
    return Suggestion(
        lr=None,
        rules=dict.fromkeys(RULES),
        flags=flags,
        trustworthy=False,
        evidence={"points": float(curve.n) if curve else 0.0},
    )


def suggest(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    *,
    smoothed: Sequence[float] | np.ndarray | None = None,
    beta: float = 0.98,
    method: str = "consensus",
    smoothing: str = "log",
    decades: float = 0.2,
    trim: float = 0.15,
    min_points: int = 20,
) -> Suggestion:
    """Suggest a maximum learning rate from a range test's ``(lrs, losses)``.

    Args:
        lrs, losses: the sweep, one entry per step (raw, unsmoothed losses; NaN/inf allowed
            at the end of a diverged sweep; negative losses allowed; exponential or linear).
        smoothed: the range test's smoothed losses, used only with ``smoothing="ema"``
            (computed with ``beta`` when not given).
        beta: EMA weight of the past for ``smoothing="ema"`` (fastai's 0.98).
        method: ``"consensus"`` (default) or one rule of :data:`lrlab.suggest.RULES`
            (``"steepest"``, ``"valley"``, ``"minimum/10"``, ``"edge"``) to report as ``lr``.
        smoothing: ``"log"`` (default; fixed width in decades, no lag) or ``"ema"`` (the rules
            read the range test's EMA, as torch-lr-finder and fastai do).
        decades: smoothing width in decades of LR for ``smoothing="log"``.
        trim: fraction of the sweep's decades cut from either end for the window-robustness
            votes.
        min_points: fewer finite points than this raises the ``too-short`` flag.

    Returns:
        a :class:`~lrlab.suggest.Suggestion`; ``lr`` is ``None`` (with flags saying why) when
        the curve cannot support a suggestion. Malformed input (different lengths, LRs not
        positive and increasing) raises :class:`~lrlab.errors.InvalidArgument`.
    """
    check(
        method == "consensus" or method in RULES,
        f"{method=} is not a suggestion method; expected 'consensus' or one of {list(RULES)}.",
    )
    check(smoothing in ("log", "ema"), f"{smoothing=} must be 'log' or 'ema'.")
    check(decades > 0, f"{decades=} must be > 0.")
    check(0.0 <= trim < 0.5, f"{trim=} must be in [0, 0.5).")
    curve = prepare(lrs, losses)
    n_finite = curve.n
    if n_finite < 5:
        why = (
            f"too-short: only {n_finite} finite loss(es) before the sweep stopped; "
            "need at least 5 (raise num_iter, or lower start_lr if it diverged at once)."
        )
        return _empty(curve, [why])

    h = bandwidth(curve.x, decades)
    fit, _ = smooth_log(curve.x, curve.losses, h)
    if smoothing == "ema":
        if smoothed is None:
            fit = ema(curve.losses, beta)
        else:
            s_arr = np.asarray(smoothed, dtype=np.float64)
            check(
                s_arr.size == curve.n_total,
                f"smoothed has {s_arr.size} values but losses has {curve.n_total}.",
                hint="Pass the range test's smoothed list unchanged.",
            )
            fit = s_arr[: curve.n]
        rule_values = {name: rule(curve.lrs, fit) for name, rule in RULES.items()}
        votes = {k: [float(np.log10(v))] for k, v in rule_values.items() if v is not None}
    else:
        votes = _votes(curve, h, trim)
        rule_values = {name: rule(curve.lrs, fit) for name, rule in RULES.items()}

    flags, evidence = _flags(curve, fit, h, min_points)
    all_votes = np.array([v for vs in votes.values() for v in vs])
    lr = low = high = None
    if method != "consensus":
        lr = rule_values.get(method)
        if lr is not None and all_votes.size:
            low = float(min(lr, 10 ** np.percentile(all_votes, 20)))
            high = float(max(lr, 10 ** np.percentile(all_votes, 80)))
    elif all_votes.size:
        centre = float(np.median(all_votes))
        lr = float(10**centre)
        low = float(10 ** min(centre, np.percentile(all_votes, 20)))
        high = float(10 ** max(centre, np.percentile(all_votes, 80)))
    if lr is None:
        flags.append(
            f"no-suggestion: no rule found a descent followed by a minimum "
            f"(method {method!r}); see the other flags."
        )
    elif high is not None and low is not None and high / low > 10:
        flags.append(
            f"rules-disagree: the confidence range spans {high / low:.0f}× "
            f"({low:.3g} to {high:.3g}); a different window or num_iter would move the "
            "suggestion — look at the curve."
        )
    # A window that stops while the loss still falls caps every rule: say so.
    if lr is not None and evidence.get("lr_edge") is None and curve.diverged_lr is None:
        i_min = int(np.argmin(fit))
        if curve.x[-1] - curve.x[i_min] < 2 * h:
            flags.append(
                f"still-falling: the loss was still falling at end_lr={curve.lrs[-1]:.3g}; "
                "the window caps the suggestion — raise end_lr to see where training breaks."
            )

    on = minlr.onset(curve.lrs, fit)
    if on is None and lr is not None:
        slope0 = float(
            np.polyfit(curve.x[: max(3, curve.n // 10)], fit[: max(3, curve.n // 10)], 1)[0]
        )
        if slope0 < 0:
            flags.append(
                f"falling-at-start: the loss was already falling at start_lr={curve.lrs[0]:.3g}; "
                "lower start_lr to see where learning begins (min-LR onset unknown)."
            )
    min_lr = MinLR(
        cyclic=minlr.cyclic_min_lr(lr) if lr else None,
        one_cycle=minlr.one_cycle_min_lr(lr) if lr else None,
        onset=on,
    )
    trustworthy = lr is not None and not any(f.split(":", 1)[0] in BLOCKING for f in flags)
    return Suggestion(
        lr=lr,
        low=low,
        high=high,
        method=method,
        rules=rule_values,
        flags=flags,
        trustworthy=trustworthy,
        min_lr=min_lr,
        evidence=evidence,
    )


def _flags(
    curve: Curve, fit: np.ndarray, h: float, min_points: int
) -> tuple[list[str], dict[str, float | None]]:
    """Flags about the curve itself, and the numbers they were decided from."""
    flags: list[str] = []
    y = curve.losses
    i_min = int(np.argmin(fit))
    drop = float(fit[0] - fit[i_min])
    sigma = noise_scale(y, fit)
    # Points under the kernel (±h): the standard error of the smoothed curve is σ/√k.
    spacing = float(np.median(np.diff(curve.x))) if curve.n > 1 else 1.0
    k = max(1.0, 2 * h / max(spacing, 1e-12))
    se = sigma / np.sqrt(k)
    scale = max(abs(float(fit[0])), abs(float(fit[i_min])), 1e-12)
    edge_lr = RULES["edge"](curve.lrs, fit)
    evidence: dict[str, float | None] = {
        "points": float(curve.n),
        "decades": curve.decades,
        "bandwidth_decades": h,
        "loss_start": float(fit[0]),
        "loss_min": float(fit[i_min]),
        "lr_min_loss": float(curve.lrs[i_min]),
        "drop": drop,
        "noise": sigma,
        "noise_to_drop": sigma / drop if drop > 0 else None,
        "lr_edge": edge_lr * 4.0 if edge_lr is not None else None,
        "lr_diverged": curve.diverged_lr,
    }
    if curve.n < min_points:
        flags.append(
            f"too-short: only {curve.n} finite points before the sweep stopped (need ≥ "
            f"{min_points}); raise num_iter or lower end_lr."
        )
    if drop <= max(4.0 * se, 1e-3 * scale):
        flags.append(
            f"never-descends: the smoothed loss drops by only {drop:.3g} from "
            f"{float(fit[0]):.4g} (noise {sigma:.3g}); nothing was learnt in "
            f"[{curve.lrs[0]:.3g}, {curve.lrs[-1]:.3g}] — widen the window or check the model."
        )
    elif se > 0.15 * drop:
        flags.append(
            f"too-noisy: the losses' noise ({sigma:.3g}) is large against the drop "
            f"({drop:.3g}) for {curve.n} points; raise num_iter or the batch size."
        )
    if i_min <= 2 and drop > 0:
        flags.append(
            f"no-descent-in-window: the loss is lowest at the first points "
            f"(lr {curve.lrs[i_min]:.3g}); start_lr is too high or the model diverged at once."
        )
    return flags, evidence
