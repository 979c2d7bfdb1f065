"""Warm-up + decay schedules (warmup_linear, warmup_cosine, wsd, inverse_sqrt) against references.

Three references, each driven like a training loop (``optimizer.step(); scheduler.step()``, the
value set in the optimizer after ``t`` steps is update ``t``'s, see ``fixtures/schedulers``):

* transformers' own schedulers, when transformers is installed: compared with ``==``;
* ``LambdaLR`` with lambdas written here from transformers' definitions (always run): ``==``;
* torch's schedulers where the configurations overlap: ``LinearLR`` / ``PolynomialLR``
  (D2Z without warm-up, WSD's warm-up), ``CosineAnnealingWarmRestarts`` (cosine without
  warm-up, before its restart) and ``ExponentialLR`` (``step_decay`` with ``step_size=1``).
  ``LinearLR`` and ``PolynomialLR`` update recursively (``lr *= ratio``) and the cosines differ
  in operation order, so they are compared to ``1e-12 * max_lr`` (measured: at most
  ``2.2e-16 * max_lr`` for the cosine, ``2e-14 * max_lr`` for ``LinearLR`` over 5000 steps; a
  relative tolerance would not do, as ``1 + cos`` loses relative precision near 0).
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as torch_sched

import lrlab
from fixtures.schedulers import torch_values
from lrlab.errors import InvalidArgument
from lrlab.schedules import (
    POLICIES,
    HyperSchedule,
    build,
    inverse_sqrt,
    step_decay,
    warmup_cosine,
    warmup_linear,
    wsd,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECAYS = ["cosine", "linear", "1-sqrt"]


def lrs(sched: HyperSchedule, steps: int) -> list[float]:
    return [sched.lr(t) for t in range(steps)]


def near(ours: list[float], theirs: list[float], max_lr: float) -> bool:
    """Equal to ``1e-12`` of the peak LR at every step (the torch comparisons)."""
    return max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) <= 1e-12 * max_lr


def lambda_values(factor, steps: int, max_lr: float, kind: str = "sgd") -> list[float]:
    """What ``LambdaLR(opt, factor)`` sets for updates 0..steps-1, from ``lr=max_lr``."""
    return torch_values(lambda o: torch_sched.LambdaLR(o, factor), steps, kind, lr=max_lr)[0]


# --------------------------------------------------------------------------- definitions
# transformers/optimization.py's lambdas, restated from their definitions (the references that
# always run, whether transformers is installed or not).


def linear_factor(w: int, total: int):
    def f(t: int) -> float:
        if t < w:
            return float(t) / float(max(1, w))
        return max(0.0, float(total - t) / float(max(1, total - w)))

    return f


def cosine_factor(w: int, total: int, cycles: float = 0.5):
    def f(t: int) -> float:
        if t < w:
            return float(t) / float(max(1, w))
        p = float(t - w) / float(max(1, total - w))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * p)))

    return f


def wsd_factor(w: int, d: int, total: int, decay: str, m: float):
    stable = total - w - d

    def f(t: int) -> float:
        if t < w:
            return max(0.0, float(t) / float(max(1, w)) * (1.0 - m) + m)
        if t < w + stable:
            return 1.0
        if t < w + stable + d:
            p = float(t - w - stable) / float(max(1, d))
            g = {
                "linear": lambda: 1.0 - p,
                "cosine": lambda: 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * p)),
                "1-sqrt": lambda: 1.0 - math.sqrt(p),
            }[decay]()
            return max(0.0, g * (1.0 - m) + m)
        return m

    return f


def inverse_sqrt_factor(w: int, timescale: int | None):
    tau = timescale if timescale is not None else (w or 10_000)

    def f(t: int) -> float:
        if t < w:
            return float(t) / float(max(1, w))
        return 1.0 / math.sqrt((t + tau - w) / tau)

    return f


CASES = [
    (lambda: warmup_linear(0.3, 100, warmup_steps=10), linear_factor(10, 100), 100),
    (lambda: warmup_linear(0.3, 7, warmup_steps=0), linear_factor(0, 7), 7),
    (lambda: warmup_linear(0.3, 7, warmup_steps=6), linear_factor(6, 7), 7),
    (lambda: warmup_cosine(0.3, 100, warmup_steps=10), cosine_factor(10, 100), 100),
    (lambda: warmup_cosine(0.3, 50, warmup_steps=0, num_cycles=1.5), cosine_factor(0, 50, 1.5), 50),
    (lambda: warmup_cosine(0.3, 9, warmup_steps=1, num_cycles=0.25), cosine_factor(1, 9, 0.25), 9),
    *[
        (
            lambda decay=decay: wsd(
                0.3, 100, warmup_steps=10, decay_steps=20, decay=decay, min_lr_ratio=0.1
            ),
            wsd_factor(10, 20, 100, decay, 0.1),
            100,
        )
        for decay in DECAYS
    ],
    (
        lambda: wsd(0.3, 40, warmup_steps=0, decay_steps=40),
        wsd_factor(0, 40, 40, "cosine", 0.0),
        40,
    ),
    (lambda: wsd(0.3, 40, warmup_steps=5, decay_steps=0), wsd_factor(5, 0, 40, "cosine", 0.0), 40),
    (
        lambda: wsd(0.3, 12, warmup_steps=5, decay_steps=7, decay="1-sqrt", min_lr_ratio=1.0),
        wsd_factor(5, 7, 12, "1-sqrt", 1.0),
        12,
    ),
    (lambda: inverse_sqrt(0.3, warmup_steps=10), inverse_sqrt_factor(10, None), 60),
    (lambda: inverse_sqrt(0.3, warmup_steps=0), inverse_sqrt_factor(0, None), 60),
    (lambda: inverse_sqrt(0.3, warmup_steps=4, timescale=50), inverse_sqrt_factor(4, 50), 60),
]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(("make", "factor", "total"), CASES)
def test_equal_to_the_definitions_driven_by_lambdalr(make, factor, total, kind):
    sched = make()
    steps = total + 1  # the value at total_steps is the schedule's end (0 for D2Z): compared too
    assert lrs(sched, steps) == lambda_values(factor, steps, 0.3, kind)
    assert sched.momentum(0) is None  # these leave the optimizer's momentum alone


@FAST
@given(
    total=st.integers(1, 300),
    warm=st.floats(0.0, 0.99),
    decay_share=st.floats(0.0, 1.0),
    decay=st.sampled_from(DECAYS),
    m=st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
    max_lr=st.floats(1e-6, 10.0),
)
def test_wsd_definition_property(total, warm, decay_share, decay, m, max_lr):
    w = min(int(warm * total), total - 1)
    d = int(decay_share * (total - w))
    sched = wsd(max_lr, total, warmup_steps=w, decay_steps=d, decay=decay, min_lr_ratio=m)
    expected = lambda_values(wsd_factor(w, d, total, decay, m), total + 1, max_lr)
    assert lrs(sched, total + 1) == expected
    assert sched.lr(total + 17) == expected[-1] == max_lr * m


@FAST
@given(
    total=st.integers(1, 300),
    warm=st.floats(0.0, 0.99),
    cycles=st.one_of(st.just(0.5), st.floats(0.05, 3.0)),
    max_lr=st.floats(1e-6, 10.0),
)
def test_warmup_linear_and_cosine_definition_property(total, warm, cycles, max_lr):
    w = min(int(warm * total), total - 1)
    linear = warmup_linear(max_lr, total, warmup_steps=w)
    assert lrs(linear, total + 1) == lambda_values(linear_factor(w, total), total + 1, max_lr)
    cos = warmup_cosine(max_lr, total, warmup_steps=w, num_cycles=cycles)
    expected = lambda_values(cosine_factor(w, total, cycles), total + 1, max_lr)
    assert lrs(cos, total + 1) == expected
    assert cos.lr(total + 5) == expected[-1]  # holds its end (transformers' wave would go on)


@FAST
@given(
    w=st.integers(0, 200),
    timescale=st.one_of(st.none(), st.integers(1, 20_000)),
    max_lr=st.floats(1e-6, 10.0),
)
def test_inverse_sqrt_definition_property(w, timescale, max_lr):
    sched = inverse_sqrt(max_lr, warmup_steps=w, timescale=timescale)
    steps = w + 50
    assert lrs(sched, steps) == lambda_values(inverse_sqrt_factor(w, timescale), steps, max_lr)
    assert sched.lr(w) == max_lr and sched.total_steps is None


# --------------------------------------------------------------------------- transformers itself


def transformers_values(name: str, steps: int, max_lr: float, kind: str = "sgd", **kw):
    pytest.importorskip("transformers", minversion="4.49")  # decay_type, num_training_steps
    optimization = pytest.importorskip("transformers.optimization")
    make = getattr(optimization, name)
    return torch_values(lambda o: make(o, **kw), steps, kind, lr=max_lr)[0]


TRANSFORMERS_GRID = [
    ("get_linear_schedule_with_warmup", dict(num_warmup_steps=10, num_training_steps=100)),
    ("get_linear_schedule_with_warmup", dict(num_warmup_steps=0, num_training_steps=33)),
    ("get_cosine_schedule_with_warmup", dict(num_warmup_steps=10, num_training_steps=100)),
    (
        "get_cosine_schedule_with_warmup",
        dict(num_warmup_steps=3, num_training_steps=64, num_cycles=2.5),
    ),
    ("get_inverse_sqrt_schedule", dict(num_warmup_steps=25)),
    ("get_inverse_sqrt_schedule", dict(num_warmup_steps=0)),
    ("get_inverse_sqrt_schedule", dict(num_warmup_steps=8, timescale=3)),
    *[
        (
            "get_wsd_schedule",
            dict(
                num_warmup_steps=10,
                num_decay_steps=30,
                num_training_steps=100,
                decay_type=decay,
                min_lr_ratio=m,
            ),
        )
        for decay in DECAYS
        for m in (0.0, 0.1)
    ],
    ("get_wsd_schedule", dict(num_warmup_steps=0, num_decay_steps=50, num_training_steps=50)),
    ("get_wsd_schedule", dict(num_warmup_steps=5, num_decay_steps=0, num_training_steps=20)),
]


def ours_for(name: str, max_lr: float, kw: dict) -> HyperSchedule:
    """The lrlab schedule with the same arguments as transformers' ``name(**kw)``."""
    w = kw["num_warmup_steps"]
    if name == "get_linear_schedule_with_warmup":
        return warmup_linear(max_lr, kw["num_training_steps"], warmup_steps=w)
    if name == "get_cosine_schedule_with_warmup":
        cycles = kw.get("num_cycles", 0.5)
        return warmup_cosine(max_lr, kw["num_training_steps"], warmup_steps=w, num_cycles=cycles)
    if name == "get_inverse_sqrt_schedule":
        return inverse_sqrt(max_lr, warmup_steps=w, timescale=kw.get("timescale"))
    return wsd(
        max_lr,
        kw["num_training_steps"],
        warmup_steps=w,
        decay_steps=kw["num_decay_steps"],
        decay=kw.get("decay_type", "cosine"),
        min_lr_ratio=kw.get("min_lr_ratio", 0.0),
    )


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(("name", "kw"), TRANSFORMERS_GRID, ids=lambda x: str(x)[:40])
def test_equal_to_transformers(name, kw, kind):
    steps = kw.get("num_training_steps", 150) + 1
    expected = transformers_values(name, steps, 0.37, kind, **kw)
    assert lrs(ours_for(name, 0.37, kw), steps) == expected


