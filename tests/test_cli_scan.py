"""``lrlab scan`` end to end: a user factory in tmp_path and the seed's function-log task."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from lrlab.cli.app import main
from lrlab.cli.scan import parse_lrs
from lrlab.scanning import ScanResult

FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn


    def factory(seed=0):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(96, 4, generator=g)
        y = (x[:, 0] - x[:, 1] > 0).long()
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        return {
            "model": model,
            "criterion": nn.CrossEntropyLoss(),
            "train_data": (x, y),
            "eval_data": (x[:32], y[:32]),
            "batch_size": 32,
            "metrics": ["accuracy"],
            "lr_range": (1e-3, 10.0),
        }


    class Interrupting(nn.Module):
        def __init__(self, after):
            super().__init__()
            self.body = nn.Linear(4, 2)
            self.calls, self.after = 0, after

        def forward(self, x):
            self.calls += 1
            if self.calls > self.after:
                raise KeyboardInterrupt
            return self.body(x)


    def interrupting(seed=0):
        d = factory(seed)
        d["model"] = Interrupting(after=9)  # 3 batches of initial evaluation, then 6 steps
        return d
    """
)


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"lrlab_scan_factory_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_scan_on_the_function_log_task_writes_json_pngs_and_prints_best_lrs(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "--task", "function-log", "--lrs", "1e-4:1:9",
                                "--horizons", "1,2", "--optimizer", "adam", "--device", "cpu",
                                "--quiet", "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    result = ScanResult.load(out / "scan.json")
    assert len(result.lrs) == 9 and result.lrs[0] == pytest.approx(1e-4)
    assert result.horizons == [1, 2] and result.unit == "epochs"
    assert result.config["task"] == "function-log" and result.config["eval_on"] == "train"
    assert result.config["optimizer"]["name"] == "adam"
    for name in ("scan.png", "scan_heatmap.png"):
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5_000
    for best in result.best():
        assert f"{best.lr:.3g}" in stdout


def test_scan_on_a_user_factory_uses_its_optimizer_window_and_eval_data(
    factory_module, tmp_path, capsys
):
    out = tmp_path / "out"
    code, _, stderr = _run(capsys, "--model", f"{factory_module}:factory", "--horizons", "2,5",
                           "--unit", "steps", "--eval-on", "eval", "--seed", "3", "--quiet",
                           "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    result = ScanResult.load(out / "scan.json")
    assert len(result.lrs) == 32 and result.lrs[-1] == pytest.approx(10.0)  # factory window
    assert result.unit == "steps" and result.config["eval_on"] == "eval"
    assert "accuracy" in result.metrics
    # The factory's default optimizer (SGD, momentum 0.9) is reused, LR by LR.
    assert result.config["optimizer"]["groups"][0]["momentum"] == 0.9


def test_ctrl_c_saves_the_partial_grid_and_exits_130(factory_module, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, stderr = _run(capsys, "--model", f"{factory_module}:interrupting",
                           "--lrs", "1e-2:1:3", "--horizons", "1,2,3", "--quiet",
                           "--out", str(out))  # fmt: skip
    assert code == 130
    assert "scan.partial.json" in stderr  # beside a complete scan.json, never over it
    result = ScanResult.load(out / "scan.partial.json")
    assert not result.complete
    statuses = {s for row in result.status for s in row}
    assert "not run" in statuses and statuses & {"ok", "stopped"}  # epochs 1-2 were measured


def test_parse_lrs_defaults_to_the_task_window_with_32_values():
    lrs = parse_lrs(None, (1e-6, 100.0))
    assert len(lrs) == 32 and lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(100)
    assert len(parse_lrs("1e-3:1", (1.0, 2.0))) == 32


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Pass exactly one of --task NAME or --model"),
        (("--model", "{mod}:factory", "--lrs", "0:1:4"), "must be positive"),
        (("--model", "{mod}:factory", "--lrs", "-1:1"), "must be positive"),
        (("--model", "{mod}:factory", "--lrs", "1e-3:1:0"), "count must be >= 1"),
        (("--model", "{mod}:factory", "--lrs", "1:0.1"), "START must not exceed END"),
        (("--model", "{mod}:factory", "--lrs", "abc"), "START:END or START:END:COUNT"),
        (("--model", "{mod}:factory", "--horizons", "4,2"), "strictly increasing"),
        (("--model", "{mod}:factory", "--horizons", "1,1"), "strictly increasing"),
        (("--model", "{mod}:factory", "--horizons", "0,2"), "positive"),
        (("--model", "{mod}:factory", "--horizons", "a,b"), "comma-separated list of integers"),
        (("--model", "{mod}:factory", "--unit", "hours"), "unit='hours'"),
        (("--model", "{mod}:factory", "--optimizer", "lion"), "not a known optimizer"),
        (("--model", "{mod}:factory", "--eval-on", "test"), "--eval-on 'test'"),
        (("--task", "no-such-task"), "Unknown task 'no-such-task'"),
    ],
)
def test_user_mistakes_are_one_line_errors_with_exit_code_2(
    factory_module, tmp_path, capsys, args, message
):
    args = tuple(a.replace("{mod}", factory_module) for a in args)
    code, _, stderr = _run(capsys, *args, "--quiet", "--out", str(tmp_path / "out"))
    assert code == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "out" / "scan.json").exists()
