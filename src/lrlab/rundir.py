"""Run directories: checked before any work, locked while a command writes them, and results
saved where they cannot destroy a better one.

* :func:`check_out_dir` / :func:`check_out_file` — an ``--out`` that is a file, or that
  cannot be written, is one line before anything is computed.
* :func:`locked` — an exclusive advisory lock (``flock``) on ``DIR/.lrlab.lock``, which holds
  the owner's pid, host and command: a second writer is refused with that owner named, so two
  runs never record every epoch twice. The kernel drops the lock when its process dies, so a
  lock file left by a killed run is taken over (with a message). Re-entrant in one process.
* :func:`result_path` — an interrupted result goes beside the complete one
  (``range_test.partial.json``), never over it.
* :func:`save_or_rescue` — a result computed but not writable (disk full, read-only) is
  saved in a temporary directory instead, and the one-line error says where.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lrlab.errors import InvalidArgument, LrlabError, OutputError, describe_os_error

LOCK_NAME = ".lrlab.lock"
PARTIAL = ".partial"
T = TypeVar("T")


class RunInUse(LrlabError, RuntimeError):
    """Another live process holds the run directory's lock."""


# --------------------------------------------------------------------------- --out


def _unwritable(directory: Path) -> str | None:
    """Why nothing can be created in ``directory`` (``None``: it can). Tried for real, with
    a temporary file: permission bits say nothing to root, nor about a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def check_out_dir(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """``path`` as a :class:`Path` if it is a directory lrlab can write into, or one that can
    be created; else an :class:`InvalidArgument` naming it — before any work is done."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InvalidArgument(
            f"{option} {str(p)!r} is a file, not a directory.",
            hint=f"Give {option} a directory (it is created when missing).",
        )
    existing = p
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidArgument(
            f"{option} {str(p)!r} cannot be created: {str(existing)!r} is a file.",
            hint=f"Choose another {option}.",
        )
    why = _unwritable(existing)
    if why is not None:
        raise InvalidArgument(
            f"{option} {str(p)!r}: cannot write in {str(existing)!r} ({why}).",
            hint=f"Choose a writable {option} (a read-only disk or a directory of another user?).",
        )
    return p


