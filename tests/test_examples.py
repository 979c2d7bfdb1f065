"""Every script in ``examples/`` runs, with its small ``--quick`` budget, in a subprocess
(as a user would run it: from a fresh directory, importing the installed lrlab)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))
# What each script must print when it worked (beyond exiting with 0).
EXPECT = {
    "custom_batches.py": ["dict batches: range test", "accuracy after 3 epochs"],
    "experiment_config.py": ["constant (control)", "report: "],
    "lightning_findlr.py": ["FindLR: find_lr: peak LR", "val accuracy after 3 epochs"],
    "one_cycle_training.py": ["max LR", "epoch  3"],
    "own_model_range_test.py": ["max LR", "report: "],
    "transformers_findlr.py": ["find_lr: peak LR", "eval accuracy after 2 epochs"],
}

# The integrations' examples need their extra.
NEEDS = {"lightning_findlr.py": "lightning", "transformers_findlr.py": "transformers"}


def test_every_example_is_listed():
    assert sorted(EXPECT) == SCRIPTS


# Each script is a fresh interpreter importing torch and training a little (~25 s for the four
# core ones on a quiet 2-core machine, ~10 s more for each integration's): part of `make test`,
# so the documented examples cannot rot.
@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name, tmp_path):
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{name} needs {NEEDS[name]} (the extra of the same name)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick"],
        cwd=tmp_path,  # the scripts write under ./runs/examples
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for text in EXPECT[name]:
        assert text in result.stdout, result.stdout[-2000:]
