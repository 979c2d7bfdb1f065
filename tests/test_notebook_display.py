"""Results render themselves in Jupyter (``_repr_html_``): the plot as an embedded PNG, the
key numbers in a table, every piece of user text escaped, nothing to fetch or run."""

from __future__ import annotations

import re

import pytest
import torch

from fixtures.html import PNG_MAGIC, embedded_pngs
from fixtures.runs import synthetic_range_test
from lrlab._html import fmt
from lrlab.analysis import compare
from lrlab.experiment import ExperimentResult
from lrlab.experiment.runner import TrialResult
from lrlab.train import FitResult, fit


def assert_self_contained(html: str) -> None:
    (png,) = embedded_pngs(html)
    assert png.startswith(PNG_MAGIC)
    assert not re.search(r"<script|<link|<style|https?://", html)


def cells(html: str) -> list[str]:
    """The text of every table cell, in order."""
    return re.findall(r"<t[dh] [^>]*>(.*?)</t[dh]>", html)


def test_range_test_result_shows_its_curve_and_suggestion():
    result = synthetic_range_test()
    html = result._repr_html_()
    assert_self_contained(html)
    got = dict(zip(cells(html)[::2], cells(html)[1::2], strict=True))
    sug = result.suggestion
    assert got["suggested max LR"] == fmt(sug.lr)
    assert got["confidence range"] == f"{fmt(sug.low)} – {fmt(sug.high)}"
    assert got["steps"] == "120" and got["stopped"] == "completed"
    assert got["LR at the loss minimum"] == fmt(result.min_loss_lr)
    assert got["metric curve"] == result.diagnosis.shape
    for flag in sug.flags:
        assert fmt(flag).replace("<", "&lt;").replace(">", "&gt;") in html


def test_range_test_without_suggestion_still_renders():
    result = synthetic_range_test(metric=False)
    result.suggestion = None
    html = result._repr_html_()
    assert_self_contained(html)
    assert "<td" in html and "suggested max LR" in html


def test_fit_result_shows_curves_and_last_and_best_values():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    data = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = fit(
        model, opt, torch.nn.CrossEntropyLoss(), data, epochs=3, eval_data=data,
        metrics=["accuracy"], quiet=True,
    )  # fmt: skip
    html = result._repr_html_()
    assert_self_contained(html)
    assert "fit: 3 epochs, 12 updates, completed" in html
    rows = {}
    flat = cells(html)
    for i in range(4, len(flat), 4):  # the header row first, then 4 cells per measurement
        rows[flat[i]] = flat[i + 1 : i + 4]
    assert set(rows) >= {"train_loss", "eval_loss", "eval_accuracy"}
    best = result.best["eval_loss"]
    assert rows["eval_loss"] == [
        fmt(result.final["eval_loss"]),
        fmt(best["value"]),
        str(best["epoch"]),
    ]


def test_fit_result_without_records_has_no_figure():
    html = FitResult(records=[], stop_reason="interrupted", message="stopped <early>")._repr_html_()
    assert embedded_pngs(html) == [] and "stopped &lt;early&gt;" in html


def _records(acc: list[float]) -> list[dict]:
    return [
        {"epoch": e, "iteration": 10 * e, "eval_accuracy": a, "eval_loss": 1 - a, "lr": 0.1}
        for e, a in enumerate(acc)
    ]


@pytest.fixture
def experiment() -> ExperimentResult:
    runs = {
        "<b>control</b>": {0: _records([0.1, 0.5, 0.6]), 1: _records([0.1, 0.4, 0.7])},
        "one-cycle": {0: _records([0.1, 0.7, 0.8]), 1: _records([0.1, 0.6, 0.9])},
    }
    trials = [
        TrialResult(variant=v, seed=s, status="completed", records=r)
        for v, by_seed in runs.items()
        for s, r in by_seed.items()
    ]
    return ExperimentResult(
        name="demo & co",
        dir="runs/x",
        config={},
        fingerprint="f",
        executor="local",
        trials=trials,
        comparison=compare(runs),
    )


def test_experiment_result_shows_curves_and_the_comparison_escaped(experiment):
    html = experiment._repr_html_()
    assert_self_contained(html)
    assert "experiment demo &amp; co: 4/4 trials finished" in html
    assert "<b>control" not in html and "&lt;b&gt;control&lt;/b&gt;" in html
    from lrlab.analysis.table import rows

    headers, body = rows(experiment.comparison, compact=True)
    flat = cells(html)
    assert flat[: len(headers)] == [h.replace(">", "&gt;") for h in headers]
    one_cycle = next(r for r in body if r[0] == "one-cycle")
    assert flat[len(headers) * 2 : len(headers) * 3] == one_cycle


def test_experiment_without_comparison(experiment):
    experiment.comparison = None
    html = experiment._repr_html_()
    assert embedded_pngs(html) == [] and "runs/x" in html
