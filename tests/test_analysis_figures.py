"""Curves with mean ± std bands and time-to-target bars: the numbers drawn are the numbers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from lrlab.analysis import band, compare
from lrlab.analysis.plot import plot_curves, plot_overview, plot_time_to_target
from lrlab.errors import InvalidArgument
from lrlab.report.experiment_figures import save_experiment_figures


def rec(epoch, acc, loss, it=None):
    return {
        "epoch": epoch,
        "iteration": 10 * epoch if it is None else it,
        "eval_accuracy": acc,
        "eval_loss": loss,
        "train_loss": None if epoch == 0 else loss + 0.1,
        "lr": 0.1,
        "momentum": 0.9,
    }


RUNS = {
    "control": {
        0: [rec(0, 0.1, 2.0), rec(1, 0.5, 1.0), rec(2, 0.6, 0.8)],
        1: [rec(0, 0.1, 2.2), rec(1, 0.3, 1.4), rec(2, 0.6, 0.9)],
    },
    "fast": {
        0: [rec(0, 0.1, 2.0), rec(1, 0.7, 0.6), rec(2, 0.8, 0.4)],
        # A seed that diverged after epoch 1: it has no epoch 2, and a NaN is left out.
        1: [rec(0, 0.1, 2.2), rec(1, 0.9, 0.5), rec(2, float("nan"), float("nan"))],
    },
}


def test_band_is_mean_and_sample_std_over_seeds_aligned_on_x():
    b = band(RUNS["control"], "eval_accuracy")
    assert b.x.tolist() == [0.0, 1.0, 2.0]
    assert b.mean.tolist() == pytest.approx([0.1, 0.4, 0.6])
    assert b.std[1] == pytest.approx(np.std([0.5, 0.3], ddof=1))
    assert b.n.tolist() == [2, 2, 2]
    f = band(RUNS["fast"], "eval_accuracy")
    assert f.n.tolist() == [2, 2, 1] and f.mean[2] == pytest.approx(0.8) and f.std[2] == 0.0
    by_iteration = band(RUNS["control"], "eval_accuracy", x="iteration")
    assert by_iteration.x.tolist() == [0.0, 10.0, 20.0]
    # The train loss has no epoch-0 value.
    assert band(RUNS["control"], "train_loss").x.tolist() == [1.0, 2.0]


def test_plot_curves_draws_the_band_numbers():
    fig = Figure()
    ax = plot_curves(RUNS, "eval_accuracy", ax=fig.subplots())
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"control (n=2)", "fast (n=2)"}
    assert lines["control (n=2)"].get_ydata().tolist() == pytest.approx([0.1, 0.4, 0.6])
    assert len(ax.collections) == 2  # one shaded band per variant
    vertices = ax.collections[0].get_paths()[0].vertices
    at_epoch_1 = vertices[vertices[:, 0] == 1.0][:, 1]
    spread = np.std([0.5, 0.3], ddof=1)
    assert sorted(set(at_epoch_1.round(12))) == pytest.approx([0.4 - spread, 0.4 + spread])


def test_overview_has_four_panels_and_says_what_is_missing():
    runs = {
        k: {s: [dict(r, momentum=None) for r in rs] for s, rs in v.items()} for k, v in RUNS.items()
    }
    fig = plot_overview(runs, fig=Figure())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "Loss" and titles[3] == "Momentum"
    assert fig.axes[0].get_yscale() == "log"
    assert len(fig.axes[0].get_lines()) == 4  # train and eval per variant
    assert [t.get_text() for t in fig.axes[3].texts] == ["not recorded"]


def test_the_lr_panel_shows_the_step_size_lr_free_optimizers_estimated():
    records = RUNS["fast"][0]
    prodigy = {0: [dict(r, lr=1.0, d_lr=1e-6 if r["epoch"] == 0 else 3e-3) for r in records]}
    fig = plot_overview({"control": RUNS["control"], "prodigy": prodigy}, fig=Figure())
    lines = {line.get_label(): line for line in fig.axes[2].get_lines()}
    assert set(lines) == {"control (n=2)", "prodigy (n=1)", "prodigy d·lr (n=1)"}
    assert lines["prodigy d·lr (n=1)"].get_ydata().tolist() == [1e-6, 3e-3, 3e-3]
    assert lines["prodigy d·lr (n=1)"].get_linestyle() == ":"
    assert fig.axes[2].get_yscale() == "log"


def test_time_to_target_bars():
    c = compare(RUNS, target=0.55)
    fig = Figure()
    ax = plot_time_to_target(c, ax=fig.subplots())
    heights = [p.get_height() for p in ax.patches]
    # control: epochs 2 and 2; fast: epochs 1 and 1.
    assert heights == pytest.approx([2.0, 1.0])
    assert [t.get_text() for t in ax.texts] == ["2/2", "2/2"]
    never = compare(RUNS, target=0.99)
    ax = plot_time_to_target(never, unit="iterations", ax=Figure().subplots())
    assert [t.get_text() for t in ax.texts] == ["never", "never"]
    assert all(math.isclose(p.get_height(), 0.0) for p in ax.patches)
    with pytest.raises(InvalidArgument, match="unit='hours'"):
        plot_time_to_target(c, unit="hours")


def test_save_experiment_figures_writes_pngs(tmp_path):
    class Result:  # what save_experiment_figures reads from an ExperimentResult
        comparison = compare(RUNS)

        def records(self):
            return RUNS

    paths = save_experiment_figures(Result(), tmp_path)
    assert [p.name for p in paths] == ["curves.png", "curves_iterations.png", "time_to_target.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_experiment_figures({}, tmp_path / "empty") == []
    with pytest.raises(InvalidArgument, match="Cannot plot a int"):
        save_experiment_figures(3, tmp_path)


@pytest.mark.parametrize("module", ["lrlab.analysis.plot", "lrlab.report.experiment_figures"])
def test_importing_the_figures_modules_does_not_import_matplotlib(module):
    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
