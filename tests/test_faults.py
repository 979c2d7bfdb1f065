"""Fault injection (issue 13): bad input, a bad ``--out``, two writers, damaged records, a
full disk, a read-only directory, files that are not UTF-8, and signals — Ctrl-C at several
points, SIGTERM, kill -9 of a pool worker and of the parent.

Every case asserts the two promises: **nothing computed is lost** (a result is kept, printed
or saved elsewhere; records stay whole, a re-run resumes or repairs), and **the message is
one line** (``lrlab: error: ...`` or ``lrlab: Interrupted ...``, no traceback). The table of
cases and their outcomes is docs/faults.md.

Fast cases run in this process; the ones that need a real signal or a process limit run
``lrlab`` in a subprocess (the slowest are marked ``slow``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import faults
from faults import lrlab, one_line, read_only_dir
from lrlab._io import read_json, read_jsonl, write_json
from lrlab.cli.app import main
from lrlab.errors import DamagedFile, InvalidArgument, OptimizerMismatch
from lrlab.experiment import Experiment, run_experiment
from lrlab.rundir import LOCK_NAME, RunInUse

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /proc")

TINY = """\
name: tiny
task: digits-mlp
seeds: [0]
epochs: 3
device: cpu
variants:
  - name: control
    schedule: {name: constant, lr: 0.01}
