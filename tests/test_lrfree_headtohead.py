"""The lr-free head-to-head: its intervals and profiles against references, the finder's cost
charged to the variants that used it, the preset = the YAML template, and the preset run end
to end at a tiny size (that one needs the ``lrfree`` extra)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lrlab._io import read_json
from lrlab.analysis.headtohead import Interval, TrialCost, entry, median_cost, t_quantile
from lrlab.analysis.profiles import performance_profile
from lrlab.cli.app import main
from lrlab.experiment.headtohead import finder_cost

TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "experiments" / "lr_free.yaml"


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 29, 30, 31, 50, 200, 10_000):
        assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3), df


def test_interval_is_the_t_interval_of_the_mean():
    values = [0.91, 0.93, 0.90, 0.94, 0.92]
    i = Interval.of([*values, None, math.nan])  # missing and NaN values are left out
    half = 2.7764 * np.std(values, ddof=1) / math.sqrt(5)
    assert (i.n, i.mean) == (5, pytest.approx(0.92))
    assert (i.low, i.high) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))
    one = Interval.of([0.5])
    assert one.n == 1 and math.isnan(one.low)
    assert Interval.from_dict(i.to_dict()).values[:5] == i.values[:5]


def test_the_finder_is_charged_to_the_variant_that_used_it():
    costs = [TrialCost(0, 10.0, 100, 4.0, 50), TrialCost(1, None, None, 4.0, 50),
             TrialCost(2, 12.0, 120, 4.0, 50)]  # fmt: skip
    e = entry("one-cycle", optimizer="sgd", lr_from="finder", finals=[0.9, 0.8, 0.92],
              costs=costs, lrs=[0.3, 0.3, 0.3])  # fmt: skip
    seconds = e.seconds_to_target.values
    assert seconds[0] == 14.0 and math.isnan(seconds[1]) and seconds[2] == 16.0
    assert e.seconds_to_target.mean == 15.0 and e.updates_to_target.mean == 160.0
    assert e.reached == 2 and e.finder_seconds == 4.0
    assert e.cost("seconds") == 16.0  # median of 14, 16 and ∞ (the seed that never got there)
    assert median_cost([14.0], 3) == math.inf  # one of three seeds: not reached


def test_performance_profile_by_hand():
    costs = {
        "a": {"x": 10.0, "y": 20.0, "z": math.inf},
        "b": {"x": 30.0, "y": 15.0, "z": 45.0},
        "c": {"x": 5.0, "y": 50.0},  # z never ran on c
    }
    p = performance_profile(costs)
    assert p.ratios == {"x": (1.0, 2.0, 1.0), "y": (2.0, 1.0, 10.0),
                        "z": (math.inf, 3.0, math.inf)}  # fmt: skip
    assert p.rho("x", 1.0) == pytest.approx(2 / 3) and p.rho("y", 2.0) == pytest.approx(2 / 3)
    # score = mean over tasks of max(0, 4 - r) / 3
    assert p.score("x") == pytest.approx((3 + 2 + 3) / 9)
    assert p.score("z") == pytest.approx(1 / 9)
    assert p.steps("y") == ([1.0, 1.0, 2.0, 4.0], [pytest.approx(1 / 3)] * 2 + [2 / 3, 2 / 3])
    assert type(p).from_dict(p.to_dict()) == p


def test_finder_cost_reads_find_lr_cost_or_the_range_test():
    sweep = {"range_test": {"elapsed": 1.5, "lrs": [1e-5] * 80}, "lr": 0.1}
    assert finder_cost(sweep) == (1.5, 80)
    found = {"lr": 0.1, "find": {"cost": {"seconds": 7.0, "steps": 900, "runs": 1.9}}}
    assert finder_cost(found) == (7.0, 900)
    assert finder_cost({"lr": 0.1, "cost": {"seconds": 3.0, "steps": 40}}) == (3.0, 40)


def test_the_template_is_the_preset():
    from lrlab.experiment import load_experiment
    from lrlab.experiment.presets import lr_free_experiment

    pytest.importorskip("schedulefree")
    pytest.importorskip("prodigyopt")
    assert load_experiment(TEMPLATE).to_dict() == lr_free_experiment("digits-mlp").to_dict()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["compare"], "Give an experiment CONFIG, or --preset NAME --task TASK."),
        (["compare", "--preset", "fast"], "--preset 'fast' is not a preset. Known: lr-free."),
        (["compare", "--preset", "lr-free"], "--preset lr-free needs --task"),
        (["compare", str(TEMPLATE), "--preset", "lr-free"], "CONFIG or --preset, not both"),
        (["compare", str(TEMPLATE), "--epochs", "3"], "--task and --epochs go with --preset"),
    ],
)
def test_preset_options_are_checked(args, problem, capsys, tmp_path):
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert problem in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_preset_runs_end_to_end(tmp_path, capsys):
    pytest.importorskip("schedulefree")
    pytest.importorskip("prodigyopt")
    out = tmp_path / "runs"
    tasks = "digits-mlp,function-log"
    args = ["compare", "--preset", "lr-free", "--task", tasks, "--epochs", "2", "--seeds", "0,",
            "-e", "sequential", "-o", str(out), "-q", "--no-figures"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    assert "Head-to-head on digits-mlp" in stdout and "Performance profile" in stdout
    h = read_json(out / "lr-free-digits-mlp" / "head_to_head.json")
    entries = {e["variant"]: e for e in h["entries"]}
    assert list(entries) == ["constant", "one-cycle", "linear-decay", "wsd", "cosine",
                             "sf-adamw", "sf-adamw-found", "prodigy"]  # fmt: skip
    # The range test behind one-cycle is charged to it and to the three at its peak LR; the
    # one for Schedule-Free AdamW (its own optimizer) to sf-adamw-found.
    steps = {
        r["optimizer"]["name"]: finder_cost(r)[1]
        for r in map(read_json, (out / "lr-free-digits-mlp" / "auto-lr").glob("*.json"))
    }
    assert steps["sgd"] > 0 and steps["schedulefree-adamw"] > 0
    charged = {n: e["finder_updates"] for n, e in entries.items() if e["finder_updates"]}
    assert charged == {"one-cycle": steps["sgd"], "linear-decay": steps["sgd"],
                       "wsd": steps["sgd"], "cosine": steps["sgd"],
                       "sf-adamw-found": steps["schedulefree-adamw"]}  # fmt: skip
    assert entries["wsd"]["lr"]["mean"] == entries["one-cycle"]["lr"]["mean"]
    assert entries["wsd"]["lr_from"] == "finder, as one-cycle"
    assert entries["prodigy"]["lr_from"] == "estimated d·lr"
    assert entries["sf-adamw"]["lr"]["mean"] == 0.0025
    one_cycle = entries["one-cycle"]
    if one_cycle["reached"]:  # updates to target = the run's + the finder's
        assert one_cycle["updates_to_target"]["mean"] >= charged["one-cycle"]
    profile = read_json(out / "lr-free-profile" / "profile.json")
    assert set(profile["profiles"]) == {"seconds", "updates"}
    assert profile["profiles"]["updates"]["tasks"] == ["digits-mlp", "function-log"]
    # The report shows both (from the files; its figures are drawn by the report's tests).
    from lrlab.report.headtohead_sections import head_to_head_section, profile_section
    from lrlab.report.sources import load_sources

    sources = load_sources(out)
    assert [f.label for f in sources.profiles] == ["lr-free-profile"]
    section = head_to_head_section(sources.experiments[0])
    assert section.title == "Head-to-head — lr-free-digits-mlp" and "sf-adamw-found" in section.body
    assert "ρ(1)" in profile_section(sources.profiles[0]).body
