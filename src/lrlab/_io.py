"""Small file helpers: atomic files and JSON, flushed JSON lines, JSON-safe floats.

JSON has no NaN/Infinity; lrlab writes non-finite floats as ``null`` (standard JSON that any
reader, including a browser, accepts) and reads ``null`` back as NaN where a float list is
expected (:func:`floats`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from lrlab.errors import DamagedFile, InvalidArgument


def canonical(obj: Any) -> Any:
    """Plain data with numbers as floats (``1e4`` from YAML and ``10000`` from Python are one
    value), keys as strings, tuples as lists, anything else as its ``str``."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (int, float)):
        return float(obj)
    if isinstance(obj, Mapping):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    return str(obj)


def stable_hash(obj: Any) -> str:
    """A short, stable hash of plain data (:func:`canonical`, keys sorted): equal settings
    give equal hashes across runs, machines and Python versions."""
    text = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain JSON types (non-finite floats → ``None``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    # numpy arrays and scalars, torch tensors: without importing numpy or torch here (the CLI's
    # --help imports this module and stays free of both).
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def floats(values: Iterable[Any] | None) -> list[float]:
    """A float list from JSON (``None`` → NaN)."""
    return [float("nan") if v is None else float(v) for v in (values or [])]


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike, mode: str = "w", *, durable: bool = False
) -> Iterator[IO[Any]]:
    """Write ``path`` atomically: yields a temporary file in the same directory (text mode
    ``"w"``, UTF-8, or binary ``"wb"``) that replaces ``path`` by a rename once the block
    ends, so a reader sees the old file or the new one, never half of one. On an error
    (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.

    The file gets the usual umask-based permissions (not ``mkstemp``'s 0600); ``durable``
    also fsyncs it before the rename (checkpoints, records: they must survive a power cut).
    """
    if mode not in ("w", "wb"):
        raise InvalidArgument(f"{mode=} must be 'w' (text) or 'wb' (binary).")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        _name_the_file(exc, path)
        raise


def save_figure(fig: Any, path: str | os.PathLike, **savefig: Any) -> Path:
    """``fig.savefig`` (a matplotlib ``Figure``) atomically, in the format of the suffix."""
    path = Path(path)
    with atomic_file(path, "wb") as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", **savefig)
    return path


def _name_the_file(exc: BaseException, path: str | os.PathLike) -> None:
    """A failed write (disk full) raises an ``OSError`` without a file name: give it the
    name of the file being written, so that its one-line message says which."""
    if isinstance(exc, OSError) and exc.filename is None:
        exc.filename = os.fspath(path)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically (temporary file + rename): readers never see half a file."""
    text = json.dumps(jsonable(obj), indent=indent, allow_nan=False)
    with atomic_file(path) as fh:
        fh.write(text + "\n")
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_text(path: str | os.PathLike, *, what: str = "file") -> str:
    """The UTF-8 text of ``path``. A file in another encoding is an :class:`InvalidArgument`
    naming it and the line of the first byte that does not decode (not Python's
    ``UnicodeDecodeError`` and its byte offset)."""
    p = Path(path)
    if p.is_dir():
        raise InvalidArgument(
            f"The {what} {str(p)!r} is a directory, not a file.",
            hint="Pass the path of the file itself.",
        )
    data = p.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidArgument(
            f"The {what} {str(p)!r} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line "
            f"{line} does not decode.",
            hint="Save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > NEW).",
        ) from None


def write_text(path: str | os.PathLike, text: str, *, durable: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path, durable=durable) as fh:
        fh.write(text)
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value in ``path`` (``null`` stays ``None``; see :func:`floats`)."""
    return json.loads(read_text(path, what="JSON file"))


def append_jsonl(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Append one record as a JSON line, flushed and fsynced: a crash loses at most this line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(jsonable(record), allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        _name_the_file(exc, path)
        raise


def read_jsonl(path: str | os.PathLike, *, strict: bool = False) -> list[dict[str, Any]]:
    """All records of a JSON-lines file (:func:`iter_jsonl`)."""
    return list(iter_jsonl(path, strict=strict))


def iter_jsonl(path: str | os.PathLike, *, strict: bool = False) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file one by one, skipping blank lines.

    A line that is not a JSON object (torn by a crash mid-write, or not UTF-8) is skipped
    while a run is being followed (``strict=False``: the writer may be mid-line); with
    ``strict`` it is a :class:`DamagedFile` naming the file and the line — a result read
    back must not lose an epoch silently.
    """
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8").strip()
                if not line:
                    continue
                record = json.loads(line)
            except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                record = None
            if isinstance(record, dict):
                yield record
            elif strict:
                raise DamagedFile(
                    f"{path}: line {number} is not a complete JSON record (torn by a crash, "
                    "or edited).",
                    hint="Re-run the command that wrote it: lrlab repairs or re-runs what it "
                    "cannot trust.",
                )
