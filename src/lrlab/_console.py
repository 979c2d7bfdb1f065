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


class StageBar:
    """One live progress bar for a loop's stages: ``start(label, total)`` begins a stage (the
    bar restarts), ``advance(n, text)`` moves it. Built on :func:`progress_console`: in a
    terminal rich redraws it from its own thread; in a notebook it is redrawn from the caller's
    thread at most every 0.2 s; elsewhere (a log file) nothing is drawn. Disabled, every call
    is a no-op and rich is never imported. A context manager (the bar is removed on exit)."""

    _REFRESH_S = 0.2

    def __init__(self, enabled: bool, prefix: str = "") -> None:
        self.enabled = enabled
        self.prefix = prefix
        self._bar: Any = None
        self._task: Any = None
        self._manual = False
        self._last = 0.0

    def __enter__(self) -> StageBar:
        if not self.enabled:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        where = progress_console()
        if not where.live:
            return self
        self._manual = not where.auto_refresh
        self._bar = Progress(
            TextColumn(self.prefix + "{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[text]}"),
            console=where.console,
            auto_refresh=where.auto_refresh,
            transient=True,
        )
        self._bar.start()
        return self

    def start(self, label: str, total: int | None = None) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(label, total=total, text="")

    def advance(self, n: int = 1, text: str | None = None) -> None:
        if self._bar is None or self._task is None:
            return
        fields = {} if text is None else {"text": text}
        refresh = False
        if self._manual:
            import time

            now = time.monotonic()
            refresh = now - self._last >= self._REFRESH_S
            self._last = now if refresh else self._last
        self._bar.update(self._task, advance=n, refresh=refresh, **fields)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
