"""A real comparison on a CPU-sized task, and the three executors agreeing on it.

One-cycle (max LR 0.1, and max LR "auto" from a range test) against a constant-LR control
on the digits MLP, two seeds, four epochs — seed 000's experiment in miniature. The
sequential run is the reference; the process pool and Ray must reproduce its records
exactly (every field but the wall-clock ones).
"""

from __future__ import annotations

import importlib.util

import pytest

from lrlab._io import read_json
from lrlab.experiment import Experiment, run_experiment

WALL_CLOCK = ("epoch_time", "elapsed", "eval_time")

COMPARISON = Experiment(
    name="digits-onecycle",
    task="digits-mlp",
    seeds=[0, 1],
    epochs=4,
    device="cpu",
    optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
    variants=[
        {"name": "constant", "schedule": {"name": "constant", "lr": 0.01}},
        {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": 0.1}},
        {"name": "one-cycle-auto", "schedule": {"name": "one-cycle", "max_lr": "auto"}},
    ],
    range_test={"num_iter": 50},
)


def measured(result):
    return {
        (t.variant, t.seed): [
            {k: v for k, v in r.items() if k not in WALL_CLOCK} for r in t.records
        ]
        for t in result.trials
    }


def auto_lrs(result):
    return {(t.variant, t.seed): t.auto_lr for t in result.trials}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    return run_experiment(
        COMPARISON, executor="sequential", out=tmp_path_factory.mktemp("seq"), quiet=True
    )


def test_one_cycle_beats_the_constant_control(sequential, capsys):
    c = sequential.comparison
    assert [v.name for v in c.variants] == ["constant", "one-cycle", "one-cycle-auto"]
    assert c.control == "constant" and c.target_source == "control"
    constant, one_cycle, auto = c.variants
    assert all(t.status == "completed" for t in sequential.trials)
    # Over both seeds, one-cycle ends higher and gets to the control's level sooner.
    assert one_cycle.final_metric.mean > constant.final_metric.mean + 0.05
    assert one_cycle.reached == 2
    assert one_cycle.epochs_to_target.mean < constant.epochs_to_target.mean
    assert auto.reached >= 1 and auto.final_metric.mean > constant.final_metric.mean
    assert all(
        lr is not None and lr > 0
        for (v, _), lr in auto_lrs(sequential).items()
        if v == "one-cycle-auto"
    )
    with capsys.disabled():  # the measured table, for the record
        print("\n" + sequential.table("markdown"))


def test_process_pool_reproduces_the_sequential_records(sequential, tmp_path):
    pooled = run_experiment(COMPARISON, executor="process", workers=2, out=tmp_path, quiet=True)
    assert pooled.executor == "process"
    assert measured(pooled) == measured(sequential)
    assert auto_lrs(pooled) == auto_lrs(sequential)
    root = tmp_path / COMPARISON.name
    assert len(list((root / "auto-lr").glob("*.json"))) == 2  # one range test per seed
    assert read_json(root / "summary.json")["executor"] == "process"


@pytest.mark.ray
@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install 'lrlab[ray]'); the Ray executor is not tested",
)
def test_ray_reproduces_the_sequential_records(sequential, tmp_path):
    # One Ray CPU: one worker process to start (the pool test covers concurrent workers).
    distributed = run_experiment(COMPARISON, executor="ray", workers=1, out=tmp_path, quiet=True)
    assert distributed.executor == "ray"
    assert measured(distributed) == measured(sequential)
    assert auto_lrs(distributed) == auto_lrs(sequential)
    import ray

    assert not ray.is_initialized()  # the local Ray started for the run was shut down