@FAST
@given(
    name=st.sampled_from(
        [
            "get_linear_schedule_with_warmup",
            "get_cosine_schedule_with_warmup",
            "get_inverse_sqrt_schedule",
            "get_wsd_schedule",
        ]
    ),
    total=st.integers(1, 200),
    warm=st.floats(0.0, 0.99),
    decay_share=st.floats(0.0, 1.0),
    decay=st.sampled_from(DECAYS),
    m=st.floats(0.0, 1.0),
    cycles=st.floats(0.1, 3.0),
    timescale=st.one_of(st.none(), st.integers(1, 500)),
    max_lr=st.floats(1e-6, 10.0),
)
def test_transformers_parity_property(
    name, total, warm, decay_share, decay, m, cycles, timescale, max_lr
):
    pytest.importorskip("transformers", minversion="4.49")
    w = min(int(warm * total), total - 1)
    kw: dict = {"num_warmup_steps": w}
    if name == "get_inverse_sqrt_schedule":
        kw["timescale"] = timescale
    else:
        kw["num_training_steps"] = total
    if name == "get_cosine_schedule_with_warmup":
        kw["num_cycles"] = cycles
    if name == "get_wsd_schedule":
        kw.update(num_decay_steps=int(decay_share * (total - w)), decay_type=decay, min_lr_ratio=m)
    steps = total + 1
    expected = transformers_values(name, steps, max_lr, **kw)
    assert lrs(ours_for(name, max_lr, kw), steps) == expected


