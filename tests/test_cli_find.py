"""``lrlab find`` end to end, on a tiny user factory written into tmp_path (fast, and
independent of the built-in tasks)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixtures.cli import run_cli, user_module
from lrlab.finder import RangeTestResult

FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    from fixtures.cli import Interrupting


    def factory(seed=0):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(256, 4, generator=g)
        y = (x[:, 0] + x[:, 1] > 0).long()
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
        return {
            "model": model,
            "criterion": nn.CrossEntropyLoss(),
            "train_data": (x, y),
            "eval_data": (x[:64], y[:64]),
            "batch_size": 16,
            "lr_range": (1e-4, 30.0),
        }


    def no_eval(seed=0):
        d = factory(seed)
        del d["eval_data"]
        return d


    def interrupting(seed=0):
        d = factory(seed)
        d["model"] = Interrupting(nn.Linear(4, 2), after=12)
        del d["eval_data"]
        return d
    """
)


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    yield from user_module(FACTORY, tmp_path, monkeypatch, prefix="lrlab_find_factory")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "find", *args)


def test_find_on_a_user_factory_writes_json_and_png_and_prints_the_suggestion(
    factory_module, tmp_path, capsys
):
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        capsys,
        "--fast",
        "--model",
        f"{factory_module}:factory",
        "--num-iter",
        "60",
        "--eval-every",
        "6",
        "--eval-batches",
        "2",
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    result = RangeTestResult.load(out / "range_test.json")
    assert 2 <= result.num_steps <= 60
    assert result.lrs[0] == pytest.approx(1e-4)  # the factory's lr_range is the default window
    assert result.config["task"] == f"{factory_module}:factory"
    assert result.eval_steps[:2] == [5, 11] and "accuracy" in result.eval
    assert result.suggestion is not None and result.diagnosis is not None
    png = (out / "range_test.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    assert "suggested max lr" in stdout and "diagnosis" in stdout
    if result.suggestion.lr is not None:
        assert f"{result.suggestion.lr:.3g}" in stdout


def test_find_is_deterministic_and_honours_the_window(factory_module, tmp_path, capsys):
    dicts = []
    for run in ("a", "b"):
        code, _, err = _run(
            capsys,
            "--fast",
            "--model",
            f"{factory_module}:no_eval",
            "--start-lr",
            "1e-3",
            "--end-lr",
            "1",
            "--num-iter",
            "25",
            "--step-mode",
            "linear",
            "--seed",
            "3",
            "--quiet",
            "--out",
            str(tmp_path / run),
        )
        assert code == 0, err
        d = RangeTestResult.load(tmp_path / run / "range_test.json").to_dict()
        d.pop("elapsed")
        dicts.append(d)
    assert dicts[0] == dicts[1]
    assert dicts[0]["lrs"][0] == pytest.approx(1e-3) and dicts[0]["config"]["step_mode"] == "linear"
    assert dicts[0]["eval"] == {}


def test_ctrl_c_saves_what_was_measured_and_exits_130(factory_module, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, stderr = _run(
        capsys,
        "--fast",
        "--model",
        f"{factory_module}:interrupting",
        "--num-iter",
        "50",
        "--quiet",
        "--out",
        str(out),
    )
    assert code == 130
    assert "interrupted at step 12" in stderr and "range_test.partial.json" in stderr
    # Beside the complete result's name, never over it (issue 13).
    result = RangeTestResult.load(out / "range_test.partial.json")
    assert result.stop_reason == "interrupted" and result.num_steps == 12
    assert not result.suggestion or not result.suggestion.trustworthy  # half a sweep
    assert (out / "range_test.partial.png").exists() and not (out / "range_test.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Pass exactly one of --task NAME or --model"),
        (("--task", "digits-mlp", "--model", "x:y"), "Pass exactly one of"),
        (("--model", "no_such_module_xyz:factory"), "Cannot import 'no_such_module_xyz'"),
        (("--model", "{mod}:factroy"), "Did you mean 'factory'"),
        (("--model", "{mod}:factory", "--start-lr", "1", "--end-lr", "0.1"), "smaller than end_lr"),
        (("--model", "{mod}:factory", "--num-iter", "1"), "num_iter=1 must be an integer >= 2"),
        (("--model", "{mod}:factory", "--step-mode", "cos"), "step_mode='cos'"),
        (("--fast", "--model", "{mod}:no_eval", "--eval-every", "5"), "has no evaluation data"),
        (("--fast", "--model", "{mod}:factory", "--epochs", "3"), "which --fast does not look"),
        (("--model", "{mod}:factory", "--epochs", "0"), "--epochs 0 must be >= 1"),
        (("--model", "{mod}:factory", "--epochs", "2", "--iterations", "9"), "not both"),
        (("--model", "{mod}:factory", "--schedule", "cyclic"), "cannot be planned"),
        (("--task", "no-such-task"), "Unknown task 'no-such-task'"),
    ],
)
def test_user_mistakes_are_one_line_errors_with_exit_code_2(
    factory_module, tmp_path, capsys, args, message
):
    args = tuple(a.replace("{mod}", factory_module) for a in args)
    code, _, stderr = _run(capsys, *args, "--quiet", "--out", str(tmp_path / "out"))
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "out" / "range_test.json").exists()