"""


def _config(tmp_path: Path, text: str = TINY, name: str = "exp.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def _fails(capsys, args: list[str], code: int = 2) -> str:
    """Run ``lrlab ARGS`` here; it must fail with ``code`` and one line; return that line."""
    assert main(args) == code
    return one_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- --out


@pytest.mark.parametrize(
    "command",
    [
        ["find", "--task", "digits-mlp"],
        ["find", "--task", "digits-mlp", "--vary", "momentum=0.9,0.8"],
        ["train", "--task", "digits-mlp", "--lr", "0.01", "--epochs", "1"],
        ["compare", "CONFIG"],
        ["scan", "--task", "digits-mlp"],
        ["schedule", "one-cycle", "--max-lr", "0.1", "--total-steps", "10"],
    ],
    ids=["find", "find-vary", "train", "compare", "scan", "schedule"],
)
def test_an_out_that_is_a_file_or_read_only_is_one_line_before_any_work(command, tmp_path, capsys):
    """Issue 13: a file or read-only --out was a traceback — after find and scan had
    computed everything."""
    command = [_config(tmp_path) if a == "CONFIG" else a for a in command]
    a_file = tmp_path / "a-file"
    a_file.write_text("mine", encoding="utf-8")
    line = _fails(capsys, [*command, "--out", str(a_file)])
    assert "is a file, not a directory" in line
    assert a_file.read_text(encoding="utf-8") == "mine"
    with read_only_dir(tmp_path / "ro") as ro:
        line = _fails(capsys, [*command, "--out", str(ro / "run")])
    assert "cannot write in" in line and "Read-only file system" in line


def test_report_out_a_directory_or_under_a_file(tmp_path, capsys):
    from fixtures.runs import synthetic_range_test

    synthetic_range_test().save(tmp_path / "range_test.json")
    line = _fails(capsys, ["report", str(tmp_path), "--out", str(tmp_path)])
    assert "is a directory; give the file to write" in line
    (tmp_path / "f").write_text("", encoding="utf-8")
    assert "is a file" in _fails(
        capsys, ["report", str(tmp_path), "-o", str(tmp_path / "f/r.html")]
    )


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["find", "--task", "digits-mlp", "--batch-size", "0"], "--batch-size=0 must be"),
        (["scan", "--task", "digits-mlp", "--batch-size", "0"], "--batch-size=0 must be"),
        (["train", "--task", "digits-mlp", "--lr", "0.1", "--momentum", "1.5"], "[0, 1)"),
        (["train", "--task", "digits-mlp", "--lr", "0.1", "--momentum", "nan"], "finite"),
        (["train", "--task", "digits-mlp", "--max-lr", "0.1", "--epochs", "0"], "--epochs=0"),
        (["train", "--task", "digits-mlp", "--lr", "0.1", "--weight-decay", "-1"], ">= 0"),
        (["train", "--task", "digits-mlp", "--lr", "inf"], "--lr=inf must be a finite"),
        (["find", "--task", "digits-mlp", "--num-iter", "20", "--eval-every", "50"], "<= num"),
        (["scan", "--task", "digits-mlp", "--lrs", "1e-3:inf:4"], "must be finite"),
        (["find", "--task", "digits-mlp", "--device", "mps"], "MPS is not available"),
        (["find", "--task", "digits-mlp", "--device", "xpu"], "XPU is not available"),
        (["find", "--model", "faults:raises"], "faults:raises raised RuntimeError: my factory"),
        (["find", "--model", "faults:needs_width"], "cannot be called as lrlab calls it"),
        (["train", "--task", "digits-mlp", "--epochs", "abc"], "Invalid value for '--epochs'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_values_are_one_line_naming_the_option(args, expected, tmp_path, capsys):
    """Issue 13: --batch-size 0 meant "the task's default", --momentum 1.5 trained to a loss
    of 1e9, --device mps and a broken factory were tracebacks."""
    out = tmp_path / "out"
    assert expected in _fails(capsys, [*args, "--out", str(out)])
    assert not out.exists()  # refused before anything was computed or written


def test_cuda_device_that_is_not_there(tmp_path, capsys):
    n = torch.cuda.device_count()
    line = _fails(capsys, ["find", "--task", "digits-mlp", "--device", f"cuda:{n + 3}"])
    assert f"cuda:{n + 3}" in line and ("not available" in line or f"has {n}" in line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TINY.replace("epochs: 3", "epochs: true"), "epochs: input should be a valid integer"),
        (TINY.replace("epochs: 3", "epochs: 3\nepochs: 4"), "key 'epochs' is given twice"),
        (TINY.replace("name: tiny", "name: tiny\xff").encode("latin-1"), "is not UTF-8 text"),
    ],
    ids=["epochs-true", "duplicate-key", "latin-1"],
)
def test_config_files_that_mean_something_else(text, expected, tmp_path, capsys):
    """Issue 13: ``epochs: true`` ran one epoch, a key given twice kept the last one, and a
    latin-1 file was a UnicodeDecodeError traceback."""
    line = _fails(capsys, ["compare", _config(tmp_path, text), "-o", str(tmp_path / "runs")])
    assert expected in line
    assert not (tmp_path / "runs").exists()


def test_a_pixel_csv_that_is_not_utf8(tmp_path, capsys):
    csv = tmp_path / "faces.csv"
    csv.write_bytes(
        "emotion,pixels,Usage\n0,1 2 3 4,Training\n1,4 3 2 1,PublicTest # é\n".encode("latin-1")
    )
    line = _fails(
        capsys, ["find", "--fast", "--task", f"csv-pixels:path={csv}", "-o", str(tmp_path / "o")]
    )
    assert "pixel CSV" in line and "is not UTF-8 text" in line and "line 3" in line


def test_a_config_path_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "exp.yaml").mkdir()
    line = _fails(capsys, ["compare", str(tmp_path / "exp.yaml")])
    assert "is a directory, not a file" in line  # not "does not exist"


def _mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


@pytest.mark.parametrize("where", ["fit", "range_test", "find_lr", "scan"])
def test_an_optimizer_that_does_not_hold_the_model_is_refused(where):
    """Issue 13: fit "completed" with the model unchanged; range_test measured nothing."""
    from lrlab import find_lr, fit, range_test, scan

    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    data = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    model, other = _mlp(), _mlp()
    foreign = torch.optim.SGD(other.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    calls = {
        "fit": lambda: fit(model, foreign, loss, data, epochs=1, quiet=True),
        "range_test": lambda: range_test(model, foreign, loss, data, num_iter=10),
        "find_lr": lambda: find_lr(model, foreign, loss, data, total_steps=40),
        "scan": lambda: scan(model, loss, data, lrs=[0.1], horizons=[1], optimizer=foreign),
    }
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(OptimizerMismatch, match=f"{where}: the optimizer holds none"):
        calls[where]()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_fit_refuses_a_model_without_parameters_and_nan_momentum():
    from lrlab import fit

    class NoParameters(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 2)

    data = [(torch.randn(4, 8), torch.zeros(4, dtype=torch.long))]
    dummy = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(InvalidArgument, match="no parameter with requires_grad"):
        fit(NoParameters(), dummy, nn.CrossEntropyLoss(), data, epochs=1, quiet=True)
    model = _mlp()
    nan = torch.optim.SGD(model.parameters(), lr=0.1, momentum=float("nan"))
    with pytest.raises(InvalidArgument, match="momentum=nan must be a finite number"):
        fit(model, nan, nn.CrossEntropyLoss(), data, epochs=1, quiet=True)


# --------------------------------------------------------------------------- two writers

_HOLD = (
    "import sys, time; from lrlab.rundir import locked\n"
    "with locked(sys.argv[1]):\n"
    "    print('held', flush=True); time.sleep(120)\n"
)


def _holder(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        env=faults.env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_two_writers_one_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    """Issue 13: two `lrlab train` into one --out both ran and recorded every epoch twice."""
    run = tmp_path / "run"
    holder = _holder(run)
    try:
        line = _fails(capsys, ["train", "--task", "digits-mlp", "--lr", "0.01", "-e", "1",
                               "-q", "-o", str(run)])  # fmt: skip
        assert f"pid {holder.pid}" in line and "a second writer would record" in line
        with pytest.raises(RunInUse):
            run_experiment(Experiment(**_exp_dict()), out=run.parent, quiet=True)
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding it: the lock file stays behind
        holder.wait()
    assert (run / LOCK_NAME).is_file()
    assert (
        main(["train", "--task", "digits-mlp", "--lr", "0.01", "-e", "1", "-q", "-o", str(run)])
        == 0
    )
    err = capsys.readouterr().err
    assert f"took over the lock of {run} left by pid {holder.pid}" in err
    assert [r["epoch"] for r in read_jsonl(run / "records.jsonl")] == [0, 1]
    assert not (run / LOCK_NAME).exists()  # released


def _exp_dict(**changes) -> dict:
    import yaml

    return {**yaml.safe_load(TINY), "name": "run", **changes}


# --------------------------------------------------------------------------- damaged records


def _tear(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) - 40], encoding="utf-8")


def _duplicate(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*lines[:2], lines[1], *lines[2:]]), encoding="utf-8")


@pytest.mark.parametrize(
    "damage", [_tear, _duplicate, Path.unlink], ids=["torn", "duplicated", "deleted"]
)
def test_a_finished_trial_with_damaged_records_is_repaired_never_skipped(damage, tmp_path):
    """Issue 13: a finished trial with torn or deleted records was skipped on re-run and
    silently changed the comparison; duplicated epochs (two writers) were kept."""
    exp = Experiment(**_exp_dict(name="tiny"))
    first = run_experiment(exp, executor="sequential", out=tmp_path, quiet=True)
    records = tmp_path / "tiny" / "control" / "seed-0" / "records.jsonl"
    original = read_jsonl(records)
    damage(records)
    if records.exists():
        with pytest.raises(DamagedFile, match=str(records)):
            from lrlab.train.records import read_records

            read_records(records.parent)
    said: list[str] = []
    again = run_experiment(exp, executor="sequential", out=tmp_path, log=said.append)
    assert any("cannot be trusted: running it again" in line for line in said), said
    assert read_jsonl(records) == original  # repaired from the final checkpoint: exact
    assert again.trials[0].records == first.trials[0].records


def test_the_report_names_damaged_records_instead_of_dropping_them(tmp_path, capsys):
    """Issue 13: `lrlab report` dropped a torn line and accepted duplicated records."""
    run = tmp_path / "run"
    assert (
        main(["train", "--task", "digits-mlp", "--lr", "0.01", "-e", "3", "-q", "-o", str(run)])
        == 0
    )
    _duplicate(run / "records.jsonl")
    capsys.readouterr()
    assert main(["report", str(tmp_path), "-q"]) == 2  # nothing else to report: one line
    line = one_line(capsys.readouterr().err)
    assert "records.jsonl: epoch 1 is recorded twice" in line


# --------------------------------------------------------------------------- partial results


def test_ctrl_c_during_find_never_replaces_a_complete_result(tmp_path, capsys):
    """Issue 13: Ctrl-C on `lrlab find` overwrote a complete range_test.json with the partial
    sweep, which claimed to be trustworthy."""
    out = str(tmp_path)
    fast = [
        "find",
        "--fast",
        "--num-iter",
        "60",
    ]  # the range test alone (find_lr: tests/test_cli_find)
    assert main([*fast, "--model", "faults:small", "-q", "-o", out]) == 0
    complete = (tmp_path / "range_test.json").read_bytes()
    capsys.readouterr()
    code = main([*fast, "--model", "faults:ctrl_c_at_batch_30", "-o", out])
    assert code == 130
    line = one_line(capsys.readouterr().err, "lrlab: Range test interrupted")
    assert "range_test.partial.json (a complete result there is kept)" in line
    assert (tmp_path / "range_test.json").read_bytes() == complete
    partial = read_json(tmp_path / "range_test.partial.json")
    assert partial["stop_reason"] == "interrupted"
    assert partial["suggestion"] is None or partial["suggestion"]["trustworthy"] is False


# --------------------------------------------------------------------------- full disk


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from lrlab.cli.app import main

run = sys.argv[1]
train = ["train", "--task", "digits-mlp", "--lr", "0.01", "-q", "-o", run]
assert main([*train, "-e", "2"]) == 0
size = (Path(run) / "checkpoint.pt").stat().st_size
# The disk fills up: no file may grow past the checkpoint's size + a few records (EFBIG,
# what a full disk looks like to a writer, without filling one).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 300, hard))
print("full", main([*train, "-e", "12", "--resume"]), flush=True)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
print("resumed", main([*train, "-e", "12", "--resume"]), flush=True)
"""


