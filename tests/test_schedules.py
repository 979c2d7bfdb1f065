"""Schedules: pure pieces, policies, validation, and exact parity with torch's schedulers.

The references are ``torch.optim.lr_scheduler`` itself: each torch scheduler is stepped the
way a training loop steps it (``optimizer.step(); scheduler.step()``) and the value it has set
in the optimizer after ``t`` steps is compared with ``schedule.lr(t)`` / ``.momentum(t)``.
OneCycleLR and CyclicLR are compared with ``==``; MultiStepLR / StepLR / CosineAnnealingLR
update recursively in torch, so they are compared exactly with torch's closed form and to
``rel=1e-12`` with the recursive values (see docs/schedules.md).
"""

from __future__ import annotations

import bisect
import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as torch_sched

import lrlab
from fixtures.schedulers import optimizer as _optimizer
from fixtures.schedulers import rel_close as _rel_close
from fixtures.schedulers import torch_values
from lrlab import _io
from lrlab.errors import InvalidArgument
from lrlab.schedules import (
    POLICIES,
    Constant,
    Cosine,
    CyclicWave,
    Exponential,
    HyperSchedule,
    Join,
    Linear,
    Polynomial,
    build,
    constant,
    cosine,
    cyclic,
    inverse_sqrt,
    join,
    one_cycle,
    piecewise_constant,
    step_decay,
    warmup,
    warmup_cosine,
    warmup_linear,
    wsd,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def ours(schedule: HyperSchedule, steps: int) -> tuple[list[float], list[float | None]]:
    return [schedule.lr(t) for t in range(steps)], [schedule.momentum(t) for t in range(steps)]


def torch_one_cycle_phase_steps(total: int, pct: float, three_phase: bool) -> list[int]:
    """How many integer steps torch's OneCycleLR.get_lr puts in each phase (its own loop)."""
    ends = [float(pct * total) - 1]
    if three_phase:
        ends.append(float(2 * pct * total) - 2)
    ends.append(total - 1)
    counts = [0] * len(ends)
    for t in range(total):
        for i, end in enumerate(ends):
            if t <= end or i == len(ends) - 1:
                counts[i] += 1
                break
    return counts


def one_cycle_is_sound(total: int, pct: float, three_phase: bool) -> bool:
    """Independent statement of what one_cycle must accept: every phase gets a step, the
    warm-up's end is > 0 (torch divides by zero at 0 and skips the warm-up below), and
    three_phase needs pct <= 0.5."""
    if not 0 < pct < 1 or (three_phase and pct > 0.5):
        return False
    if float(pct * total) - 1 <= 0:
        return False
    return all(c > 0 for c in torch_one_cycle_phase_steps(total, pct, three_phase))


# --------------------------------------------------------------------------- pieces


def test_pieces_known_values():
    assert Constant(0.3)(0) == Constant(0.3)(10**9) == 0.3
    lin = Linear(1.0, 3.0, 4)
    assert [lin(t) for t in range(6)] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    cos = Cosine(1.0, 0.0, 2)
    assert cos(0) == 1.0 and cos(1) == pytest.approx(0.5, abs=1e-15) and cos(2) == cos(7) == 0.0
    exp = Exponential(1.0, 0.5, every=2)
    assert exp(2) == 0.5 and exp(1) == pytest.approx(math.sqrt(0.5))
    stair = Exponential(1.0, 0.5, every=2, staircase=True)
    assert [stair(t) for t in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    floor = Exponential(1.0, 0.5, end=0.3)
    assert floor(1) == 0.5 and floor(2) == floor(100) == 0.3
    ceiling = Exponential(1.0, 2.0, end=5.0)
    assert ceiling(2) == 4.0 and ceiling(3) == 5.0
    poly = Polynomial(1.0, 0.0, 4, power=2.0)
    assert [poly(t) for t in (0, 2, 4, 9)] == [1.0, 0.25, 0.0, 0.0]


def test_range_test_sweep_is_an_exponential_piece():
    start, end, n = 1e-7, 10.0, 100
    sweep = Exponential(start, end / start, every=n - 1)
    expected = [start * (end / start) ** (i / (n - 1)) for i in range(n)]
    assert [sweep(i) for i in range(n)] == pytest.approx(expected, rel=1e-14)
    assert sweep(0) == start and sweep(n - 1) == pytest.approx(end, rel=1e-14)


def test_cyclic_wave_shape():
    wave = CyclicWave(1.0, 3.0, 2, 2)
    assert [wave(t) for t in range(9)] == [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    falling = CyclicWave(0.8, 0.9, 2, 2, falling=True)
    assert falling(0) == 0.9 and falling(2) == pytest.approx(0.8)
    halving = CyclicWave(0.0, 4.0, 1, 1, mode="triangular2")
    assert [halving(t) for t in (1, 3, 5)] == [4.0, 2.0, 1.0]
    sawtooth = CyclicWave(0.0, 1.0, 4, 0)
    assert [sawtooth(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 0.0, 0.25]


def test_join_feeds_each_piece_its_relative_step():
    seen = []

    class Probe:
        def __init__(self, tag):
            self.tag = tag

        def __call__(self, step):
            seen.append((self.tag, step))
            return float(step)

    joined = join([Probe("a"), Probe("b"), Probe("c")], [3, 5])
    assert [joined(t) for t in range(7)] == [0, 1, 2, 0, 1, 0, 1]
    assert [tag for tag, _ in seen] == ["a"] * 3 + ["b"] * 2 + ["c"] * 2


def test_join_warmup_then_cosine_matches_the_formula():
    sched = join([Linear(0.0, 0.1, 10), Cosine(0.1, 0.0, 90)], [10])
    assert sched(0) == 0.0 and sched(5) == pytest.approx(0.05) and sched(10) == 0.1
    t = 40
    assert sched(t) == pytest.approx(0.05 * (1 + math.cos(math.pi * (t - 10) / 90)), rel=1e-14)
    assert sched(100) == sched(10**6) == 0.0


@pytest.mark.parametrize(
    ("schedules", "boundaries", "match"),
    [
        ([], [], "at least one"),
        ([Constant(1.0), Constant(2.0)], [], "exactly one boundary"),
        ([Constant(1.0), Constant(2.0), Constant(3.0)], [5, 5], "strictly increasing"),
        ([Constant(1.0), Constant(2.0)], [0], "boundaries\\[0\\]=0"),
        ([Constant(1.0), 3.0], [2], "not callable"),
    ],
)
def test_join_rejects_bad_layouts(schedules, boundaries, match):
    with pytest.raises(InvalidArgument, match=match):
        join(schedules, boundaries)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Linear(0.0, 1.0, 0), "steps"),
        (lambda: Cosine(0.0, float("nan"), 3), "end"),
        (lambda: Exponential(1.0, -0.5), "rate"),
        (lambda: Exponential(1.0, 0.5, every=1.5, staircase=True), "every"),
        (lambda: Polynomial(1.0, 0.0, 5, power=0), "power"),
        (lambda: CyclicWave(0.1, 1.0, 2, 2, mode="sine"), "mode"),
        (lambda: Constant("0.1"), "value"),
    ],
)
def test_pieces_validate_at_construction(make, name):
    with pytest.raises(InvalidArgument, match=f"^{name}="):
        make()


# --------------------------------------------------------------------------- one-cycle parity


def _ids(kw: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in kw.items())


ONE_CYCLE_GRID = [
    dict(total_steps=100),
    dict(total_steps=100, anneal="linear"),
    dict(total_steps=100, three_phase=True),
    dict(total_steps=100, three_phase=True, anneal="linear"),
    dict(total_steps=97, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
    dict(total_steps=10, pct_start=0.3),  # 0.3 * 10 = 3.0000000000000004 in floats
    dict(total_steps=7, pct_start=0.5, three_phase=True),
    dict(total_steps=3, pct_start=0.5),  # fractional warm-up end (0.5)
    dict(total_steps=200, pct_start=0.45, base_momentum=0.8, max_momentum=0.99),
    dict(total_steps=50, pct_start=0.1, base_momentum=0.9, max_momentum=0.9),
    dict(total_steps=64, pct_start=0.2, three_phase=True, div_factor=1.0),
]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(
    "kw", ONE_CYCLE_GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items())
)
def test_one_cycle_equals_torch_exactly(kw, kind):
    max_lr = 0.37
    torch_kw = {("anneal_strategy" if k == "anneal" else k): v for k, v in kw.items()}
    expected = torch_values(
        lambda opt: torch_sched.OneCycleLR(opt, max_lr, **torch_kw), kw["total_steps"], kind
    )
    assert ours(one_cycle(max_lr, **kw), kw["total_steps"]) == expected


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_without_momentum_cycling_leaves_momentum_alone(three_phase):
    sched = one_cycle(0.2, 40, three_phase=three_phase, cycle_momentum=False)
    lrs, moms = torch_values(
        lambda opt: torch_sched.OneCycleLR(
            opt, 0.2, total_steps=40, three_phase=three_phase, cycle_momentum=False
        ),
        40,
    )
    assert ours(sched, 40)[0] == lrs
    assert set(moms) == {0.9}  # torch left the optimizer's momentum alone too
    assert sched.momentum(0) is None and not sched.has_momentum


@FAST
@given(
    total=st.integers(2, 400),
    pct=st.one_of(st.floats(0.001, 0.999), st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.4, 0.5])),
    three_phase=st.booleans(),
    anneal=st.sampled_from(["cos", "linear"]),
    max_lr=st.floats(1e-5, 10.0),
    div_factor=st.floats(1.0, 1e3),
    final_div_factor=st.floats(1.0, 1e5),
    kind=st.sampled_from(["sgd", "adam"]),
)
def test_one_cycle_parity_or_rejection_property(
    total, pct, three_phase, anneal, max_lr, div_factor, final_div_factor, kind
):
    kw = dict(
        pct_start=pct,
        three_phase=three_phase,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )
    if not one_cycle_is_sound(total, pct, three_phase):
        with pytest.raises(InvalidArgument):
            one_cycle(max_lr, total, anneal=anneal, **kw)
        return
    sched = one_cycle(max_lr, total, anneal=anneal, **kw)
    expected = torch_values(
        lambda opt: torch_sched.OneCycleLR(
            opt, max_lr, total_steps=total, anneal_strategy=anneal, **kw
        ),
        total,
        kind,
    )
    assert ours(sched, total) == expected
    # Holds the final values beyond the end (torch raises there).
    assert sched.lr(total) == sched.lr(total + 1000) == expected[0][-1]
    assert sched.momentum(total + 5) == expected[1][-1]


