"""The CLI as a whole: every command registered and documented, shared options spelled the
same everywhere, and user mistakes as one ``lrlab: error: ...`` line with exit code 2 (a
traceback only with ``--debug``)."""

from __future__ import annotations

import textwrap

import pytest
import typer

from lrlab.cli.app import COMMANDS, app, main

# Options every command that has them must spell the same way.
SHARED = {
    "task": {"--task", "-t"},
    "out": {"--out", "-o"},
    "quiet": {"--quiet", "-q"},
    "device": {"--device"},
    "seed": {"--seed"},
    "seeds": {"--seeds"},
    "workers": {"--workers", "-w"},
    "executor": {"--executor"},
}


def _commands() -> dict:
    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


def one_error_line(stderr: str) -> str:
    """The single ``lrlab: error:`` line of a failed command (no traceback)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("lrlab: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_every_registered_command_is_in_the_app_and_its_help():
    assert set(_commands()) == set(COMMANDS)
    assert {"find", "schedule", "train", "compare", "scan", "tasks", "report", "demo"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_of_every_command_reads_well(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"Usage: lrlab {name}" in out
    summary = _commands()[name].help.strip().split("\n\n")[0]
    assert "\n" not in summary and summary.endswith("."), summary  # one line in `lrlab --help`
    assert len(summary) <= 90, summary


def test_shared_options_are_spelled_the_same_everywhere():
    """``-e`` is taken by ``train --epochs``; ``compare --executor`` keeps it for now, so
    the executor option may or may not have it."""
    for name, command in _commands().items():
        for param in command.params:
            if param.name not in SHARED or not param.opts[0].startswith("--"):
                continue
            spelled = set(param.opts) | set(param.secondary_opts)
            if param.name == "executor":
                spelled.discard("-e")
            assert spelled == SHARED[param.name], (name, param.name, spelled)


def test_root_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f" {name} " in out


@pytest.mark.parametrize(
    "args",
    [
        ["find", "--task", "mnist1d-cn"],
        ["train", "--task", "mnist1d-cn"],
        ["scan", "--task", "mnist1d-cn"],
        ["demo", "--task", "mnist1d-cn"],
        ["tasks", "--summary", "mnist1d-cn"],
    ],
)
def test_unknown_task_is_one_line_with_close_matches(args, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "o")] if args[0] != "tasks" else args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "Unknown task 'mnist1d-cn'" in line and "'mnist1d-cnn'" in line
    assert "lrlab tasks" in line  # where to look
    assert not (tmp_path / "o").exists()  # nothing written before the check


def test_missing_data_file_says_where_to_put_it(tmp_path, capsys):
    args = ["find", "--task", "cifar10-resnet9:download=false", "--out", str(tmp_path)]
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "CIFAR-10 was not found" in line and "cifar-10-python.tar.gz" in line
    assert "--task NAME:path=PATH" in line


def test_bad_config_field_names_the_field(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        textwrap.dedent(
            """
            name: typo
            task: digits-mlp
            epoch: 3
            variants:
              - {name: a, schedule: {name: constant, lr: 0.1}}
            """
        )
    )
    assert main(["compare", str(cfg), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "epoch: unknown key (did you mean 'epochs'?" in err


def test_output_dir_holding_a_different_experiment_is_refused(tmp_path, capsys):
    from lrlab.experiment import Experiment

    base = {"name": "x", "task": "digits-mlp", "epochs": 1,
            "variants": [{"name": "a", "schedule": {"name": "constant", "lr": 0.1}}]}  # fmt: skip
    (tmp_path / "runs" / "x").mkdir(parents=True)
    (tmp_path / "runs" / "x" / "experiment.yaml").write_text(Experiment(**base).to_yaml())
    changed = tmp_path / "changed.yaml"
    changed.write_text(Experiment(**{**base, "epochs": 2}).to_yaml())
    assert main(["compare", str(changed), "--out", str(tmp_path / "runs")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "holds a different experiment" in line and "epochs: 1 -> 2" in line


def test_demo_refuses_a_directory_it_did_not_write(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("mine")
    assert main(["demo", "--task", "digits-mlp", "--out", str(tmp_path)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "is not an lrlab demo directory" in line and "another --out" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--seeds", "a,b"], "--seeds 'a,b' is not a list of integers"),
        (["demo", "--epochs", "0"], "--epochs=0 must be an integer >= 1"),
        (["demo", "--device", "tpu"], "device='tpu' is not a device torch knows"),
        (["demo", "--executor", "threads"], "executor='threads' is not an executor"),
        (["demo", "--workers", "0"], "--workers=0 must be an integer >= 1"),
        (["report", "nowhere"], "'nowhere' does not exist"),
    ],
)
def test_bad_options_are_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("lrlab: error:")
