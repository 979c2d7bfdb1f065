"""User-facing errors.

Every error lrlab raises on bad input is an :class:`LrlabError`: its message says what was
wrong, what was expected and how to fix it. The CLI prints such errors as one line (no
traceback unless ``--debug``); Python users can catch them by type. Subclasses also inherit
from the matching builtin (``ValueError``, ``FileNotFoundError``, ...) so generic handlers
keep working.
"""

from __future__ import annotations


class LrlabError(Exception):
    """Base class of every error lrlab raises on purpose.

    ``hint`` (optional) is a sentence telling the user how to fix the problem; it is appended
    to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)


class InvalidArgument(LrlabError, ValueError):
    """An argument or configuration value is out of its allowed domain."""


class DataError(LrlabError, ValueError):
    """The data a user passed cannot be used (empty, wrong batch format, wrong shapes)."""


class DataNotFound(LrlabError, FileNotFoundError):
    """A data file is missing; the message says where to put it."""


class MissingExtra(LrlabError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class Diverged(LrlabError, RuntimeError):
    """Training produced a non-finite loss; what was computed before is kept."""


class OptimizerMismatch(LrlabError, TypeError):
    """The optimizer lacks a hyper-parameter a schedule wants to drive (e.g. momentum)."""


def check(condition: bool, message: str, *, hint: str | None = None) -> None:
    """Raise :class:`InvalidArgument` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InvalidArgument(message, hint=hint)


class Interrupted(LrlabError):
    """The user pressed Ctrl-C; the message says what was kept and how to resume."""