def test_one_cycle_shape_and_known_values():
    sched = one_cycle(0.1, total_steps=1000)
    lrs = sched.lrs()
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs.max() == 0.1
    assert int(np.argmax(lrs)) == 299  # the warm-up ends at 0.3 * 1000 - 1
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)
    moms = sched.momentums()
    assert moms[0] == 0.95 and moms[299] == 0.85 and moms[-1] == 0.95
    three = one_cycle(0.1, total_steps=1000, three_phase=True, anneal="linear").lrs()
    assert three[598] == pytest.approx(0.1 / 25) and three[-1] == pytest.approx(4e-7)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        (dict(pct_start=0.6, three_phase=True), "pct_start"),
        (dict(pct_start=0.0), "pct_start"),
        (dict(pct_start=1.0), "pct_start"),
        (dict(total_steps=3), "total_steps"),  # 0.3 * 3 - 1 < 0: torch skips the warm-up
        (dict(total_steps=1), "total_steps"),
        (dict(total_steps=10.5), "total_steps"),
        (dict(max_lr=0.0), "max_lr"),
        (dict(max_lr=-1.0), "max_lr"),
        (dict(max_lr=float("inf")), "max_lr"),
        (dict(div_factor=0.5), "div_factor"),
        (dict(final_div_factor=0.1), "final_div_factor"),
        (dict(base_momentum=0.96), "base_momentum"),
        (dict(max_momentum=1.0), "max_momentum"),
        (dict(base_momentum=-0.1), "base_momentum"),
        (dict(anneal="cosine"), "anneal"),
        (dict(three_phase="false"), "three_phase"),
    ],
)
def test_one_cycle_rejects_what_torch_gets_wrong(kw, name):
    args = dict(max_lr=0.1, total_steps=100) | kw
    with pytest.raises(InvalidArgument, match=name):
        one_cycle(**args)