def test_a_full_disk_mid_training_is_one_line_and_the_run_resumes(tmp_path):
    """Issue 13: a full disk ended in an OSError traceback (the checkpoint survived)."""
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(run)],
        capture_output=True,
        text=True,
        env=faults.env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "full 1" in proc.stdout and "resumed 0" in proc.stdout, proc.stdout
    line = one_line(proc.stderr)
    assert "File too large" in line and "run the same command again" in line
    assert [r["epoch"] for r in read_jsonl(run / "records.jsonl")] == list(range(13))


def test_a_result_that_cannot_be_written_is_saved_elsewhere(tmp_path, capsys):
    """find computed everything, then lost it to the disk: now the table is printed and the
    result saved in a temporary directory, named in the one-line error."""
    with read_only_dir(tmp_path / "ro") as ro:
        out = ro / "find"
        from lrlab.rundir import save_or_rescue

        with pytest.raises(OSError, match=r"was saved in (\S+) instead") as info:
            save_or_rescue(lambda d: write_json(d / "r.json", {"lr": 0.1}), out, what="range test")
    rescue = Path(str(info.value).split("was saved in ")[1].split(" instead")[0])
    assert read_json(rescue / "r.json") == {"lr": 0.1}


# --------------------------------------------------------------------------- signals, pool

