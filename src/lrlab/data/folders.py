"""Users' own image data: a folder per class, or a FER2013-style pixel CSV.

**Image folders** (``root/<class>/<image>``; classes are the sorted sub-folder names). When
``root`` has a ``train/`` folder and one of ``test/``, ``val/``, ``valid/``,
``validation/``, those are the splits; otherwise a fixed stratified split holds out
``eval_fraction`` of each class. Images are decoded with Pillow (a matplotlib dependency,
so always installed), converted to RGB (or grayscale with ``grayscale=True``) and, with
``image_size``, resized (bilinear); without it every image must already have the same size.

**Pixel CSV** (FER2013's layout, seed 000's 7-class faces): a header with a label column
(``emotion``), a ``pixels`` column holding the image as space-separated integers 0…255
(row-major, square unless ``image_shape`` is given) and optionally ``Usage``
(``Training`` / ``PublicTest`` / ``PrivateTest``). Train = ``Training``; eval =
``eval_usage`` (``PublicTest`` by default); without a usage column, a stratified split.

Both give uint8 ``(N, C, H, W)`` tensors and int64 labels; the task normalises them with
the training split's statistics.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lrlab._io import read_text
from lrlab.data.base import DatasetSplits
from lrlab.data.digits import stratified_split
from lrlab.errors import DataError, DataNotFound, check

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
EVAL_FOLDERS = ("test", "val", "valid", "validation")
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int):
        return (image_size, image_size)
    h, w = (int(v) for v in image_size)
    return (h, w)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _decode(paths: list[Path], size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    arrays, first = [], None
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("L" if grayscale else "RGB")
                if size is not None and im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"Cannot read image {p}: {exc}.") from exc
        if first is None:
            first = (p, a.shape)
        elif a.shape != first[1]:
            raise DataError(
                f"Images differ in size: {first[0]} is {first[1][:2]}, {p} is {a.shape[:2]}.",
                hint="Pass image_size=N (or (H, W)) to resize them all.",
            )
        arrays.append(a if a.ndim == 3 else a[:, :, None])
    return np.stack(arrays).transpose(0, 3, 1, 2).copy()


def _labelled(root: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for k, name in enumerate(classes):
        found = _images(root / name) if (root / name).is_dir() else []
        paths += found
        labels += [k] * len(found)
    return paths, labels


@functools.lru_cache(maxsize=2)
def _read_folder(
    root: str,
    size: tuple[int, int] | None,
    grayscale: bool,
    eval_fraction: float,
    split_seed: int,
) -> DatasetSplits:
    base = Path(root)
    subs = {p.name.lower(): p for p in _class_dirs(base)}
    eval_dir = next((subs[n] for n in EVAL_FOLDERS if n in subs), None)
    if "train" in subs and eval_dir is not None:
        classes = [p.name for p in _class_dirs(subs["train"])]
        train_paths, train_labels = _labelled(subs["train"], classes)
        eval_paths, eval_labels = _labelled(eval_dir, classes)
    else:
        classes = [p.name for p in _class_dirs(base)]
        paths, labels = _labelled(base, classes)
        if paths:
            tr, te = stratified_split(np.asarray(labels), eval_fraction, split_seed)
            train_paths, train_labels = [paths[i] for i in tr], [labels[i] for i in tr]
            eval_paths, eval_labels = [paths[i] for i in te], [labels[i] for i in te]
        else:
            train_paths = []
    if len(classes) < 2 or not train_paths:
        raise DataError(
            f"{root} holds {len(classes)} class folder(s) and {len(train_paths)} training "
            "images: an image folder needs one sub-folder per class (at least two), each "
            f"with images ({', '.join(IMAGE_SUFFIXES[:4])}, …).",
            hint="Layout: ROOT/<class>/<image>, or ROOT/train/<class>/… and ROOT/test/<class>/….",
        )
    x = _decode(train_paths + eval_paths, size, grayscale)
    n = len(train_paths)
    y = torch.tensor(train_labels + eval_labels, dtype=torch.int64)
    xt = torch.from_numpy(x)
    return DatasetSplits(
        name=f"imagefolder:{base.name}",
        x_train=xt[:n].contiguous(),
        y_train=y[:n].contiguous(),
        x_eval=xt[n:].contiguous(),
        y_eval=y[n:].contiguous(),
        num_classes=len(classes),
        class_names=tuple(classes),
    )


def _existing(path: str | os.PathLike | None, what: str, option: str) -> Path:
    if path is None:
        raise DataNotFound(
            f"The {what} task needs a path.",
            hint=f"Pass path=... (CLI: --task {option}:path=PATH).",
        )
    p = Path(path).expanduser()
    if not p.exists():
        raise DataNotFound(f"{p} does not exist.", hint=f"Check the path of your {what}.")
    return p


def load_image_folder(
    path: str | os.PathLike | None,
    *,
    image_size: int | Sequence[int] | None = None,
    grayscale: bool = False,
    eval_fraction: float = 0.2,
    split_seed: int = 0,
) -> DatasetSplits:
    """Images of ``path/<class>/…`` as uint8 ``(N, C, H, W)`` (see the module docstring)."""
    root = _existing(path, "image folder", "imagefolder")
    if not root.is_dir():
        raise DataError(f"{root} is not a directory.", hint="Point path= at the folder of classes.")
    check(0.0 < eval_fraction < 1.0, f"{eval_fraction=} must be in (0, 1).")
    return _read_folder(
        str(root.resolve()),
        _size(image_size),
        bool(grayscale),
        float(eval_fraction),
        int(split_seed),
    )


def _parse_pixels(texts: list[str], first_row: int) -> tuple[np.ndarray, int]:
    """Stack space-separated pixel strings into ``(N, P)`` uint8 (one fast parse; on a bad
    count the offending row is found and named)."""
    n_pix = len(texts[0].split())
    flat = np.fromstring(" ".join(texts), dtype=np.int64, sep=" ")
    if flat.size != n_pix * len(texts):
        for i, t in enumerate(texts):
            if len(t.split()) != n_pix:
                raise DataError(
                    f"CSV row {first_row + i} has {len(t.split())} pixel values, the first row "
                    f"{n_pix}: every image needs the same number."
                )
        raise DataError("The pixels column holds values that are not integers.")
    if flat.size and (flat.min() < 0 or flat.max() > 255):
        raise DataError("Pixel values must be integers in 0…255.")
    return flat.reshape(len(texts), n_pix).astype(np.uint8), n_pix


@functools.lru_cache(maxsize=2)
def _read_csv(
    path: str,
    label_column: str,
    pixels_column: str,
    usage_column: str,
    eval_usage: str,
    image_shape: tuple[int, ...] | None,
    eval_fraction: float,
    split_seed: int,
    mtime: float,
) -> DatasetSplits:
    del mtime  # part of the cache key only: an edited file is read again
    # Not UTF-8: one line naming the file and the line, not a UnicodeDecodeError.
    reader = csv.DictReader(io.StringIO(read_text(path, what="pixel CSV"), newline=""))
    header = reader.fieldnames or []
    for col in (label_column, pixels_column):
        if col not in header:
            raise DataError(
                f"{path} has no column {col!r} (columns: {header}).",
                hint="Name the columns with label_column= / pixels_column=.",
            )
    rows = list(reader)
    if not rows:
        raise DataError(f"{path} has a header but no rows.")
    try:
        labels = np.array([int(r[label_column]) for r in rows], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"Column {label_column!r} must hold integer class indices: {exc}.") from exc
    if labels.min() < 0:
        raise DataError(f"Column {label_column!r} has negative class indices.")
    pixels, n_pix = _parse_pixels([r[pixels_column] or "" for r in rows], first_row=2)
    if image_shape is None:
        side = math.isqrt(n_pix)
        if side * side != n_pix:
            raise DataError(
                f"{n_pix} pixels per row is not a square image.",
                hint="Pass image_shape=(H, W) or (C, H, W).",
            )
        shape: tuple[int, ...] = (1, side, side)
    else:
        shape = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
        if math.prod(shape) != n_pix:
            raise DataError(f"image_shape={image_shape} does not hold {n_pix} pixels.")
    x = torch.from_numpy(pixels).reshape(-1, *shape)
    y = torch.from_numpy(labels)
    if usage_column in header:
        usage = np.array([r[usage_column] for r in rows])
        train = np.flatnonzero(usage == "Training")
        test = np.flatnonzero(usage == eval_usage)
        if train.size == 0 or test.size == 0:
            raise DataError(
                f"{path}: {train.size} 'Training' rows and {test.size} {eval_usage!r} rows in "
                f"column {usage_column!r} (values: {sorted(set(usage.tolist()))}).",
                hint="Choose eval_usage= among those values.",
            )
    else:
        train, test = stratified_split(labels, eval_fraction, split_seed)
    k = int(labels.max()) + 1
    names = FER2013_CLASSES if k == len(FER2013_CLASSES) and label_column == "emotion" else None
    return DatasetSplits(
        name=f"csv:{Path(path).name}",
        x_train=x[train].contiguous(),
        y_train=y[train].contiguous(),
        x_eval=x[test].contiguous(),
        y_eval=y[test].contiguous(),
        num_classes=k,
        class_names=names or tuple(str(i) for i in range(k)),
    )


def load_pixel_csv(
    path: str | os.PathLike | None,
    *,
    label_column: str = "emotion",
    pixels_column: str = "pixels",
    usage_column: str = "Usage",
    eval_usage: str = "PublicTest",
    image_shape: Sequence[int] | None = None,
    eval_fraction: float = 0.2,
    split_seed: int = 0,
) -> DatasetSplits:
    """A FER2013-style CSV as uint8 ``(N, C, H, W)`` images (see the module docstring)."""
    p = _existing(path, "pixel CSV", "csv-pixels")
    if not p.is_file():
        raise DataError(f"{p} is not a file.", hint="Point path= at the CSV file.")
    check(0.0 < eval_fraction < 1.0, f"{eval_fraction=} must be in (0, 1).")
    shape = tuple(int(v) for v in image_shape) if image_shape is not None else None
    return _read_csv(
        str(p.resolve()),
        label_column,
        pixels_column,
        usage_column,
        eval_usage,
        shape,
        float(eval_fraction),
        int(split_seed),
        p.stat().st_mtime,
    )
