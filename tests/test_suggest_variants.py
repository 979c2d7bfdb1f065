"""Scoring variants of the suggestion rule on stored curves (``research/suggestion_variants.py``)
and the consensus's inputs it reuses (``perturbed_fits``, ``bootstrap_fits``).

The landmarks are checked against closed forms, the scoring against hand computations on a
small synthetic "stored run" (two tasks, one seed, the nine robustness sweeps): nothing here
trains or reads ``benchmarks/results``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.suggest import suggest
from lrlab.suggest.consensus import bootstrap_fits, perturbed_fits
from lrlab.suggest.curve import bandwidth, prepare, smooth_log
from lrlab.suggest.members import member_votes

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESEARCH = ROOT / "research"
WINDOWS = [(1e-7, 10.0), (1e-5, 1.0), (1e-3, 10.0)]
ROBUST = [(a, b, n) for a, b in WINDOWS for n in (50, 100, 300)]


@pytest.fixture(scope="module")
def bench():
    """research/suggestion_variants.py (it imports the benchmark's helpers from benchmarks/)."""
    try:
        spec = importlib.util.spec_from_file_location(
            "suggestion_variants", RESEARCH / "suggestion_variants.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        for name in ("suggestion_variants", "suggestion_quality", "_common"):
            sys.modules.pop(name, None)
        if str(BENCH) in sys.path:
            sys.path.remove(str(BENCH))


def model_loss(x, x0=-3.0, w=0.3, xd=-0.5, s=0.15):
    """A plateau, a sigmoid descent centred on ``10**x0`` and a blow-up past ``10**xd``."""
    x = np.asarray(x, dtype=float)
    return 2.3 - 2.0 / (1 + np.exp(-(x - x0) / w)) + 0.05 * np.exp((x - xd) / s)


def noisy_sweep(lo, hi, n, seed=0, noise=0.03, **kw):
    x = np.linspace(np.log10(lo), np.log10(hi), n)
    y = model_loss(x, **kw) + noise * np.random.default_rng(seed).standard_normal(n)
    y[y > 25] = np.nan
    return list(10**x), list(y)


# --- the consensus's inputs --------------------------------------------------------------------


def test_perturbed_fits_are_the_curves_the_members_vote_on():
    lrs, losses = noisy_sweep(1e-7, 10.0, 120)
    curve = prepare(lrs, losses)
    h = bandwidth(curve.x)
    curves = perturbed_fits(curve, h, 0.15)
    # Three widths on the whole sweep, then the sweep cut by 15 % of its decades at each end.
    assert [fits.shape[0] for _, fits in curves] == [3, 1, 1]
    (x_all, fits), (x_head, _), (x_tail, _) = curves
    assert np.array_equal(x_all, curve.x)
    assert fits[1] == pytest.approx(smooth_log(curve.x, curve.losses, h)[0], rel=1e-12)
    assert x_head[0] >= curve.x[0] + 0.15 * curve.decades
    assert x_tail[-1] <= curve.x[-1] - 0.15 * curve.decades
    assert len(perturbed_fits(curve, h, 0.0)) == 1  # no trimming asked for
    # The suggestion is the median of the members' votes on exactly these curves.
    votes = [v for x, f in curves for row in member_votes(x, f) for v in row]
    assert suggest(lrs, losses).lr == pytest.approx(10 ** np.median(votes), rel=1e-12)


def test_bootstrap_fits_are_deterministic_smoothed_resamples():
    lrs, losses = noisy_sweep(1e-5, 1.0, 100, noise=0.05)
    curve = prepare(lrs, losses)
    h = bandwidth(curve.x)
    fit = smooth_log(curve.x, curve.losses, h)[0]
    a, b = bootstrap_fits(curve, fit, h, 8), bootstrap_fits(curve, fit, h, 8)
    assert a.shape == (8, curve.n) and np.array_equal(a, b)
    # Resampled residuals (noise 0.05 per step), smoothed again: near the fit, not equal to it.
    dev = np.abs(a - fit)
    assert 0 < np.median(dev) < 0.05


# --- landmarks: closed forms -------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(x0=st.floats(-5, -1), d=st.floats(0.01, 1.0))
def test_first_below_on_a_parabola(bench, x0, d):
    # y = (x − x0)²: the first x with y ≤ min + d is x0 − √d.
    x = np.linspace(-7, 1, 4001)
    y = (x - x0) ** 2
    assert bench.first_below(x, y, d) == pytest.approx(x0 - math.sqrt(d), abs=1e-5)


def test_first_below_needs_a_descent(bench):
    x = np.linspace(-3, 0, 50)
    assert bench.first_below(x, x.copy(), 0.1) is None  # rises from the start
    assert bench.first_below(x, -x, 0.1) == pytest.approx(x[-1] - 0.1, abs=1e-9)  # only falls


def test_bottom_centre_is_the_vertex_of_an_asymmetric_bottom(bench):
    # A parabola inside the bottom region, steeper walls outside: the fit is exact there.
    x = np.linspace(-6, 0, 301)
    y = np.where(np.abs(x + 2.3) < 0.8, (x + 2.3) ** 2, 0.64 + 5 * (np.abs(x + 2.3) - 0.8))
    y[:60] = y[60]  # a plateau before the descent
    assert bench.bottom_centre(x, y, frac=0.25) == pytest.approx(-2.3, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=30))
def test_hodges_lehmann_is_the_median_of_pairwise_means(bench, values):
    v = np.array(values)
    pairs = [(v[i] + v[j]) / 2 for i in range(v.size) for j in range(i, v.size)]
    assert bench.hodges_lehmann(v) == pytest.approx(float(np.median(pairs)))


# --- scoring on a synthetic stored run ---------------------------------------------------------


def _stored(bench_module):
    """Two tasks (classification and regression), one seed each, the nine robustness sweeps of
    a known curve, and oracle grid curves whose regret can be computed by hand."""
    grid = [10 ** (-4 + i / 4) for i in range(17)]  # 1e-4 … 1
    xg = np.log10(grid)
    acc = {g: 0.9 - 0.1 * (x + 2) ** 2 for g, x in zip(grid, xg, strict=True)}  # best at 1e-2
    mse = {g: 10 ** ((x + 2.5) ** 2) * 1e-3 for g, x in zip(grid, xg, strict=True)}
    tasks = {}
    for name, kind, curve, x0 in [
        ("digits-mlp", "classification", acc, -3.0),
        ("function-exp", "regression", mse, -2.5),
    ]:
        sweeps = {sw: noisy_sweep(*sw, seed=i, x0=x0) for i, sw in enumerate(ROBUST)}
        tasks[name] = {
            "kind": kind,
            "group": "listed" if name in bench_module.quality.SETTINGS else "held-out",
            "epochs": 3,
            "robust": ROBUST,
            "seeds": {0: {"grid": curve, "oracle_lr": 1e-2, "sweeps": sweeps}},
        }
    return tasks


def test_scores_follow_from_the_oracle_curves(bench):
    tasks = _stored(bench)
    variants = {k: bench.RULE_VARIANTS[k] for k in ("lrlab", "lrlab × 0.5")}
    scores = bench.score_variants(tasks, variants)
    assert scores["reference"] == "lrlab"
    for name, task in tasks.items():
        seed = task["seeds"][0]
        lrs = [suggest(*seed["sweeps"][sw]).lr for sw in ROBUST]
        xg = np.log10(sorted(seed["grid"]))
        scale = (lambda v: 100 * v) if task["kind"] == "classification" else np.log10
        vals = np.array([scale(seed["grid"][g]) for g in sorted(seed["grid"])])
        for variant, k in (("lrlab", 1.0), ("lrlab × 0.5", 0.5)):
            at = np.interp(np.log10(np.array(lrs) * k), xg, vals)
            regret = vals.max() - at if task["kind"] == "classification" else at - vals.min()
            got = scores["per_task"][name]["variants"][variant]
            # One seed: the seed-averaged curve is the seed's own.
            assert got["pooled"] == pytest.approx(float(np.mean(regret)))
            assert got["per_seed"] == pytest.approx(float(np.mean(regret)))
            # Scaling every suggestion by the same factor leaves max / min alone.
            assert got["spread"] == pytest.approx(max(lrs) / min(lrs))
    summary = scores["summary"]
    assert summary["lrlab"]["classification listed"]["diff"] == 0.0
    cls = summary["lrlab × 0.5"]["classification listed"]
    per_task = scores["per_task"]["digits-mlp"]["variants"]
    assert cls["diff"] == pytest.approx(
        per_task["lrlab × 0.5"]["pooled"] - per_task["lrlab"]["pooled"]
    )
    assert "regression held-out" in summary["lrlab"]
    md = bench.variants_markdown(scores, None)
    assert "| `lrlab` |" in md and "lrlab × 0.5" in md


def test_every_registered_variant_answers_on_a_clean_curve(bench):
    # A good curve: every variant gives an LR within a decade and a half of the minimum's.
    lrs, losses = noisy_sweep(1e-7, 10.0, 150, noise=0.02)
    view = bench.curve_view(lrs, losses)
    minimum = view.suggestion.evidence["lr_min_loss"]
    for name, (rule, description) in bench.RULE_VARIANTS.items():
        lr = rule(view)
        assert lr is not None and description, name
        assert minimum / 30 < lr < minimum * 3, (name, lr, minimum)
    assert bench.curve_view([1e-3, 1e-2, 1e-1], [1.0, 0.9, 0.8]) is None  # no suggestion


def test_training_noise_is_the_pooled_standard_deviation(bench):
    tasks = _stored(bench)
    trainings = {}
    finals = {"digits-mlp": [0.80, 0.82, 0.78, 0.81], "function-exp": [1e-3, 1e-2, 1e-3, 1e-2]}
    for name, task in tasks.items():
        seed = task["seeds"][0]
        for d, final in zip(bench.NOISE_OFFSETS, finals[name], strict=True):
            key = bench.quality.lr_key(seed["oracle_lr"] * (1 + d))
            trainings[(name, 0, key)] = {"final": final}
    noise = bench.training_noise(tasks, trainings)
    acc = [100 * v for v in finals["digits-mlp"]]  # the oracle's own value left out
    assert noise["digits-mlp"]["sd_one_training"] == pytest.approx(float(np.std(acc, ddof=1)))
    logs = np.log10(finals["function-exp"])
    assert noise["function-exp"]["sd_one_training"] == pytest.approx(float(np.std(logs, ddof=1)))
    assert noise["digits-mlp"]["se_mean_of_3"] == pytest.approx(
        noise["digits-mlp"]["sd_one_training"] / math.sqrt(3)
    )


def test_noise_trainings_are_queued_around_each_oracle_lr(bench):
    tasks = _stored(bench)
    trainings, jobs = bench.noise_jobs(tasks, bench.quality.Cache(None))
    assert trainings == {}
    expected = {
        (name, 0, float(bench.quality.lr_key(1e-2 * (1 + d))), 3)
        for name in tasks
        for d in bench.NOISE_OFFSETS
    }
    assert {args for fn, args in jobs} == expected and len(jobs) == len(expected)
    assert all(fn is bench.quality.job_train for fn, _ in jobs)


def test_the_research_script_runs_on_the_stored_results(tmp_path):
    """A smoke run (one task, one seed, three variants) from the stored benchmark results."""
    out = tmp_path / "variants.json"
    args = [sys.executable, str(RESEARCH / "suggestion_variants.py"), "--quick", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["command"].startswith(".venv/bin/python research/suggestion_variants.py")
    assert list(report["variants"]) == ["lrlab", "lrlab × 0.7", "lrlab × 0.5"]
    (task,) = report["scores"]["per_task"]
    assert set(report["scores"]["per_task"][task]["variants"]) == set(report["variants"])