# --------------------------------------------------------------------------- torch overlaps


@pytest.mark.parametrize("total", [1, 2, 10, 100, 1000])
def test_d2z_without_warmup_is_linearlr_and_polynomiallr(total):
    max_lr = 0.2
    lin = torch_values(lambda o: torch_sched.LinearLR(o, 1.0, 0.0, total), total + 1, lr=max_lr)
    poly = torch_values(lambda o: torch_sched.PolynomialLR(o, total, 1.0), total + 1, lr=max_lr)
    for sched in (
        warmup_linear(max_lr, total, warmup_steps=0),
        wsd(max_lr, total, warmup_steps=0, decay_steps=total, decay="linear"),
    ):
        assert near(lrs(sched, total + 1), lin[0], max_lr)
        assert near(lrs(sched, total + 1), poly[0], max_lr)


@pytest.mark.parametrize(("warm", "m"), [(1, 0.5), (10, 0.1), (37, 1e-3)])
def test_wsd_warmup_is_linearlr_from_min_lr_ratio(warm, m):
    total, max_lr = warm + 25, 0.3
    expected, _ = torch_values(
        lambda o: torch_sched.LinearLR(o, start_factor=m, end_factor=1.0, total_iters=warm),
        total,
        lr=max_lr,
    )
    sched = wsd(max_lr, total, warmup_steps=warm, decay_steps=0, min_lr_ratio=m)
    assert near(lrs(sched, total), expected, max_lr)


