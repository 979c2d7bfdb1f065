"""The benchmark scripts keep running (each with ``--quick``, in a subprocess), their reports
hold what BENCHMARKS.md is built from, and the shared helpers in ``benchmarks/_common.py`` do
what they say.

Every ``benchmarks/*.py`` script (except helpers starting with ``_``) is run; a new script is
picked up automatically and must accept ``--quick`` and ``--out PATH``. Scripts whose quick
run costs more than ~10 s of CPU are marked ``slow``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_"))

# Measured CPU time of the quick runs (2-core machine): data_path ~23 s, cifar10_resnet9 ~14 s.
# vary_pool (~11 s: two spawned workers importing torch) stays: it is the default suite's only
# check that the comparison's process pool reproduces the sequential numbers.
# executors: spawning two workers (torch import + first optimizer) takes ~15 s of wall time.
# overhead (~29 s: interleaved timing rounds) and lr_free (~21 s: 8 variants' trainings, and
# its preset runs end to end in tests/test_lrfree_headtohead.py) keep the default suite short.
SLOW = {"data_path", "cifar10_resnet9", "executors", "overhead", "lr_free"}
# Scripts that need an optional extra: skipped without it (CI installs it: the Makefile's
# TEST_EXTRAS).
NEEDS: dict[str, tuple[str, ...]] = {"lr_free": ("schedulefree", "prodigyopt")}
EXTRA_ARGS: dict[str, list[str]] = {
    # Lightning's import alone costs ~5 s of CPU: covered by the slow test below.
    "suggestion_quality": ["--no-lightning"],
    "find_quality": ["--finders", "find_lr,curve"],
}


def _load_common():
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "_common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _load_common()


def _accepts_quick_and_out(script: str) -> bool:
    """Whether the script declares ``--quick`` and ``--out`` options. Read from its source,
    not by running it: a script without ``--out`` (or without an argument parser at all)
    would overwrite the real results in ``benchmarks/out``."""
    source = (BENCH / f"{script}.py").read_text()
    return all(f'"{flag}"' in source or f"'{flag}'" in source for flag in ("--quick", "--out"))


def _run(script: str, tmp_path: Path, *extra: str) -> dict:
    if not _accepts_quick_and_out(script):
        pytest.fail(
            f"benchmarks/{script}.py must accept --quick (a sub-minute smoke run, issue 7) and "
            "--out PATH (so this test writes into a temporary directory, not benchmarks/out)."
        )
    out = tmp_path / f"{script}.json"
    args = [sys.executable, str(BENCH / f"{script}.py"), "--quick", "--out", str(out), *extra]
    if script in ("suggestion_quality", "find_quality"):
        args += ["--cache", str(tmp_path / "cache")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script} --quick failed:\n{proc.stderr[-3000:]}"
    assert out.exists(), f"{script} --quick wrote no {out.name}"
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "script",
    [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s for s in SCRIPTS],
)
def test_every_benchmark_runs_quick(script: str, tmp_path: Path) -> None:
    for package in NEEDS.get(script, ()):
        pytest.importorskip(package, reason=f"benchmarks/{script}.py needs {package}")
    report = _run(script, tmp_path, *EXTRA_ARGS.get(script, []))
    assert report, f"{script} wrote an empty report"
    if script == "suggestion_quality":
        _check_quality_report(report)
    elif script == "overhead":
        _check_overhead_report(report, tmp_path)


def _check_quality_report(report: dict) -> None:
    """The quick report's numbers follow from its raw records (no stale or invented value)."""
    from lrlab.suggest import suggest

    assert report["git_rev"] and report["machine"]["cpus"] >= 1
    assert report["command"].endswith("--no-lightning") or "--no-lightning" in report["command"]
    trainings = {(t["task"], t["seed"], f"{t['lr']:.6g}"): t for t in report["trainings"]}
    for task, row in report["summary"].items():
        for seed, oracle in row["oracle"]["per_seed"].items():
            curve = oracle["curve"]
            # The oracle is the best final metric of the grid, and its LR is where it was.
            best = max(curve.values()) if row["kind"] == "classification" else min(curve.values())
            assert oracle["metric"] == best
            assert curve[f"{oracle['lr']:.6g}"] == best
            for lr, value in curve.items():
                assert trainings[(task, int(seed), lr)]["final"] == value
        for method, m in row["methods"].items():
            assert m["missing"] == 0, method
            rows = zip(m["lrs"], m["regret_per_seed"], m["achieved"], strict=True)
            for lr, regret, achieved in rows:
                assert 0.0 <= achieved <= 1.0
                oracle = row["oracle"]["per_seed"]["0"]["metric"]
                assert regret == pytest.approx(100 * (oracle - achieved))
                assert lr > 0
    # lrlab's suggestion in the report is what lrlab.suggest says about the stored curve.
    for sweep in report["sweeps"]:
        curve = sweep["lrlab"]
        losses = [math.nan if v is None else v for v in curve["losses"]]
        assert suggest(curve["lrs"], losses).lr == pytest.approx(sweep["suggestions"]["lrlab"])
        assert sweep["suggestions"]["torch-lr-finder"] is not None


