"""``lrlab train``: the command is a thin layer over ``lrlab.fit`` (same numbers), writes its
run directory, resumes, and turns mistakes into one-line errors."""

from __future__ import annotations

import json

import pytest

from fixtures.cli import user_module
from lrlab._io import read_jsonl
from lrlab.cli.app import main
from lrlab.cli.train import build_schedule, parse_params
from lrlab.errors import InvalidArgument
from lrlab.schedules import constant, cosine, one_cycle
from lrlab.train import FitResult, fit

TASK = "function-sin"  # 2 batches per epoch, no optional dependency: cheap
TIMING = ("epoch_time", "eval_time", "elapsed")


def untimed(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def cli(tmp_path, *args):
    return main(["train", "--task", TASK, "--device", "cpu", "--quiet", *map(str, args)])


def test_train_writes_the_run_and_matches_the_python_api(tmp_path, capsys):
    out = tmp_path / "oc"
    rc = cli(tmp_path, "--max-lr", 0.05, "--epochs", 3, "--seed", 1, "--out", out, "--csv")
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "completed: epoch 3, iteration 6" in captured.out
    assert "eval_mae" in captured.out and captured.err == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "records.csv",
        "records.jsonl",
        "summary.json",
    ]
    summary = FitResult.load(out / "summary.json")
    assert summary.config["schedule"] == one_cycle(0.05, total_steps=6).to_dict()
    assert untimed(read_jsonl(out / "records.jsonl")) == untimed(summary.records)

    # The same run through the Python API gives the same numbers.
    from lrlab.tasks import get_task

    task = get_task(TASK)
    data = task.data(seed=1, device="cpu")
    model = task.model(seed=1, device="cpu")
    opt = task.make_optimizer(model, lr=0.05)
    direct = fit(model, opt, task.criterion(), data.train, schedule=one_cycle(0.05, total_steps=6),
                 epochs=3, eval_data=data.eval, metrics=list(task.metrics), quiet=True)  # fmt: skip
    assert untimed(direct.records) == untimed(summary.records)


def test_resume_continues_a_run_with_a_longer_budget(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 2, "--out", out) == 0
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 4, "--out", out, "--resume") == 0
    straight = tmp_path / "straight"
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 4, "--out", straight) == 0
    capsys.readouterr()
    resumed = read_jsonl(out / "records.jsonl")
    assert [r["epoch"] for r in resumed] == [0, 1, 2, 3, 4]
    assert untimed(resumed) == untimed(read_jsonl(straight / "records.jsonl"))


def test_an_existing_run_needs_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 1, "--out", out) == 0
    capsys.readouterr()
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 1, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrlab: error: out_dir=") and "--resume" in err
    assert len(err.strip().splitlines()) == 1


def test_divergence_exits_1_with_the_message(tmp_path, capsys):
    rc = cli(tmp_path, "--lr", 1e6, "--epochs", 50, "--out", tmp_path / "boom")
    err = capsys.readouterr().err
    assert rc == 1
    assert "Training diverged: the loss became" in err and "lr 1e+06" in err
    summary = json.loads((tmp_path / "boom" / "summary.json").read_text())
    assert summary["stop_reason"] == "diverged"


