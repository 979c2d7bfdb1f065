"""Where progress displays draw (``lrlab._console``): a live bar on terminals and in notebooks
with ipywidgets, refreshed by the caller in notebooks, summary lines only elsewhere."""

from __future__ import annotations

import io
import sys
import warnings

import pytest
import torch
from rich.console import Console

from lrlab._console import progress_console
from lrlab.train import ProgressBar, fit


def console(**kwargs) -> Console:
    return Console(file=io.StringIO(), width=120, **kwargs)


def test_terminal_gets_a_live_bar_with_rich_refresh_thread():
    where = progress_console(console(force_terminal=True))
    assert (where.live, where.auto_refresh) == (True, True)


def test_log_file_gets_no_live_bar():
    where = progress_console(console(force_terminal=False))
    assert where.live is False
    default = progress_console()  # stderr under pytest is captured: not a terminal
    assert default.console.stderr and default.live is False


def test_notebook_is_refreshed_by_the_caller_and_needs_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # find_spec: "not installed"
    where = progress_console(console(force_jupyter=True))
    assert (where.live, where.auto_refresh) == (False, False)


def test_notebook_with_ipywidgets_gets_a_live_bar():
    pytest.importorskip("ipywidgets")
    where = progress_console(console(force_jupyter=True))
    assert (where.live, where.auto_refresh) == (True, False)


def test_fit_in_a_notebook_without_ipywidgets_prints_its_lines_and_no_warning(monkeypatch):
    """Before: rich started its live display anyway and warned 'install "ipywidgets"'."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    out = console(force_jupyter=True, record=True)  # record: what went to the notebook
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    data = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, opt, torch.nn.CrossEntropyLoss(), data, epochs=2,
            callbacks=[ProgressBar(out)], quiet=True)  # fmt: skip
    lines = out.export_text().splitlines()
    assert [line.split(" |")[0] for line in lines] == ["Epoch [1] it 4", "Epoch [2] it 8"]