def check_out_file(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """``path`` as a :class:`Path` if it names a file lrlab can write (its directory
    checked by :func:`check_out_dir`); a directory there is an error."""
    p = Path(path)
    if p.is_dir():
        raise InvalidArgument(
            f"{option} {str(p)!r} is a directory; give the file to write.",
            hint=f"For example {option} {p / 'report.html'}.",
        )
    check_out_dir(p.parent, option=option)
    return p


# --------------------------------------------------------------------------- the lock

_HELD: dict[Path, list[Any]] = {}  # this process's locks: directory -> [fd, depth]


def _holder(fd: int) -> dict[str, Any]:
    """What a lock file says about its owner (``{}``: nothing, or not lrlab's JSON)."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        value = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(holder.get("since", 0))))
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} since {since} "
        f"({holder.get('command', '?')})"
    )


def _acquire(directory: Path) -> tuple[int, dict[str, Any]]:
    """Lock ``directory``; return the lock's descriptor and what the file said before
    (non-empty: a holder that died without releasing it)."""
    import fcntl

    path = directory / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunInUse(
                f"{directory} is being written by {_describe(holder)}; a second writer would "
                "record every epoch twice.",
                hint="Wait for that run to end (or stop it), or use another --out.",
            ) from None
        try:  # a holder that released in between removed the file: lock the new one
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return fd, _holder(fd)
        os.close(fd)


def _claim(fd: int) -> None:
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.time(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(me).encode("utf-8"))
    os.fsync(fd)


@contextlib.contextmanager
def locked(
    directory: str | os.PathLike, *, say: Callable[[str], None] | None = None
) -> Iterator[Path]:
    """Hold the exclusive lock of run directory ``directory`` (created if missing) for the
    block; ``say`` gets the one line about a stale lock taken over (default: stderr).

    Raises:
        RunInUse: another live process holds it (its pid, host and command are named).
    """
    root = check_out_dir(directory)
    created = [p for p in (root, *root.parents) if not p.exists()]  # removed again if empty
    root.mkdir(parents=True, exist_ok=True)
    key = root.resolve()
    if key in _HELD:  # this process holds it already (lrlab train -> fit)
        _HELD[key][1] += 1
        try:
            yield root
        finally:
            _HELD[key][1] -= 1
        return
    fd, before = _acquire(root)
    if before:
        line = (
            f"lrlab: took over the lock of {root} left by {_describe(before)}, which is no "
            "longer running."
        )
        (say or (lambda m: print(m, file=sys.stderr, flush=True)))(line)
    _claim(fd)
    _HELD[key] = [fd, 1]
    try:
        yield root
    finally:
        del _HELD[key]
        # Unlink while still holding the lock, so nobody locks a file about to vanish.
        with contextlib.suppress(OSError):
            os.unlink(root / LOCK_NAME)
        os.close(fd)
        for made in created:  # a command that failed before writing leaves no empty --out
            with contextlib.suppress(OSError):
                made.rmdir()  # only when empty


def locks_out_dir(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a function with an ``out_dir=`` keyword: it runs holding that directory's
    lock (:func:`locked`) when one is given."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        out_dir = kwargs.get("out_dir")
        if out_dir is None:
            return fn(*args, **kwargs)
        with locked(out_dir):
            return fn(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- results


def result_path(out: str | os.PathLike, name: str, *, complete: bool) -> Path:
    """Where a result file goes: ``out/name`` when complete, else beside it with
    ``.partial`` before the suffix (``range_test.partial.json``), so an interrupted run
    never replaces a complete result."""
    p = Path(out) / name
    return p if complete else p.with_name(f"{p.stem}{PARTIAL}{p.suffix}")


def drop_stale_partial(out: str | os.PathLike, name: str) -> None:
    """Remove the partial result a complete one supersedes (lrlab wrote it)."""
    with contextlib.suppress(OSError):
        result_path(out, name, complete=False).unlink()


def write_result_files(
    out: str | os.PathLike,
    *,
    complete: bool,
    save_json: Callable[[Path], Path],
    json_name: str,
    figures: Sequence[tuple[str, Any, int]] = (),
) -> list[Path]:
    """A result's JSON (``save_json(path)``) and its figures (``(name, matplotlib Figure,
    dpi)``, saved atomically) in ``out``: under :func:`result_path`'s names, so an incomplete
    result goes beside a complete one, never over it; a complete one removes the partial files
    it supersedes. Returns the paths, the JSON's first."""
    from lrlab._io import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [save_json(result_path(out, json_name, complete=complete))]
    for name, fig, dpi in figures:
        paths.append(save_figure(fig, result_path(out, name, complete=complete), dpi=dpi))
    if complete:
        for name in (json_name, *(name for name, _, _ in figures)):
            drop_stale_partial(out, name)
    return paths


def save_or_rescue(save: Callable[[Path], T], out: str | os.PathLike, *, what: str) -> T:
    """``save(out)``; when that fails on the file system (disk full, read-only, ...), the
    result goes to a new temporary directory instead and an :class:`OutputError` says in one
    line what failed and where the result is — computed work is never lost to a full disk."""
    try:
        return save(Path(out))
    except OSError as exc:
        problem = describe_os_error(exc)
        try:
            rescue = Path(tempfile.mkdtemp(prefix=f"lrlab-{what.replace(' ', '-')}-"))
            save(rescue)
        except OSError:
            raise OutputError(
                f"{problem} The {what} could not be saved anywhere; its table is printed above."
            ) from exc
        raise OutputError(f"{problem} The {what} was saved in {rescue} instead.") from exc
