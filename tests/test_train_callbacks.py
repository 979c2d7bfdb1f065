"""Callbacks, divergence, records on disk, TensorBoard and the progress display of ``fit``."""

from __future__ import annotations

import csv
import io
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lrlab._io import read_jsonl
from lrlab.errors import Diverged, InvalidArgument
from lrlab.schedules import constant
from lrlab.train import Callback, CallbackList, fit
from lrlab.train.progress import format_record
from lrlab.train.records import records_to_csv
from lrlab.train.runstate import RunState


def make_data(n=48, batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = x[:, :3].argmax(dim=1)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]  # 6 batches


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))


def run_fit(callbacks=(), epochs=3, **kw):
    model = make_model()
    opt = kw.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    kw.setdefault("quiet", True)
    return fit(model, opt, nn.CrossEntropyLoss(), make_data(), epochs=epochs,
               eval_data=make_data(seed=1), callbacks=list(callbacks), **kw)  # fmt: skip


class Recorder:
    def __init__(self):
        self.events = []
        self.step_losses = []
        self.logged = []

    def on_fit_start(self, run):
        self.events.append(("fit_start", run.epoch, run.iteration))

    def on_epoch_start(self, run):
        self.events.append(("epoch_start", run.epoch, run.iteration))

    def on_step_end(self, run):
        self.events.append(("step", run.epoch, run.iteration))
        self.step_losses.append(run.loss)

    def on_log(self, run, steps):
        self.logged.extend(steps)

    def on_epoch_end(self, run):
        self.events.append(("epoch_end", run.epoch, run.iteration))

    def on_fit_end(self, run):
        self.events.append(("fit_end", run.stop_reason, run.iteration))


def test_hooks_run_in_order_and_every_update_is_logged_once():
    rec = Recorder()
    result = run_fit([rec], epochs=2)
    expected = [("fit_start", 0, 0)]
    for epoch in (1, 2):
        expected.append(("epoch_start", epoch, 6 * (epoch - 1)))
        expected += [("step", epoch, 6 * (epoch - 1) + i) for i in range(1, 7)]
        expected.append(("epoch_end", epoch, 6 * epoch))
    expected.append(("fit_end", "completed", 12))
    assert rec.events == expected
    assert [s.iteration for s in rec.logged] == list(range(1, 13))
    assert [s.epoch for s in rec.logged] == [1] * 6 + [2] * 6
    # The batched read of the losses gives exactly the values a per-step .item() gives.
    assert [s.loss for s in rec.logged] == rec.step_losses
    assert all(s.lr == 0.05 and s.momentum == 0.9 for s in rec.logged)
    # The epoch's train_loss is the mean of its step losses (equal batch sizes).
    assert result.records[1]["train_loss"] == pytest.approx(sum(rec.step_losses[:6]) / 6)


def test_on_step_end_can_stop_mid_epoch():
    class StopAt(Callback):
        def on_step_end(self, run):
            return run.iteration == 8

    result = run_fit([StopAt()], epochs=3)
    assert result.stop_reason == "callback"
    assert result.iterations == 8
    last = result.records[-1]
    assert (last["epoch"], last["iteration"], last["partial"]) == (2, 8, True)
    assert math.isfinite(last["eval_loss"])  # the partial epoch is still evaluated
    assert "callback stopped the run in epoch 2" in result.message


def test_on_epoch_end_can_stop_and_add_fields_to_the_records(tmp_path):
    class Target(Callback):
        def on_epoch_end(self, run):
            run.record["reached"] = run.epoch >= 2
            return run.record["reached"]

    class LateKey(Callback):
        def on_epoch_end(self, run):
            if run.epoch == 2:
                run.record["note"] = "late"

    result = run_fit([Target(), LateKey()], epochs=5, out_dir=tmp_path, csv=True)
    assert result.stop_reason == "callback"
    assert [r["epoch"] for r in result.records] == [0, 1, 2]
    assert "partial" not in result.records[-1]
    on_disk = read_jsonl(tmp_path / "records.jsonl")
    assert [r.get("reached") for r in on_disk] == [None, False, True]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "records.csv").read_text())))
    assert [row["note"] for row in rows] == ["", "", "late"]  # a column added later
    assert [row["reached"] for row in rows] == ["", "False", "True"]


