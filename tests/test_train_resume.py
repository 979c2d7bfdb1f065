"""Checkpoints and resume: a run killed mid-way and resumed ends bit-for-bit where an
uninterrupted run ends (weights, optimizer state, records), and records are never duplicated.

The task is built to make a sloppy resume visible: a ``DataLoader`` with ``shuffle=True``
(its order comes from torch's global RNG), dropout (consumes the RNG every step), Adam with
weight decay (moments and step counts), and a one-cycle schedule with cyclical momentum (the
schedule step must continue from the right iteration).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lrlab._io import read_jsonl
from lrlab.errors import InvalidArgument
from lrlab.train import fit
from lrlab.train.checkpoint import load_checkpoint

TASK = textwrap.dedent(
    '''
    """A small task for the resume tests (also run as a script that gets SIGKILLed)."""
    import os
    import signal
    import sys

    import torch
    from torch import nn

    from lrlab.schedules import one_cycle
    from lrlab.train import fit

    EPOCHS, BATCHES = 5, 8


    def build():
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(123)
        x = torch.randn(120, 8, generator=g)
        y = x[:, :3].argmax(dim=1)
        ds = torch.utils.data.TensorDataset(x, y)
        train = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)  # 8 batches
        evald = torch.utils.data.DataLoader(ds, batch_size=40)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
        return model, opt, train, evald


    class KillAt:
        """SIGKILL this process once epoch `epoch` has run `batch` batches: no cleanup at all."""

        def __init__(self, epoch, batch):
            self.epoch, self.batch = epoch, batch

        def on_step_end(self, run):
            if run.epoch == self.epoch and run.batch >= self.batch:
                os.kill(os.getpid(), signal.SIGKILL)


    class InterruptAt(KillAt):
        def on_step_end(self, run):
            if run.epoch == self.epoch and run.batch >= self.batch:
                raise KeyboardInterrupt


    def run(out_dir, *, resume=False, callbacks=(), epochs=EPOCHS, **kw):
        model, opt, train, evald = build()
        result = fit(
            model,
            opt,
            nn.CrossEntropyLoss(),
            train,
            schedule=one_cycle(0.05, total_steps=EPOCHS * BATCHES),
            epochs=epochs,
            eval_data=evald,
            out_dir=out_dir,
            checkpoint_every=2,
            resume=resume,
            callbacks=list(callbacks),
            quiet=True,
            csv=True,
            **kw,
        )
        return result, model, opt


    if __name__ == "__main__":
        run(sys.argv[1], callbacks=[KillAt(int(sys.argv[2]), int(sys.argv[3]))])
    '''
)

TIMING = ("epoch_time", "eval_time", "elapsed")


@pytest.fixture
def task(tmp_path):
    path = tmp_path / "resume_task.py"
    path.write_text(TASK)
    spec = importlib.util.spec_from_file_location("resume_task", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.PATH = path
    return module


def untimed(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def assert_same_state(model_a, opt_a, model_b, opt_b):
    for (name, p), q in zip(
        model_a.state_dict().items(), model_b.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), f"weights {name} differ"
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for key in sa["state"]:
        for name, value in sa["state"][key].items():
            assert torch.equal(value, sb["state"][key][name]), f"optimizer {key}/{name} differ"


def test_resume_after_sigkill_equals_an_uninterrupted_run(task, tmp_path):
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    # Killed in epoch 4, after the checkpoint of epoch 2 and the record of epoch 3.
    proc = subprocess.run(
        [sys.executable, str(task.PATH), str(out), "4", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [r["epoch"] for r in read_jsonl(out / "records.jsonl")] == [0, 1, 2, 3]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2

    resumed, model_r, opt_r = task.run(out, resume=True)
    full, model_f, opt_f = task.run(tmp_path / "full")

    assert resumed.stop_reason == full.stop_reason == "completed"
    assert_same_state(model_r, opt_r, model_f, opt_f)
    assert untimed(resumed.records) == untimed(full.records)
    on_disk = read_jsonl(out / "records.jsonl")
    assert [r["epoch"] for r in on_disk] == [0, 1, 2, 3, 4, 5]  # epoch 3 not duplicated
    assert untimed(on_disk) == untimed(read_jsonl(tmp_path / "full" / "records.jsonl"))
    csv_rows = (out / "records.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 6
    # Elapsed time continues across the resume instead of restarting at 0.
    assert resumed.records[3]["elapsed"] > resumed.records[2]["elapsed"]


def test_ctrl_c_stops_cleanly_and_resume_continues(task, tmp_path):
    out = tmp_path / "run"
    stopped, *_ = task.run(out, callbacks=[task.InterruptAt(3, 2)])
    assert stopped.stop_reason == "interrupted"
    assert [r["epoch"] for r in stopped.records] == [0, 1, 2]
    assert "Interrupted during epoch 3" in stopped.message
    assert "last checkpoint is epoch 2" in stopped.message and "resume=True" in stopped.message

    resumed, model_r, opt_r = task.run(out, resume=True)
    full, model_f, opt_f = task.run(tmp_path / "full")
    assert_same_state(model_r, opt_r, model_f, opt_f)
    assert untimed(resumed.records) == untimed(full.records)


def test_resuming_a_finished_run_returns_it_without_training(task, tmp_path):
    out = tmp_path / "run"
    first, model_1, _ = task.run(out)
    calls = []

    class Spy:
        def on_fit_start(self, run):
            calls.append("start")

    again, model_2, _ = task.run(out, resume=True, callbacks=[Spy()])
    assert calls == []
    assert again.stop_reason == "completed"
    assert untimed(again.records) == untimed(first.records)
    assert again.records[-1]["elapsed"] == first.records[-1]["elapsed"]
    for p, q in zip(model_1.parameters(), model_2.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_longer_budget_continues_a_finished_run(tmp_path):
    from torch import nn

    def run(out, epochs, resume=False):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        g = torch.Generator().manual_seed(1)
        x = torch.randn(32, 4, generator=g)
        data = [(x[i : i + 8], (x[i : i + 8, 0] > 0).long()) for i in range(0, 32, 8)]
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        result = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=epochs, out_dir=out,
                     checkpoint_every=5, resume=resume, quiet=True)  # fmt: skip
        return result, model

    run(tmp_path / "a", 2)  # final checkpoint at epoch 2 although checkpoint_every=5
    extended, model_a = run(tmp_path / "a", 3, resume=True)
    straight, model_b = run(tmp_path / "b", 3)
    assert untimed(extended.records) == untimed(straight.records)
    for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_refuses_other_settings(task, tmp_path):
    out = tmp_path / "run"
    task.run(out, epochs=2)
    with pytest.raises(InvalidArgument, match=r"started with other settings.*grad_clip"):
        task.run(out, resume=True, grad_clip=1.0)
    with pytest.raises(InvalidArgument, match=r"config: checkpoint None, now \{'variant': 'b'\}"):
        task.run(out, resume=True, config={"variant": "b"})


def test_an_existing_run_is_not_overwritten_without_resume(task, tmp_path):
    out = tmp_path / "run"
    task.run(out, epochs=1)
    before = (out / "records.jsonl").read_text()
    with pytest.raises(InvalidArgument, match=r"already holds a run.*resume=True"):
        task.run(out, epochs=1)
    assert (out / "records.jsonl").read_text() == before


def test_resume_without_a_checkpoint_starts_over_and_drops_stale_records(task, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "records.jsonl").write_text('{"epoch": 0, "stale": true}\n{"epoch": 1, "tor')
    with pytest.warns(UserWarning, match="records.before-restart.jsonl"):
        result, *_ = task.run(out, resume=True, epochs=1)
    on_disk = read_jsonl(out / "records.jsonl")
    assert [r["epoch"] for r in on_disk] == [0, 1]
    assert not any(r.get("stale") for r in on_disk)
    assert untimed(on_disk) == untimed(result.records)


def test_a_corrupt_checkpoint_gives_a_clear_error(task, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidArgument, match=r"Cannot read the checkpoint.*Delete it"):
        task.run(out, resume=True)


def test_callback_state_is_checkpointed(task, tmp_path):
    class Counter:
        def __init__(self):
            self.steps = 0

        def on_step_end(self, run):
            self.steps += 1

        def on_epoch_end(self, run):
            run.record["steps_seen"] = self.steps

        def state_dict(self):
            return {"steps": self.steps}

        def load_state_dict(self, state):
            self.steps = state["steps"]

    out = tmp_path / "run"
    task.run(out, callbacks=[Counter(), task.InterruptAt(3, 1)])
    counter = Counter()
    resumed, *_ = task.run(out, resume=True, callbacks=[counter])
    assert [r.get("steps_seen") for r in resumed.records] == [None, 8, 16, 24, 32, 40]
    assert counter.steps == 40


def test_checkpoint_files_are_replaced_atomically(task, tmp_path):
    out = tmp_path / "run"
    task.run(out)
    leftovers = [p.name for p in Path(out).iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    payload = load_checkpoint(out / "checkpoint.pt")
    assert (payload["epoch"], payload["iteration"], payload["stop_reason"]) == (5, 40, "completed")
    assert [r["epoch"] for r in payload["records"]] == [0, 1, 2, 3, 4, 5]


def test_resume_without_a_checkpoint_keeps_the_old_records_aside(tmp_path):
    from torch import nn

    data = [(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))]
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, opt, nn.CrossEntropyLoss(), data, epochs=2, out_dir=tmp_path, quiet=True)
    before = (tmp_path / "records.jsonl").read_text()
    with pytest.warns(UserWarning, match="no checkpoint: starting over"):
        result = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=1, out_dir=tmp_path,
                     resume=True, quiet=True)  # fmt: skip
    assert (tmp_path / "records.before-restart.jsonl").read_text() == before
    assert [r["epoch"] for r in read_jsonl(tmp_path / "records.jsonl")] == [1]
    assert result.epochs == 1