def test_one_cycle_rejected_layouts_really_are_wrong_in_torch():
    # pct_start * total_steps = 0.9: torch starts in the decay phase, above the initial LR.
    lrs, _ = torch_values(lambda o: torch_sched.OneCycleLR(o, 1.0, total_steps=3), 3)
    assert lrs[0] > 1.0 / 25
    # three_phase with pct_start > 0.5: torch's schedule ends before coming back down.
    lrs, _ = torch_values(
        lambda o: torch_sched.OneCycleLR(o, 1.0, total_steps=20, pct_start=0.7, three_phase=True),
        20,
    )
    assert lrs[-1] > 1.0 / 25
    for kw in (dict(total_steps=3), dict(total_steps=20, pct_start=0.7, three_phase=True)):
        with pytest.raises(InvalidArgument):
            one_cycle(1.0, **kw)


# --------------------------------------------------------------------------- cyclic parity


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize(("up", "down"), [(5, None), (3, 7), (6, 2), (4, 0), (1, 1)])
def test_cyclic_equals_torch_exactly(mode, up, down, kind):
    gamma = 0.99 if mode == "exp_range" else 1.0
    kw = dict(step_size_up=up, step_size_down=down, mode=mode, gamma=gamma)
    expected = torch_values(lambda opt: torch_sched.CyclicLR(opt, 0.01, 0.3, **kw), 60, kind)
    assert ours(cyclic(0.01, 0.3, **kw), 60) == expected


