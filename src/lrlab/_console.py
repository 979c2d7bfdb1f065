"""Where lrlab's progress displays draw: a terminal (on stderr) or a Jupyter notebook.

rich detects a notebook itself (``Console.is_jupyter``, whatever the stream) and prints lines
there as HTML outputs. Its live displays (``rich.progress.Progress``) need two things in a
notebook (rich's ``live.py``):

- ``ipywidgets``: rich draws the bar into an ``Output`` widget; without it each refresh
  warns ``install "ipywidgets"`` and nothing is drawn (``pip install 'lrlab[notebook]'``);
- refreshes from the thread that runs the cell: ipykernel 7 no longer shows display updates
  sent from other threads (rich issue #3868, nutpie #248), and rich's auto-refresh runs in a
  thread of its own. In a notebook the caller refreshes the bar itself, every few steps.

:func:`progress_console` decides once; every progress display (``fit``'s bar, the range
test's, the scan's ticker, the demo's stages) can build its ``Progress`` from it::

    where = progress_console()
    bar = Progress(..., console=where.console, auto_refresh=where.auto_refresh, transient=True)
    if where.live:
        bar.start()
    ...
    bar.update(task, completed=n, refresh=not where.auto_refresh)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressConsole:
    """A rich console and how a live progress display should use it.

    ``live``: whether to draw a live bar at all (a terminal, or a notebook with ipywidgets;
    not a log file, where only the lines printed on the console are useful);
    ``auto_refresh``: whether rich's refresh thread may redraw it (terminals), or the caller
    refreshes it from its own thread (notebooks)."""

    console: Any
    live: bool
    auto_refresh: bool


def progress_console(console: Any = None) -> ProgressConsole:
    """Where a progress display draws: ``console`` (default: a new stderr console) and
    whether and how a live bar runs there (see the module docstring)."""
    from rich.console import Console

    console = console if console is not None else Console(stderr=True)
    if console.is_jupyter:
        widgets = importlib.util.find_spec("ipywidgets") is not None
        return ProgressConsole(console, live=widgets, auto_refresh=False)
    return ProgressConsole(console, live=console.is_terminal, auto_refresh=True)