def test_iteration_budget_and_task_defaults(tmp_path, capsys):
    out = tmp_path / "it"
    assert cli(tmp_path, "--iterations", 3, "--out", out) == 0
    capsys.readouterr()
    summary = FitResult.load(out / "summary.json")
    assert summary.iterations == 3 and summary.config["schedule"] is None
    assert [r.get("partial", False) for r in summary.records] == [False, False, True]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "pkg.mod:factory"], "exactly one of --task"),
        (["--schedule", "cyclic", "--max-lr", "0.1"], "needs --base-lr, --param step_size_up"),
        (["--schedule", "one-cycle"], "needs --max-lr"),
        (["--schedule", "one-cycle", "--max-lr", "0.1", "--lr", "0.01"], "--lr does not apply"),
        (["--max-lr", "0.1", "--param", "pct_start"], "is not KEY=VALUE"),
        (["--max-lr", "0.1", "--param", "gamma=2"], "--param gamma does not apply"),
        (["--schedule", "warmup", "--lr", "0.1"], "wraps another schedule"),
        (["--schedule", "bogus", "--lr", "0.1"], "bogus"),
        (["--epochs", "2", "--iterations", "3"], "exactly one budget"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path, capsys, args, message):
    rc = main(["train", "--task", TASK, "--quiet", "--out", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err, err


def test_build_schedule_maps_the_options():
    assert build_schedule(None, lr=None, max_lr=None, base_lr=None, extra={}, total_steps=9) is None
    assert build_schedule(None, lr=0.1, max_lr=None, base_lr=None, extra={}, total_steps=9) == (
        constant(0.1)
    )
    got = build_schedule(
        "cosine", lr=None, max_lr=0.2, base_lr=None, extra={"warmup_steps": 2}, total_steps=10
    )
    assert got == cosine(0.2, total_steps=10, warmup_steps=2)
    got = build_schedule(
        "one_cycle", lr=None, max_lr=0.3, base_lr=None, extra={"pct_start": 0.25}, total_steps=40
    )
    assert got == one_cycle(0.3, total_steps=40, pct_start=0.25)
    with pytest.raises(InvalidArgument, match="needs --max-lr"):
        build_schedule("one-cycle", lr=None, max_lr=None, base_lr=None, extra={}, total_steps=9)


def test_parse_params_reads_yaml_scalars():
    assert parse_params(
        ["pct_start=0.25", "three-phase=true", "final_div_factor=1e4", "mode=x"]
    ) == {
        "pct_start": 0.25,
        "three_phase": True,
        "final_div_factor": 1e4,
        "mode": "x",
    }


def test_ctrl_c_exits_130_with_a_resume_hint_and_resume_finishes(tmp_path, capsys, monkeypatch):
    import lrlab.train.loop as loop

    real_evaluate = loop.evaluate
    calls = {"n": 0}

    def interrupted_in_epoch_2(*args, **kwargs):  # Ctrl-C while epoch 2 is evaluated
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(loop, "evaluate", interrupted_in_epoch_2)
    rc = cli(tmp_path, "--lr", 0.01, "--epochs", 3, "--out", out)
    err = capsys.readouterr().err
    assert rc == 130
    assert "Interrupted during epoch 2" in err and "--resume" in err
    assert [r["epoch"] for r in read_jsonl(out / "records.jsonl")] == [0, 1]

    monkeypatch.setattr(loop, "evaluate", real_evaluate)
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 3, "--out", out, "--resume") == 0
    straight = tmp_path / "straight"
    assert cli(tmp_path, "--lr", 0.01, "--epochs", 3, "--out", straight) == 0
    assert untimed(read_jsonl(out / "records.jsonl")) == untimed(
        read_jsonl(straight / "records.jsonl")
    )


FACTORY = """
import torch
from torch import nn


def top_is_zero(outputs, targets):
    return (outputs.argmax(-1) == 0).float().mean()


def build(seed=0):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(64, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return {
        "model": nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2)),
        "criterion": nn.CrossEntropyLoss(),
        "train_data": (x, y),
        "eval_data": (x[:32], y[:32]),
        "metrics": {"top_is_zero": top_is_zero},
        "batch_size": 16,
        "epochs": 2,
    }
"""


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    yield from user_module(FACTORY, tmp_path, monkeypatch, prefix="my_factory")


def test_model_factory_from_the_command_line(tmp_path, capsys, factory_module):
    out = tmp_path / "mine"
    rc = main(["train", "--model", f"{factory_module}:build", "--max-lr", "0.1", "--device", "cpu",
               "--quiet", "--out", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = FitResult.load(out / "summary.json")
    assert summary.epochs == 2 and summary.iterations == 8  # 64 samples / 16, 2 epochs
    assert "eval_top_is_zero" in summary.final and "top_is_zero" in captured.out