def test_find_lr_by_default_writes_find_json_beside_the_range_test(
    factory_module, tmp_path, capsys
):
    from lrlab.finder import FindResult

    out = tmp_path / "out"
    code, stdout, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--epochs", "3", "--num-iter", "30",
        "--device", "cpu", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    found = FindResult.load(out / "find.json")
    assert found.total_steps == 3 * 16 and found.schedule["name"] == "one-cycle"
    assert found.lr is not None and found.low <= found.lr <= found.high
    assert found.candidates and found.cost["runs"] > 0
    assert found.config["task"] == f"{factory_module}:factory"
    rt = RangeTestResult.load(out / "range_test.json")
    assert rt.to_dict()["lrs"] == found.range_test.to_dict()["lrs"] and rt.lrs[0] == 1e-4
    assert (out / "find.png").read_bytes().startswith(b"\x89PNG")
    assert "max lr" in stdout and f"{found.lr:.3g}" in stdout and "48 steps of one-cycle" in stdout


def test_ctrl_c_during_find_lr_never_replaces_a_complete_answer(factory_module, tmp_path, capsys):
    out = tmp_path / "out"
    common = ["--epochs", "3", "--num-iter", "30", "--quiet", "--out", str(out)]
    assert _run(capsys, "--model", f"{factory_module}:factory", *common)[0] == 0
    complete = (out / "find.json").read_bytes()
    code, _, stderr = _run(capsys, "--model", f"{factory_module}:interrupting", *common)
    assert code == 130 and "find.partial.json" in stderr and "untouched" in stderr
    assert (out / "find.json").read_bytes() == complete
    assert "interrupted" in (out / "find.partial.json").read_text()


def test_the_planned_update_options_reach_the_range_test_and_the_short_runs(
    factory_module, tmp_path, capsys
):
    """--accumulation-steps k: the planned run makes ceil(16 / k) updates an epoch, and the
    range test and the short runs accumulate k micro-batches; --grad-clip: they clip."""
    from lrlab.finder import FindResult

    out = tmp_path / "out"
    code, _, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", "--epochs", "3", "--num-iter", "30",
        "--accumulation-steps", "3", "--grad-clip", "0.5", "--short-run-seeds", "2",
        "--device", "cpu", "--quiet",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    found = FindResult.load(out / "find.json")
    assert found.total_steps == 3 * 6  # ceil(16 / 3) updates per epoch
    rt = found.config["range_test"]
    assert (rt["accumulation_steps"], rt["grad_clip"]) == (3, 0.5)
    assert found.range_test.config["accumulation_steps"] == 3
    assert found.config["engine"] in ("grouped", "vmapped")  # both accumulate and clip
    assert found.config["short_run_seeds"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--accumulation-steps", "0"), "--accumulation-steps"),
        (("--grad-clip", "-1"), "--grad-clip"),
        (("--amp", "fp8"), "amp='fp8' is not a precision"),
        (("--grad-clip", "1", "--vary", "momentum=0.9,0.8"), "--vary does not take them"),
        (("--short-run-seeds", "0"), "--short-run-seeds"),
        (("--short-run-seeds", "2", "--fast"), "--fast does not look at"),
    ],
)
def test_bad_planned_update_options_are_one_line_errors(
    factory_module, tmp_path, capsys, args, message
):
    code, _, stderr = _run(
        capsys, "--model", f"{factory_module}:factory", *args, "--quiet", "--out",
        str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2 and message in stderr and "Traceback" not in stderr
