"""Experiment configs: YAML and Python build the same thing; bad configs name the field."""

from __future__ import annotations

import re
import textwrap

import pytest

from lrlab.errors import InvalidArgument
from lrlab.experiment import Experiment, Variant, load_experiment
from lrlab.experiment.config import ScheduleConfig

GOOD_YAML = """
name: onecycle-vs-constant
task: digits-mlp
seeds: [0, 1]
epochs: 3
optimizer: {name: sgd, lr: 0.01, momentum: 0.9, weight_decay: 5e-4}
variants:
  - name: control
    schedule: {name: constant, lr: 0.01}
  - name: one-cycle
    schedule: {name: one_cycle, max_lr: auto, final_div_factor: 1e4}
    optimizer: {nesterov: true}
control: control
target: 0.8
"""


def write(tmp_path, text: str):
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(excinfo) -> list[str]:
    """The ``field.path: problem`` lines of an InvalidArgument message (one problem: the
    message is one line, ``Invalid experiment config: field.path: problem``)."""
    lines = str(excinfo.value).splitlines()
    if len(lines) == 1:
        return [re.split(r"^.*?Invalid [\w ]+: ", lines[0], maxsplit=1)[1]]
    return [line.strip() for line in lines[1:]]


def test_yaml_and_python_build_the_same_experiment(tmp_path):
    from_yaml = load_experiment(write(tmp_path, GOOD_YAML))
    from_python = Experiment(
        name="onecycle-vs-constant",
        task="digits-mlp",
        seeds=[0, 1],
        epochs=3,
        optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
        variants=[
            Variant(name="control", schedule={"name": "constant", "lr": 0.01}),
            Variant(
                name="one-cycle",
                schedule={"name": "one-cycle", "max_lr": "auto", "final_div_factor": 10000},
                optimizer={"nesterov": True},
            ),
        ],
        control="control",
        target=0.8,
    )
    assert from_yaml == from_python
    assert from_yaml.fingerprint() == from_python.fingerprint()
    # YAML 1.1 reads 5e-4 as a string; lrlab's loader reads it as the number it is.
    assert from_yaml.optimizer.weight_decay == 5e-4
    assert from_yaml.variants[1].schedule.name == "one-cycle"  # one_cycle normalised
    assert from_yaml.variants[1].schedule.params == {"max_lr": "auto", "final_div_factor": 1e4}
    assert from_yaml.variants[1].schedule.auto and not from_yaml.variants[0].schedule.auto


def test_round_trips_through_dict_and_yaml(tmp_path):
    exp = load_experiment(write(tmp_path, GOOD_YAML))
    assert Experiment.from_dict(exp.to_dict()) == exp
    again = tmp_path / "again.yaml"
    again.write_text(exp.to_yaml())
    assert load_experiment(again) == exp


def test_defaults(tmp_path):
    exp = Experiment(name="x", task="digits-mlp", variants=[{"name": "a", "schedule": "constant"}])
    assert exp.seeds == [0, 1, 2]
    assert exp.threads == 1 and exp.checkpoint_every == 1 and exp.device == "auto"
    assert exp.control_name == "a"  # the first variant is the control by default
    assert exp.epochs is None and exp.iterations is None  # the task's epochs


def test_fingerprint_ignores_seeds_and_analysis_but_not_what_changes_results(tmp_path):
    exp = load_experiment(write(tmp_path, GOOD_YAML))
    same = exp.to_dict() | {"seeds": [0, 1, 2, 3], "target": 0.9, "description": "more seeds"}
    same["analysis"] = {"spike_threshold": 0.1}
    assert Experiment.from_dict(same).fingerprint() == exp.fingerprint()
    for change in ({"epochs": 4}, {"batch_size": 32}, {"threads": 2}, {"device": "cpu"}):
        assert Experiment.from_dict(exp.to_dict() | change).fingerprint() != exp.fingerprint()
    d = exp.to_dict()
    d["variants"][0]["schedule"]["lr"] = 0.02
    assert Experiment.from_dict(d).fingerprint() != exp.fingerprint()


def test_with_seeds_validates():
    exp = Experiment(name="x", task="digits-mlp", variants=[{"name": "a", "schedule": "constant"}])
    assert exp.with_seeds([4, 5]).seeds == [4, 5]
    with pytest.raises(InvalidArgument, match="duplicate seeds"):
        exp.with_seeds([1, 1])


# --------------------------------------------------------------------------- bad configs


BAD_YAML = """
name: demo
task: digits-mpl
seeds: []
epochs: 0
optimiser: {name: sgd}
batch_size: abc
variants:
  - name: control
    scheduel: {name: constant}
  - name: fast
    schedule: {name: onecycle, max_lr: 0.1}
  - name: x
    schedule: {name: one-cycle, max_lr: 0.1, pct_strt: 0.3}
amp: fp32
"""


