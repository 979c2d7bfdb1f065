"""``find_lr``'s settings: one frozen dataclass, validated once, recorded whole (``asdict``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from lrlab.errors import check
from lrlab.finder.settings import RangeTestSettings, override

SCORES = ("auto", "loss")  # or a metric name


@dataclass(frozen=True)
class FindSettings:
    """How ``find_lr`` proposes candidates and decides (defaults chosen on the benchmark's
    development half, ``BENCHMARKS.md``).

    Attributes:
        fractions: the rounds' short-run lengths as fractions of ``total_steps`` (increasing):
            every candidate runs the first; the ``keep`` best around the peak run each longer
            one (successive halving). The best LR per round measures the drift of the sweet
            spot with training length.
        keep: candidates kept for each round after the first.
        min_steps: no short run is shorter than this many updates (nor longer than the run).
        per_decade: candidate density (LRs per decade of the window).
        max_candidates: at most this many candidates in the first round.
        below_min, above_divergence: the window spans from the range test's minimum ÷
            ``below_min`` (not below where learning starts) to its divergence LR ×
            ``above_divergence`` (:func:`lrlab.finder.choose.window`).
        extensions: how many times the window may grow by ``extend_by`` candidates when the
            best candidate sits at its edge.
        checkpoints: evaluations per short run (the candidates' curves).
        short_run_seeds: data orders every short run is trained with; its curve and score
            are the means over them (the noise of one data order averaged out, at this many
            times the short runs' cost). 1 by default: the benchmark's rule smooths over log
            LR instead, and the development half did not pay for more (BENCHMARKS.md).
        holdout_fraction, eval_batches: without ``eval_data``, this fraction of the training
            samples (at most ``eval_batches`` batches) is held out to judge the candidates;
            with it, its first ``eval_batches`` batches are used.
        score: what judges a short run: ``"auto"`` / ``"loss"`` (the held-out loss: smoother
            than accuracy on small held-out sets), or a metric name (``"accuracy"``).
        stop_factor: a short run whose held-out loss exceeds ``initial + (stop_factor − 1) ·
            |initial|`` at a checkpoint is stopped there (it failed; it costs nothing more).
            ``None``: only non-finite losses stop a run.
        width: the smoothing kernel's sd over log10 LR (decades).
        prior_weight: the weight of the range test's curve-only suggestion in the answer (a
            shrinkage in log LR of the short runs' answer toward it; 0: the short runs alone).
        halfwidth: the interval reaches at least this many decades either side of the answer.
        max_fraction: when the longest round cannot tell the LRs apart (nothing learnt beyond
            the noise), it is run again twice as long, up to this fraction of the run.
        drift_gain, max_drift: how much of the measured drift of the best LR between the
            rounds is followed toward the planned length (only downward), and its clip in
            decades. The development half did not support following it (BENCHMARKS.md), so
            by default it is measured and widens the interval instead.
        range_test: the range test's settings (``None``: lrlab's defaults with
            ``num_iter = clip(total_steps // 8, 25, 100)``).
        method: ``"auto"`` (batched where the model allows, else sequential), ``"batched"``,
            ``"sequential"`` — same answer to float tolerance.
    """

    fractions: tuple[float, ...] = (0.0625, 0.25)
    keep: int = 3
    min_steps: int = 20
    per_decade: float = 3.0
    max_candidates: int = 8
    below_min: float = 30.0
    above_divergence: float = 3.0
    extensions: int = 2
    extend_by: int = 2
    checkpoints: int = 4
    short_run_seeds: int = 1
    holdout_fraction: float = 0.2
    eval_batches: int = 16
    score: str = "auto"
    stop_factor: float | None = 2.0
    width: float = 0.25
    prior_weight: float = 0.25
    halfwidth: float = 0.3
    max_fraction: float = 0.5
    drift_gain: float = 0.0
    max_drift: float = 0.5
    range_test: RangeTestSettings | None = None
    method: str = "auto"

    def __post_init__(self) -> None:
        fr = tuple(float(f) for f in self.fractions)
        object.__setattr__(self, "fractions", fr)
        check(
            len(fr) >= 1 and all(0 < f <= 1 for f in fr) and list(fr) == sorted(set(fr)),
            f"fractions={fr} must be increasing fractions of total_steps in (0, 1].",
        )
        for name in (
            "keep", "min_steps", "max_candidates", "checkpoints", "eval_batches", "extend_by",
            "short_run_seeds",
        ):  # fmt: skip
            value = getattr(self, name)
            check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{name}={value!r} must be an integer >= 1.",
            )
        check(self.max_candidates >= 3, f"max_candidates={self.max_candidates} must be >= 3.")
        check(
            isinstance(self.extensions, int) and self.extensions >= 0,
            f"extensions={self.extensions!r} must be an integer >= 0.",
        )
        check(0 <= self.prior_weight <= 1, f"prior_weight={self.prior_weight!r} must be in [0, 1].")
        check(self.halfwidth >= 0, f"halfwidth={self.halfwidth!r} must be >= 0.")
        check(0 < self.max_fraction <= 1, f"max_fraction={self.max_fraction!r} must be in (0, 1].")
        for name in ("per_decade", "below_min", "above_divergence", "width"):
            value = getattr(self, name)
            check(math.isfinite(value) and value > 0, f"{name}={value!r} must be > 0.")
        check(
            0 < self.holdout_fraction < 1,
            f"holdout_fraction={self.holdout_fraction!r} must be in (0, 1).",
        )
        check(
            0 <= self.drift_gain <= 1 and self.max_drift >= 0,
            f"drift_gain={self.drift_gain!r} must be in [0, 1] and max_drift >= 0.",
        )
        check(
            self.stop_factor is None or (math.isfinite(self.stop_factor) and self.stop_factor > 1),
            f"stop_factor={self.stop_factor!r} must be > 1 (or None).",
        )
        check(
            self.method in ("auto", "batched", "sequential"),
            f"method={self.method!r} must be 'auto', 'batched' or 'sequential'.",
        )
        check(
            self.range_test is None or isinstance(self.range_test, RangeTestSettings),
            f"range_test must be a RangeTestSettings, got {type(self.range_test).__name__}.",
        )

    def horizons(self, total_steps: int) -> list[int]:
        """The short runs' lengths for a planned run of ``total_steps`` updates."""
        out: list[int] = []
        for f in self.fractions:
            h = min(total_steps, max(self.min_steps, round(f * total_steps)))
            if not out or h > out[-1]:
                out.append(h)
        return out

    def range_test_settings(self, total_steps: int) -> RangeTestSettings:
        if self.range_test is not None:
            return self.range_test
        return RangeTestSettings(num_iter=int(min(100, max(25, total_steps // 8))))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fractions"] = list(self.fractions)
        return d


def find_settings_from(settings: FindSettings | None = None, **options: Any) -> FindSettings:
    """``settings`` (default: the defaults) with ``options`` replacing fields by name."""
    return override(FindSettings, settings, options, what="find_lr")
