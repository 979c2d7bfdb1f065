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


class DamagedFile(LrlabError, ValueError):
    """A file lrlab wrote is damaged (a torn line, a duplicated or missing epoch); the message
    names the file and what is wrong."""


class UserCodeError(LrlabError, RuntimeError):
    """The user's own code (a ``--model`` factory, an optimizer callable) raised: the message
    shows that exception in one line; the original is chained (``--debug`` prints it)."""


# What to do about an OSError, by errno name (``errno.errorcode``).
_OS_FIXES = {
    "ENOSPC": "The disk is full: free space (or point --out at another disk) and run the "
    "same command again; finished work is kept.",
    "EDQUOT": "The disk quota is used up: free space and run the same command again.",
    "EFBIG": "The file grew past the size this process may write (ulimit -f): raise the "
    "limit and run the same command again.",
    "EROFS": "That file system is read-only: choose a writable --out.",
    "EACCES": "Permission denied: choose a --out you may write to (or fix its permissions).",
    "EPERM": "Permission denied: choose a --out you may write to (or fix its permissions).",
    "ENOTDIR": "A part of that path is a file, not a directory: choose another --out.",
    "EISDIR": "That path is a directory where a file was expected: give a file name.",
    "EEXIST": "Something is already there: choose another path.",
    "ENOENT": "Check the path.",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: what failed on which path, and what to do about it."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    path = exc.filename if exc.filename is not None else ""
    where = f" {str(path)!r}" if path != "" else ""
    what = exc.strerror or type(exc).__name__
    fix = _OS_FIXES.get(name, "Check the path and the disk, then run the same command again.")
    return f"Cannot use{where}: {what}. {fix}"


class OutputError(LrlabError, OSError):
    """A result could not be written where asked (disk full, read-only, permission); the
    message says where it was saved instead."""
