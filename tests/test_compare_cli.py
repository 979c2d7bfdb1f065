"""``lrlab find --vary``: end to end on a user factory and a built-in task; option parsing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixtures.cli import run_cli, user_module
from lrlab.cli._vary import parse_vary_option
from lrlab.compare import ComparisonResult
from lrlab.errors import InvalidArgument

FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    from fixtures.cli import Interrupting


    def factory(seed=0):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(512, 4, generator=g)
        y = (x[:, 0] + x[:, 1] > 0).long()
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        return {
            "model": model,
            "criterion": nn.CrossEntropyLoss(),
            "train_data": (x, y),
            "eval_data": (x[:64], y[:64]),
            "optimizer": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
            "batch_size": 16,
            "lr_range": (1e-3, 30.0),
        }


    def interrupting(seed=0):
        d = factory(seed)
        d["model"] = Interrupting(nn.Linear(4, 2), after=50)
        return d
    """
)


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    yield from user_module(FACTORY, tmp_path, monkeypatch, prefix="lrlab_vary_factory")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "find", *args)


def test_vary_on_a_user_factory_writes_json_png_and_prints_the_ranking(
    capsys, tmp_path, factory_module
):
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--vary", "momentum=0.99,0.9,0.0",
        "--num-iter", "40", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    result = ComparisonResult.load(out / "vary.json")
    assert result.name == "momentum" and result.values == [0.99, 0.9, 0.0]
    assert (out / "vary.png").stat().st_size > 0
    assert "momentum comparison" in stdout and "verdict" in stdout
    assert result.verdict in " ".join(stdout.split())
    for value in ("0.99", "0.9", "0.0"):
        assert value in stdout
    assert "max lr each momentum allows" in stdout
    assert stderr == ""  # --quiet
    assert len({c.range_test.losses[0] for c in result.candidates}) == 1


def test_vary_batch_size_with_metric_mode_and_confirmation(capsys, tmp_path, factory_module):
    out = tmp_path / "bs"
    code, stdout, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--vary", "batch_size=16,32",
        "--num-iter", "30", "--eval-every", "5", "--confirm-epochs", "1", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    result = ComparisonResult.load(out / "vary.json")
    assert [c.num_iter for c in result.candidates] == [60, 30]  # same samples for both
    assert [c.batch_size for c in result.candidates] == [16, 32]
    assert all(c.confirmation is not None for c in result.candidates)
    assert "one-cycle confirmation: lowest eval loss with batch_size=" in stdout
    assert all(c.range_test.eval.get("accuracy") for c in result.candidates)
    assert "batch_size=16: " in stderr and "batch_size=32: " in stderr and "wrote" in stderr


def test_repeats_on_the_command_line(capsys, tmp_path, factory_module):
    out = tmp_path / "rep"
    code, _, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--vary", "weight_decay=0.1,0.0",
        "--num-iter", "30", "--repeats", "2", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    result = ComparisonResult.load(out / "vary.json")
    assert [len(c.runs) for c in result.candidates] == [2, 2]
    assert "× 2 runs" in stderr and "weight_decay=0.1: " in stderr


def test_vary_options_without_vary_are_an_error(capsys, tmp_path, factory_module):
    code, _, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--repeats", "3", "--out",
        str(tmp_path / "x"), "--quiet",
    )  # fmt: skip
    assert code == 2 and "belong to --vary" in stderr


def test_vary_on_a_builtin_task(capsys, tmp_path):
    out = tmp_path / "digits"
    code, _, stderr = _run(
        capsys, "--task", "digits-mlp", "--vary", "weight_decay=1e-1,1e-5",
        "--num-iter", "60", "--start-lr", "1e-4", "--out", str(out), "--quiet",
        "--device", "cpu",
    )  # fmt: skip
    assert code == 0, stderr
    result = ComparisonResult.load(out / "vary.json")
    assert result.config["task"] == "digits-mlp"
    assert result.ranking.order == [1, 0]  # weight decay 0.1 is clearly worse
    assert result.recommendation == 1e-5


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        ("momentum", "is not NAME=V1,V2"),
        ("momentum=", "is not NAME=V1,V2"),
        ("momentum=0.9", "needs at least 2"),
        ("momentum=1.5,0.9", "momentum values must be numbers in [0, 1)"),
        ("betas=0.9,0.5", "has no hyper-parameter 'betas'"),
    ],
)
def test_bad_vary_options_are_one_line_errors(capsys, tmp_path, factory_module, vary, message):
    code, _, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--vary", vary, "--out",
        str(tmp_path / "bad"), "--quiet",
    )  # fmt: skip
    assert code == 2
    assert stderr.startswith("lrlab: error:") and message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "bad" / "vary.json").exists()


def test_ctrl_c_saves_the_finished_candidates(capsys, tmp_path, factory_module):
    out = tmp_path / "int"
    code, _, stderr = _run(
        capsys, "--model", f"{factory_module}:interrupting", "--vary", "momentum=0.9,0.5,0.0",
        "--num-iter", "30", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert code == 130
    assert "interrupted after 2 candidate(s)" in stderr
    result = ComparisonResult.load(out / "vary.partial.json")  # never over a complete one
    assert result.stop_reason == "interrupted" and len(result.candidates) == 2


def test_parse_vary_option_reads_numbers_booleans_and_names():
    assert parse_vary_option("momentum=0.99,0.9") == {"momentum": [0.99, 0.9]}
    assert parse_vary_option("weight_decay=1e-3, 1e-4") == {"weight_decay": [1e-3, 1e-4]}
    parsed = parse_vary_option("batch_size=64,128")
    assert parsed == {"batch_size": [64, 128]}
    assert all(type(v) is int for v in parsed["batch_size"])
    assert parse_vary_option("nesterov=true,false") == {"nesterov": [True, False]}
    assert parse_vary_option("kind=sgd,adam") == {"kind": ["sgd", "adam"]}
    with pytest.raises(InvalidArgument, match="NAME=V1,V2"):
        parse_vary_option("=1,2")
