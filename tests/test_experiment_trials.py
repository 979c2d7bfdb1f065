"""Trials: identical start per seed across variants, optimizer merging, schedule filling,
and the executor machinery on trivial functions."""

from __future__ import annotations

import math

import pytest
import torch

from lrlab.errors import InvalidArgument
from lrlab.experiment import Experiment, build_trial
from lrlab.experiment.trials import choose_optimizer, load_task, schedule_params
from lrlab.parallel.executors import (
    ProcessExecutor,
    RayExecutor,
    SequentialExecutor,
    make_executor,
)
from lrlab.parallel.worker import torch_threads


def experiment(**changes) -> Experiment:
    base = {
        "name": "t",
        "task": "digits-mlp",
        "seeds": [0, 1],
        "epochs": 3,
        "device": "cpu",
        "optimizer": {"weight_decay": 5e-4},
        "variants": [
            {"name": "constant", "schedule": {"name": "constant", "lr": 0.01}},
            {
                "name": "one-cycle-adam",
                "schedule": {"name": "one-cycle", "max_lr": 0.01},
                "optimizer": {"name": "adam", "momentum": 0.85},
            },
        ],
    }
    return Experiment(**(base | changes))


def first_batch(setup):
    loader = setup.data.train
    loader.set_epoch(0)
    return next(iter(loader))


def test_every_variant_of_a_seed_starts_from_identical_weights_and_data():
    exp = experiment()
    a = build_trial(exp, "constant", 0)
    torch.rand(1000)  # whatever ran in between must not matter
    b = build_trial(exp, "one-cycle-adam", 0)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    (xa, ya), (xb, yb) = first_batch(a), first_batch(b)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # The order of later epochs too (the loader shuffles per (seed, epoch)).
    a.data.train.set_epoch(3)
    b.data.train.set_epoch(3)
    assert torch.equal(next(iter(a.data.train))[1], next(iter(b.data.train))[1])
    # The global RNG (dropout, ...) is seeded per seed, not per variant.
    build_trial(exp, "constant", 0)
    after_a = torch.random.get_rng_state()
    torch.rand(10)
    build_trial(exp, "one-cycle-adam", 0)
    assert torch.equal(after_a, torch.random.get_rng_state())


def test_other_seeds_start_elsewhere():
    exp = experiment()
    s0, s1 = build_trial(exp, "constant", 0), build_trial(exp, "constant", 1)
    w0, w1 = s0.model.state_dict(), s1.model.state_dict()
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)
    assert not torch.equal(first_batch(s0)[1], first_batch(s1)[1])


def test_optimizer_settings_merge_task_experiment_and_variant():
    exp = experiment()
    task = load_task(exp)
    assert task.optimizer.name == "sgd" and task.optimizer.kwargs["momentum"] == 0.9
    sgd = choose_optimizer(task, exp, exp.variant("constant"))
    assert (sgd.name, sgd.kwargs) == (
        "sgd",
        {"lr": task.optimizer.kwargs["lr"], "momentum": 0.9, "weight_decay": 5e-4},
    )
    adam = choose_optimizer(task, exp, exp.variant("one-cycle-adam"))
    # Another optimizer drops SGD's momentum; "momentum" becomes Adam's beta1.
    assert adam.name == "adam"
    assert adam.kwargs == {
        "betas": (0.85, 0.999),
        "lr": task.optimizer.kwargs["lr"],
        "weight_decay": 5e-4,
    }
    setup = build_trial(exp, "one-cycle-adam", 0)
    group = setup.optimizer.param_groups[0]
    assert isinstance(setup.optimizer, torch.optim.Adam)
    assert group["betas"] == (0.85, 0.999) and group["weight_decay"] == 5e-4
    assert setup.optimizer_choice.key() != sgd.key()


