"""Image folders and FER2013-style pixel CSVs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures.images import make_image_folder, make_pixel_csv
from lrlab.data import folders
from lrlab.errors import DataError, DataNotFound


@pytest.fixture(autouse=True)
def _fresh_caches():
    folders._read_folder.cache_clear()
    folders._read_csv.cache_clear()


def test_image_folder_with_train_and_test_splits(tmp_path):
    train = make_image_folder(tmp_path / "train", {"cat": 3, "dog": 2}, seed=1)
    test = make_image_folder(tmp_path / "test", {"cat": 1, "dog": 2}, seed=2)
    s = folders.load_image_folder(tmp_path)
    assert s.class_names == ("cat", "dog") and s.num_classes == 2
    assert s.x_train.shape == (5, 3, 8, 6) and s.x_train.dtype == torch.uint8
    assert s.y_train.tolist() == [0, 0, 0, 1, 1] and s.y_eval.tolist() == [0, 1, 1]
    expected = np.stack(train["cat"] + train["dog"]).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(s.x_train.numpy(), expected)  # PNG is lossless
    np.testing.assert_array_equal(s.x_eval[0].numpy(), test["cat"][0].transpose(2, 0, 1))
    assert s.chance_level() == pytest.approx(2 / 3)


def test_image_folder_without_splits_is_split_stratified_and_fixed(tmp_path):
    make_image_folder(tmp_path, {"a": 10, "b": 5, "c": 5})
    s = folders.load_image_folder(tmp_path, eval_fraction=0.2)
    assert torch.bincount(s.y_eval).tolist() == [2, 1, 1]
    assert torch.bincount(s.y_train).tolist() == [8, 4, 4]
    folders._read_folder.cache_clear()
    again = folders.load_image_folder(tmp_path, eval_fraction=0.2)
    assert torch.equal(s.x_eval, again.x_eval)


def test_grayscale_and_resize(tmp_path):
    make_image_folder(tmp_path, {"a": 2, "b": 2}, sizes=[(8, 8), (10, 12)])
    with pytest.raises(DataError, match="image_size"):
        folders.load_image_folder(tmp_path)
    s = folders.load_image_folder(tmp_path, image_size=6, grayscale=True)
    assert s.x_train.shape[1:] == (1, 6, 6)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: None, DataNotFound, "path"),
        (lambda p: p / "missing", DataNotFound, "does not exist"),
        (lambda p: (p / "only").mkdir() or p / "only", DataError, "class"),
    ],
)
def test_image_folder_errors(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        folders.load_image_folder(make(tmp_path))


def test_unreadable_image_is_named(tmp_path):
    make_image_folder(tmp_path, {"a": 1, "b": 2})
    (tmp_path / "a" / "broken.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"broken\.png"):
        folders.load_image_folder(tmp_path, eval_fraction=0.3)


def test_fer_csv_with_usage(tmp_path):
    labels = [0, 3, 6, 3, 1, 3, 2]
    usage = [
        "Training",
        "Training",
        "Training",
        "PublicTest",
        "PublicTest",
        "PrivateTest",
        "Training",
    ]
    images = make_pixel_csv(tmp_path / "fer.csv", labels, usage, side=4)
    s = folders.load_pixel_csv(tmp_path / "fer.csv")
    assert s.x_train.shape == (4, 1, 4, 4) and s.x_train.dtype == torch.uint8
    np.testing.assert_array_equal(s.x_train[:, 0].numpy(), images[[0, 1, 2, 6]])
    assert s.y_train.tolist() == [0, 3, 6, 2] and s.y_eval.tolist() == [3, 1]
    assert s.num_classes == 7 and s.class_names[3] == "happy"
    private = folders.load_pixel_csv(tmp_path / "fer.csv", eval_usage="PrivateTest")
    assert private.y_eval.tolist() == [3]


def test_csv_without_usage_and_custom_shape(tmp_path):
    labels = [0, 1] * 10
    make_pixel_csv(tmp_path / "d.csv", labels, side=6, label_column="label")
    with pytest.raises(DataError, match="emotion"):
        folders.load_pixel_csv(tmp_path / "d.csv")
    s = folders.load_pixel_csv(tmp_path / "d.csv", label_column="label", image_shape=(4, 9))
    assert s.x_train.shape == (16, 1, 4, 9) and s.x_eval.shape == (4, 1, 4, 9)
    assert s.class_names == ("0", "1")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("emotion,pixels\n0,1 2 3 4\n1,1 2 3\n", "row 3 has 3"),
        ("emotion,pixels\n0,1 2 3\n", "square"),
        ("emotion,pixels\nx,1 2 3 4\n", "integer class"),
        ("emotion,pixels\n0,1 2 3 999\n", "0…255"),
        ("emotion,pixels\n", "no rows"),
        ("emotion,pixels,Usage\n0,1 2 3 4,Training\n", "PublicTest"),
    ],
)
def test_csv_errors(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        folders.load_pixel_csv(path)
