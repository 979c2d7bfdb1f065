"""Applying schedules to optimizers: ScheduleDriver, apply_schedule, LrlabScheduler.

References: torch's own OneCycleLR / CyclicLR driving the same optimizer in the same training
loop must give bit-identical weights; param-group values are checked group by group.
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler as torch_sched

from lrlab import LrlabScheduler, ScheduleDriver, apply_schedule
from lrlab.errors import InvalidArgument, OptimizerMismatch
from lrlab.schedules import (
    HyperSchedule,
    Linear,
    constant,
    cosine,
    cyclic,
    one_cycle,
    piecewise_constant,
    warmup,
)


def _params(n: int = 1) -> list[nn.Parameter]:
    return [nn.Parameter(torch.zeros(2)) for _ in range(n)]


def _two_groups(cls=torch.optim.SGD, **kw) -> torch.optim.Optimizer:
    a, b = _params(2)
    return cls([{"params": [a]}, {"params": [b], "lr": kw.pop("lr2", 0.01)}], **kw)


# --------------------------------------------------------------------------- ScheduleDriver


def test_driver_writes_lr_and_momentum_and_returns_them():
    opt = torch.optim.SGD(_params(), lr=0.5, momentum=0.9)
    sched = one_cycle(0.1, 100)
    driver = ScheduleDriver(opt, sched)
    for t in (0, 17, 29, 99, 150):
        out = driver.apply(t)
        assert out == {"lr": sched.lr(t), "momentum": sched.momentum(t)}
        assert opt.param_groups[0]["lr"] == sched.lr(t)
        assert opt.param_groups[0]["momentum"] == sched.momentum(t)
    assert driver.drives_momentum


def test_driver_keeps_each_groups_lr_ratio():
    opt = _two_groups(lr=0.1, lr2=0.01, momentum=0.9)
    sched = one_cycle(1.0, 50)
    driver = ScheduleDriver(opt, sched)
    assert driver.lr_ratios == pytest.approx([1.0, 0.1])
    for t in range(50):
        driver.apply(t)
        lr0, lr1 = (g["lr"] for g in opt.param_groups)
        assert lr0 == sched.lr(t) and lr1 == pytest.approx(0.1 * lr0, rel=1e-15)
        assert opt.param_groups[1]["momentum"] == sched.momentum(t)


def test_ratios_survive_a_zero_lr_and_a_new_driver():
    # Warm-up from 0 writes lr=0 in every group; the ratios come from initial_lr, kept.
    opt = _two_groups(lr=0.2, lr2=0.05, momentum=0.9)
    sched = warmup(constant(1.0), 10)
    apply_schedule(opt, sched, 0)
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]
    apply_schedule(opt, sched, 5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.125])
    # ... and through the optimizer's state_dict, as when a run resumes.
    fresh = _two_groups(lr=0.7, lr2=0.7, momentum=0.9)
    fresh.load_state_dict(opt.state_dict())
    ScheduleDriver(fresh, sched).apply(10)
    assert [g["lr"] for g in fresh.param_groups] == pytest.approx([1.0, 0.25])


def test_groups_added_later_get_their_ratio():
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    driver = ScheduleDriver(opt, constant(0.4))
    opt.add_param_group({"params": _params(), "lr": 0.3})
    driver.apply(0)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.4, 1.2])


def test_group_zero_with_zero_lr_is_an_error_unless_all_are_zero():
    opt = _two_groups(lr=0.0, lr2=0.1)
    with pytest.raises(InvalidArgument, match=r"param_groups\[0\] has lr=0"):
        ScheduleDriver(opt, constant(0.1))
    opt = _two_groups(lr=0.0, lr2=0.0)
    ScheduleDriver(opt, constant(0.1)).apply(0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam])
def test_adam_family_gets_betas0_and_keeps_beta2(cls):
    opt = cls(_params(), lr=1e-3, betas=(0.9, 0.98))
    sched = one_cycle(0.01, 40)
    driver = ScheduleDriver(opt, sched)
    for t in (0, 11, 39):
        driver.apply(t)
        assert opt.param_groups[0]["betas"] == (sched.momentum(t), 0.98)


def test_rmsprop_with_momentum_is_driven():
    opt = torch.optim.RMSprop(_params(), lr=0.01, momentum=0.5)
    ScheduleDriver(opt, cyclic(0.01, 0.1, 5)).apply(5)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.8)


def test_sgd_without_momentum_is_never_switched_on_by_default():
    opt = torch.optim.SGD(_params(), lr=0.1)  # momentum=0
    with pytest.warns(UserWarning, match="momentum=0.*cycle_momentum=True"):
        driver = ScheduleDriver(opt, one_cycle(0.1, 100))
    out = driver.apply(10)
    assert out["momentum"] is None and opt.param_groups[0]["momentum"] == 0
    assert not driver.drives_momentum


def test_sgd_without_momentum_is_switched_on_when_asked():
    opt = torch.optim.SGD(_params(), lr=0.1)
    sched = one_cycle(0.1, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ScheduleDriver(opt, sched, cycle_momentum=True).apply(10)
    assert out["momentum"] == opt.param_groups[0]["momentum"] == sched.momentum(10) > 0


def test_optimizer_without_momentum():
    opt = torch.optim.Adagrad(_params(), lr=0.1)
    with pytest.raises(OptimizerMismatch, match=r"Adagrad has no momentum.*cycle_momentum=False"):
        ScheduleDriver(opt, one_cycle(0.1, 100), cycle_momentum=True)
    with pytest.warns(UserWarning, match="Adagrad has no momentum"):
        driver = ScheduleDriver(opt, one_cycle(0.1, 100))
    assert driver.apply(3)["momentum"] is None and "momentum" not in opt.param_groups[0]
    with warnings.catch_warnings():  # the schedule asks for no momentum: nothing to say
        warnings.simplefilter("error")
        ScheduleDriver(opt, one_cycle(0.1, 100, cycle_momentum=False)).apply(3)


def test_cycle_momentum_false_leaves_momentum_alone():
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.7)
    ScheduleDriver(opt, one_cycle(0.1, 100), cycle_momentum=False).apply(50)
    assert opt.param_groups[0]["momentum"] == 0.7


def test_cycle_momentum_true_needs_a_momentum_schedule():
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.7)
    with pytest.raises(InvalidArgument, match="'cosine' schedule has no momentum"):
        ScheduleDriver(opt, cosine(0.1, 100), cycle_momentum=True)


@pytest.mark.parametrize(
    ("optimizer", "schedule", "error"),
    [
        (object(), constant(0.1), OptimizerMismatch),
        (nn.Linear(2, 2), constant(0.1), OptimizerMismatch),
        (None, "one-cycle", InvalidArgument),
        (None, lambda t: 0.1, InvalidArgument),
    ],
)
def test_driver_rejects_wrong_arguments(optimizer, schedule, error):
    optimizer = optimizer if optimizer is not None else torch.optim.SGD(_params(), lr=0.1)
    with pytest.raises(error):
        ScheduleDriver(optimizer, schedule)


def test_driver_rejects_bad_steps_and_flags():
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    with pytest.raises(InvalidArgument, match="step=-1"):
        ScheduleDriver(opt, constant(0.1)).apply(-1)
    with pytest.raises(InvalidArgument, match="cycle_momentum"):
        ScheduleDriver(opt, constant(0.1), cycle_momentum="yes")  # type: ignore[arg-type]


def test_driver_accepts_a_schedule_dict_and_custom_pieces():
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    sched = one_cycle(0.1, 10)
    assert ScheduleDriver(opt, sched.to_dict()).apply(0)["lr"] == sched.lr(0)
    custom = HyperSchedule("custom", {}, None, Linear(0.0, 1.0, 4))
    assert ScheduleDriver(opt, custom).apply(2)["lr"] == 0.5


def test_tensor_hyperparameters_are_filled_in_place():
    lr = torch.tensor(0.01)
    opt = torch.optim.Adam(_params(), lr=lr, betas=(torch.tensor(0.9), torch.tensor(0.999)))
    sched = one_cycle(0.1, 20)
    ScheduleDriver(opt, sched).apply(7)
    group = opt.param_groups[0]
    assert isinstance(group["lr"], torch.Tensor) and group["lr"].item() == pytest.approx(
        sched.lr(7)
    )
    assert group["betas"][0].item() == pytest.approx(sched.momentum(7))


# --------------------------------------------------------------------------- training parity


def _train(make_scheduler, kind: str, steps: int, *, driver: bool = False):
    """A small regression trained ``steps`` updates; returns the final weights and LR trace."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
    scheduler = make_scheduler(opt)
    gen = torch.Generator().manual_seed(1)
    trace = []
    for t in range(steps):
        if driver:
            scheduler.apply(t)
        trace.append(opt.param_groups[0]["lr"])
        x = torch.randn(16, 5, generator=gen)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not driver:
            scheduler.step()
    return [p.detach().clone() for p in model.parameters()], trace


