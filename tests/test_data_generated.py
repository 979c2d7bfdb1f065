"""mnist1d (generated offline, cached) and scikit-learn digits (fixed stratified split)."""

from __future__ import annotations

import builtins
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from lrlab.data import digits as digits_mod
from lrlab.data import mnist1d as mnist1d_mod
from lrlab.data.base import require
from lrlab.errors import MissingExtra


@pytest.fixture
def fresh_mnist1d(tmp_path, monkeypatch):
    monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path))
    mnist1d_mod._arrays.cache_clear()
    yield tmp_path
    mnist1d_mod._arrays.cache_clear()


def test_mnist1d_matches_the_package_generator_and_leaves_rng_and_cwd_alone(
    fresh_mnist1d, tmp_path, monkeypatch
):
    import mnist1d.data

    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    random.seed(1)
    np.random.seed(1)
    py_state, np_state = random.getstate(), np.random.get_state()

    splits = mnist1d_mod.load_mnist1d(num_samples=500)
    assert random.getstate() == py_state
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert list(work.iterdir()) == []  # nothing written into the working directory

    args = mnist1d.data.get_dataset_args()
    args.num_samples = 500
    ref = mnist1d.data.make_dataset(args)
    assert splits.x_train.shape == (400, 40) and splits.x_eval.shape == (100, 40)
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    np.testing.assert_allclose(splits.x_train.numpy(), ref["x"].astype(np.float32))
    np.testing.assert_array_equal(splits.y_eval.numpy(), ref["y_test"])
    assert splits.num_classes == 10


def test_mnist1d_cache_is_used_and_a_corrupt_cache_is_regenerated(fresh_mnist1d):
    first = mnist1d_mod.load_mnist1d(num_samples=200)
    files = list(Path(fresh_mnist1d).glob("mnist1d-*.npz"))
    assert len(files) == 1
    mnist1d_mod._arrays.cache_clear()
    again = mnist1d_mod.load_mnist1d(num_samples=200)  # from the .npz
    assert torch.equal(first.x_train, again.x_train)
    files[0].write_bytes(b"not an npz")
    mnist1d_mod._arrays.cache_clear()
    third = mnist1d_mod.load_mnist1d(num_samples=200)
    assert torch.equal(first.x_train, third.x_train)


def test_mnist1d_unwritable_cache_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("LRLAB_DATA_DIR", str(blocker / "sub"))  # cannot mkdir under a file
    mnist1d_mod._arrays.cache_clear()
    try:
        splits = mnist1d_mod.load_mnist1d(num_samples=100)
    finally:
        mnist1d_mod._arrays.cache_clear()
    assert splits.x_train.shape == (80, 40)


def test_digits_split_is_fixed_stratified_and_disjoint():
    from sklearn.datasets import load_digits

    s = digits_mod.load_digits()
    raw = load_digits()
    assert s.x_train.shape == (1438, 1, 8, 8) and s.x_eval.shape == (359, 1, 8, 8)
    assert s.x_train.dtype == torch.float32 and float(s.x_train.max()) <= 1.0
    train_idx, test_idx = digits_mod.stratified_split(raw.target, 0.2, 0)
    assert set(train_idx).isdisjoint(test_idx)
    assert len(train_idx) + len(test_idx) == 1797
    np.testing.assert_allclose(s.x_eval[:, 0].numpy(), raw.images[test_idx] / 16.0, rtol=1e-6)
    counts = np.bincount(raw.target[test_idx])
    np.testing.assert_array_equal(counts, np.round(np.bincount(raw.target) * 0.2).astype(int))
    again = digits_mod.load_digits()
    assert torch.equal(s.y_train, again.y_train)  # fixed split
    assert s.chance_level() == pytest.approx(counts.max() / counts.sum())


def test_missing_extra_names_the_install_command(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("not_installed_pkg"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtra, match=r"pip install 'lrlab\[datasets\]'"):
        require("not_installed_pkg.sub", "The thing")
    assert os.environ.get("LRLAB_DATA_DIR")  # conftest points caches at a temp dir
