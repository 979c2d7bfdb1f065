"""The find_lr benchmark's task suite (benchmarks/find_tasks.py): every task builds and runs,
the planned run's length is what the loaders make, the grids are 4 per decade, and the
development / held-out split is the committed one and balanced."""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import math
import pickle
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load():
    # Registered under its script name, as the benchmark scripts import it (pickling the
    # tasks' module-level factories needs the module to be importable by that name).
    if "find_tasks" not in sys.modules:
        spec = importlib.util.spec_from_file_location("find_tasks", BENCH / "find_tasks.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["find_tasks"] = module
        spec.loader.exec_module(module)
    return sys.modules["find_tasks"]


ft = _load()

# The held-out half as committed before any rule work: changing it needs a new commit that
# says why (issue 12). The rule that produced it is in the module docstring.
COMMITTED_HELD_OUT = (
    "moons-mlp-sgdm",
    "classif-mlp-adam",
    "spirals-tanh-sgd",
    "tiny-classif-nesterov",
    "digits-cnnbn-nesterov",
    "mnist1d-cnn-adamw",
    "digits150-cnn-sgdm",
    "mnist1d-resmlp-rmsprop",
    "big-classif-resmlp-adamw",
    "repeat-transformer-adamw",
    "majority-lstm-adam",
    "majority-gru-sgdm",
    "function-sin-adam",
    "function-expneg-sgdm",
)


def test_held_out_half_is_the_committed_one_and_follows_the_rule() -> None:
    assert ft.HELD_OUT == COMMITTED_HELD_OUT
    for name in ft.SUITE:
        twin = ft.get(name).twin
        assert ft.get(twin).twin == name
        held = min((name, twin), key=lambda n: hashlib.sha256(n.encode()).hexdigest())
        assert (name in ft.HELD_OUT) == (name == held)


def test_split_is_disjoint_complete_and_balanced() -> None:
    dev, held = set(ft.DEV), set(ft.HELD_OUT)
    assert not dev & held and dev | held == set(ft.SUITE)
    for half in (ft.DEV, ft.HELD_OUT):
        tasks = [ft.get(n) for n in half]
        assert sum(t.kind == "classification" for t in tasks) >= 10
        assert sum(t.kind == "regression" for t in tasks) >= 1
        # every family and every optimizer kind of the suite appears in both halves
        assert {t.family for t in tasks} == {t.family for t in ft.SUITE.values()}
        assert {t.optimizer_kind for t in tasks} == set(ft.OPTIMIZER_KINDS)
    for name, task in ft.SUITE.items():
        assert task.half == ("held-out" if name in held else "dev")
        twin = ft.get(task.twin)
        assert twin.half != task.half
        assert (twin.family, twin.optimizer_kind) == (task.family, task.optimizer_kind), name


def test_grids_are_four_per_decade_and_nothing_leaks_the_answer() -> None:
    for task in ft.SUITE.values():
        grid = task.grid
        assert len(grid) >= 16
        steps = [math.log10(b / a) for a, b in itertools.pairwise(grid)]
        assert steps == pytest.approx([0.25] * len(steps), abs=1e-5)
        assert grid[0] == pytest.approx(10**task.grid_from)
        # The range-test window and the optimizer's own LR are the same for every task of an
        # optimizer: a finder learns nothing about the grid from them.
        assert task.task.lr_range == ft.LR_RANGE
        assert task.task.optimizer.kwargs["lr"] == ft.DEFAULT_LR[task.task.optimizer.name]
    with pytest.raises(KeyError, match="not a find_lr benchmark task"):
        ft.get("no-such-task")


def test_every_task_builds_runs_and_has_the_planned_length() -> None:
    torch.manual_seed(0)
    for name, task in ft.SUITE.items():
        data = task.task.data(seed=0)
        assert data.n_train == task.n_train and data.n_eval == task.n_test, name
        assert data.input_shape == task.task.input_shape, name
        # the planned run's length is what the training loader makes of the epochs
        assert len(data.train) * task.task.epochs == task.total_steps, name
        x, y = next(iter(data.train))
        model = task.task.model(seed=0)
        out = model(x)
        loss = task.task.criterion()(out, y)
        assert torch.isfinite(loss), name
        if task.kind == "classification":
            assert out.shape == (x.shape[0], task.task.num_classes), name
            assert task.metric == "accuracy"
        else:
            assert out.shape == y.shape and task.metric == "mse", name
    sizes = [t.n_train for t in ft.SUITE.values()]
    steps = [t.total_steps for t in ft.SUITE.values()]
    assert min(sizes) <= 150 and max(sizes) >= 9000
    assert min(steps) < 100 and max(steps) >= 1000


def test_generated_data_are_deterministic_balanced_and_split() -> None:
    for name in ("moons-mlp-sgdm", "first-transformer-adamw", "spirals-tanh-sgd"):
        task = ft.get(name)
        a = task.task.splits()
        ft._tabular_arrays.cache_clear()
        ft._sequence_arrays.cache_clear()
        b = task.task.splits()
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_eval, b.y_eval), name
        for y in (a.y_train, a.y_eval):
            counts = torch.bincount(y)
            assert counts.min() == counts.max(), name  # exactly balanced
        # no test sample is also a training sample
        train_rows = {tuple(r.tolist()) for r in a.x_train}
        assert not any(tuple(r.tolist()) in train_rows for r in a.x_eval), name


def test_tasks_pickle() -> None:
    task = ft.get("majority-gru-sgdm")
    back = pickle.loads(pickle.dumps(task))
    assert back.name == task.name and back.grid == task.grid
    assert back.task.model_fn is task.task.model_fn
