"""Tests of the shared foundation: batches, metrics, evaluation, JSON I/O, seeding, devices."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import _io
from lrlab.batches import (
    StepOutput,
    cycle,
    default_unpack,
    make_step,
    num_batches,
    resolve_step,
    run_step,
    to_device,
)
from lrlab.devices import resolve_device
from lrlab.errors import DataError, InvalidArgument, LrlabError
from lrlab.evaluate import evaluate
from lrlab.metrics import accuracy, mae, mse, resolve_metrics, top5_accuracy
from lrlab.seeding import derive_seed, seed_everything


def test_default_unpack_accepts_pairs_and_known_dicts():
    x, y = torch.zeros(2, 3), torch.ones(2)
    assert default_unpack((x, y))[0] is x
    assert default_unpack([x, y])[1] is y
    assert default_unpack({"inputs": x, "targets": y})[0] is x
    assert default_unpack({"image": x, "label": y})[1] is y


@pytest.mark.parametrize("batch", [(1, 2, 3), {"a": 1, "b": 2}, 5])
def test_default_unpack_rejects_unknown_formats_with_a_hint(batch):
    with pytest.raises(DataError, match="unpack="):
        default_unpack(batch)


def test_make_step_spreads_tuple_and_dict_inputs():
    class Two(nn.Module):
        def forward(self, a, b):
            return a + b

    step = make_step(nn.MSELoss(), unpack=lambda b: ((b[0], b[1]), b[2]))
    out = run_step(step, Two(), (torch.ones(4, 1), torch.ones(4, 1), torch.full((4, 1), 2.0)))
    assert out.loss.item() == 0.0 and out.batch_size == 4

    step = make_step(nn.MSELoss(), unpack=lambda b: ({"a": b["p"], "b": b["q"]}, b["t"]))
    out = run_step(
        step, Two(), {"p": torch.ones(3, 1), "q": torch.zeros(3, 1), "t": torch.zeros(3, 1)}
    )
    assert out.loss.item() == pytest.approx(1.0) and out.batch_size == 3


def test_run_step_accepts_bare_loss_and_dict_and_rejects_others():
    model = nn.Linear(2, 1)
    out = run_step(lambda m, b: m(b).sum() * 0 + 3.0, model, torch.ones(5, 2))
    assert isinstance(out, StepOutput) and out.loss.item() == 3.0 and out.batch_size == 1
    out = run_step(lambda m, b: {"loss": m(b).mean()}, model, torch.ones(5, 2))
    assert out.loss.numel() == 1
    with pytest.raises(DataError, match="scalar"):
        run_step(lambda m, b: m(b), model, torch.ones(5, 2))
    with pytest.raises(DataError, match="StepOutput"):
        run_step(lambda m, b: "nope", model, torch.ones(5, 2))


def test_resolve_step_needs_exactly_one_way():
    with pytest.raises(DataError, match="criterion is None"):
        resolve_step(None)
    with pytest.raises(DataError, match="not both"):
        resolve_step(nn.MSELoss(), unpack=default_unpack, step_fn=lambda m, b: m(b).sum())


def test_cycle_restarts_and_rejects_empty():
    it = cycle([1, 2])
    assert [next(it) for _ in range(5)] == [1, 2, 1, 2, 1]
    with pytest.raises(DataError, match="no batches"):
        next(cycle([]))


def test_to_device_recurses_and_num_batches():
    data = {"a": [torch.ones(1), (torch.zeros(1), "s")]}
    moved = to_device(data, "cpu")
    assert moved["a"][1][1] == "s" and isinstance(moved["a"][1], tuple)
    assert num_batches([1, 2, 3]) == 3 and num_batches(iter([1])) is None


def test_metrics_against_hand_computed_values():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0, 0]])
    targets = torch.tensor([0, 1, 1, 0])
    assert accuracy(logits, targets).item() == pytest.approx(0.75)
    assert accuracy(logits, torch.nn.functional.one_hot(targets, 3)).item() == pytest.approx(0.75)
    assert top5_accuracy(logits, targets).item() == 1.0
    out, tgt = torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 1.0])
    assert mse(out, tgt).item() == pytest.approx(2.5)
    assert mae(out, tgt).item() == pytest.approx(1.5)
    # binary: one logit per sample, threshold at 0
    assert accuracy(torch.tensor([[-1.0], [2.0]]), torch.tensor([0.0, 1.0])).item() == 1.0


def test_resolve_metrics_forms():
    assert list(resolve_metrics(None)) == []
    assert list(resolve_metrics("accuracy")) == ["accuracy"]
    assert list(resolve_metrics(["mse", mae])) == ["mse", "mae"]
    assert resolve_metrics({"acc": accuracy})["acc"] is accuracy
    with pytest.raises(InvalidArgument, match="Known"):
        resolve_metrics(["f1"])


def test_evaluate_weights_batches_by_size_and_restores_mode():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Dropout(0.5))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    model.train()
    x = torch.arange(5.0).reshape(5, 1)
    y = torch.zeros(5, 1)
    data = [(x[:4], y[:4]), (x[4:], y[4:])]  # unequal batch sizes
    res = evaluate(model, data, make_step(nn.MSELoss()), metrics={"mae": mae})
    assert res["loss"] == pytest.approx(float((x**2).mean()))  # dropout off in eval mode
    assert res["mae"] == pytest.approx(float(x.mean()))
    assert model.training
    one = evaluate(model, data, make_step(nn.MSELoss()), max_batches=1)
    assert one["loss"] == pytest.approx(float((x[:4] ** 2).mean()))
    with pytest.raises(DataError, match="no batches"):
        evaluate(model, [], make_step(nn.MSELoss()))
    with pytest.raises(DataError, match="only a loss"):
        evaluate(model, data, lambda m, b: m(b[0]).mean(), metrics={"mae": mae})


def test_json_helpers_roundtrip_nonfinite_and_jsonl(tmp_path):
    payload = {
        "a": [1.0, float("nan"), float("inf")],
        "t": torch.tensor([1.5]),
        "n": np.float32(2.5),
        "p": tmp_path,
        "np": [np.int64(3), np.bool_(True), np.array([[1, 2]]), np.float64(np.nan)],
    }
    path = _io.write_json(tmp_path / "x" / "r.json", payload)
    raw = json.loads(path.read_text())
    assert raw["a"] == [1.0, None, None] and raw["t"] == [1.5] and raw["n"] == 2.5
    assert raw["np"] == [3, True, [[1, 2]], None]
    vals = _io.floats(raw["a"])
    assert vals[0] == 1.0 and math.isnan(vals[1])
    assert not list(tmp_path.joinpath("x").glob(".*tmp"))  # no temporary left behind
    assert path.stat().st_mode & 0o044  # readable by others, like any file the user writes
    log = tmp_path / "records.jsonl"
    _io.append_jsonl(log, {"epoch": 1, "loss": float("nan")})
    _io.append_jsonl(log, {"epoch": 2})
    with open(log, "a") as fh:
        fh.write('{"epoch": 3, "lo')  # a torn line from a crash
    assert [r["epoch"] for r in _io.read_jsonl(log)] == [1, 2]


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / "d" / "ckpt.bin"
    with _io.atomic_file(path, "wb", durable=True) as fh:
        fh.write(b"first")
    assert path.read_bytes() == b"first"
    assert path.stat().st_mode & 0o044  # umask permissions, not mkstemp's 0600
    with pytest.raises(KeyboardInterrupt), _io.atomic_file(path, "wb") as fh:
        fh.write(b"half of the sec")
        raise KeyboardInterrupt  # Ctrl-C mid-write
    assert path.read_bytes() == b"first"  # the old file, untouched
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.bin"]  # no temporary left
    with _io.atomic_file(path) as fh:
        fh.write("é")
    assert path.read_text(encoding="utf-8") == "é"
    with pytest.raises(InvalidArgument, match="mode='a'"), _io.atomic_file(path, "a"):
        pass


def test_seed_everything_and_derive_seed_are_reproducible():
    seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    assert derive_seed(1, "data") == derive_seed(1, "data") != derive_seed(1, "init")
    assert 0 <= derive_seed(123, "x", 4) < 2**63


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None).type in {"cpu", "cuda"}
    with pytest.raises(InvalidArgument, match="not a device"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="CUDA is not available"):
            resolve_device("cuda")


def test_errors_carry_hints():
    err = InvalidArgument("bad x.", hint="Use y.")
    assert isinstance(err, ValueError) and isinstance(err, LrlabError)
    assert str(err) == "bad x. Use y." and err.hint == "Use y."


def test_cli_version_and_unknown_option(capsys):
    from lrlab.cli.app import main

    assert main(["--version"]) == 0
    assert "lrlab" in capsys.readouterr().out
    assert main(["--no-such-option"]) == 2


def test_network_is_blocked_in_tests():
    import socket

    with pytest.raises(RuntimeError, match="network"), socket.socket() as s:
        s.connect(("93.184.216.34", 80))