def test_each_record_is_on_disk_before_the_next_epoch_starts(tmp_path):
    seen = []

    class Peek:
        def on_epoch_start(self, run):
            seen.append([r["epoch"] for r in read_jsonl(tmp_path / "records.jsonl")])

    run_fit([Peek()], epochs=3, out_dir=tmp_path)
    assert seen == [[0], [0, 1], [0, 1, 2]]


def test_records_csv_reads_back_exactly(tmp_path):
    result = run_fit(epochs=2, out_dir=tmp_path, csv=True)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "records.csv").read_text())))
    assert list(rows[0]) == list(result.records[1])
    for row, record in zip(rows, result.records, strict=True):
        for key, value in record.items():
            if value is None:
                assert row[key] == ""
            else:
                assert type(value)(row[key]) == value


def test_records_to_csv_writes_missing_and_non_finite_as_empty():
    text = records_to_csv([{"a": 1, "b": float("nan")}, {"a": 2.5, "c": [1, 2]}])
    assert text.splitlines() == ["a,b,c", "1,,", '2.5,,"[1, 2]"']


# ---- divergence --------------------------------------------------------------------------------


def nan_from(call: int):
    """A step function that returns a NaN loss from its ``call``-th training call on
    (evaluation calls it too, in eval mode: not counted)."""
    calls = {"n": 0}

    def step(model, batch):
        calls["n"] += int(model.training)
        x, y = batch
        loss = F.cross_entropy(model(x), y)
        return loss * float("nan") if calls["n"] >= call else loss

    return step


def test_divergence_stops_with_a_message_naming_epoch_iteration_and_lr(tmp_path):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    result = fit(model, opt, None, make_data(), step_fn=nan_from(11), metrics=(), epochs=4,
                 eval_data=make_data(seed=1), schedule=constant(0.05), out_dir=tmp_path,
                 quiet=True)  # fmt: skip
    assert result.stop_reason == "diverged"
    assert "loss became nan at epoch 2, iteration 11 (lr 0.05, momentum 0.9)" in result.message
    assert "2 earlier epoch record(s) are kept" in result.message
    assert [r["epoch"] for r in result.records] == [0, 1, 2]
    last = result.records[-1]
    assert math.isnan(last["train_loss"]) and last["eval_loss"] is None
    on_disk = read_jsonl(tmp_path / "records.jsonl")
    assert [r["epoch"] for r in on_disk] == [0, 1, 2] and on_disk[-1]["train_loss"] is None


def test_divergence_from_a_learning_rate_that_is_too_large():
    result = run_fit(epochs=20, optimizer=None, schedule=constant(1e4))
    assert result.stop_reason == "diverged"
    assert "lr 1e+04" in result.message
    assert result.epochs < 20


def test_divergence_can_raise_after_saving_the_records(tmp_path):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(Diverged, match=r"iteration 3 .*Lower the"):
        fit(model, opt, None, make_data(), step_fn=nan_from(3), metrics=(), epochs=2,
            out_dir=tmp_path, on_divergence="raise", quiet=True)  # fmt: skip
    assert [r["epoch"] for r in read_jsonl(tmp_path / "records.jsonl")] == [1]


def test_divergence_can_be_ignored():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    result = fit(model, opt, None, make_data(), step_fn=nan_from(3), metrics=(), epochs=2,
                 on_divergence="ignore", quiet=True)  # fmt: skip
    assert result.stop_reason == "completed" and result.epochs == 2


def test_on_fit_end_sees_interruptions_and_no_checkpoint_message(tmp_path):
    class Interrupt:
        def on_step_end(self, run):
            if run.iteration == 9:
                raise KeyboardInterrupt

    rec = Recorder()
    result = run_fit([Interrupt(), rec], epochs=3, out_dir=tmp_path)
    assert result.stop_reason == "interrupted"
    assert rec.events[-1] == ("fit_end", "interrupted", 9)
    assert [r["epoch"] for r in result.records] == [0, 1]
    assert "records up to epoch 1 are kept" in result.message
    assert "No checkpoint was written yet" in result.message


# ---- callbacks plumbing ------------------------------------------------------------------------