@FAST
@given(total=st.integers(1, 400), m=st.one_of(st.just(0.0), st.floats(0.0, 1.0)))
def test_cosine_without_warmup_is_cosine_annealing_warm_restarts(total, m):
    max_lr = 0.25
    expected, _ = torch_values(
        lambda o: torch_sched.CosineAnnealingWarmRestarts(o, T_0=total, eta_min=m * max_lr),
        total,
        lr=max_lr,
    )
    wsd_cos = wsd(max_lr, total, warmup_steps=0, decay_steps=total, min_lr_ratio=m)
    assert near(lrs(wsd_cos, total), expected, max_lr)
    if m == 0.0:
        assert near(lrs(warmup_cosine(max_lr, total, warmup_steps=0), total), expected, max_lr)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.999])
def test_step_decay_every_step_is_exponentiallr(gamma):
    steps, lr = 300, 0.1
    expected, _ = torch_values(lambda o: torch_sched.ExponentialLR(o, gamma), steps, lr=lr)
    ours = lrs(step_decay(lr, 1, gamma), steps)
    assert near(ours, expected, lr)
    assert ours == [lr * gamma**t for t in range(steps)]  # torch's closed form, exactly


# --------------------------------------------------------------------------- shapes


def test_known_values():
    d2z = warmup_linear(1.0, 10, warmup_steps=2)
    assert d2z.lrs(10).tolist() == [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
    assert d2z.lr(10) == d2z.lr(99) == 0.0
    sched = wsd(2.0, 10, warmup_steps=2, decay_steps=4, decay="linear", min_lr_ratio=0.5)
    assert sched.lrs(11).tolist() == [1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 2.0, 1.75, 1.5, 1.25, 1.0]
    one_minus_sqrt = wsd(1.0, 4, warmup_steps=0, decay_steps=4, decay="1-sqrt")
    assert one_minus_sqrt.lr(1) == 0.5  # 1 - sqrt(1/4)
    inv = inverse_sqrt(1.0, warmup_steps=4)
    assert inv.lr(4) == 1.0 and inv.lr(4 + 12) == 0.5  # 1 / sqrt((12 + 4) / 4)
    cos = warmup_cosine(1.0, 12, warmup_steps=2)
    assert cos.lr(2) == 1.0 and cos.lr(7) == pytest.approx(0.5) and cos.lr(12) == 0.0


@pytest.mark.parametrize(
    "sched",
    [
        warmup_linear(0.1, 50, warmup_steps=5),
        warmup_cosine(0.1, 50, warmup_steps=5),
        wsd(0.1, 50, warmup_steps=5, decay_steps=10, decay="1-sqrt", min_lr_ratio=0.01),
        inverse_sqrt(0.1, warmup_steps=5),
    ],
    ids=lambda s: s.name,
)
def test_peak_at_the_end_of_the_warmup_and_never_above(sched):
    values = sched.lrs(60)
    assert values.max() == 0.1 == sched.lr(5) and int(np.argmax(values)) == 5
    assert values[0] == (0.001 if sched.name == "wsd" else 0.0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: wsd(0.1, 100, warmup_steps=60, decay_steps=50), "^warmup_steps \\+ decay_steps"),
        (lambda: wsd(0.1, 100, warmup_steps=100, decay_steps=0), "^warmup_steps=100"),
        (lambda: wsd(0.1, 100, warmup_steps=-1, decay_steps=5), "^warmup_steps=-1"),
        (lambda: wsd(0.1, 100, warmup_steps=5, decay_steps=-5), "^decay_steps=-5"),
        (lambda: wsd(0.1, 100, warmup_steps=5, decay_steps=5, min_lr_ratio=1.5), "^min_lr_ratio"),
        (lambda: wsd(0.1, 100, warmup_steps=5, decay_steps=5, min_lr_ratio=-0.1), "^min_lr_ratio"),
        (lambda: wsd(0.1, 100, warmup_steps=5, decay_steps=5, decay="exp"), "^decay='exp'"),
        (lambda: wsd(0.0, 100, warmup_steps=5, decay_steps=5), "^max_lr=0.0"),
        (lambda: wsd(0.1, 0, warmup_steps=0, decay_steps=0), "^total_steps=0"),
        (lambda: wsd(0.1, 100, warmup_steps=2.5, decay_steps=5), "^warmup_steps=2.5"),
        (lambda: warmup_linear(0.1, 10, warmup_steps=10), "^warmup_steps=10 must be < total"),
        (lambda: warmup_linear(-0.1, 10, warmup_steps=1), "^max_lr"),
        (lambda: warmup_linear(0.1, -3, warmup_steps=1), "^total_steps=-3"),
        (lambda: warmup_cosine(0.1, 10, warmup_steps=1, num_cycles=0), "^num_cycles=0"),
        (lambda: warmup_cosine(0.1, 10, warmup_steps=11), "^warmup_steps=11"),
        (lambda: inverse_sqrt(0.1, warmup_steps=-2), "^warmup_steps=-2"),
        (lambda: inverse_sqrt(0.1, warmup_steps=2, timescale=0), "^timescale=0"),
        (lambda: inverse_sqrt(float("nan"), warmup_steps=2), "^max_lr=nan"),
    ],
)
def test_bad_arguments_are_one_line_errors_naming_the_argument(make, match):
    with pytest.raises(InvalidArgument, match=match) as caught:
        make()
    assert "\n" not in str(caught.value)


