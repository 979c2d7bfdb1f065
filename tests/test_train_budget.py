"""``lrlab.train.budget``: the one formula for the number of updates, and ``fit`` binding a
schedule's length to it (the budget is stated once)."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lrlab.errors import InvalidArgument
from lrlab.schedules import cosine, one_cycle
from lrlab.train import fit
from lrlab.train.budget import Budget, bind_schedule, planned_updates

CE = nn.CrossEntropyLoss()


def _data(n_batches: int = 5) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8 * n_batches, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return [(x[i : i + 8], y[i : i + 8]) for i in range(0, x.shape[0], 8)]


def _run(schedule, **budget):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, opt, CE, _data(), schedule=schedule, quiet=True, **budget)


@given(st.integers(1, 500), st.integers(1, 20), st.integers(1, 8))
def test_planned_updates_is_what_the_budget_counts(batches, epochs, k):
    expected = epochs * -(-batches // k)  # ceil: a short last group is still an update
    assert planned_updates(batches, epochs=epochs, iterations=None, accumulation_steps=k) == (
        expected
    )
    data = list(range(batches))
    budget = Budget.build(data, schedule=None, epochs=epochs, iterations=None, accumulation_steps=k)
    assert budget.iterations == expected


def test_unknown_lengths_stay_unknown():
    assert planned_updates(None, epochs=3, iterations=None) is None
    assert planned_updates(None, epochs=None, iterations=7) == 7


@pytest.mark.parametrize(
    "unbound",
    [
        {"name": "one-cycle", "max_lr": 0.2, "pct_start": 0.25},
        {"name": "one_cycle", "max_lr": 0.2, "pct_start": 0.25},
        functools.partial(one_cycle, 0.2, pct_start=0.25),
    ],
)
def test_fit_binds_the_schedule_length_to_the_run(unbound):
    """3 epochs of 5 batches: 15 updates, the same run as a schedule built with them."""
    bound = _run(unbound, epochs=3)
    explicit = _run(one_cycle(0.2, total_steps=15, pct_start=0.25), epochs=3)
    assert bound.config["schedule"] == one_cycle(0.2, total_steps=15, pct_start=0.25).to_dict()
    assert [r["train_loss"] for r in bound.records] == [r["train_loss"] for r in explicit.records]
    assert [r["lr"] for r in bound.records] == [r["lr"] for r in explicit.records]


def test_a_policy_and_a_peak_is_for_runs_plan_of_the_run():
    from lrlab.schedules import for_run

    run = _run({"name": "wsd", "peak_lr": 0.2, "decay": "1-sqrt"}, epochs=4)  # 20 updates
    assert run.config["schedule"] == for_run("wsd", 0.2, 20, decay="1-sqrt").to_dict()
    assert bind_schedule({"name": "one-cycle", "peak_lr": 0.2}, 15) == one_cycle(0.2, 15)


def test_an_iteration_budget_binds_too_and_a_given_length_is_kept():
    assert bind_schedule({"name": "cosine", "lr": 0.1}, 7) == cosine(0.1, total_steps=7)
    run = _run({"name": "cosine", "lr": 0.1}, iterations=7)
    assert run.config["schedule"]["params"]["total_steps"] == 7
    given = {"name": "cosine", "lr": 0.1, "total_steps": 20}
    assert bind_schedule(given, 7) == cosine(0.1, total_steps=20)
    assert bind_schedule({"name": "constant", "lr": 0.1}, None).total_steps is None


def test_binding_mistakes_are_one_line_errors():
    with pytest.raises(InvalidArgument, match="lasts total_steps=4"):
        _run({"name": "cosine", "lr": 0.1, "total_steps": 4}, epochs=1)
    with pytest.raises(InvalidArgument, match="needs max_lr"):
        _run({"name": "one-cycle"}, epochs=1)
    with pytest.raises(InvalidArgument, match="has no policy name"):
        bind_schedule({"max_lr": 0.1}, 10)
    with pytest.raises(InvalidArgument, match="train_data has no len"):
        bind_schedule({"name": "one-cycle", "max_lr": 0.1}, None)
    with pytest.raises(InvalidArgument, match="not an lrlab schedule"):
        bind_schedule(lambda step: 0.1, 10)  # a bare step -> value function has no name