def _assert_same_training(a, b):
    assert a[1] == b[1]
    assert all(torch.equal(x, y) for x, y in zip(a[0], b[0], strict=True))


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_lrlab_scheduler_trains_like_one_cycle_lr(kind, three_phase):
    steps = 60
    kw = dict(total_steps=steps, pct_start=0.25, three_phase=three_phase)
    torch_kw = dict(kw)
    reference = _train(lambda o: torch_sched.OneCycleLR(o, 0.3, **torch_kw), kind, steps - 1)
    ours = _train(lambda o: LrlabScheduler(o, one_cycle(0.3, **kw)), kind, steps - 1)
    driven = _train(lambda o: ScheduleDriver(o, one_cycle(0.3, **kw)), kind, steps - 1, driver=True)
    _assert_same_training(reference, ours)
    _assert_same_training(reference, driven)


@pytest.mark.parametrize("mode", ["triangular2", "exp_range"])
def test_lrlab_scheduler_trains_like_cyclic_lr(mode):
    gamma = 0.98 if mode == "exp_range" else 1.0
    kw = dict(step_size_up=7, step_size_down=4, mode=mode, gamma=gamma)
    reference = _train(lambda o: torch_sched.CyclicLR(o, 0.01, 0.2, **kw), "sgd", 40)
    ours = _train(lambda o: LrlabScheduler(o, cyclic(0.01, 0.2, **kw)), "sgd", 40)
    _assert_same_training(reference, ours)


