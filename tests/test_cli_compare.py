"""``lrlab compare``: the table on stdout, the files, errors as one message, Ctrl-C."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lrlab._io import read_json, read_jsonl
from lrlab.cli.app import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "experiments"

TINY = """
name: tiny
task: digits-mlp
seeds: [0]
epochs: 2
device: cpu
variants:
  - name: control
    schedule: {name: constant, lr: 0.01}
  - name: one-cycle
    schedule: {name: one-cycle, max_lr: 0.1}
"""


def config(tmp_path, text=TINY, name="exp.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_prints_the_table_and_writes_the_files(tmp_path, capsys):
    cfg = config(tmp_path)
    out = tmp_path / "runs"
    code = main(["compare", cfg, "--executor", "sequential", "--out", str(out), "--seeds", "0,3"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    root = out / "tiny"
    for name in ("table.md", "table.csv", "summary.json", "experiment.yaml", "curves.png"):
        assert (root / name).is_file(), name
    assert (root / "time_to_target.png").stat().st_size > 1000
    # The table on stdout is the one in table.md (same numbers, terminal layout).
    rows = list(csv.DictReader((root / "table.csv").open()))
    assert [r["variant"] for r in rows] == ["control", "one-cycle"]
    assert rows[0]["seeds"] == "0 3"  # --seeds replaced the config's seeds
    for r in rows:
        mean = float(r["final_metric_mean"])
        assert f"{mean:.4f}" in stdout and f"{mean:.4f}" in (root / "table.md").read_text()
    assert "control (control)" in stdout and "…" not in stdout  # nothing truncated
    assert "[4/4] one-cycle/seed-3: completed" in stderr
    assert read_json(root / "summary.json")["config"]["seeds"] == [0, 3]


def test_quiet_and_no_figures(tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["compare", config(tmp_path), "-e", "sequential", "-o", str(out), "-q", "--no-figures"]
    assert main(args) == 0
    stdout, stderr = capsys.readouterr()
    assert stderr == "" and "final accuracy" in stdout
    assert not (out / "tiny" / "curves.png").exists()


def test_the_example_config_is_valid(capsys):
    import importlib.util

    from lrlab.errors import InvalidArgument
    from lrlab.experiment import load_experiment

    lrfree = all(importlib.util.find_spec(p) for p in ("schedulefree", "prodigyopt"))
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path.name == "lr_free.yaml" and not lrfree:  # refused in one line, naming the extra
            with pytest.raises(InvalidArgument, match=r"pip install 'lrlab\[lrfree\]'"):
                load_experiment(path)
            continue
        exp = load_experiment(path)
        assert exp.variants and exp.seeds, path


def test_bad_config_is_one_error_naming_the_fields(tmp_path, capsys):
    bad = config(tmp_path, TINY.replace("epochs: 2", "epochs: -2").replace("max_lr", "max_rl"))
    code = main(["compare", bad, "--out", str(tmp_path / "runs")])
    _, stderr = capsys.readouterr()
    assert code == 2
    assert stderr.startswith("lrlab: error: ")
    assert "epochs: input should be greater than 0 (got -2)" in stderr
    assert "variants[1].schedule: 'max_rl' is not a parameter" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()  # nothing written for a config that is wrong


def test_bad_options_and_a_different_experiment(tmp_path, capsys):
    cfg = config(tmp_path)
    out = str(tmp_path / "runs")
    assert main(["compare", cfg, "-e", "threads", "-o", out]) == 2
    assert "executor='threads' is not an executor" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before anything was written
    assert main(["compare", cfg, "--seeds", "a,b", "-o", out]) == 2
    assert "--seeds 'a,b' is not a list of integers" in capsys.readouterr().err
    assert main(["compare", cfg, "-e", "sequential", "-o", out, "-q", "--no-figures"]) == 0
    capsys.readouterr()
    changed = config(tmp_path, TINY.replace("epochs: 2", "epochs: 3"), name="changed.yaml")
    assert main(["compare", changed, "-e", "sequential", "-o", out]) == 2
    assert "holds a different experiment" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.yaml"), "-o", out]) == 2
    assert "does not exist" in capsys.readouterr().err


def _ctrl_c_run(tmp_path: Path, executor: str, trial: str, after_lines: int):
    """Start ``lrlab compare`` in a subprocess, press Ctrl-C once ``trial`` has written
    ``after_lines`` records, and return the process result."""
    cfg = config(tmp_path, TINY.replace("epochs: 2", "epochs: 20"))
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "lrlab.cli.app", "compare", cfg, "-e", executor, "-o", str(out)]
    cmd += ["--no-figures"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    records = out / "tiny" / trial / "seed-0" / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if records.is_file() and len(read_jsonl(records)) >= after_lines:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr, cmd, env, out / "tiny"


def _check_resume(cmd, env, root, trial):
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    records = read_jsonl(root / trial / "seed-0" / "records.jsonl")
    assert [r["epoch"] for r in records] == list(range(21))  # resumed, nothing duplicated
    assert "final accuracy" in done.stdout


@pytest.mark.slow  # two CLI subprocesses; the same logic runs in-process in
# test_experiment_runner.py::test_ctrl_c_keeps_finished_trials_and_the_rerun_resumes
def test_ctrl_c_stops_keeps_and_tells_how_to_resume(tmp_path):
    code, _, stderr, cmd, env, root = _ctrl_c_run(tmp_path, "sequential", "control", 4)
    assert code == 130, stderr
    assert "lrlab: Interrupted" in stderr and "Re-run the same command to resume" in stderr
    assert "Traceback" not in stderr
    assert not (root / "control" / "seed-0" / "summary.json").exists()
    _check_resume(cmd, env, root, "control")


@pytest.mark.slow  # a real SIGINT to the parent, forwarded once to each pool worker
def test_ctrl_c_on_the_process_pool_reaches_the_workers(tmp_path):
    code, _, stderr, cmd, env, root = _ctrl_c_run(tmp_path, "process", "control", 4)
    assert code == 130, stderr
    assert "Re-run the same command to resume" in stderr
    assert "Traceback" not in stderr
    _check_resume(cmd, env, root, "control")
