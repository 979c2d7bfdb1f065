"""The example notebook runs headless (nbclient, ipykernel's ``python3`` kernel in this venv)
and shows what it promises: the range test and the fit as figures and tables, the progress of
``fit`` as a live bar (with ipywidgets) and one line per epoch, no warning.

Needs the ``dev`` extra's ipykernel, nbclient and nbformat (``make test`` installs them);
skipped where they are missing. The kernel inherits this process's environment: the caches
and HOME in a temporary directory (``conftest.py``), this checkout's lrlab.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("sklearn", reason="the notebook's task needs the `datasets` extra")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook_quickstart.ipynb"
# Per cell and for the kernel's start: the whole notebook takes ~10 s on a quiet 2-core machine.
CELL_TIMEOUT_S = 60


def outputs_of(cell) -> list[dict]:
    return [dict(o) for o in cell.get("outputs", [])]


def html_of(outputs: list[dict]) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs)


@pytest.mark.notebook
def test_quickstart_notebook_runs_and_shows_its_results(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()  # raises CellExecutionError with the traceback when a cell fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    found, fitted = outputs_of(code[1]), outputs_of(code[2])

    shown = html_of([o for o in found if o["output_type"] == "execute_result"])
    assert '<img src="data:image/png;base64,' in shown and "suggested max LR" in shown

    result = html_of([o for o in fitted if o["output_type"] == "execute_result"])
    assert '<img src="data:image/png;base64,' in result and "fit: 5 epochs" in result
    assert "eval_accuracy" in result
    # One summary line per epoch, printed through rich's notebook renderer.
    lines = html_of([o for o in fitted if o["output_type"] == "display_data"])
    assert all(f"Epoch [{e}]" in lines for e in range(6)), lines[-2000:]
    bars = [o for o in fitted if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(bars) == (1 if importlib.util.find_spec("ipywidgets") else 0)

    streams = [o for c in code for o in outputs_of(c) if o["output_type"] == "stream"]
    assert not [o for o in streams if o["name"] == "stderr"], streams