def test_step_counts_are_keyword_only():
    with pytest.raises(TypeError):
        wsd(0.1, 100, 10, 20)  # type: ignore[misc]


# --------------------------------------------------------------------------- registry, records


NEW = {
    "warmup-linear": warmup_linear(0.1, 40, warmup_steps=4),
    "warmup-cosine": warmup_cosine(0.1, 40, warmup_steps=4, num_cycles=0.4),
    "wsd": wsd(0.1, 40, warmup_steps=4, decay_steps=8, decay="1-sqrt", min_lr_ratio=0.05),
    "inverse-sqrt": inverse_sqrt(0.1, warmup_steps=4, timescale=9),
}


@pytest.mark.parametrize("name", NEW)
def test_registered_exported_and_rebuilt_from_records(name):
    sched = NEW[name]
    assert sched.name == name and POLICIES[name] is getattr(lrlab, name.replace("-", "_"))
    assert pickle.loads(pickle.dumps(sched)) == sched
    again = HyperSchedule.from_dict(sched.to_dict())
    assert again == sched and again.lrs(60).tolist() == sched.lrs(60).tolist()
    # the CLI / YAML path: underscores, dashed keys, numbers as strings
    params = {k.replace("_", "-"): str(v) for k, v in sched.params.items() if v is not None}
    assert build(name.replace("-", "_"), **params) == sched


