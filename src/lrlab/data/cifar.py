"""CIFAR-10 from the standard ``cifar-10-python.tar.gz``, into uint8 NCHW tensors, no torchvision.

The archive (Krizhevsky, 2009; 163 MB, MD5 ``c58f30108f718f92721af3b95e74349a``) holds six
pickled dicts (``data_batch_1`` … ``_5``, ``test_batch``) with ``data``: uint8 ``(10000,
3072)`` (the 1,024 red, then green, then blue pixels of each 32×32 image, row-major) and
``labels``: a list of ints; ``batches.meta`` has ``label_names``.

Where it is looked for, in order: ``path`` (the task option, on the CLI
``--task cifar10-resnet9:path=PATH``: the archive itself, the extracted
``cifar-10-batches-py/`` folder, or a directory holding either), then
``$LRLAB_DATA_DIR``, then ``~/.cache/lrlab``. When it is nowhere, it is downloaded from the
official URL into ``path`` (when given) or the first data directory, its MD5 checked; when
the network is not there, :class:`~lrlab.errors.DataNotFound` says where to put the file.

The pickles are read with an unpickler that only admits numpy's array reconstructors, so a
tampered file cannot run code.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from lrlab.data.base import DatasetSplits, data_dirs
from lrlab.errors import DataError, DataNotFound

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# numpy pickles arrays through these (numpy 1.x: numpy.core, 2.x: numpy._core).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2 (harmless)
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def _load_pickle(fh: IO[bytes], name: str) -> dict[Any, Any]:
    try:
        obj = _ArrayUnpickler(fh, encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means "not a CIFAR batch"
        raise DataError(f"{name} is not a readable CIFAR-10 batch: {exc}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{name} does not hold a dict (got {type(obj).__name__}).")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _batch_arrays(d: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in d or "labels" not in d:
        raise DataError(f"{name} lacks 'data' or 'labels' (keys: {sorted(map(str, d))}).")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(
            f"{name}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}."
        )
    if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{name}: 'labels' must be {data.shape[0]} integers in 0…9.")
    return data.reshape(-1, 3, 32, 32), labels


def _read_members(open_member: Callable[[str], IO[bytes] | None], where: str) -> DatasetSplits:
    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        fh = open_member(name)
        if fh is None:
            raise DataError(f"{where} has no {name!r}: it is not a complete CIFAR-10 archive.")
        with fh:
            return _batch_arrays(_load_pickle(fh, name), name)

    train = [batch(n) for n in TRAIN_FILES]
    x_test, y_test = batch(TEST_FILE)
    names = CLASSES
    meta = open_member(META_FILE)
    if meta is not None:
        with meta:
            raw = _load_pickle(meta, META_FILE).get("label_names")
        if raw:
            names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)
    return DatasetSplits(
        name="cifar10",
        x_train=torch.from_numpy(np.concatenate([x for x, _ in train])),
        y_train=torch.from_numpy(np.concatenate([y for _, y in train])),
        x_eval=torch.from_numpy(np.ascontiguousarray(x_test)),
        y_eval=torch.from_numpy(y_test),
        num_classes=10,
        class_names=names,
    )


def read_cifar10(path: str | os.PathLike) -> DatasetSplits:
    """Read the archive (``.tar.gz``) or the extracted ``cifar-10-batches-py`` folder."""
    path = Path(path)
    if path.is_dir():

        def open_file(name: str) -> IO[bytes] | None:
            f = path / name
            return open(f, "rb") if f.is_file() else None

        return _read_members(open_file, str(path))
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

            def open_member(name: str) -> IO[bytes] | None:
                m = members.get(name)
                fh = tar.extractfile(m) if m is not None else None
                return io.BytesIO(fh.read()) if fh is not None else None

            return _read_members(open_member, str(path))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path} is not a readable tar archive: {exc}") from exc


def _candidates(base: Path) -> Iterable[Path]:
    if base.is_file():
        yield base
        return
    if (base / TRAIN_FILES[0]).is_file():
        yield base  # the extracted folder itself
    yield base / FOLDER
    yield base / ARCHIVE


def find_cifar10(path: str | os.PathLike | None = None) -> Path | None:
    """The first CIFAR-10 archive or folder in ``path``, ``$LRLAB_DATA_DIR``, ``~/.cache/lrlab``."""
    bases = ([Path(path).expanduser()] if path is not None else []) + data_dirs()
    for base in bases:
        for c in _candidates(base):
            if (c.is_dir() and (c / TRAIN_FILES[0]).is_file()) or c.is_file():
                return c
    return None


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The MD5 hex digest of a file, read in ``chunk``-byte blocks (the archive's published
    checksum; not used for security)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _where_to_put(path: str | os.PathLike | None) -> str:
    places = ([str(path)] if path is not None else []) + [str(d) for d in data_dirs()]
    return ", ".join(places)


def download_cifar10(
    dest_dir: str | os.PathLike,
    *,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    timeout: float = 30.0,
) -> Path:
    """Download the archive into ``dest_dir`` (atomic: a temporary file renamed once its MD5
    matches). Network failures raise :class:`DataNotFound`; a wrong checksum :class:`DataError`."""
    dest_dir = Path(dest_dir)
    target = dest_dir / ARCHIVE
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataNotFound(f"Cannot create {dest_dir} to download CIFAR-10 into: {exc}.") from exc
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{ARCHIVE}.", suffix=".part")
    h = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    while block := resp.read(1 << 20):
                        out.write(block)
                        h.update(block)
            except Exception as exc:  # URLError, timeouts, blocked sockets: all mean "offline"
                raise DataNotFound(
                    f"CIFAR-10 is not on this machine and downloading {url} failed ({exc}).",
                    hint=f"Download it elsewhere and put {ARCHIVE} (or the extracted {FOLDER}/) "
                    f"into one of: {_where_to_put(dest_dir)}; or give its path as a task "
                    "option (--task NAME:path=PATH).",
                ) from exc
        if h.hexdigest() != md5:
            raise DataError(
                f"The downloaded CIFAR-10 archive has MD5 {h.hexdigest()}, expected {md5}: "
                "the download is corrupt or incomplete.",
                hint="Run the command again, or download the file by hand.",
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
    return target


@functools.lru_cache(maxsize=2)
def _read_cached(path: str, mtime: float) -> DatasetSplits:
    return read_cifar10(path)


def load_cifar10(
    path: str | os.PathLike | None = None,
    *,
    download: bool = True,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
) -> DatasetSplits:
    """CIFAR-10 as uint8 images ``(N, 3, 32, 32)`` and int64 labels (50,000 train, 10,000
    test), found or downloaded as the module docstring says. Repeated calls in a process
    reuse the tensors (read once per file version)."""
    found = find_cifar10(path)
    if found is None:
        if not download:
            raise DataNotFound(
                "CIFAR-10 was not found.",
                hint=f"Put {ARCHIVE} (from {CIFAR10_URL}) or the extracted {FOLDER}/ into one "
                f"of: {_where_to_put(path)}; or give its path as a task option "
                "(--task NAME:path=PATH).",
            )
        dest = Path(path) if path is not None and not Path(path).is_file() else data_dirs()[0]
        found = download_cifar10(dest, url=url, md5=md5)
    splits = _read_cached(str(found.resolve()), found.stat().st_mtime)
    # Callers get their own tensors: a caller that edits them in place cannot poison the cache.
    return DatasetSplits(
        name=splits.name,
        x_train=splits.x_train.clone(),
        y_train=splits.y_train.clone(),
        x_eval=splits.x_eval.clone(),
        y_eval=splits.y_eval.clone(),
        num_classes=splits.num_classes,
        class_names=splits.class_names,
    )
