"""lrlab's default suggestion: a consensus of calibrated rules, a confidence range and flags.

Algorithm (all on ``x = log10(lr)``; ``docs/suggestions.md`` has the reasoning and numbers):

1. :func:`~lrlab.suggest.curve.prepare` cuts the curve at its first non-finite loss.
2. The losses are smoothed in log LR with a fixed width in decades
   (:func:`~lrlab.suggest.curve.smooth_log`, width ``h`` from
   :func:`~lrlab.suggest.curve.bandwidth`), so the curve the rules read does not move when
   the sweep is sampled more or less densely (the EMA's lag does).
3. Five *members* each estimate the same point, the LR where the smoothed loss is lowest
   (Smith's range test puts the max LR of a cyclic or one-cycle schedule where the loss
   stops improving, before it turns up — Smith 2017, 2018): the minimum itself; the LRs
   where the loss has climbed back 10 %, 25 % and 50 % of its drop
   (:func:`~lrlab.suggest.rules.edge`), divided by 1.7, 2.3 and 3.3; and the steepest
   descent times 3.3. The factors are the median ratios measured on 108 range tests
   (digits and mnist1d MLPs, SGD and Adam, three windows × three ``num_iter``); they put
   every member on the same scale so a median can combine them.
4. Every member reads the smoothed curve and perturbed versions of it (widths ``0.7h`` and
   ``1.4h``; the sweep with the first or last ``trim`` of its decades cut off). The suggestion
   is the median of all these votes, ``lr = 10^median``: a member that is off on this curve,
   or that moves when the window shrinks, is outvoted.
5. The confidence range ``[low, high]`` joins two spreads: the 25th–75th percentile of the
   votes (the rules disagree), and the 10th–90th percentile of the suggestion recomputed on
   ``n_boot`` block-bootstrap resamples of the residuals (the same curve with different
   noise; fixed seed, so the result is deterministic). ``high`` never exceeds the LR where the
   loss has climbed back a quarter of its drop.
6. Flags (a code and a sentence each) say when the curve cannot be trusted (``BLOCKING``)
   or what to change in the sweep (warnings).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrlab.errors import check
from lrlab.smoothing import ema
from lrlab.suggest import minlr
from lrlab.suggest.curve import (
    Curve,
    bandwidth,
    noise_scale,
    prepare,
    smooth_log,
    smooth_log_many,
)
from lrlab.suggest.members import member_votes
from lrlab.suggest.rules import RULES, edge
from lrlab.suggest.types import MinLR, Suggestion

# Flags whose presence makes a curve untrustworthy; the others are warnings.
BLOCKING = frozenset({"too-short", "never-descends", "too-noisy", "no-descent-in-window", "coarse"})

_BANDWIDTH_MULTS = (0.7, 1.0, 1.4)


def perturbed_fits(curve: Curve, h: float, trim: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The curves the members vote on: ``[(x, fits), ...]`` with ``fits`` of shape ``(B, x.size)``.

    The smoothed curve at the widths ``_BANDWIDTH_MULTS × h`` on the whole sweep (one batch on
    the same LRs), then at width ``h`` on the sweep with ``trim`` of its decades cut at either
    end (when the sweep has ≥ 20 points). Public so that other ways of combining the members
    can be scored on the same curves (``research/suggestion_variants.py``).
    """
    windows: list[tuple[slice, tuple[float, ...]]] = [(slice(None), _BANDWIDTH_MULTS)]
    cut = trim * curve.decades
    if cut > 0 and curve.n >= 20:
        head = int(np.searchsorted(curve.x, curve.x[0] + cut))
        tail = int(np.searchsorted(curve.x, curve.x[-1] - cut, side="right"))
        windows += [(slice(head, None), (1.0,)), (slice(None, tail), (1.0,))]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for sl, mults in windows:
        x, y = curve.x[sl], curve.losses[sl]
        if x.size < 5:
            continue
        out.append((x, np.stack([smooth_log(x, y, h * m)[0] for m in mults])))
    return out


def _votes(curve: Curve, h: float, trim: float) -> list[float]:
    """log10-LR votes of every member on every curve of :func:`perturbed_fits`."""
    votes: list[float] = []
    for x, fits in perturbed_fits(curve, h, trim):
        for row in member_votes(x, fits):
            votes += row
    return votes


