"""mnist1d (Greydanus, 2020, "Scaling down deep learning"), generated offline.

The data come from the package's ``make_dataset(get_dataset_args())`` — never
``get_dataset``, which downloads and writes ``./mnist1d_data.pkl`` into the working
directory. The default arguments give 4,000 training and 1,000 test signals of length 40,
10 classes, standardised by the generator (mean 0, std 1 over the whole set).

``make_dataset`` reseeds python's and numpy's *global* generators (``set_seed``); lrlab saves
and restores both around the call, so generating the data does not disturb a user's RNG.
Generation takes ~2 s, so the arrays are cached as ``.npz`` (float32 / int64, ~1 MB) in
``$LRLAB_DATA_DIR`` or ``~/.cache/lrlab`` (atomic write; an unwritable or corrupt cache is
ignored and the data regenerated) and in memory for the process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lrlab._io import atomic_file
from lrlab.data.base import DatasetSplits, cache_dir, require
from lrlab.errors import DataError


@contextlib.contextmanager
def _preserve_global_rng():
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _args(num_samples: int, dataset_seed: int) -> tuple[Any, dict[str, Any]]:
    data = require("mnist1d.data", "The mnist1d dataset")
    args = data.get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(dataset_seed)
    return args, {k: v for k, v in sorted(vars(args).items()) if k != "url"}


def _cache_path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"mnist1d-{digest}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as f:
            return {k: f[k] for k in ("x", "y", "x_test", "y_test")}
    except (OSError, ValueError, KeyError):
        return None  # missing or corrupt: regenerate


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # A cache is a convenience, never an error (atomic_file removes its temporary file).
    with contextlib.suppress(OSError), atomic_file(path, "wb") as fh:
        np.savez(fh, **arrays)


@functools.lru_cache(maxsize=4)
def _arrays(num_samples: int, dataset_seed: int, use_cache: bool) -> dict[str, np.ndarray]:
    args, key = _args(num_samples, dataset_seed)
    key["mnist1d_version"] = getattr(require("mnist1d", "mnist1d"), "__version__", "?")
    path = _cache_path(key)
    if use_cache and (cached := _read_cache(path)) is not None:
        return cached
    data = require("mnist1d.data", "The mnist1d dataset")
    with _preserve_global_rng():
        raw = data.make_dataset(args)
    arrays = {
        "x": raw["x"].astype(np.float32),
        "y": raw["y"].astype(np.int64),
        "x_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }
    if use_cache:
        _write_cache(path, arrays)
    return arrays


def load_mnist1d(
    *, num_samples: int = 5000, dataset_seed: int = 42, use_cache: bool = True
) -> DatasetSplits:
    """mnist1d as float32 signals ``(N, 40)`` and int64 labels; train/test split 80/20 as
    generated (``dataset_seed`` is the generator's own seed, 42 by default, so everyone gets
    the same dataset; a run's seed only changes the order)."""
    if num_samples < 10:
        raise DataError(f"{num_samples=} is too small: mnist1d needs >= 10 (one per class).")
    a = _arrays(int(num_samples), int(dataset_seed), bool(use_cache))
    return DatasetSplits(
        name="mnist1d",
        x_train=torch.from_numpy(a["x"].copy()),
        y_train=torch.from_numpy(a["y"].copy()),
        x_eval=torch.from_numpy(a["x_test"].copy()),
        y_eval=torch.from_numpy(a["y_test"].copy()),
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
    )