POOL = """\
name: pool
task: digits-mlp
seeds: [0]
epochs: 40
device: cpu
variants:
  - name: constant
    schedule: {name: constant, lr: 0.01}
  - name: one-cycle
    schedule: {name: one-cycle, max_lr: 0.1}
"""


def _records(root: Path) -> dict[str, list[int]]:
    return {
        p.parent.parent.name: [r["epoch"] for r in read_jsonl(p)]
        for p in sorted(root.glob("*/seed-*/records.jsonl"))
    }


def _wait_for(predicate, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _lines(proc: subprocess.Popen) -> list[str]:
    """stderr lines as they arrive (a reader thread)."""
    lines: list[str] = []

    def read():
        assert proc.stderr is not None
        lines.extend(iter(proc.stderr.readline, ""))

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_sigterm_and_a_killed_worker_on_the_pool_lose_nothing(tmp_path):
    """Issue 13: SIGTERM (what `timeout` sends) exited 143 with no message and left the pool
    workers training; a killed worker broke the pool. Now: a killed worker's trial runs again
    (resumed from its checkpoint); SIGTERM stops the run within a step, says what was kept,
    and no worker survives it; the same command resumes, every epoch once."""
    cfg = _config(tmp_path, POOL)
    out = tmp_path / "runs"
    args = ["compare", cfg, "-e", "process", "-w", "2", "--no-figures", "-o", str(out)]
    proc = lrlab(*args)
    lines = _lines(proc)
    _wait_for(lambda: sum(map(len, _records(out / "pool").values())) >= 6)
    workers = faults.children(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _wait_for(lambda: any("died (signal 9); running it again" in ln for ln in lines))
    workers += faults.children(proc.pid)  # and the one that replaced it
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    time.sleep(0.2)
    assert proc.returncode == 143
    line = one_line("".join(lines), "lrlab: Interrupted")
    assert "Re-run the same command to resume" in line and "(SIGTERM)" in line
    assert not any(faults.running(w) for w in workers)
    for epochs in _records(out / "pool").values():
        assert epochs == list(range(len(epochs)))  # whole, in order, nothing twice
    again = run_experiment(Path(cfg), executor="sequential", out=out, quiet=True)
    assert [t.status for t in again.trials] == ["completed", "completed"]
    assert _records(out / "pool") == {"constant": list(range(41)), "one-cycle": list(range(41))}


@pytest.mark.slow  # the pool's start-up, a kill and a full re-run: ~30 s on 2 cores
def test_kill_9_of_the_parent_takes_its_workers_and_the_rerun_resumes(tmp_path):
    cfg = _config(tmp_path, POOL)
    out = tmp_path / "runs"
    args = ["compare", cfg, "-e", "process", "-w", "2", "--no-figures", "-o", str(out)]
    proc = lrlab(*args)
    _wait_for(lambda: sum(map(len, _records(out / "pool").values())) >= 6)
    workers = faults.children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not any(faults.running(w) for w in workers), timeout=30)
    rerun = lrlab(*args)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert "took over the lock" in stderr and "Traceback" not in stderr
    assert _records(out / "pool") == {"constant": list(range(41)), "one-cycle": list(range(41))}


@pytest.mark.slow  # Ctrl-C while the pool runs the find_lr searches behind `auto`
def test_ctrl_c_during_the_auto_searches_caches_no_partial_answer(tmp_path):
    cfg = _config(
        tmp_path,
        POOL.replace("max_lr: 0.1", "max_lr: auto").replace("seeds: [0]", "seeds: [0, 1]")
        + "range_test: {num_iter: 400}\n",
    )
    out = tmp_path / "runs"
    proc = lrlab("compare", cfg, "-e", "process", "-w", "2", "-o", str(out))
    lines = _lines(proc)
    _wait_for(lambda: any("for 'auto' on process" in ln for ln in lines))
    time.sleep(3.0)  # the workers are inside the searches
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert proc.returncode == 130
    one_line("".join(lines), "lrlab: Interrupted")
    cached = [json.loads(p.read_text()) for p in (out / "pool" / "auto-lr").glob("*.json")]
    assert all(c["find"]["complete"] for c in cached)  # an interrupted search is never cached