@FAST
@given(
    base=st.floats(1e-6, 1.0),
    span=st.floats(0.0, 10.0),
    up=st.integers(1, 50),
    down=st.one_of(st.none(), st.integers(0, 50)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.5, 1.0),
    moms=st.tuples(st.floats(0.0, 0.99), st.floats(0.0, 0.99)).map(sorted),
)
def test_cyclic_parity_property(base, span, up, down, mode, gamma, moms):
    gamma = gamma if mode == "exp_range" else 1.0
    kw = dict(
        step_size_up=up,
        step_size_down=down,
        mode=mode,
        gamma=gamma,
        base_momentum=moms[0],
        max_momentum=moms[1],
    )
    max_lr = base + span
    steps = 3 * (up + (up if down is None else down)) + 2
    expected = torch_values(lambda opt: torch_sched.CyclicLR(opt, base, max_lr, **kw), steps)
    assert ours(cyclic(base, max_lr, **kw), steps) == expected


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        (dict(base_lr=0.0), "base_lr"),
        (dict(max_lr=0.001), "max_lr"),
        (dict(step_size_up=0), "step_size_up"),
        (dict(step_size_down=-1), "step_size_down"),
        (dict(mode="cosine"), "mode"),
        (dict(mode="exp_range", gamma=1.01), "gamma"),
        (dict(mode="triangular", gamma=0.9), "gamma"),
        (dict(base_momentum=0.95), "base_momentum"),
    ],
)
def test_cyclic_rejects_bad_arguments(kw, name):
    args = dict(base_lr=0.01, max_lr=0.1, step_size_up=10) | kw
    with pytest.raises(InvalidArgument, match=name):
        cyclic(**args)


def test_cyclic_without_momentum():
    sched = cyclic(0.01, 0.1, 4, cycle_momentum=False)
    assert sched.momentum(3) is None and sched.total_steps is None


# --------------------------------------------------------------------------- decays vs torch


