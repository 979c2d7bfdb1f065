"""``lrlab schedule``: exit codes, printed values, files written, one-line errors."""

from __future__ import annotations

import json

import pytest

from fixtures.cli import run_cli
from lrlab.cli.app import main
from lrlab.schedules import cyclic, one_cycle, piecewise_constant


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


def test_help_lists_the_command(capsys):
    assert main(["--help"]) == 0
    assert "schedule" in capsys.readouterr().out