def test_lrlab_scheduler_state_dict_round_trip():
    sched = one_cycle(0.2, 30)
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    scheduler = LrlabScheduler(opt, sched)
    for _ in range(12):
        opt.step()
        scheduler.step()
    assert scheduler.last_epoch == 12 and scheduler.get_last_lr() == [sched.lr(12)]
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # plain data only

    opt2 = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    resumed = LrlabScheduler(opt2, constant(0.5))  # replaced by the saved schedule
    opt2.load_state_dict(saved["opt"])
    resumed.load_state_dict(saved["sched"])
    assert resumed.schedule == sched
    for t in range(13, 40):  # past total_steps it holds the final values
        opt2.step()
        resumed.step()
        assert opt2.param_groups[0]["lr"] == sched.lr(t) == resumed.get_last_lr()[0]
        assert opt2.param_groups[0]["momentum"] == sched.momentum(t)
    assert opt2.param_groups[0]["lr"] == sched.lr(29)


def test_lrlab_scheduler_keeps_group_ratios_and_piecewise_values():
    opt = _two_groups(lr=0.1, lr2=0.02, momentum=0.9)
    scheduler = LrlabScheduler(opt, piecewise_constant(1.0, [3], factor=0.5))
    values = []
    for _ in range(5):
        values.append([round(g["lr"], 12) for g in opt.param_groups])
        opt.step()
        scheduler.step()
    assert values == [[1.0, 0.2]] * 3 + [[0.5, 0.1]] * 2


def test_lrlab_scheduler_rejects_bad_last_epoch():
    opt = torch.optim.SGD(_params(), lr=0.1)
    with pytest.raises(InvalidArgument, match="last_epoch"):
        LrlabScheduler(opt, constant(0.1), last_epoch=-3)