@pytest.mark.parametrize(("milestones", "factor"), [([], 0.1), ([5], 0.1), ([3, 10, 11, 40], 0.3)])
def test_piecewise_constant_matches_multistep(milestones, factor):
    steps = 60
    sched = piecewise_constant(0.2, milestones, factor=factor)
    # Torch's closed form (what LambdaLR computes: base_lr * gamma ** #milestones <= t): exact.
    closed, _ = torch_values(
        lambda o: torch_sched.LambdaLR(o, lambda t: factor ** bisect.bisect_right(milestones, t)),
        steps,
        lr=0.2,
    )
    recursive, _ = torch_values(
        lambda o: torch_sched.MultiStepLR(o, milestones, factor), steps, lr=0.2
    )
    lrs = [sched.lr(t) for t in range(steps)]
    assert lrs == closed
    assert _rel_close(lrs, recursive)
    assert sched.momentum(0) is None


def test_piecewise_constant_exact_against_torch_closed_form():
    opt = _optimizer("sgd", lr=0.2)
    torch_sched_ = torch_sched.MultiStepLR(opt, [4, 9], 0.5)
    sched = piecewise_constant(0.2, [4, 9], factor=0.5)
    for t in (0, 3, 4, 8, 9, 30):
        torch_sched_.last_epoch = t
        assert torch_sched_._get_closed_form_lr()[0] == sched.lr(t)


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.9), (7, 0.5), (25, 0.1)])
def test_step_decay_matches_steplr(step_size, gamma):
    steps = 120
    opt = _optimizer("sgd", lr=0.1)
    reference = torch_sched.StepLR(opt, step_size, gamma)
    sched = step_decay(0.1, step_size, gamma)
    recursive = []
    for t in range(steps):
        recursive.append(opt.param_groups[0]["lr"])
        saved = reference.last_epoch
        reference.last_epoch = t
        assert reference._get_closed_form_lr()[0] == sched.lr(t)  # exact: same closed form
        reference.last_epoch = saved
        opt.step()
        reference.step()
    assert _rel_close([sched.lr(t) for t in range(steps)], recursive)


@pytest.mark.parametrize("total", [1, 2, 7, 100, 1000])
@pytest.mark.parametrize("final_lr", [0.0, 1e-4])
def test_cosine_matches_cosine_annealing(total, final_lr):
    sched = cosine(0.1, total, final_lr=final_lr)
    expected, _ = torch_values(
        lambda o: torch_sched.CosineAnnealingLR(o, T_max=total, eta_min=final_lr), total
    )
    # torch updates recursively; the closed form agrees to a few ulps (1e-13 at T=1000).
    assert _rel_close([sched.lr(t) for t in range(total)], expected)
    assert sched.lr(total) == sched.lr(total + 50) == final_lr


@pytest.mark.parametrize(("total", "warm", "start"), [(100, 10, 0.0), (50, 1, 0.01), (9, 8, 1e-3)])
def test_cosine_with_warmup_matches_lambda_reference(total, warm, start):
    lr, final = 0.4, 1e-3

    def factor(t):  # the textbook formula, written independently, relative to lr
        if t < warm:
            return (start + (lr - start) * t / warm) / lr
        progress = (t - warm) / (total - warm)
        return (final + (lr - final) * (1 + math.cos(math.pi * progress)) / 2) / lr

    opt = _optimizer("sgd", lr=lr)
    reference = torch_sched.LambdaLR(opt, factor)
    expected = []
    for _ in range(total):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        reference.step()
    sched = cosine(lr, total, warmup_steps=warm, final_lr=final, warmup_start_lr=start)
    assert _rel_close([sched.lr(t) for t in range(total)], expected)
    assert sched.lr(0) == start and sched.lr(warm) == lr


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: cosine(0.1, 10, warmup_steps=10), "warmup_steps"),
        (lambda: cosine(0.1, 10, final_lr=0.2), "final_lr"),
        (lambda: cosine(0.1, 0), "total_steps"),
        (lambda: cosine(0.1, 10, warmup_start_lr=-1.0), "warmup_start_lr"),
        (lambda: piecewise_constant(0.1, [10, 5]), "milestones"),
        (lambda: piecewise_constant(0.1, [0, 5]), "milestones\\[0\\]"),
        (lambda: piecewise_constant(0.1, "10,20"), "milestones"),
        (lambda: piecewise_constant(0.1, [10], factor=0.0), "factor"),
        (lambda: step_decay(0.1, 0), "step_size"),
        (lambda: step_decay(0.1, 10, gamma=-0.1), "gamma"),
        (lambda: constant(-0.1), "lr"),
        (lambda: constant(0.1, momentum=1.5), "momentum"),
        (lambda: warmup(constant(0.1), 0), "steps"),
        (lambda: warmup("one-cycle", 10), "schedule"),
    ],
)
def test_other_policies_reject_bad_arguments(make, name):
    with pytest.raises(InvalidArgument, match=name):
        make()