def test_callback_list_binds_only_the_hooks_a_callback_defines():
    class OnlyEpoch(Callback):
        def on_epoch_end(self, run):
            return True

    hooks = CallbackList([OnlyEpoch()])
    assert [h for h in ("on_step_end", "on_log", "on_epoch_end") if hooks.has(h)] == [
        "on_epoch_end"
    ]
    run = RunState(model=nn.Linear(1, 1), optimizer=None)  # type: ignore[arg-type]
    assert hooks.call("on_epoch_end", run) is True
    assert hooks.call("on_step_end", run) is False
    assert math.isnan(run.loss)
    run.loss = torch.tensor(2.5)
    assert run.loss == 2.5 and isinstance(run._loss, float)
    with pytest.raises(InvalidArgument, match="the class OnlyEpoch, not an instance"):
        CallbackList([OnlyEpoch])


# ---- TensorBoard -------------------------------------------------------------------------------


def test_tensorboard_scalars_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rec = Recorder()
    result = run_fit([rec], epochs=2, out_dir=tmp_path, tensorboard=True)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    steps = acc.Scalars("step/loss")
    assert [e.step for e in steps] == list(range(1, 13))
    assert [e.value for e in steps] == pytest.approx(rec.step_losses, rel=1e-6)
    assert [e.value for e in acc.Scalars("step/lr")] == pytest.approx([0.05] * 12)
    assert [e.value for e in acc.Scalars("step/momentum")] == pytest.approx([0.9] * 12)
    evals = acc.Scalars("epoch/eval_loss")
    assert [e.step for e in evals] == [0, 6, 12]  # epoch 0 included, at the iteration
    assert [e.value for e in evals] == pytest.approx(
        [r["eval_loss"] for r in result.records], rel=1e-6
    )
    assert [e.value for e in acc.Scalars("epoch/epoch")] == [0, 1, 2]


def test_tensorboard_needs_a_run_directory():
    with pytest.raises(InvalidArgument, match="tensorboard=True needs a run directory"):
        run_fit(epochs=1, tensorboard=True)


# ---- the display ---------------------------------------------------------------------------------


def test_quiet_prints_nothing(capsys):
    run_fit(epochs=1, quiet=True, schedule=constant(1e4))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_prints_one_summary_line_per_epoch_and_the_stop_message(capsys):
    run_fit(epochs=30, quiet=False, schedule=constant(1e4))
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout stays for results
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines[0].startswith("Epoch [0] it 0 | lr 1e+04 mom 0.9 | eval_loss ")
    assert lines[1].startswith("Epoch [1] it 6 | lr 1e+04 mom 0.9 | train_loss ")
    assert lines[-1].startswith("Training diverged: the loss became")


def test_format_record_reads_like_the_seed_logs():
    record = {
        "epoch": 3,
        "iteration": 390,
        "lr": 0.013127,
        "momentum": 0.91,
        "train_loss": 1.79271,
        "train_accuracy": 0.25,
        "eval_loss": 1.78301,
        "eval_accuracy": 0.2542,
        "epoch_time": 21.81,
        "eval_time": 1.2,
        "elapsed": 80.0,
        "partial": True,
    }
    assert format_record(record) == (
        "Epoch [3] it 390 | lr 0.01313 mom 0.91 | train_loss 1.793 train_accuracy 0.25 "
        "eval_loss 1.783 eval_accuracy 0.2542 | 21.8 s (partial epoch)"
    )


def test_tensorboard_after_resume_has_each_step_once(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    class InterruptAt:
        def on_step_end(self, run):
            if run.iteration == 15:  # epoch 3 of 6-batch epochs; checkpoint at epoch 2
                raise KeyboardInterrupt

    first = run_fit([InterruptAt()], epochs=4, out_dir=tmp_path, tensorboard=True,
                    checkpoint_every=2)  # fmt: skip
    assert first.stop_reason == "interrupted"
    rec = Recorder()
    run_fit([rec], epochs=4, out_dir=tmp_path, tensorboard=True, checkpoint_every=2,
            resume=True)  # fmt: skip
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    steps = acc.Scalars("step/loss")
    assert [e.step for e in steps] == list(range(1, 25))
    assert [e.value for e in steps[12:]] == pytest.approx(rec.step_losses, rel=1e-6)
    assert [e.step for e in acc.Scalars("epoch/epoch")] == [0, 6, 12, 18, 24]
