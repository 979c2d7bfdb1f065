"""Stopping on a signal: SIGTERM ends a command the way Ctrl-C does, and a process-pool worker
turns either into a request to stop after the current step.

* In a command's process, :func:`terminate_as_interrupt` makes SIGTERM (what ``timeout``,
  ``kill`` and batch schedulers send) raise :class:`Terminated`, a ``KeyboardInterrupt``: the
  code that keeps finished work on Ctrl-C keeps it on SIGTERM too, and the CLI exits 143
  with the same one line (:func:`was_terminated` tells the two apart).
* In a pool worker, :class:`StopRequest` records SIGINT / SIGTERM instead of raising at an
  arbitrary point (an exception in the middle of an import leaves a half-initialised module:
  a later trial failed with "unsupported operand type(s) for ** or pow(): 'Symbol' and
  'int'"). The running trial reads it between optimizer steps (:class:`StopOnRequest`, a
  ``fit`` callback) and stops there, as after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM was received; handled wherever Ctrl-C is."""


# Set by the SIGTERM handler: a loop that caught the interrupt and returned normally (``fit``
# records "interrupted") leaves no exception behind to say which signal it was.
_TERMINATED = threading.Event()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block, the first SIGTERM raises :class:`Terminated` in the main thread; a
    second one kills the process as usual (a way out of a clean-up that hangs)."""
    _TERMINATED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _TERMINATED.set()
        raise Terminated

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def was_terminated(exc: BaseException | None) -> bool:
    """Whether SIGTERM stopped the command: ``exc`` is, or was raised while handling, a
    :class:`Terminated`, or one was raised inside :func:`terminate_as_interrupt`."""
    if _TERMINATED.is_set():
        return True
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Terminated):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class StopRequest:
    """A flag that SIGINT and SIGTERM set (in a pool worker, once :meth:`install` ran)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> None:
        """Route SIGINT and SIGTERM to :meth:`set` (main thread only)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self._event.set())

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def __bool__(self) -> bool:
        return self._event.is_set()


class StopOnRequest:
    """A ``fit`` callback: once ``request`` is set, stop after the current optimizer step as
    Ctrl-C would (``fit`` records ``"interrupted"`` and keeps its last checkpoint)."""

    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def _check(self, *_: Any) -> None:
        if self.request:
            raise KeyboardInterrupt  # at a step boundary, never inside an import

    on_epoch_start = _check
    on_step_end = _check
    on_log = _check
