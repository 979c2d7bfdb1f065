"""lrlab.compare.ranking: the pure ranking rule on hand-made curves whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrlab.compare.ranking import CurveInput, Ranking, merge, rank_candidates, smooth
from lrlab.errors import InvalidArgument


def curve(
    *,
    floor: float = 0.5,
    onset: float = 1e-4,
    blow: float | None = 1.0,
    noise: float = 0.02,
    seed: int = 0,
    n: int = 100,
    start: float = 1e-6,
    end: float = 10.0,
    top: float = 2.3,
) -> CurveInput:
    """A range-test-shaped curve: a plateau at ``top``, a sigmoid descent (in log LR) around
    ``onset`` to ``floor``, an exponential blow-up past ``blow`` (cut at the first loss above
    ten times the start, which is recorded as NaN like a sweep that hit a non-finite loss),
    plus Gaussian noise."""
    lrs = np.geomspace(start, end, n)
    x = np.log10(lrs)
    fall = 1.0 / (1.0 + np.exp(-(x - np.log10(onset)) / 0.3))
    y = top - (top - floor) * fall
    if blow is not None:
        y = y + np.exp((x - np.log10(blow)) / 0.15)
    y = y + noise * np.random.default_rng(seed).standard_normal(n)
    cut = np.nonzero(y > 10 * top)[0]
    if cut.size:
        y, lrs = y[: cut[0] + 1].copy(), lrs[: cut[0] + 1]
        y[-1] = np.nan
    return CurveInput(
        list(lrs), list(y), stop_reason="non-finite loss" if cut.size else "completed"
    )


def labels(n: int) -> list[str]:
    return [f"c{k}" for k in range(n)]


# ----------------------------------------------------------------------------- known answers


def test_the_clearly_lower_loss_wins_and_the_reason_says_so():
    r = rank_candidates([curve(floor=1.0, seed=1), curve(floor=0.5), curve(floor=0.8, seed=2)],
                        labels(3))  # fmt: skip
    assert r.order == [1, 2, 0]
    assert r.ranks == [3, 1, 2]
    assert r.recommended == 1 and r.tied == [1]
    assert r.verdict.startswith("recommend c1")
    assert "clearly the best loss" in r.reasons[1]
    assert "loss clearly worse" in r.reasons[0] and "loss clearly worse" in r.reasons[2]
    assert r.measures[1].best_loss == pytest.approx(0.5, abs=0.03)
    assert r.measures[0].best_loss == pytest.approx(1.0, abs=0.03)


def test_equal_losses_are_decided_by_the_larger_lr_limit():
    # Same floor; c0 blows up 1.3 decades earlier (after reaching the floor).
    early, late = curve(blow=0.05, seed=1), curve(blow=1.0)
    r = rank_candidates([early, late], ["early", "late"])
    m0, m1 = r.measures
    assert abs(m0.best_loss - m1.best_loss) < 3 * math.hypot(m0.se, m1.se)  # tied on loss
    assert m1.lr_limit / m0.lr_limit == pytest.approx(20, rel=0.3)  # 1.3 decades
    assert r.order == [1, 0] and r.recommended == 1
    assert "LR limit clearly lower" in r.reasons[0]
    assert "the largest LR limit" in r.reasons[1]


def test_the_lr_limit_is_where_the_curve_crosses_the_common_level():
    cands = [curve(blow=0.05, noise=0.0), curve(blow=1.0, noise=0.0)]
    r = rank_candidates(cands, labels(2))
    level = r.settings["level"]
    assert level == pytest.approx(0.5 + 0.25 * (2.3 - 0.5), abs=0.01)
    for m, c in zip(r.measures, cands, strict=True):
        assert m.limit_kind == "crossing"
        s = smooth(c.lrs, c.losses)
        after = s.x >= math.log10(m.lr_best)
        # the smoothed curve, read at the limit, is at the level (first crossing after the min)
        assert np.interp(math.log10(m.lr_limit), s.x[after], s.fit[after]) == pytest.approx(
            level, abs=1e-6
        )
    # Same shape shifted by log10(20) decades: the limits are 20x apart (the smoothing's bias
    # on the steep blow-up is the same for both and cancels).
    assert r.measures[1].lr_limit / r.measures[0].lr_limit == pytest.approx(20, rel=0.03)


def test_overlapping_noisy_curves_give_no_clear_winner():
    cands = [curve(seed=s, noise=0.05) for s in range(4)]
    r = rank_candidates(cands, labels(4))
    assert r.recommended is None
    assert sorted(r.tied) == [0, 1, 2, 3]
    assert r.verdict.startswith("no clear winner among")
    assert all(f"c{k}" in r.verdict for k in range(4))


@pytest.mark.parametrize("noise", [0.01, 0.05, 0.2])
def test_no_clear_winner_is_calibrated_on_identical_curves(noise):
    """Identical curves with independent noise: the rule almost never invents a winner
    (z = 3; measured 0 in 120 sets of four)."""
    invented = sum(
        rank_candidates([curve(seed=100 * s + j, noise=noise) for j in range(4)], labels(4))
        .recommended is not None
        for s in range(12)
    )  # fmt: skip
    assert invented <= 1


def test_a_difference_hidden_by_noise_is_found_when_the_noise_is_small():
    """The same 0.1 gap in the floor: clear at noise 0.01, within noise at 0.3."""
    quiet = rank_candidates([curve(floor=0.6, noise=0.01, seed=1), curve(noise=0.01)], labels(2))
    loud = rank_candidates([curve(floor=0.6, noise=0.3, seed=1), curve(noise=0.3)], labels(2))
    assert quiet.recommended == 1
    assert loud.recommended is None and sorted(loud.tied) == [0, 1]


def test_a_trade_off_is_noted_when_the_winner_allows_a_smaller_lr():
    low_loss_early = curve(floor=0.5, blow=0.05)
    high_loss_late = curve(floor=0.7, blow=1.0, seed=1)
    r = rank_candidates([high_loss_late, low_loss_early], ["late", "early"])
    assert r.recommended == 1
    assert len(r.notes) == 1 and r.notes[0].startswith("trade-off: early")
    assert "late stays low to a clearly larger LR" in r.notes[0]


def test_a_curve_that_never_diverges_is_censored_and_beats_one_that_does():
    r = rank_candidates([curve(blow=0.1), curve(blow=None, seed=3)], labels(2))
    m0, m1 = r.measures
    assert m1.limit_kind == "censored" and m1.lr_limit == pytest.approx(10.0)
    assert m0.limit_kind == "crossing"
    assert r.recommended == 1
    assert "≥" not in r.reasons[1]  # words, not symbols, in reasons
    assert "no divergence" in r.reasons[1]


def test_two_censored_curves_are_not_separated_by_their_lr_limits():
    r = rank_candidates([curve(blow=None, seed=1), curve(blow=None, seed=2)], labels(2))
    assert r.recommended is None


def test_a_sweep_that_stopped_on_a_nan_before_climbing_back_diverged_there():
    c = curve(blow=None)
    losses = list(c.losses)
    losses[80] = math.nan
    stopped = CurveInput(c.lrs[:81], losses[:81], stop_reason="non-finite loss")
    r = rank_candidates([stopped, curve(blow=None, seed=2)], labels(2))
    assert r.measures[0].limit_kind == "non-finite"
    assert r.measures[0].lr_limit == pytest.approx(c.lrs[80])
    assert "diverges at lr" in r.reasons[0]


def test_the_range_tests_own_divergence_stop_marks_the_limit():
    c = curve(blow=None)
    stopped = CurveInput(c.lrs[:85], c.losses[:85], stop_reason="diverged")
    r = rank_candidates([stopped, curve(blow=None, seed=2)], labels(2))
    assert r.measures[0].limit_kind == "stopped"
    assert r.measures[0].lr_limit == pytest.approx(c.lrs[84])


def test_an_unusable_curve_comes_last_and_never_wins():
    c = curve()
    broken = CurveInput(c.lrs[:4], [2.3, 2.3, 2.3, math.nan], stop_reason="non-finite loss")
    r = rank_candidates([broken, curve(seed=1), curve(floor=0.9, seed=2)], labels(3))
    assert r.order[-1] == 0 and r.ranks[0] == 3
    assert not r.measures[0].usable and r.measures[0].points == 3
    assert "unusable" in r.reasons[0]
    assert r.recommended == 1


def test_a_candidate_whose_loss_stays_above_the_common_level_has_no_limit():
    r = rank_candidates([curve(floor=2.2, seed=1), curve()], labels(2))
    assert r.measures[0].limit_kind == "never-low" and r.measures[0].lr_limit is None
    assert "never below the common level" in r.reasons[0]


def test_flat_curves_have_no_level_and_no_winner():
    flat = [CurveInput(list(np.geomspace(1e-5, 1, 50)), [1.0] * 50) for _ in range(2)]
    r = rank_candidates(flat, labels(2))
    assert r.settings["level"] is None
    assert r.recommended is None
    assert any("no candidate's loss descends" in n for n in r.notes)


# ----------------------------------------------------------------------------- repeats


def test_repeats_reveal_a_difference_that_does_not_reproduce():
    """One run each: a clear winner. Three runs each, whose floors scatter from run to run:
    the spread between repeats enters the standard error and the verdict is a tie."""
    a = [curve(floor=f, noise=0.01, seed=s) for s, f in enumerate([0.5, 0.75, 0.62])]
    b = [curve(floor=f, noise=0.01, seed=10 + s) for s, f in enumerate([0.68, 0.52, 0.65])]
    single = rank_candidates([a[0], b[0]], ["a", "b"])
    assert single.recommended == 0
    repeated = rank_candidates([a, b], ["a", "b"])
    assert repeated.recommended is None
    assert repeated.measures[0].repeats == 3 and repeated.settings["repeats"] == 3
    assert repeated.measures[0].se > 5 * single.measures[0].se
    assert repeated.measures[0].best_loss == pytest.approx(np.mean([0.5, 0.75, 0.62]), abs=0.03)


def test_repeats_that_agree_keep_a_clear_winner():
    a = [curve(floor=f, noise=0.02, seed=s) for s, f in enumerate([0.5, 0.51, 0.49])]
    b = [curve(floor=f, noise=0.02, seed=10 + s) for s, f in enumerate([0.7, 0.69, 0.71])]
    r = rank_candidates([b, a], ["b", "a"])
    assert r.recommended == 1


def test_merge_is_the_pointwise_mean_cut_where_any_repeat_stopped():
    lrs = list(np.geomspace(1e-4, 1, 6))
    one = CurveInput(lrs, [2.0, 1.0, 0.5, 0.4, 3.0, 9.0])
    two = CurveInput(lrs[:5], [2.2, 1.2, 0.7, 0.6, math.nan], stop_reason="non-finite loss")
    m = merge([one, two])
    assert m.lrs == lrs[:5]
    assert m.losses[:4] == pytest.approx([2.1, 1.1, 0.6, 0.5])
    assert math.isnan(m.losses[4])
    assert merge([one]) is one
    with pytest.raises(InvalidArgument, match="share their learning rates"):
        merge([one, CurveInput([x * 2 for x in lrs], one.losses)])


# ----------------------------------------------------------------------------- metric mode


def _with_metric(c: CurveInput, peak: float, seed: int) -> CurveInput:
    lrs = np.geomspace(1e-6, 1, 20)
    acc = 0.1 + (peak - 0.1) * np.exp(-((np.log10(lrs) + 3) ** 2) / 2)
    acc = acc + 0.005 * np.random.default_rng(seed).standard_normal(20)
    return CurveInput(c.lrs, c.losses, c.stop_reason, list(lrs), list(acc))


def test_rank_by_metric_picks_the_highest_accuracy_reached():
    a = _with_metric(curve(seed=1), peak=0.9, seed=1)
    b = _with_metric(curve(seed=2), peak=0.6, seed=2)
    by_loss = rank_candidates([b, a], labels(2), metric_name="accuracy")
    by_metric = rank_candidates([b, a], labels(2), rank_by="metric", metric_name="accuracy")
    assert by_loss.recommended is None  # same loss curves
    assert by_metric.recommended == 1
    assert by_metric.measures[1].metric_best == pytest.approx(0.9, abs=0.02)
    assert "best eval accuracy 0.8" in by_metric.reasons[1]


def test_lower_is_better_metrics_are_ranked_the_other_way():
    a = _with_metric(curve(seed=1), peak=0.9, seed=1)
    b = _with_metric(curve(seed=2), peak=0.6, seed=2)
    r = rank_candidates([a, b], labels(2), rank_by="metric", higher_is_better=False)
    assert r.measures[1].metric_best == pytest.approx(0.1, abs=0.02)
    assert r.order[0] in (0, 1)  # both reach ~0.1 at the edges: a tie on the metric
    assert r.recommended is None


def test_rank_by_metric_without_metric_curves_is_an_error():
    with pytest.raises(InvalidArgument, match="needs eval metric curves"):
        rank_candidates([curve(), curve(seed=1)], labels(2), rank_by="metric")


# ----------------------------------------------------------------------------- properties


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    floors=st.lists(st.floats(0.2, 1.5), min_size=2, max_size=4),
    blows=st.lists(st.sampled_from([0.03, 0.3, 3.0, None]), min_size=4, max_size=4),
    noise=st.floats(0.0, 0.1),
    shift=st.floats(-5.0, 5.0),
    scale=st.floats(0.1, 10.0),
    seed=st.integers(0, 2**16),
    perm_seed=st.integers(0, 1000),
)
def test_the_ranking_ignores_order_shift_and_scale(
    floors, blows, noise, shift, scale, seed, perm_seed
):
    """Reordering the candidates, adding a constant to every loss or multiplying them by a
    positive factor changes neither the order nor the verdict (the rule reads differences
    measured in noise units and a level defined by the curves themselves; identical curves
    are ordered by label)."""
    cands = [
        curve(floor=f, blow=b, noise=noise, seed=seed + k)
        for k, (f, b) in enumerate(zip(floors, blows, strict=False))
    ]
    n = len(cands)
    base = rank_candidates(cands, labels(n))
    perm = list(np.random.default_rng(perm_seed).permutation(n))
    permuted = rank_candidates([cands[p] for p in perm], [f"c{p}" for p in perm])
    assert [perm[k] for k in permuted.order] == base.order
    assert (None if permuted.recommended is None else perm[permuted.recommended]) == (
        base.recommended
    )
    moved = [CurveInput(c.lrs, [scale * v + shift for v in c.losses], c.stop_reason) for c in cands]
    affine = rank_candidates(moved, labels(n))
    assert affine.order == base.order
    assert affine.recommended == base.recommended


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_ranks_are_a_permutation_and_the_winner_is_first(n, seed):
    rng = np.random.default_rng(seed)
    cands = [curve(floor=float(rng.uniform(0.3, 1.5)), seed=seed + k) for k in range(n)]
    r = rank_candidates(cands, labels(n))
    assert sorted(r.order) == list(range(n))
    assert sorted(r.ranks) == list(range(1, n + 1))
    assert all(r.ranks[k] == i + 1 for i, k in enumerate(r.order))
    assert r.tied[0] == r.order[0]
    if r.recommended is not None:
        assert r.recommended == r.order[0] and r.tied == [r.recommended]


# ----------------------------------------------------------------------------- plumbing


def test_ranking_round_trips_through_its_dict():
    r = rank_candidates([curve(), curve(floor=0.9, seed=1)], labels(2))
    back = Ranking.from_dict(r.to_dict())
    assert back == r


def test_smooth_cuts_at_the_first_non_finite_loss():
    c = curve()
    losses = list(c.losses)
    losses[50] = math.inf
    s = smooth(c.lrs, losses)
    assert s.x.size == 50 and s.diverged_lr == pytest.approx(c.lrs[50])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"z": 0}, "z=0"),
        ({"rise": 1.0}, "rise=1.0"),
        ({"rank_by": "speed"}, "rank_by='speed'"),
        ({"decades": -1}, "decades=-1"),
    ],
)
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        rank_candidates([curve(), curve(seed=1)], labels(2), **kwargs)


def test_one_candidate_or_mismatched_labels_are_errors():
    with pytest.raises(InvalidArgument, match="at least 2 candidates"):
        rank_candidates([curve()], ["a"])
    with pytest.raises(InvalidArgument, match="labels has 1 entries"):
        rank_candidates([curve(), curve()], ["a"])
