"""CIFAR-10 reader on generated archives; lookup order; download with checksum; errors."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
import torch

from fixtures.cifar_archive import NAMES, cifar_batches, make_cifar_archive
from lrlab.data import cifar
from lrlab.errors import DataError, DataNotFound


@pytest.fixture(autouse=True)
def _empty_data_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cifar._read_cached.cache_clear()
    yield
    cifar._read_cached.cache_clear()


def _expected(per_batch=4, n_test=6, seed=0):
    b = cifar_batches(per_batch, n_test, seed)
    train = np.concatenate([b[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    labels = np.concatenate([b[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    return train, labels, b["test_batch"][b"data"], np.array(b["test_batch"][b"labels"])


@pytest.mark.parametrize("extracted", [False, True])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_reads_archive_and_folder_into_uint8_nchw(tmp_path, extracted, protocol):
    path = make_cifar_archive(tmp_path / "d", extracted=extracted, protocol=protocol)
    s = cifar.load_cifar10(path, download=False)
    train, labels, _, test_labels = _expected()
    assert s.x_train.shape == (20, 3, 32, 32) and s.x_train.dtype == torch.uint8
    assert s.y_train.dtype == torch.int64 and s.x_eval.shape == (6, 3, 32, 32)
    # channel-major rows: the first 1024 bytes are the red plane, row-major
    np.testing.assert_array_equal(s.x_train.numpy().reshape(20, -1), train)
    assert s.x_train[0, 0, 0, 1] == train[0, 1] and s.x_train[0, 1, 0, 0] == train[0, 1024]
    np.testing.assert_array_equal(s.y_train.numpy(), labels)
    np.testing.assert_array_equal(s.y_eval.numpy(), test_labels)
    assert s.class_names == tuple(NAMES) and s.num_classes == 10


def test_lookup_order_path_then_env_then_home(tmp_path, monkeypatch):
    env_archive = make_cifar_archive(tmp_path / "env", seed=1)
    home_archive = make_cifar_archive(tmp_path / "home" / ".cache" / "lrlab", seed=2)
    explicit = make_cifar_archive(tmp_path / "explicit", seed=3, extracted=True)
    assert cifar.find_cifar10(tmp_path / "explicit") == explicit
    assert cifar.find_cifar10(explicit) == explicit  # the folder itself
    assert cifar.find_cifar10() == env_archive
    monkeypatch.delenv("LRLAB_DATA_DIR")
    assert cifar.find_cifar10() == home_archive
    s = cifar.load_cifar10(download=False)
    np.testing.assert_array_equal(s.x_eval.numpy().reshape(6, -1), _expected(seed=2)[2])


def test_missing_archive_without_network_says_where_to_put_it(tmp_path):
    with pytest.raises(DataNotFound) as err:
        cifar.load_cifar10(tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path / "nowhere") in msg
    assert str(tmp_path / "env") in msg and "--task NAME:path=PATH" in msg
    # with download on, the test suite's blocked network also ends in DataNotFound
    with pytest.raises(DataNotFound, match="downloading"):
        cifar.load_cifar10(tmp_path / "nowhere")
    assert not any((tmp_path / "nowhere").glob("*.part"))  # no partial file left


def test_download_checks_md5_and_is_atomic(tmp_path):
    src = make_cifar_archive(tmp_path / "server")
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    url = src.as_uri()  # file:// — urllib without a network
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="MD5"):
        cifar.download_cifar10(dest, url=url, md5="0" * 32)
    assert list(dest.iterdir()) == []
    s = cifar.load_cifar10(dest, url=url, md5=md5)
    assert (dest / "cifar-10-python.tar.gz").is_file() and s.x_train.shape[0] == 20
    assert cifar.md5sum(dest / "cifar-10-python.tar.gz") == md5


def test_broken_archives_raise_data_errors(tmp_path):
    incomplete = make_cifar_archive(tmp_path / "a", drop="data_batch_3")
    with pytest.raises(DataError, match="data_batch_3"):
        cifar.read_cifar10(incomplete)
    garbage = tmp_path / "b" / "cifar-10-python.tar.gz"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a tar file at all")
    with pytest.raises(DataError, match="tar"):
        cifar.read_cifar10(garbage)


def test_unpickler_refuses_code(tmp_path):
    folder = make_cifar_archive(tmp_path, extracted=True)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="not allowed"):
        cifar.read_cifar10(folder)


def test_bad_shapes_are_reported(tmp_path):
    folder = make_cifar_archive(tmp_path, extracted=True)
    bad = {b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}
    (folder / "test_batch").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match="3072"):
        cifar.read_cifar10(folder)


def test_callers_get_independent_tensors(tmp_path):
    path = make_cifar_archive(tmp_path)
    a = cifar.load_cifar10(path, download=False)
    a.x_train.zero_()
    b = cifar.load_cifar10(path, download=False)
    assert int(b.x_train.sum()) > 0