# --------------------------------------------------------------------------- warmup, constant


def test_warmup_prepends_a_ramp_and_shifts_the_schedule():
    inner = one_cycle(0.1, 50)
    sched = warmup(inner, 10, start_lr=0.0)
    assert sched.total_steps == 60
    assert [sched.lr(t) for t in range(10)] == pytest.approx(
        [inner.lr(0) * t / 10 for t in range(10)]
    )
    assert [sched.lr(10 + t) for t in range(60)] == [inner.lr(t) for t in range(60)]
    assert sched.momentum(0) == sched.momentum(9) == inner.momentum(0)
    assert sched.momentum(10 + 17) == inner.momentum(17)
    # A config can carry the wrapped schedule as a dict.
    assert warmup(inner.to_dict(), 10) == sched
    assert warmup(cyclic(0.01, 0.1, 5), 3).total_steps is None


def test_constant_with_and_without_momentum():
    assert constant(0.05).lrs(3).tolist() == [0.05] * 3 and constant(0.05).momentums(3) is None
    assert constant(0.05, momentum=0.9).momentums(2).tolist() == [0.9, 0.9]


# --------------------------------------------------------------------------- HyperSchedule


ALL_POLICIES = [
    one_cycle(0.1, 100, three_phase=True),
    cyclic(0.01, 0.1, 10, 5, mode="exp_range", gamma=0.999),
    piecewise_constant(0.1, [30, 60]),
    step_decay(0.1, 10, 0.5),
    cosine(0.1, 100, warmup_steps=5, final_lr=1e-4),
    constant(0.1, momentum=0.9),
    warmup(one_cycle(0.1, 50, cycle_momentum=False), 5),
    warmup_linear(0.1, 100, warmup_steps=5),
    warmup_cosine(0.1, 100, warmup_steps=5),
    wsd(0.1, 100, warmup_steps=5, decay_steps=20, decay="1-sqrt", min_lr_ratio=0.1),
    inverse_sqrt(0.1, warmup_steps=5),
]
# Policies that reach LR 0 at total_steps by design (D2Z, transformers' cosine): their
# positivity within the run is checked in test_schedules_warmup_decay.py.
TO_ZERO = {"warmup-linear", "warmup-cosine"}


def test_every_policy_is_registered():
    assert {s.name for s in ALL_POLICIES} == set(POLICIES)


@pytest.mark.parametrize("sched", ALL_POLICIES, ids=lambda s: s.name)
def test_round_trip_pickle_and_json(sched, tmp_path):
    assert pickle.loads(pickle.dumps(sched)) == sched
    path = _io.write_json(tmp_path / "s.json", sched.to_dict())
    again = HyperSchedule.from_dict(_io.read_json(path))
    assert again == sched and hash(again.lr_schedule) == hash(sched.lr_schedule)
    steps = sched.total_steps or 120
    assert again.lrs(steps + 10).tolist() == sched.lrs(steps + 10).tolist()
    json.dumps(sched.to_dict())  # plain JSON, nothing to convert


@pytest.mark.parametrize(
    "sched", [s for s in ALL_POLICIES if s.name not in TO_ZERO], ids=lambda s: s.name
)
def test_every_policy_is_pure_and_positive(sched):
    steps = (sched.total_steps or 120) + 20
    first = sched.lrs(steps)
    assert np.all(first[1:] > 0) and first[0] >= 0 and np.all(np.isfinite(first))
    # Evaluating out of order gives the same values: no hidden state.
    assert [sched.lr(t) for t in reversed(range(steps))] == first[::-1].tolist()
    moms = sched.momentums(steps)
    assert moms is None or (np.all(moms >= 0) and np.all(moms < 1))