def bootstrap_fits(curve: Curve, fit: np.ndarray, h: float, n_boot: int) -> np.ndarray:
    """``n_boot`` smoothed resamples ``fit + residuals`` (shape ``(n_boot, n)``), the residuals
    resampled in moving blocks of ~2h.

    Residuals of neighbouring steps are correlated (the same weights, similar batches), so
    they are resampled in blocks (Künsch, 1989) as long as the smoothing kernel is wide.
    All resamples are smoothed at once (:func:`~lrlab.suggest.curve.smooth_log_many`); the
    generator's seed is fixed: same curve, same resamples.
    """
    rng = np.random.default_rng(0)  # fixed: same curve, same range
    resid = curve.losses - fit
    n = resid.size
    spacing = float(np.median(np.diff(curve.x)))
    block = int(np.clip(round(2 * h / spacing), 1, max(1, n // 4)))
    n_blocks = -(-n // block)
    # Row b: the residual blocks starting at starts[b] laid end to end, cut to n points.
    starts = np.stack([rng.integers(0, n - block + 1, size=n_blocks) for _ in range(n_boot)])
    index = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :n]
    return smooth_log_many(curve.x, fit + resid[index], h)


def _bootstrap(curve: Curve, fit: np.ndarray, h: float, n_boot: int) -> np.ndarray:
    """Suggestions (log10, the median of the members' votes) on :func:`bootstrap_fits`."""
    boot_fits = bootstrap_fits(curve, fit, h, n_boot)
    return np.array([float(np.median(v)) for v in member_votes(curve.x, boot_fits) if v])


def _empty(curve: Curve | None, flags: list[str]) -> Suggestion:
    return Suggestion(
        lr=None,
        rules=dict.fromkeys(RULES),
        flags=flags,
        trustworthy=False,
        evidence={"points": float(curve.n) if curve else 0.0},
    )


def smoothed_curve(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    *,
    decades: float = 0.25,
) -> np.ndarray:
    """The log-LR smoothed loss the consensus reads, one value per finite loss (for plots)."""
    curve = prepare(lrs, losses)
    if curve.n == 0:
        return np.array([])
    fit, _ = smooth_log(curve.x, curve.losses, bandwidth(curve.x, decades))
    return fit


def suggest(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    *,
    smoothed: Sequence[float] | np.ndarray | None = None,
    beta: float = 0.98,
    method: str = "consensus",
    smoothing: str = "log",
    decades: float = 0.25,
    trim: float = 0.15,
    n_boot: int = 24,
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
        smoothing: ``"log"`` (default: fixed width in decades, no lag) or ``"ema"`` (the rules
            read the range test's EMA, as torch-lr-finder and fastai do; no perturbations).
        decades: smoothing width in decades of LR for ``smoothing="log"``.
        trim: fraction of the sweep's decades cut from either end for the window votes.
        n_boot: bootstrap resamples for the confidence range (0: votes' spread only).
        min_points: fewer finite points than this raises the ``too-short`` flag.

    Returns:
        a :class:`~lrlab.suggest.Suggestion`; ``lr`` is ``None`` (with flags saying why) when
        the curve cannot support a suggestion. Malformed input (different lengths, LRs not
        positive and increasing) raises :class:`~lrlab.errors.InvalidArgument`.

    Example::

        >>> s = suggest(result.lrs, result.losses)
        >>> s.lr, (s.low, s.high), s.trustworthy, s.flags
    """
    check(
        method == "consensus" or method in RULES,
        f"{method=} is not a suggestion method; expected 'consensus' or one of {list(RULES)}.",
    )
    check(smoothing in ("log", "ema"), f"{smoothing=} must be 'log' or 'ema'.")
    check(decades > 0, f"{decades=} must be > 0.")
    check(0.0 <= trim < 0.5, f"{trim=} must be in [0, 0.5).")
    check(n_boot >= 0, f"{n_boot=} must be >= 0.")
    curve = prepare(lrs, losses)
    if curve.n < 5:
        return _empty(
            curve,
            [
                f"too-short: only {curve.n} finite loss(es) before the sweep stopped; need at "
                "least 5 (raise num_iter, or lower start_lr if it diverged at once)."
            ],
        )

    h = bandwidth(curve.x, decades)
    fit, _ = smooth_log(curve.x, curve.losses, h)
    boot = np.array([])
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
            # Leading zero LRs were dropped by `prepare`; align the smoothed values with it.
            lead = int(np.argmax(np.asarray(lrs, dtype=np.float64) != 0))
            fit = s_arr[lead : lead + curve.n]
        votes = np.array(member_votes(curve.x, fit[None, :])[0])
    else:
        votes = np.array(_votes(curve, h, trim))
        if n_boot and votes.size:
            boot = _bootstrap(curve, fit, h, n_boot)
    rule_values = {name: rule(curve.lrs, fit) for name, rule in RULES.items()}
    flags, evidence = _flags(curve, fit, h, min_points)

    lr = low = high = None
    if method != "consensus":
        lr = rule_values.get(method)
    elif votes.size:
        lr = float(10 ** np.median(votes))
    # The loss still falls at the end of the window: the minimum and the edge lie beyond it.
    still_falling = evidence["lr_edge"] is None and (
        curve.x[-1] - curve.x[int(np.argmin(fit))] < 2 * h
    )
    if lr is not None:
        spread = [np.log10(lr)]
        if votes.size:
            spread += list(np.percentile(votes, [25, 75]))
        if boot.size:
            spread += list(np.percentile(boot, [10, 90]))
        low, high = float(10 ** min(spread)), float(10 ** max(spread))
        lr_edge = evidence.get("lr_edge")
        if lr_edge is not None:
            high = max(lr, min(high, lr_edge))
        if still_falling and method == "consensus":
            # end_lr is the largest LR shown to be stable, and the loss may be about to turn
            # just past it (its response lags the LR by a few steps): back off by the typical
            # edge-to-minimum ratio (≈2, see MEMBERS). Seed 004: a 0.004→0.04 window, still
            # falling, and 0.025 trained ResNet9 to 90 %.
            cap = float(curve.lrs[-1]) / 2.0
            lr, low, high = min(lr, cap), min(low, cap), min(high, float(curve.lrs[-1]))
    flags += _result_flags(curve, fit, h, lr, low, high, still_falling, method)
    on = minlr.onset(curve.lrs, fit)
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
    # Points under the kernel (±h): the standard error of the smoothed curve is about σ/√k.
    spacing = float(np.median(np.diff(curve.x)))
    k = max(1.0, 2 * h / max(spacing, 1e-12))
    se = sigma / np.sqrt(k)
    scale = max(abs(float(fit[0])), abs(float(fit[i_min])), 1e-12)
    lr_edge = edge(curve.lrs, fit, rise=0.25, divisor=1.0)
    # Points in the descent: from where 10 % of the drop is made to the minimum.
    descending = int(np.count_nonzero(fit[: i_min + 1] <= fit[0] - 0.1 * drop))
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
        "descent_points": float(descending),
        "lr_edge": lr_edge,
        "lr_diverged": curve.diverged_lr,
    }
    if curve.n < min_points:
        flags.append(
            f"too-short: only {curve.n} finite points before the sweep stopped (need ≥ "
            f"{min_points}); raise num_iter or lower end_lr."
        )
    # (the relative floor only absorbs rounding: a flag must not depend on where zero is)
    if drop <= max(4.0 * se, 1e-9 * scale):
        flags.append(
            f"never-descends: the smoothed loss drops by only {drop:.3g} from "
            f"{float(fit[0]):.4g} (noise {sigma:.3g}); nothing was learnt in "
            f"[{curve.lrs[0]:.3g}, {curve.lrs[-1]:.3g}] — widen the window or check the model."
        )
        return flags, evidence
    if se > 0.15 * drop:
        flags.append(
            f"too-noisy: the losses' noise ({sigma:.3g}) is large against the drop "
            f"({drop:.3g}) for {curve.n} points; raise num_iter or the batch size."
        )
    if i_min <= 2:
        flags.append(
            f"no-descent-in-window: the loss is lowest at the first points "
            f"(lr {curve.lrs[i_min]:.3g}); start_lr is too high or the model diverged at once."
        )
    elif descending < 8:
        flags.append(
            f"coarse: only {descending} points between the start of the drop and the minimum; "
            "raise num_iter or narrow the window around the drop."
        )
    return flags, evidence


def _result_flags(
    curve: Curve,
    fit: np.ndarray,
    h: float,
    lr: float | None,
    low: float | None,
    high: float | None,
    still_falling: bool,
    method: str,
) -> list[str]:
    """Warnings about the suggestion and the sweep's window."""
    flags: list[str] = []
    if lr is None:
        flags.append(
            f"no-suggestion: no rule found a descent followed by a minimum "
            f"(method {method!r}); see the other flags."
        )
        return flags
    if low is not None and high is not None and high / low > 10:
        flags.append(
            f"rules-disagree: the confidence range spans {high / low:.0f}× "
            f"({low:.3g} to {high:.3g}); a different window or num_iter would move the "
            "suggestion — look at the curve."
        )
    if still_falling:
        flags.append(
            f"still-falling: the loss was still falling at end_lr={curve.lrs[-1]:.3g}; the "
            "window caps the suggestion (at end_lr/2) — raise end_lr to see where training "
            "breaks."
        )
    head = max(3, curve.n // 10)
    slope0 = float(np.polyfit(curve.x[:head], fit[:head], 1)[0])
    slope_min = float(np.min(np.gradient(fit, curve.x)))
    if slope_min < 0 and slope0 < 0.2 * slope_min:
        flags.append(
            f"falling-at-start: the loss was already falling at start_lr={curve.lrs[0]:.3g}; "
            "lower start_lr to see where learning begins (the onset min-LR is unknown)."
        )
    return flags
