"""Experiment configs: a schedule planned from its peak (``peak_lr`` + for_run's options), a
peak taken from another variant (``{same_as: V}``), and an optimizer's own arguments."""

from __future__ import annotations

import sys

import pytest

from lrlab.errors import InvalidArgument, MissingExtra
from lrlab.experiment import Experiment
from lrlab.experiment.trials import build_trial


def exp(*variants, **top):
    return Experiment(name="x", task="digits-mlp", seeds=[0], epochs=2, device="cpu",
                      variants=list(variants), **top)  # fmt: skip


ONE_CYCLE = {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": 0.2}}
WSD_SAME = {"name": "wsd", "schedule": {"name": "wsd", "peak_lr": {"same_as": "one-cycle"},
                                         "decay_fraction": 0.5, "decay": "1-sqrt"}}  # fmt: skip


def test_a_planned_schedule_takes_another_variants_peak():
    e = exp(ONE_CYCLE, WSD_SAME)
    assert e.lr_source("wsd") == "one-cycle" and e.lr_source("one-cycle") == "one-cycle"
    assert not e.needs_auto("wsd")
    setup = build_trial(e, "wsd", 0)
    steps = setup.total_steps
    assert steps == 2 * 23  # 1,438 digits in batches of 64, two epochs
    params = setup.config["schedule"]["params"]
    assert params["max_lr"] == 0.2  # one-cycle's peak
    assert params["warmup_steps"] == round(0.1 * steps)  # for_run's default share
    assert params["decay_steps"] == round(0.5 * steps) and params["decay"] == "1-sqrt"
    assert max(setup.schedule.lr(t) for t in range(steps)) == pytest.approx(0.2)


def test_same_as_an_auto_variant_needs_the_auto_answer_of_that_variant():
    auto = {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": "auto"}}
    e = exp(auto, WSD_SAME)
    assert e.needs_auto("wsd") and e.needs_auto("one-cycle")
    with pytest.raises(InvalidArgument, match="variant 'wsd': peak_lr='auto' needs the range"):
        build_trial(e, "wsd", 0)
    setup = build_trial(e, "wsd", 0, auto_lr=0.37)
    assert setup.config["schedule"]["params"]["max_lr"] == 0.37


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ({"name": "wsd", "peak_lr": {"same_as": "nope"}},
         "variants[1].schedule.peak_lr: same_as 'nope' is not another variant (['one-cycle'])"),
        ({"name": "wsd", "peak_lr": {"same_as": "wsd"}}, "is not another variant"),
        ({"name": "wsd", "peak_lr": {"like": "one-cycle"}}, "must be a number, 'auto' or"),
        ({"name": "wsd", "peak_lr": 0.1, "decay_steps": {"same_as": "one-cycle"}},
         "decay_steps: only peak_lr, max_lr, lr may be {same_as: VARIANT}"),
        ({"name": "wsd", "peak_lr": 0.1, "warmup_fraction": 2},
         "warmup_fraction=2.0 must be in [0, 1]"),
        ({"name": "wsd", "peak_lr": 0.1, "warmup": 0.1},
         "warmup is not an option of for_run('wsd')"),
        ({"name": "cyclic", "peak_lr": 0.1}, "for_run cannot plan 'cyclic'"),
    ],
)  # fmt: skip
def test_bad_peaks_are_one_error_naming_the_field(schedule, problem):
    with pytest.raises(InvalidArgument) as info:
        exp(ONE_CYCLE, {"name": "wsd", "schedule": schedule})
    assert problem in str(info.value)


def test_the_named_variant_must_state_its_own_peak():
    chained = {"name": "c", "schedule": {"name": "cosine", "peak_lr": {"same_as": "wsd"}}}
    with pytest.raises(InvalidArgument, match=r"variants\[2\].*'wsd' must give its peak itself"):
        exp(ONE_CYCLE, WSD_SAME, chained)
    none = {"name": "n", "schedule": "none"}
    follower = {"name": "f", "schedule": {"name": "cosine", "peak_lr": {"same_as": "n"}}}
    with pytest.raises(InvalidArgument, match="'n' must give its peak itself"):
        exp(none, follower)


def test_optimizer_arguments_beyond_the_common_ones():
    e = exp({"name": "a", "schedule": "constant", "optimizer": {"name": "adam", "amsgrad": True}})
    setup = build_trial(e, "a", 0)
    assert setup.optimizer.param_groups[0]["amsgrad"] is True
    assert setup.config["optimizer"]["amsgrad"] is True
    with pytest.raises(InvalidArgument, match="'amsgrd' is not an argument of optimizer 'adam'"):
        exp({"name": "a", "schedule": "constant", "optimizer": {"name": "adam", "amsgrd": True}})


def test_an_optimizer_from_a_missing_extra_is_refused_when_the_config_is_read(monkeypatch):
    monkeypatch.setitem(sys.modules, "schedulefree", None)
    with pytest.raises(MissingExtra) as info:
        exp({"name": "sf", "schedule": "constant", "optimizer": {"name": "schedulefree-adamw"}})
    assert str(info.value) == (
        "optimizer 'schedulefree-adamw' needs the 'schedulefree' package, which is not "
        "installed. pip install 'lrlab[lrfree]'."
    )
