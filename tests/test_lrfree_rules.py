"""LR-free optimizers without their packages: the failure rules over records (pure), the
registry's names and its one-line error when the extra is missing, and the families read
from optimizer objects."""

from __future__ import annotations

import sys

import pytest
import torch

from lrlab.analysis.lrfree import (
    D_DIVERGED,
    D_RUNAWAY,
    D_STUCK,
    SETTLED_UPDATES,
    STUCK_UPDATES,
    flag_code,
    step_size_flags,
)
from lrlab.errors import MissingExtra
from lrlab.optim import lrfree
from lrlab.optim.registry import OPTIMIZERS, build_optimizer

D0 = 1e-6


def rec(epoch, iteration, d, loss=1.0):
    return {"epoch": epoch, "iteration": iteration, "d": d, "train_loss": loss}


def codes(flags):
    return [flag_code(f) for f in flags]


def test_an_estimate_still_at_d0_is_stuck_only_after_enough_updates():
    early = [rec(0, 0, D0), rec(1, STUCK_UPDATES - 1, D0)]
    assert step_size_flags(early, D0) == []
    late = [*early, rec(2, STUCK_UPDATES, D0)]
    assert codes(step_size_flags(late, D0)) == [D_STUCK]
    moved = [*early, rec(2, STUCK_UPDATES, D0 * 1.01)]
    assert step_size_flags(moved, D0) == []


def test_growth_after_the_estimate_should_have_settled_is_a_runaway():
    total = 2000  # settled from update 200 (10 %) on
    grows_early = [rec(1, 50, 1e-4), rec(2, 150, 5e-3), rec(3, 250, 6e-3), rec(4, 400, 7e-3)]
    assert step_size_flags(grows_early, D0, total) == []  # ×70 before it settled: fine
    runaway = [*grows_early, rec(5, 600, 6.1e-2)]
    flags = step_size_flags(runaway, D0, total)
    assert codes(flags) == [D_RUNAWAY] and "10.2×" in flags[0]
    # Without a planned length the reference is the first record after SETTLED_UPDATES.
    assert codes(step_size_flags(runaway, D0)) == [D_RUNAWAY]
    assert SETTLED_UPDATES <= 150


def test_divergence_while_adapting_and_each_flag_once():
    records = [rec(0, 0, D0, None), rec(1, 20, 1e-2), rec(2, 40, 5e-2, None)]
    records[-1]["d_lr"] = 5e-2
    flags = step_size_flags(records, D0)
    assert codes(flags) == [D_DIVERGED] and "d·lr = 0.05" in flags[0]
    assert step_size_flags(records[:2], D0) == []  # epoch 0 has no training loss: not a flag
    records[-1]["lrfree_flags"] = flags
    assert step_size_flags([*records, rec(3, 60, 5e-2, None)], D0) == []  # already raised


def test_records_without_d_raise_nothing():
    assert step_size_flags([{"epoch": 1, "iteration": 500, "train_loss": None}], D0) == []


def test_registry_names_and_the_missing_extra(monkeypatch):
    names = {"schedulefree-adamw", "schedulefree-sgd", "prodigy", "dadapt-adam", "dadapt-sgd"}
    assert names <= set(OPTIMIZERS)
    assert {OPTIMIZERS[n].extra for n in names} == {"lrfree"}
    monkeypatch.setitem(sys.modules, "prodigyopt", None)  # as if it were not installed
    with pytest.raises(MissingExtra) as info:
        build_optimizer("prodigy", [torch.zeros(2, requires_grad=True)])
    assert str(info.value) == (
        "optimizer 'prodigy' needs the 'prodigyopt' package, which is not installed. "
        "pip install 'lrlab[lrfree]'."
    )


def test_families_are_read_from_the_optimizer_object():
    p = torch.zeros(3, requires_grad=True)
    sgd = torch.optim.SGD([p], lr=0.1)
    assert lrfree.family(sgd) is None and lrfree.step_size(sgd) is None

    class Estimator(torch.optim.SGD):  # any optimizer keeping d in its groups (D-Adaptation)
        def __init__(self, params):
            super().__init__(params, lr=0.5)
            self.defaults["d"] = 2e-6
            for g in self.param_groups:
                g["d"] = 3e-3

    size = lrfree.step_size(Estimator([p]))
    assert (size.d, size.d0, size.lr) == (3e-3, 2e-6, 0.5)
    assert size.d_lr == pytest.approx(1.5e-3)
