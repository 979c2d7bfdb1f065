"""`lrlab tasks`: the table, JSON, model summaries and errors through the CLI entry point."""

from __future__ import annotations

import json

from lrlab.cli.app import main
from lrlab.tasks import TASKS


def test_table_lists_every_task(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in TASKS:
        assert name in out
    assert "6,575,370" in out and "853,018" in out and "from path" in out


def test_json_rows(capsys):
    assert main(["tasks", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(TASKS)
    assert rows["cifar10-resnet9"]["params"] == 6_575_370
    assert rows["mnist1d-cnn"]["params"] == 5_210 and rows["mnist1d-cnn"]["requires"] == [
        "datasets"
    ]
    assert rows["imagefolder"]["params"] is None
    assert rows["function-log"]["lr_range"] == [1e-6, 100.0]


def test_summary_of_resnet9_matches_the_seed_totals(capsys):
    assert main(["tasks", "--summary", "cifar10-resnet9"]) == 0
    out = capsys.readouterr().out
    assert "ResNetBlock-29" in out and "Total params: 6,575,370" in out
    assert "Estimated Total Size (MB): 31.85" in out


def test_summary_json_and_norm_off_rows(capsys):
    assert main(["tasks", "--summary", "mnist1d-cnn", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total_params"] == 5_210
    assert [r["layer"] for r in d["rows"]][:3] == ["Conv1d-1", "ReLU-2", "Conv1d-3"]


def test_unknown_task_is_a_one_line_error(capsys):
    assert main(["tasks", "--summary", "cifar10-resnet5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrlab: error: Unknown task 'cifar10-resnet5'") and "Did you mean" in err