def test_frozen():
    sched = one_cycle(0.1, 100)
    with pytest.raises(AttributeError):
        sched.total_steps = 5  # type: ignore[misc]


@pytest.mark.parametrize("name", ["one-cycle", "one_cycle", "One_Cycle", " one-cycle "])
def test_build_accepts_spellings(name):
    assert build(name, max_lr=0.1, total_steps=100) == one_cycle(0.1, 100)


def test_build_normalises_yaml_values_and_dashed_keys():
    sched = build("one-cycle", **{"max-lr": "0.1", "total_steps": "1e3", "three_phase": "false"})
    assert sched == one_cycle(0.1, 1000)
    assert build("piecewise_constant", lr=0.1, milestones=[10.0, 20]).params["milestones"] == [
        10,
        20,
    ]


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("two-cycle", {}, "Unknown schedule 'two-cycle'.*one-cycle, cyclic"),
        ("one-cycle", {"max_lr": 0.1, "total_steps": 10, "milestones": [3]}, "milestones.*Allowed"),
        ("one-cycle", {"max_lr": 0.1}, "needs total_steps"),
        ("cyclic", {"base_lr": 0.1}, "needs max_lr, step_size_up"),
    ],
)
def test_build_errors_list_the_allowed_names(name, params, match):
    with pytest.raises(InvalidArgument, match=match):
        build(name, **params)


def test_from_dict_accepts_the_flat_config_form():
    flat = {"name": "one_cycle", "max_lr": 0.1, "total_steps": 100}
    assert HyperSchedule.from_dict(flat) == one_cycle(0.1, 100)


@pytest.mark.parametrize(
    "bad",
    [
        {"params": {}},
        "one-cycle",
        {"name": "constant", "params": [1]},
        {"name": "constant", "params": {"lr": 0.1}, "lr": 0.2},
    ],
)
def test_from_dict_rejects_malformed_input(bad):
    with pytest.raises(InvalidArgument):
        HyperSchedule.from_dict(bad)


@pytest.mark.parametrize("step", [-1, 1.5, "3", None, True])
def test_bad_steps_are_rejected(step):
    with pytest.raises(InvalidArgument, match="step="):
        one_cycle(0.1, 100).lr(step)


def test_numpy_integer_steps_are_accepted():
    sched = one_cycle(0.1, 100)
    assert sched.lr(np.int64(7)) == sched.lr(7)


def test_lrs_needs_a_length_for_endless_schedules():
    with pytest.raises(InvalidArgument, match="no end"):
        cyclic(0.01, 0.1, 10).lrs()
    assert cyclic(0.01, 0.1, 10).lrs(21)[[0, 10, 20]].tolist() == [0.01, 0.1, 0.01]


def test_public_names_are_exported():
    for name in ("HyperSchedule", "one_cycle", "cyclic", "piecewise_constant", "step_decay"):
        assert getattr(lrlab, name) is getattr(lrlab.schedules, name)
    assert lrlab.cosine is cosine and lrlab.constant is constant and lrlab.warmup is warmup


def test_schedules_do_not_import_torch_or_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, lrlab.schedules as s; s.one_cycle(0.1, 10).lrs(); "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- plot


def test_plot_draws_lr_and_momentum(tmp_path):
    sched = one_cycle(0.1, 80)
    ax = sched.plot()
    x, y = ax.lines[0].get_data()
    assert list(x) == list(range(80)) and np.array_equal(y, sched.lrs())
    assert np.array_equal(ax.momentum_axis.lines[0].get_data()[1], sched.momentums())
    ax.figure.savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_plot_on_given_axes_without_momentum():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    out = step_decay(0.1, 5).plot(steps=20, ax=ax)
    assert out is ax and ax.momentum_axis is None and len(ax.lines) == 1
    with pytest.raises(InvalidArgument, match="no end"):
        step_decay(0.1, 5).plot()


def test_joined_pieces_pickle():
    sched = Join((Linear(0.0, 1.0, 3), Constant(1.0)), (3,))
    assert pickle.loads(pickle.dumps(sched))(5) == 1.0
