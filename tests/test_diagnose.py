"""lrlab.suggest.diagnose: hand-made metric curves of known shape (seed 002, 13 May 2019)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab._io import read_json, write_json
from lrlab.errors import InvalidArgument
from lrlab.suggest import Diagnosis, diagnose

X = np.linspace(-5, 1, 61)  # log10 LR: 0.1 decade per evaluation
LRS = 10**X
CHANCE = 0.1


def sigmoid(x, centre, width=0.2):
    return 1 / (1 + np.exp(-(x - centre) / width))


def noisy(y, seed=0, sd=0.01):
    return y + sd * np.random.default_rng(seed).standard_normal(y.size)


def plateau_curve():
    """(ii): rises around 1e-3 and stays at 0.9 up to 10."""
    return CHANCE + 0.8 * sigmoid(X, -3.0)


def hill_curve():
    """(i): rises around 1e-3, peaks near 5e-3 and falls to 0.4 by 0.1."""
    return CHANCE + 0.8 * sigmoid(X, -3.0) - 0.5 * sigmoid(X, -2.0, 0.25)


def collapse_curve():
    """(iii): a plateau from 1e-2 to 0.3, then back to chance from ~1."""
    return CHANCE + 0.8 * sigmoid(X, -3.0) - 0.8 * sigmoid(X, -0.2, 0.1)


def test_plateau():
    d = diagnose(LRS, noisy(plateau_curve()), chance=CHANCE)
    assert d.shape == "plateau"
    lo, hi = d.ranges["plateau"]
    # High (within 15 % of the gain of the top) from where the sigmoid reaches ~0.85·gain on.
    assert 10**-3.0 < lo < 10**-2.4 and hi == pytest.approx(LRS[-1])
    rlo, rhi = d.ranges["rise"]
    assert rlo < 10**-3.0 < rhi
    assert "super-convergence" in d.text
    assert d.best == pytest.approx(0.9, abs=0.03)


def test_hill():
    d = diagnose(LRS, noisy(hill_curve()), chance=CHANCE)
    assert d.shape == "hill"
    lo, hi = d.ranges["peak"]
    assert np.log10(hi) - np.log10(lo) < 1.0  # narrower than a plateau
    assert d.ranges["decline"][1] == pytest.approx(LRS[-1])
    assert 10**-3.0 < d.best_lr < 10**-2.0
    assert "not a super-convergence sign" in d.text


def test_collapse_after_a_plateau():
    d = diagnose(LRS, noisy(collapse_curve()), chance=CHANCE)
    assert d.shape == "collapse"
    c0, c1 = d.ranges["collapse"]
    # The metric falls below half-way back to chance where the second sigmoid is half done.
    assert 10**-0.45 < c0 < 10**0.05 and c1 == pytest.approx(LRS[-1])
    assert "plateau" in d.ranges
    assert "chance" in d.text


def test_collapse_then_recovery_is_seed_002_type_iii():
    y = collapse_curve() + 0.75 * sigmoid(X, 0.6, 0.1)  # a second regime at high LR
    d = diagnose(LRS, noisy(y), chance=CHANCE)
    assert d.shape == "collapse"
    c0, c1 = d.ranges["collapse"]
    assert 10**-0.45 < c0 < c1 < 10**0.7  # the collapse ends where the second regime starts
    assert "recovers" in d.text


def test_flat():
    d = diagnose(LRS, noisy(np.full(X.size, CHANCE), sd=0.01), chance=CHANCE)
    assert d.shape == "flat" and d.ranges == {}


def test_still_rising_is_inconclusive():
    d = diagnose(LRS[:35], noisy(plateau_curve())[:35] * 0 + np.linspace(0.1, 0.8, 35))
    assert d.shape == "inconclusive" and "still rising" in d.text


def test_too_few_points_is_inconclusive():
    d = diagnose([1e-3, 1e-2, 1e-1], [0.1, 0.5, 0.9])
    assert d.shape == "inconclusive" and d.evidence["points"] == 3


def test_non_finite_metric_counts_as_the_worst_value():
    # A validation loss that overflowed at high LR: the loss curve's collapse.
    loss = 2.3 - 2.0 * sigmoid(X, -3.0) + 2.0 * sigmoid(X, -0.2, 0.1)
    loss[X > 0.3] = np.inf
    d = diagnose(LRS, loss, higher_is_better=False, chance=2.3)
    assert d.shape == "collapse"


@pytest.mark.parametrize("curve", [plateau_curve, hill_curve, collapse_curve])
def test_lower_is_better_mirrors_higher_is_better(curve):
    y = noisy(curve())
    up = diagnose(LRS, y, chance=CHANCE)
    down = diagnose(LRS, 1.0 - y, chance=1.0 - CHANCE, higher_is_better=False)
    assert up.shape == down.shape and up.ranges == down.ranges


@settings(max_examples=30, deadline=None)
@given(
    scale=st.floats(0.01, 100),
    offset=st.floats(-10, 10),
    lr_shift=st.floats(-3, 3),
    which=st.sampled_from([plateau_curve, hill_curve, collapse_curve]),
)
def test_shape_is_invariant_to_metric_units_and_where_the_lrs_sit(scale, offset, lr_shift, which):
    y = noisy(which())
    base = diagnose(LRS, y, chance=CHANCE)
    moved = diagnose(LRS * 10**lr_shift, scale * y + offset, chance=scale * CHANCE + offset)
    assert moved.shape == base.shape
    for name, (lo, hi) in base.ranges.items():
        assert moved.ranges[name] == pytest.approx((lo * 10**lr_shift, hi * 10**lr_shift))


def test_chance_defaults_to_the_first_value():
    d = diagnose(LRS, noisy(collapse_curve()))
    assert d.shape == "collapse" and d.evidence["baseline"] == pytest.approx(CHANCE, abs=0.03)


def test_round_trip_and_errors(tmp_path):
    d = diagnose(LRS, noisy(collapse_curve()), chance=CHANCE)
    assert Diagnosis.from_dict(read_json(write_json(tmp_path / "d.json", d))) == d
    assert str(d).startswith("collapse: ")
    with pytest.raises(InvalidArgument, match="same length"):
        diagnose([1e-3, 1e-2], [0.1])
    with pytest.raises(InvalidArgument, match="tol="):
        diagnose(LRS, plateau_curve(), tol=1.5)
