"""Epoch records on disk: ``records.jsonl`` (always) and ``records.csv`` (on request).

``records.jsonl`` gets one JSON line per epoch, appended, flushed and fsynced before the next
epoch starts (:func:`lrlab._io.append_jsonl`), so a crash loses at most the epoch in flight.
Non-finite floats are written as ``null``. ``records.csv`` is rewritten atomically from all
records after every epoch: its columns are the union of the records' keys in order of first
appearance, so a key a callback adds later still gets a column (earlier rows leave it empty).
Rewriting is O(epochs) per epoch, negligible next to an epoch of training.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lrlab._io import append_jsonl, atomic_file, jsonable, read_jsonl
from lrlab.errors import DamagedFile

RECORDS_JSONL = "records.jsonl"
RECORDS_CSV = "records.csv"


class RecordWriter:
    """Writes epoch records into ``out_dir`` as they are produced."""

    def __init__(self, out_dir: str | os.PathLike, *, csv: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.csv = csv
        self._records: list[dict[str, Any]] = []

    @property
    def jsonl_path(self) -> Path:
        return self.out_dir / RECORDS_JSONL

    @property
    def csv_path(self) -> Path:
        return self.out_dir / RECORDS_CSV

    def reset(self, records: Sequence[Mapping[str, Any]] = ()) -> None:
        """Make the files hold exactly ``records`` (a fresh run: none; a resume: the
        checkpoint's). Rows a killed run wrote after its checkpoint, and a torn last line,
        disappear, so resuming never duplicates an epoch."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._records = [dict(r) for r in records]
        text = "".join(json.dumps(jsonable(r), allow_nan=False) + "\n" for r in self._records)
        _atomic_write(self.jsonl_path, text)
        if self.csv:
            self._write_csv()

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record (flushed and fsynced) and refresh the CSV."""
        self._records.append(dict(record))
        append_jsonl(self.jsonl_path, record)
        if self.csv:
            self._write_csv()

    def _write_csv(self) -> None:
        _atomic_write(self.csv_path, records_to_csv(self._records))


def records_to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of ``records``: a header with the union of keys, empty cells for missing or
    non-finite values, floats written with ``repr`` precision (they read back exactly)."""
    columns: dict[str, None] = {}
    for r in records:
        columns.update(dict.fromkeys(r))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable(value), allow_nan=False)
    return str(value)


def read_records(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a run directory (``[]`` when it has none); ``null`` stays ``None``.

    Validated (:func:`check_epochs`): a torn line, a duplicated, missing or out-of-order
    epoch is a :class:`~lrlab.errors.DamagedFile` naming the file, never a silently
    shorter or doubled curve."""
    path = Path(out_dir) / RECORDS_JSONL
    if not path.exists():
        return []
    records = read_jsonl(path, strict=True)
    check_epochs(records, path)
    return records


def check_epochs(records: Sequence[Mapping[str, Any]], source: str | os.PathLike) -> None:
    """Raise :class:`~lrlab.errors.DamagedFile` unless the records' epochs count up by one
    from 0 (the evaluation before training) or 1 — what ``fit`` writes, resumed or not."""
    epochs = [r.get("epoch") for r in records]
    bad = [e for e in epochs if isinstance(e, bool) or not isinstance(e, int)]
    if bad:
        raise DamagedFile(f"{source}: a record has epoch={bad[0]!r}, not an epoch number.")
    if epochs and epochs[0] not in (0, 1):
        raise DamagedFile(f"{source}: the records start at epoch {epochs[0]}, not 0 or 1.")
    for before, after in itertools.pairwise(epochs):
        if after == before + 1:
            continue
        if after <= before:
            what = "twice" if after == before else f"again after epoch {before}"
            problem = f"epoch {after} is recorded {what} (two writers, or a re-run appending)"
        else:
            problem = f"epochs {before + 1} to {after - 1} are missing"
        raise DamagedFile(
            f"{source}: {problem}.",
            hint="Re-run the command that wrote it: it repairs the records from the checkpoint "
            "or runs the trial again.",
        )


def _atomic_write(path: Path, text: str) -> None:
    with atomic_file(path, durable=True) as fh:
        fh.write(text)
