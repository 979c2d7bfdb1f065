"""scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes, no download).

Pixels are integers 0…16; they are kept as float32 ``(N, 1, 8, 8)`` divided by 16 (so in
[0, 1]). The train/test split is fixed — stratified: round(20 %) of each class is held out
(359 test, 1,438 train images), drawn with ``numpy.random.default_rng(split_seed)`` — so
every run and every user gets the same split; a run's seed only changes the batch order.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from lrlab.data.base import DatasetSplits, require
from lrlab.errors import check


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices (sorted) with ``round(test_fraction · n_c)`` test samples from
    each class ``c`` (at least one sample of each class stays in train)."""
    check(0.0 < test_fraction < 1.0, f"{test_fraction=} must be in (0, 1).")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = min(round(test_fraction * idx.size), idx.size - 1)
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    datasets = require("sklearn.datasets", "The digits dataset")
    bunch = datasets.load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def load_digits(*, test_fraction: float = 0.2, split_seed: int = 0) -> DatasetSplits:
    """The digits as float32 images ``(N, 1, 8, 8)`` in [0, 1] and int64 labels."""
    images, labels = _raw()
    train, test = stratified_split(labels, test_fraction, split_seed)
    x = torch.from_numpy(images / 16.0).unsqueeze(1)
    y = torch.from_numpy(labels)
    return DatasetSplits(
        name="digits",
        x_train=x[train].contiguous(),
        y_train=y[train].contiguous(),
        x_eval=x[test].contiguous(),
        y_eval=y[test].contiguous(),
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
    )