@pytest.mark.parametrize("name", NEW)
def test_pure_and_positive_within_the_run(name):
    sched = NEW[name]
    total = sched.total_steps or 40
    values = sched.lrs(total + 20)
    # the warm-up starts at 0 (wsd: at min_lr_ratio * max_lr); D2Z and the cosine end at 0
    assert values[0] == sched.params.get("min_lr_ratio", 0.0) * sched.params["max_lr"]
    assert np.all(values[1:total] > 0) and np.all(values[total:] >= 0)
    assert [sched.lr(t) for t in reversed(range(total + 20))] == values[::-1].tolist()


def test_records_hold_the_arguments_as_given():
    assert NEW["inverse-sqrt"].params == {"max_lr": 0.1, "warmup_steps": 4, "timescale": 9}
    assert inverse_sqrt(0.1, warmup_steps=4).params["timescale"] is None
    assert NEW["wsd"].params == {
        "max_lr": 0.1,
        "total_steps": 40,
        "warmup_steps": 4,
        "decay_steps": 8,
        "decay": "1-sqrt",
        "min_lr_ratio": 0.05,
    }


def test_usable_from_experiment_configs():
    from lrlab.experiment.config import ScheduleConfig

    block = {"name": "wsd", "max_lr": "auto", "warmup_steps": 10, "decay_steps": "20"}
    config = ScheduleConfig(**block, decay="1-sqrt", min_lr_ratio=0.1)
    assert config.auto and config.params["decay"] == "1-sqrt" and config.params["decay_steps"] == 20
    assert ScheduleConfig(
        name="cyclic", base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular2"
    )
    with pytest.raises(InvalidArgument, match="decay='exp' must be one of"):
        ScheduleConfig(**block, decay="exp")
    with pytest.raises(InvalidArgument, match="warmup_steps \\+ decay_steps"):
        ScheduleConfig(name="wsd", max_lr=0.1, total_steps=20, warmup_steps=10, decay_steps=20)
    with pytest.raises(InvalidArgument, match="max_lr='fast' must be a number or 'auto'"):
        ScheduleConfig(name="inverse-sqrt", max_lr="fast", warmup_steps=10)


def test_the_report_figure_draws_them_exactly():
    from lrlab.report import figures

    fig = figures.schedules_figure({name: (s, 60) for name, s in NEW.items()})
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    for name, sched in NEW.items():
        assert lines[name].get_ydata().tolist() == sched.lrs(60).tolist()