def _check_overhead_report(report: dict, tmp_path: Path) -> None:
    (w,) = report["workloads"]
    for name, value in w["ratios"].items():
        assert math.isfinite(value) and value > 0, name
    assert set(w["times"]) == {"lrlab", "lrlab_sweep", "hand", "torch-lr-finder", "fit", "hand_fit"}
    assert (tmp_path / "overhead.md").read_text().count("|") > 10


@pytest.mark.slow
def test_suggestion_quality_quick_with_lightning(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    report = _run("suggestion_quality", tmp_path)
    assert "lightning" in report["methods"]
    assert all(s["suggestions"]["lightning"] is not None for s in report["sweeps"])


# --- helpers of benchmarks/_common.py ---------------------------------------------------------


def test_update_benchmarks_md_replaces_only_its_section(tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nHand-written intro.\n")
    common.update_benchmarks_md("a", "## A\n\nfirst", md)
    common.update_benchmarks_md("b", "## B\n\nbee", md)
    common.update_benchmarks_md("a", "## A\n\nsecond", md)
    text = md.read_text()
    assert "Hand-written intro." in text
    assert "second" in text and "first" not in text
    assert text.count("<!-- bench:a -->") == 1 and "bee" in text
    assert text.index("## A") < text.index("## B")  # replaced in place, not appended


def test_markdown_table_and_fmt() -> None:
    table = common.markdown_table(["x", "y"], [[1, common.fmt(math.nan)], ["a", common.fmt(2.5)]])
    lines = table.splitlines()
    assert lines[0] == "| x | y |" and lines[1] == "| :-- | --: |"
    assert lines[2] == "| 1 | — |" and lines[3] == "| a | 2.5 |"
    assert common.fmt(math.inf) == "inf" and common.fmt(None) == "—"


def test_interleaved_rotates_order_and_uses_self_timed_values() -> None:
    calls: list[str] = []
    variants = {
        "a": lambda: calls.append("a"),
        "b": lambda: calls.append("b") or 0.5,  # a variant that timed itself
        "c": lambda: calls.append("c"),
    }
    times = common.interleaved(variants, repeats=3, warmup=1)
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert times["b"] == [0.5, 0.5, 0.5]
    assert all(0 <= t < 1 for t in times["a"] + times["c"])


def test_mean_std_and_geomean() -> None:
    assert common.mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert common.mean_std([4.0]) == (4.0, 0.0)
    assert all(math.isnan(v) for v in common.mean_std([]))
    assert common.geomean([1.0, 100.0]) == pytest.approx(10.0)
    assert math.isnan(common.geomean([]))


def test_git_revision_and_command_line() -> None:
    rev = common.git_revision()
    assert rev == "unknown" or len(rev.split("+")[0]) >= 7
    cmd = common.command_line(str(BENCH / "overhead.py"), ["--quick", "a b"])
    assert cmd == ".venv/bin/python benchmarks/overhead.py --quick 'a b'"