def test_schedule_fills_total_steps_from_the_budget():
    exp = experiment()
    setup = build_trial(exp, "one-cycle-adam", 0)
    batches = math.ceil(1438 / 64)  # digits: 1438 training images, batch 64
    assert len(setup.data.train) == batches
    assert setup.total_steps == 3 * batches
    assert setup.schedule.total_steps == 3 * batches
    assert setup.schedule.params["max_lr"] == 0.01
    assert setup.config["schedule"] == setup.schedule.to_dict()
    # Accumulation: one update per 2 batches, the last group of an epoch shorter.
    acc = build_trial(experiment(accumulation_steps=2), "one-cycle-adam", 0)
    assert acc.total_steps == 3 * math.ceil(batches / 2)
    it = build_trial(experiment(epochs=None, iterations=50), "one-cycle-adam", 0)
    assert it.schedule.total_steps == 50


def test_constant_without_lr_takes_the_optimizers_and_auto_needs_a_value():
    exp = experiment(
        variants=[
            {"name": "c", "schedule": "constant"},
            {"name": "auto", "schedule": {"name": "one-cycle", "max_lr": "auto"}},
        ]
    )
    assert build_trial(exp, "c", 0).schedule.lr(0) == load_task(exp).optimizer.kwargs["lr"]
    with pytest.raises(InvalidArgument, match="max_lr='auto' needs the range test"):
        schedule_params(exp.variant("auto"), lr=0.1, auto_lr=None)
    setup = build_trial(exp, "auto", 0, auto_lr=0.3)
    assert setup.schedule.params["max_lr"] == 0.3 and setup.config["auto_lr"] == 0.3


def test_a_variant_without_schedule_keeps_the_optimizers_lr():
    exp = experiment(
        variants=[{"name": "plain", "schedule": "none"}, {"name": "n", "schedule": None}]
    )
    setup = build_trial(exp, "plain", 0)
    assert setup.schedule is None and setup.config["schedule"] is None
    assert Experiment.from_dict(exp.to_dict()) == exp
    assert not exp.variant("n").auto


def test_the_budget_gives_the_schedule_its_length():
    """One formula (lrlab.train.budget.planned_updates): epochs × ceil(batches / k)."""
    setup = build_trial(experiment(accumulation_steps=2), "one-cycle-adam", 0)
    per_epoch = math.ceil(len(setup.data.train) / 2)
    assert setup.schedule.total_steps == setup.total_steps == 3 * per_epoch


def test_torch_threads_is_set_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# --------------------------------------------------------------------------- executors


def collect(executor, jobs):
    out = {}
    executor.run(math.factorial, jobs, lambda job, result: out.__setitem__(job, result))
    return out


@pytest.mark.parametrize("executor", [SequentialExecutor(), ProcessExecutor(2)], ids=str)
def test_executors_report_results_and_exceptions_per_job(executor):
    out = collect(executor, [3, -1, 5])
    assert out[3] == 6 and out[5] == 120
    assert isinstance(out[-1], ValueError)  # reported, the other jobs still ran


def test_a_held_pool_serves_several_runs():
    with ProcessExecutor(2) as pool:
        first = collect(pool, [4])
        worker = pool._pool
        second = collect(pool, [2, 6])
        assert pool._pool is worker  # no second start-up
    assert pool._pool is None
    assert first == {4: 24} and second == {2: 2, 6: 720}


def test_make_executor_chooses_and_validates():
    assert make_executor("auto", jobs=1, workers=4).name == "sequential"
    assert make_executor("auto", jobs=3, workers=1).name == "sequential"
    pool = make_executor("auto", jobs=3, workers=2)
    assert pool.name == "process" and pool.workers == 2
    assert make_executor("process", jobs=2, workers=8).workers == 2  # no idle workers
    assert isinstance(make_executor("auto", jobs=3, address="auto"), RayExecutor)
    with pytest.raises(InvalidArgument, match="executor='threads' is not an executor"):
        make_executor("threads", jobs=2)
    with pytest.raises(InvalidArgument, match="address='auto' is for executor='ray'"):
        make_executor("process", jobs=2, address="auto")
    with pytest.raises(InvalidArgument, match="workers=0 must be >= 1"):
        make_executor("process", jobs=2, workers=0)
