"""``lrlab demo`` (demo.yaml run in stages by ``lrlab.cli._demo_run``): the plan (pure), the
directory rules, an end-to-end run on a tiny budget and its reuse, the watcher
(``lrlab.experiment.progress``), and a real SIGINT to ``lrlab demo`` in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from lrlab._io import append_jsonl, read_json, read_jsonl, write_json
from lrlab.cli._demo_dir import (
    DEMO_JSON,
    RANGE_TEST_DIR,
    DemoSettings,
    command_line,
    demo_config,
    manifest,
    prepare_out,
    seeds_option,
)
from lrlab.cli._demo_run import demo_epochs, plan_experiment, run_demo
from lrlab.errors import InvalidArgument
from lrlab.experiment.progress import ExperimentWatcher, LineProgress
from lrlab.finder import FindResult

EXPERIMENT_NAME = demo_config()["name"]

LRLAB = Path(sys.executable).with_name("lrlab")


# --------------------------------------------------------------------------- pure parts


def test_demo_epochs_known_values():
    assert demo_epochs(20, 40) == 12  # mnist1d-cnn: 40 batches per epoch
    assert demo_epochs(20, 23) == 20  # digits: the task's own budget fits
    assert demo_epochs(24, 98) == 5  # CIFAR ResNet9 at batch 512
    assert demo_epochs(3, 10_000) == 1


@given(st.integers(1, 500), st.integers(1, 5000), st.integers(1, 5000))
def test_demo_epochs_properties(task_epochs, batches, max_updates):
    e = demo_epochs(task_epochs, batches, max_updates)
    assert 1 <= e <= task_epochs
    assert e == 1 or e * batches <= max_updates


def test_plan_experiment_is_the_documented_comparison():
    exp = plan_experiment(
        task="mnist1d-cnn", seeds=[0, 1, 2], epochs=12, batches_per_epoch=40,
        max_lr=0.07, control_lr=0.01,
    )  # fmt: skip
    assert exp.name == EXPERIMENT_NAME and exp.seeds == [0, 1, 2] and exp.epochs == 12
    assert exp.control_name == "constant"
    schedules = {v.name: v.schedule.to_dict() for v in exp.variants}
    assert schedules == {
        "one-cycle": {"name": "one-cycle", "max_lr": 0.07},
        "constant": {"name": "constant", "lr": 0.01},
        # one decay x0.1 halfway through the 480 updates
        "step-decay": {"name": "step-decay", "lr": 0.01, "step_size": 240, "gamma": 0.1},
    }
    same = plan_experiment(
        task="mnist1d-cnn", seeds=[5], epochs=12, batches_per_epoch=40,
        max_lr=0.07, control_lr=0.01,
    )  # fmt: skip
    assert same.fingerprint() == exp.fingerprint()  # seeds do not change the experiment


def test_settings_round_trip_and_validation():
    s = DemoSettings(task="digits-mlp", seeds=(3, 4), epochs=2)
    assert DemoSettings.from_dict(s.to_dict()) == s
    assert s.result_fields()["range_test_seed"] == 3
    with pytest.raises(InvalidArgument, match="duplicates"):
        DemoSettings(seeds=(1, 1))
    with pytest.raises(InvalidArgument, match="epochs=0"):
        DemoSettings(epochs=0)
    assert (
        command_line(Path("o"), s) == "lrlab demo --task digits-mlp --out o --seeds 3,4 --epochs 2"
    )


@pytest.mark.parametrize(
    ("seeds", "text"), [((0, 1, 2), "3"), ((5,), "5,"), ((0,), "1"), ((2, 0), "2,0")]
)
def test_seeds_option_reads_back_as_the_same_seeds(seeds, text):
    from lrlab.cli._common import parse_seeds

    assert seeds_option(seeds) == text
    assert parse_seeds(text) == list(seeds)


# --------------------------------------------------------------------------- directory


def test_prepare_out_refuses_foreign_directories_and_other_settings(tmp_path):
    s = DemoSettings(task="digits-mlp")
    assert prepare_out(tmp_path / "new", s, fresh=False) is False
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InvalidArgument, match="not an lrlab demo directory"):
        prepare_out(tmp_path, s, fresh=True)  # --fresh never deletes what is not ours
    assert (tmp_path / "mine.txt").is_file()

    demo = tmp_path / "demo"
    demo.mkdir()
    write_json(demo / DEMO_JSON, {"settings": s.to_dict()})
    assert prepare_out(demo, DemoSettings(task="digits-mlp", seeds=(0, 1)), fresh=False)
    with pytest.raises(InvalidArgument, match=r"other settings \(task: 'digits-mlp' -> "):
        prepare_out(demo, DemoSettings(task="mnist1d-cnn"), fresh=False)
    try:
        prepare_out(demo, DemoSettings(task="mnist1d-cnn"), fresh=False)
    except InvalidArgument as exc:
        assert "--fresh" in str(exc.hint)


def test_fresh_deletes_only_the_files_of_the_demos_manifest(tmp_path):
    """Issue 13: ``--fresh`` deleted ``range-test/my.txt`` although the demo promises never to
    delete a file it did not write. Now it removes its manifest's files, and directories
    only when that leaves them empty."""
    s = DemoSettings(seeds=(0, 1))
    own = manifest(s)
    assert "range-test/range_test.json" in own and "range-test/range_test.partial.json" in own
    trial = f"{EXPERIMENT_NAME}/one-cycle/seed-1/records.jsonl"
    other = f"{EXPERIMENT_NAME}/constant/seed-0/checkpoint.pt"
    assert trial in own and other in own
    for name in (DEMO_JSON, "range-test/range_test.json", trial, other):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}", encoding="utf-8")
    write_json(tmp_path / DEMO_JSON, {"settings": s.to_dict(), "manifest": own})
    mine = ["notes.txt", "range-test/my.txt", f"{EXPERIMENT_NAME}/one-cycle/seed-1/plot.py"]
    for name in mine:
        (tmp_path / name).write_text("mine", encoding="utf-8")
    said = []
    fresh = prepare_out(tmp_path, DemoSettings(task="digits-mlp"), fresh=True, say=said.append)
    assert fresh is False  # nothing to reuse after --fresh
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(mine)
    assert not (tmp_path / EXPERIMENT_NAME / "constant").exists()  # emptied, so removed
    assert said == [
        "--fresh kept 2 file(s) lrlab did not write: "
        f"{EXPERIMENT_NAME}/one-cycle/seed-1/plot.py, range-test/my.txt."
    ]


def test_unknown_task_fails_before_anything_is_written(tmp_path):
    with pytest.raises(InvalidArgument, match=r"Unknown task 'mnist1d-cn'.*mnist1d-cnn"):
        run_demo(tmp_path / "d", task="mnist1d-cn", quiet=True)
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- watcher


class _Recorder(LineProgress):
    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.updates: list[tuple[int, str]] = []
        self.messages: list[str] = []

    def update(self, completed: int, detail: str = "") -> None:
        self.updates.append((completed, detail))

    def message(self, text: str) -> None:
        self.messages.append(text)


def test_watcher_counts_epochs_and_announces_finished_trials_once(tmp_path):
    trials = [("a", 0), ("b", 0)]
    seen = _Recorder()
    watcher = ExperimentWatcher(tmp_path, trials, seen)
    for epoch in range(3):  # epoch 0 is the evaluation before training: not counted
        append_jsonl(tmp_path / "a" / "seed-0" / "records.jsonl", {"epoch": epoch})
    append_jsonl(tmp_path / "b" / "seed-0" / "records.jsonl", {"epoch": 0})
    assert watcher.poll() == 2
    summary = {"status": "completed", "final": {"eval_accuracy": 0.875}, "elapsed": 1.5}
    write_json(tmp_path / "a" / "seed-0" / "summary.json", summary)
    watcher.poll()
    watcher.poll()
    assert seen.messages == ["  a/seed-0: completed, eval_accuracy 0.8750, 1.5 s"]
    assert seen.updates[-1] == (2, "1/2 trials finished")


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = run_demo(
        out, task="digits-mlp", seeds=(0,), epochs=2, executor="sequential", quiet=True
    )
    return out, result


def test_demo_runs_the_workflow_end_to_end(small_demo):
    out, result = small_demo
    rt, found = result.range_test, result.found
    assert rt is found.range_test and rt.eval_lrs  # metric mode: accuracy vs LR
    assert found.lr is not None and found.low <= found.lr <= found.high
    assert found.total_steps > 0 and found.cost["runs"] > 0
    exp = result.experiment
    assert [(t.variant, t.seed) for t in exp.trials] == [
        ("one-cycle", 0), ("constant", 0), ("step-decay", 0)
    ]  # fmt: skip
    assert all(t.status == "completed" for t in exp.trials)
    # one-cycle peaks exactly at find_lr's answer, found for the trials' planned length
    cfg = yaml.safe_load((Path(exp.dir) / "one-cycle" / "seed-0" / "config.yaml").read_text())
    assert cfg["schedule"]["params"]["max_lr"] == found.lr
    assert cfg["budget"]["total_steps"] == found.total_steps
    assert found.candidates and found.schedule["name"] == "one-cycle"
    assert result.report == out / "report.html" and result.report.is_file()
    marker = read_json(out / DEMO_JSON)
    assert marker["status"] == "completed" and marker["environment"]["torch version"]
    assert marker["command"] == f"lrlab demo --task digits-mlp --out {out} --seeds 1 --epochs 2"
    assert "lrlab demo — digits-mlp" in result.report.read_text(encoding="utf-8")
    assert (out / RANGE_TEST_DIR / "range_test.png").is_file()
    assert (out / RANGE_TEST_DIR / "find.png").is_file()
    assert FindResult.load(out / RANGE_TEST_DIR / "find.json").lr == found.lr


def test_the_cli_reruns_it_reusing_everything_bit_for_bit(small_demo, capsys):
    from lrlab.cli.app import main

    out, first = small_demo
    records = {p: p.read_bytes() for p in Path(first.experiment.dir).glob("*/seed-*/records.jsonl")}
    range_test = (out / RANGE_TEST_DIR / "range_test.json").read_bytes()
    find = (out / RANGE_TEST_DIR / "find.json").read_bytes()
    args = ["demo", "--task", "digits-mlp", "--seeds", "1", "--epochs", "2",
            "--executor", "sequential", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    stdout, stderr = capsys.readouterr()
    assert "Finished in" in stderr and "reused: find_lr, 3 trial(s)" in stderr
    assert stderr.count("(reused: finished in an earlier run)") == 3
    # the comparison table (whole, never squeezed) and the report's path on stdout
    for variant in ("one-cycle", "constant (control)", "step-decay"):
        assert variant in stdout
    assert "…" not in stdout
    assert stdout.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    assert {p: p.read_bytes() for p in records} == records
    assert (out / RANGE_TEST_DIR / "range_test.json").read_bytes() == range_test
    assert (out / RANGE_TEST_DIR / "find.json").read_bytes() == find


def test_rich_progress_draws_stages_bars_and_messages():
    import io

    from rich.console import Console

    from lrlab.cli.demo import RichProgress

    buf = io.StringIO()
    progress = RichProgress(Console(file=buf, width=100, force_terminal=False))
    progress.stage("Range test")
    progress.message("  suggested max LR 0.1")
    progress.stage("Training 3 trials", total=6)
    progress.update(6, detail="3/3 trials finished")
    progress.finish()
    text = buf.getvalue()
    assert "1. Range test" in text and "2. Training 3 trials" in text
    assert "suggested max LR 0.1" in text and "6/6" in text and "3/3 trials finished" in text


def test_sigint_stops_the_demo_cleanly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(LRLAB), "demo", "--task", "digits-mlp", "--seeds", "1", "--epochs", "60",
           "--executor", "sequential", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / EXPERIMENT_NAME / "one-cycle" / "seed-0" / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if first.is_file() and len(read_jsonl(first)) >= 3:  # mid-training
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("lrlab: Demo interrupted:") and "again to resume" in last
    assert read_json(out / DEMO_JSON)["status"] == "interrupted"
    assert (out / RANGE_TEST_DIR / "find.json").is_file()  # kept
    # what the interrupted trial finished is kept (its checkpoint is there to resume from)
    assert (first.parent / "checkpoint.pt").is_file()


def test_find_lr_without_an_answer_keeps_its_runs_and_says_so(tmp_path, monkeypatch):
    import lrlab.copies.driving as driving

    def nothing_trains(engine, train_data, eval_data, trace, **kwargs):  # type: ignore[no-untyped-def]
        # every candidate's loss is non-finite: the demo's handling is under test
        trace.status[:] = driving.DIVERGED

    monkeypatch.setattr("lrlab.finder.search.run_schedule", nothing_trains)
    with pytest.raises(InvalidArgument, match=r"find_lr found no max LR .*all-diverged"):
        run_demo(tmp_path, task="digits-mlp", seeds=(0,), epochs=1, quiet=True)
    assert "all-diverged" in (tmp_path / "report.html").read_text()
    assert read_json(tmp_path / DEMO_JSON)["status"] == "failed"
    assert read_json(tmp_path / RANGE_TEST_DIR / "find.json")["candidates"]
    assert not (tmp_path / EXPERIMENT_NAME).exists()  # nothing trained without an LR