def test_every_problem_is_one_line_naming_its_field(tmp_path):
    path = write(tmp_path, BAD_YAML)
    with pytest.raises(InvalidArgument) as excinfo:
        load_experiment(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: Invalid experiment config (10 problems):")
    lines = problems(excinfo)
    by_field = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in lines}
    assert by_field["task"].startswith("unknown task 'digits-mpl' (did you mean 'digits-mlp'?")
    assert "digits-cnn, digits-mlp, function-exp" in by_field["task"]  # the known tasks
    assert "at least one seed" in by_field["seeds"]
    assert by_field["epochs"] == "input should be greater than 0 (got 0)"
    assert "valid integer" in by_field["batch_size"] and "(got 'abc')" in by_field["batch_size"]
    assert by_field["variants[0].schedule"] == "required but missing"
    assert by_field["variants[0].scheduel"].startswith("unknown key (did you mean 'schedule'?")
    assert "allowed: name, optimizer, schedule" in by_field["variants[0].scheduel"]
    assert "did you mean 'one-cycle'?" in by_field["variants[1].schedule.name"]
    assert (
        "'pct_strt' is not a parameter of schedule 'one-cycle'" in by_field["variants[2].schedule"]
    )
    assert "did you mean 'pct_start'?" in by_field["variants[2].schedule"]
    assert by_field["amp"] == "'fp32' is not allowed (allowed: False, 'bf16' or 'fp16')"
    assert by_field["optimiser"].startswith("unknown key (did you mean 'optimizer'?")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"optimizer": {"name": "sgdd"}}, "optimizer.name: unknown optimizer 'sgdd' (did you"),
        ({"optimizer": {"momentum": 1.5}}, "optimizer.momentum: input should be less than 1"),
        ({"optimizer": {"betas": [0.9, 1.2]}}, "optimizer.betas: betas=[0.9, 1.2] must both be"),
        ({"epochs": 3, "iterations": 100}, "epochs/iterations: give one budget, not both"),
        ({"task": None}, "task/factory: give exactly one of task"),
        ({"factory": "not a factory", "task": None}, "factory: string should match pattern"),
        ({"control": "nope"}, "control: 'nope' is not a variant (allowed: ['a', 'b'])"),
        ({"name": "bad/name"}, "name: string should match pattern"),
        ({"threads": 0}, "threads: input should be greater than or equal to 1"),
        ({"seeds": [0, -1]}, "seeds[1]: input should be greater than or equal to 0"),
        ({"seeds": [3, 3]}, "seeds: duplicate seeds [3]"),
        ({"target": float("inf")}, "target: target=inf must be a finite number"),
        (
            {"range_test": {"start_lr": 1.0, "end_lr": 0.1}},
            "range_test: start_lr=1.0 must be below",
        ),
        ({"range_test": {"step_mode": "log"}}, "range_test.step_mode: 'log' is not allowed"),
        ({"eval": {"batches": 0}}, "eval.batches: input should be greater than 0"),
        ({"task_options": {"hiden": 3}}, "task_options: Task 'digits-mlp' has no option"),
    ],
)
def test_single_problems(change, expected):
    base = {
        "name": "x",
        "task": "digits-mlp",
        "variants": [
            {"name": "a", "schedule": {"name": "constant", "lr": 0.1}},
            {"name": "b", "schedule": {"name": "one-cycle", "max_lr": 0.1}},
        ],
    }
    with pytest.raises(InvalidArgument) as excinfo:
        Experiment(**(base | change))
    assert any(line.startswith(expected) for line in problems(excinfo)), problems(excinfo)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"name": "one-cycle"}, "schedule 'one-cycle' needs max_lr (a number or 'auto' for"),
        ({"name": "one-cycle", "max_lr": 0.1, "pct_start": 2}, "pct_start=2.0 must be in (0, 1)"),
        ({"name": "cyclic", "base_lr": 0.1, "max_lr": 0.2}, "needs step_size_up"),
        ({"name": "one-cycle", "max_lr": 0.1, "pct_start": "auto"}, "pct_start='auto' is not"),
        ({"name": "constant", "lr": "fast"}, "lr='fast' must be a number or 'auto'"),
    ],
)
def test_schedule_problems_are_found_when_the_config_is_read(schedule, expected):
    with pytest.raises(InvalidArgument) as excinfo:
        Variant(name="v", schedule=schedule)
    assert problems(excinfo) == [f"schedule: {problems(excinfo)[0].split(': ', 1)[1]}"]
    assert expected in str(excinfo.value)


def test_duplicate_variant_names_and_missing_lr():
    v = {"name": "a", "schedule": {"name": "constant", "lr": 0.1}}
    with pytest.raises(InvalidArgument, match=r"variants: duplicate names \['a'\]"):
        Experiment(name="x", task="digits-mlp", variants=[v, v])
    with pytest.raises(InvalidArgument, match="at least 1 item"):
        Experiment(name="x", task="digits-mlp", variants=[])
    # A constant schedule without lr takes the optimizer's lr (here: the task's default).
    exp = Experiment(name="x", task="digits-mlp", variants=[{"name": "a", "schedule": "constant"}])
    assert exp.variants[0].schedule.params == {}


def test_schedule_config_from_python_reports_like_yaml():
    with pytest.raises(InvalidArgument, match="Invalid ScheduleConfig"):
        ScheduleConfig(name="nope")


def test_yaml_syntax_errors_name_the_line(tmp_path):
    path = write(tmp_path, "name: x\nvariants: [\n  - a\n")
    with pytest.raises(InvalidArgument, match=r"exp.yaml: line \d+, column \d+: not valid YAML"):
        load_experiment(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(InvalidArgument, match="the top level must be a mapping"):
        load_experiment(path)
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_experiment(tmp_path / "missing.yaml")
