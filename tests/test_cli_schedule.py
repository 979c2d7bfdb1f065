"""``lrlab schedule``: exit codes, printed values, files written, one-line errors."""

from __future__ import annotations

import json
import shlex

import pytest

from fixtures.cli import run_cli
from lrlab.cli.app import main
from lrlab.schedules import (
    POLICIES,
    cyclic,
    inverse_sqrt,
    one_cycle,
    piecewise_constant,
    warmup_cosine,
    warmup_linear,
    wsd,
)


def run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "schedule", *args)


def test_table_shows_the_shape(capsys):
    code, out, _ = run(capsys, "one-cycle", "--max-lr", "0.1", "--steps", "1000")
    assert code == 0
    assert "one-cycle" in out and "momentum" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 4}
    assert set(rows) >= {"0", "299", "999"}  # start, the LR peak, the end
    assert "0.004 " in rows["0"] and " 0.1 " in rows["299"] and "0.8500" in rows["299"]


def test_json_values_equal_the_python_api(capsys):
    code, out, _ = run(
        capsys, "one-cycle", "--max-lr", "0.3", "--steps", "200", "--three-phase", "--json"
    )
    assert code == 0
    payload = json.loads(out)
    expected = one_cycle(0.3, 200, three_phase=True)
    assert payload["schedule"] == expected.to_dict()
    assert payload["lr"] == expected.lrs().tolist()
    assert payload["momentum"] == expected.momentums().tolist()
    assert payload["steps"] == payload["total_steps"] == 200


def test_out_and_plot_write_files(capsys, tmp_path):
    plot = tmp_path / "figs" / "cyc.png"
    code, _, err = run(
        capsys,
        "cyclic",
        "--base-lr",
        "0.001",
        "--max-lr",
        "0.01",
        "--step-size-up",
        "5",
        "--step-size-down",
        "3",
        "--mode",
        "exp_range",
        "--gamma",
        "0.99",
        "--out",
        str(tmp_path / "run"),
        "--plot",
        str(plot),
    )
    assert code == 0
    payload = json.loads((tmp_path / "run" / "schedule.json").read_text())
    expected = cyclic(0.001, 0.01, 5, 3, mode="exp_range", gamma=0.99)
    assert payload["steps"] == 24  # three cycles by default: an endless schedule
    assert payload["lr"] == expected.lrs(24).tolist()
    for png in (tmp_path / "run" / "schedule.png", plot):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in err


def test_milestones_and_option_spelling(capsys):
    code, out, _ = run(
        capsys, "piecewise_constant", "--lr", "0.1", "--milestones", "10,20", "--json"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["lr"] == piecewise_constant(0.1, [10, 20]).lrs(26).tolist()
    assert payload["momentum"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["one-cycle", "--max-lr", "0.1", "--steps", "100", "--pct-start", "1.5"], "pct_start=1.5"),
        (["one-cycle", "--max-lr", "0.1", "--steps", "100", "--milestones", "3"], "--milestones"),
        (["one-cycle", "--max-lr", "0.1"], "needs --total-steps"),
        (["two-cycle", "--lr", "0.1"], "Unknown schedule 'two-cycle'"),
        (["warmup", "--lr", "0.1"], "Python-only"),
        (["wsd", "--max-lr", "0.1", "--steps", "10", "--warmup-steps", "5"], "--decay-steps"),
        (
            shlex.split("wsd --max-lr 0.1 --steps 10 --warmup-steps 6 --decay-steps 6"),
            "warmup_steps + decay_steps = 6 + 6 must be <= total_steps=10",
        ),
        (
            shlex.split("wsd --max-lr 0.1 --steps 10 --warmup-steps 1 --decay-steps 1 --decay exp"),
            "decay='exp'",
        ),
        (["inverse-sqrt", "--max-lr", "0.1", "--warmup-steps", "-1"], "warmup_steps=-1"),
        (["constant", "--lr", "0.1", "--steps", "0"], "--steps 0"),
        (["piecewise-constant", "--lr", "0.1", "--milestones", "a,b"], "--milestones 'a,b'"),
        (["cyclic", "--base-lr", "0.1", "--max-lr", "0.01", "--step-size-up", "5"], "max_lr"),
    ],
)
def test_bad_arguments_give_one_line_errors(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err and err.startswith("lrlab: error:")
    assert "Traceback" not in err and out == ""


def test_options_that_do_not_apply_are_listed(capsys):
    _, _, err = run(capsys, "constant", "--lr", "0.1", "--max-lr", "0.2")
    assert "--max-lr does not apply to constant" in err and "--lr, --momentum" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            shlex.split(
                "wsd --max-lr 0.3 --steps 100 --warmup-steps 10 --decay-steps 30 --decay 1-sqrt "
                "--min-lr-ratio 0.1"
            ),
            wsd(0.3, 100, warmup_steps=10, decay_steps=30, decay="1-sqrt", min_lr_ratio=0.1),
        ),
        (
            ["warmup_linear", "--max-lr", "0.3", "--steps", "50", "--warmup-steps", "5"],
            warmup_linear(0.3, 50, warmup_steps=5),
        ),
        (
            shlex.split(
                "warmup-cosine --max-lr 0.3 --total-steps 50 --warmup-steps 5 --num-cycles 0.4"
            ),
            warmup_cosine(0.3, 50, warmup_steps=5, num_cycles=0.4),
        ),
        (
            ["inverse-sqrt", "--max-lr", "0.3", "--warmup-steps", "8", "--timescale", "20"],
            inverse_sqrt(0.3, warmup_steps=8, timescale=20),
        ),
    ],
    ids=lambda x: x[0] if isinstance(x, list) else "",
)
def test_warmup_decay_policies_preview_exactly(capsys, tmp_path, args, expected):
    code, out, _ = run(capsys, *args, "--json", "--plot", str(tmp_path / "s.png"))
    assert code == 0
    payload = json.loads(out)
    steps = expected.total_steps or 80  # inverse-sqrt: ten warm-ups long
    assert payload["schedule"] == expected.to_dict() and payload["steps"] == steps
    assert payload["lr"] == expected.lrs(steps).tolist() and payload["momentum"] is None
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_policy_that_takes_no_schedule_previews(capsys):
    # The preview reads the registry: a new policy is offered without touching the CLI.
    minimal = {
        "one-cycle": ["--max-lr", "0.1"],
        "cyclic": ["--base-lr", "0.01", "--max-lr", "0.1", "--step-size-up", "4"],
        "piecewise-constant": ["--lr", "0.1", "--milestones", "5"],
        "step-decay": ["--lr", "0.1", "--step-size", "5"],
        "cosine": ["--lr", "0.1"],
        "constant": ["--lr", "0.1"],
        "warmup-linear": ["--max-lr", "0.1", "--warmup-steps", "2"],
        "warmup-cosine": ["--max-lr", "0.1", "--warmup-steps", "2"],
        "wsd": ["--max-lr", "0.1", "--warmup-steps", "2", "--decay-steps", "4"],
        "inverse-sqrt": ["--max-lr", "0.1", "--warmup-steps", "2"],
    }
    assert set(minimal) == set(POLICIES) - {"warmup"}
    for name, args in minimal.items():
        assert run(capsys, name, *args, "--steps", "20", "--json")[0] == 0, name


def test_help_lists_the_command(capsys):
    assert main(["--help"]) == 0
    assert "schedule" in capsys.readouterr().out
