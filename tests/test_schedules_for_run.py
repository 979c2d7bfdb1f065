"""for_run: every plannable policy from a peak LR and a length, scaling with the peak.

The two properties find_lr relies on, over hypothesis-drawn peaks, scales, lengths and options:
``for_run(name, c * peak, T).lr(t) == c * for_run(name, peak, T).lr(t)`` to rounding, and the
largest LR of the run is the peak (never above it). The defaults are checked against the
constructor calls they stand for.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrlab.errors import InvalidArgument
from lrlab.schedules import (
    POLICIES,
    constant,
    cosine,
    for_run,
    inverse_sqrt,
    one_cycle,
    piecewise_constant,
    plannable,
    step_decay,
    warmup_cosine,
    warmup_linear,
    wsd,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOT_PLANNABLE = {"cyclic", "warmup"}  # by decision, see lrlab/schedules/planning.py

# A few plans per policy, defaults first: options a user would write.
PLANS = {
    "one-cycle": [{}, {"pct_start": 0.25, "three_phase": True}, {"anneal": "linear"}],
    "cosine": [
        {},
        {"warmup_fraction": 0.05, "final_lr_ratio": 0.1},
        {"warmup_start_lr_ratio": 0.1},
    ],
    "constant": [{}, {"momentum": 0.9}],
    "warmup-linear": [{}, {"warmup_fraction": 0.0}, {"warmup_fraction": 0.3}],
    "warmup-cosine": [{}, {"num_cycles": 0.4}],
    "wsd": [
        {},
        {"decay": "1-sqrt", "min_lr_ratio": 0.1},
        {"decay_fraction": 0.8, "decay": "linear"},
    ],
    "inverse-sqrt": [{}, {"warmup_fraction": 0.0}, {"timescale": 7}],
    "step-decay": [{}, {"step_fraction": 0.1, "gamma": 0.5}],
    "piecewise-constant": [{}, {"milestone_fractions": [0.3, 0.6, 0.9], "factor": 0.2}],
}


def test_every_policy_is_plannable_or_excluded_by_decision():
    assert set(plannable()) == set(POLICIES) - NOT_PLANNABLE == set(PLANS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("one-cycle", one_cycle(0.1, 1000)),
        ("cosine", cosine(0.1, 1000)),
        ("constant", constant(0.1)),
        ("warmup-linear", warmup_linear(0.1, 1000, warmup_steps=100)),
        ("warmup-cosine", warmup_cosine(0.1, 1000, warmup_steps=100)),
        ("wsd", wsd(0.1, 1000, warmup_steps=100, decay_steps=200)),
        ("inverse-sqrt", inverse_sqrt(0.1, warmup_steps=100)),
        ("step-decay", step_decay(0.1, 334)),  # x0.1 at 334 and 668: 1/3 and 2/3 of the run
        ("piecewise-constant", piecewise_constant(0.1, [500, 750])),
    ],
)
def test_defaults_are_the_documented_constructor_calls(name, expected):
    assert for_run(name, 0.1, 1000) == expected
    assert for_run(name.replace("-", "_"), 0.1, 1000) == expected


def test_options_as_fractions_ratios_steps_or_as_is():
    assert for_run("wsd", 0.2, 500, decay="1-sqrt", **{"decay-fraction": "0.1"}) == wsd(
        0.2, 500, warmup_steps=50, decay_steps=50, decay="1-sqrt"
    )
    assert for_run("wsd", 0.2, 500, warmup_steps=7) == wsd(
        0.2, 500, warmup_steps=7, decay_steps=100
    )
    planned = for_run("cosine", 0.2, 100, final_lr_ratio=0.1, warmup_start_lr_ratio=0.5)
    assert planned.params["final_lr"] == pytest.approx(0.02) and planned.params[
        "warmup_start_lr"
    ] == pytest.approx(0.1)
    assert for_run("step-decay", 0.1, 90).params["step_size"] == 30  # 1/3 * 90, not 31
    # milestones that round to the same step are kept once; those at step 0 are dropped
    assert for_run("piecewise-constant", 0.1, 3).params["milestones"] == [2]
    assert for_run("piecewise-constant", 0.1, 2, milestone_fractions=[0.1, 0.5]).params[
        "milestones"
    ] == [1]


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("cyclic", {}, "cannot plan 'cyclic'.*Plannable: one-cycle"),
        ("warmup", {}, "cannot plan 'warmup'"),
        ("two-cycle", {}, "Unknown schedule"),
        ("cosine", {"final_lr": 1e-3}, "^final_lr=0.001 is an absolute LR.*final_lr_ratio"),
        ("one-cycle", {"warmup_fraction": 0.1}, "^warmup_fraction is not an option.*pct_start"),
        ("one-cycle", {"max_lr": 0.1}, "^max_lr is for_run's peak_lr"),
        ("wsd", {"total-steps": 10}, "^total_steps is for_run's"),
        ("wsd", {"warmup_steps": 10, "warmup_fraction": 0.1}, "^Give warmup_fraction or"),
        ("wsd", {"decay_fraction": 1.5}, "^decay_fraction=1.5 must be in \\[0, 1\\]"),
        ("wsd", {"warmup_fraction": 0.6, "decay_fraction": 0.6}, "^warmup_steps \\+ decay_steps"),
        ("piecewise-constant", {"milestone_fractions": "0.5"}, "^milestone_fractions="),
        ("piecewise-constant", {"milestone_fractions": [0.5, 2]}, "milestone_fractions\\[1\\]=2"),
        ("wsd", {"decay": "exp"}, "^decay='exp'"),
    ],
)
def test_bad_plans_are_one_line_errors(name, options, match):
    with pytest.raises(InvalidArgument, match=match):
        for_run(name, 0.1, 100, **options)


@pytest.mark.parametrize(("peak", "total"), [(0.0, 10), (-1.0, 10), (0.1, 0), (0.1, 2.5)])
def test_bad_peak_or_length(peak, total):
    with pytest.raises(InvalidArgument, match=r"^(peak_lr|total_steps)="):
        for_run("constant", peak, total)


def _plan(data, name: str) -> dict:
    return data.draw(st.sampled_from(PLANS[name]), label="options")


def _length(name: str, total: int) -> int:
    return max(total, 10) if name == "one-cycle" else total  # one-cycle needs each phase a step


@FAST
@given(
    data=st.data(),
    name=st.sampled_from(sorted(PLANS)),
    peak=st.floats(1e-6, 10.0),
    scale=st.floats(1e-3, 1e3),
    total=st.integers(1, 2000),
)
def test_for_run_scales_with_the_peak(data, name, peak, scale, total):
    options = _plan(data, name)
    total = _length(name, total)
    base = for_run(name, peak, total, **options)
    scaled = for_run(name, scale * peak, total, **options)
    steps = range(0, total + 3, max(1, total // 200))
    for t in steps:
        expected = scale * base.lr(t)
        assert scaled.lr(t) == pytest.approx(expected, rel=1e-12, abs=1e-15 * scale * peak)
    assert scaled.momentums(5) is None or scaled.momentums(5).tolist() == base.momentums(5).tolist()


@FAST
@given(
    data=st.data(),
    name=st.sampled_from(sorted(PLANS)),
    peak=st.floats(1e-6, 10.0),
    total=st.integers(1, 2000),
)
def test_the_peak_of_the_run_is_peak_lr(data, name, peak, total):
    options = _plan(data, name)
    total = _length(name, total)
    values = for_run(name, peak, total, **options).lrs(total)
    assert values.max() <= peak * (1 + 1e-12)
    if name == "one-cycle":
        # Torch's warm-up ends at pct_start * T - 1: on a step only when that is an integer.
        pct = options.get("pct_start", 0.3)
        if not math.isclose(pct * total, round(pct * total), abs_tol=1e-9):
            return
    assert values.max() == pytest.approx(peak, rel=1e-12)


def test_one_cycle_between_steps_stays_below_its_peak():
    values = for_run("one-cycle", 1.0, 15).lrs()  # 0.3 * 15 - 1 = 3.5: no step on the peak
    assert 0.99 < values.max() < 1.0 and np.argmax(values) in (3, 4)
