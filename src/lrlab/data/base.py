"""What every dataset reader returns, and where datasets are cached."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lrlab.errors import DataError, MissingExtra

ENV_DATA_DIR = "LRLAB_DATA_DIR"


def require(module: str, what: str, extra: str = "datasets") -> Any:
    """Import an optional dependency, or raise :class:`MissingExtra` naming the extra that
    provides it (``pip install 'lrlab[datasets]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{what} needs the optional package {module.split('.')[0]!r}, which is not installed.",
            hint=f"Install the {extra} extra: pip install 'lrlab[{extra}]'.",
        ) from exc


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's train and eval tensors, held in CPU memory.

    ``x_*`` keep their storage dtype (uint8 for images, float32 otherwise); ``y_*`` are int64
    class indices for classification, float32 targets for regression.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("eval", self.x_eval, self.y_eval),
        ):
            if x.shape[0] != y.shape[0]:
                raise DataError(
                    f"{self.name}: {split} inputs have {x.shape[0]} samples but targets "
                    f"{y.shape[0]}."
                )
        if self.x_train.shape[0] == 0:
            raise DataError(f"{self.name}: the training split is empty.")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def chance_level(self) -> float | None:
        """Majority-class accuracy of the eval split (``None`` for regression)."""
        if self.num_classes is None or self.y_eval.numel() == 0:
            return None
        counts = torch.bincount(self.y_eval.long(), minlength=self.num_classes)
        return float(counts.max()) / float(self.y_eval.numel())


def data_dirs() -> list[Path]:
    """Where datasets are looked for and cached, in order: ``$LRLAB_DATA_DIR`` (when set),
    then ``~/.cache/lrlab``."""
    dirs = []
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path.home() / ".cache" / "lrlab")
    return dirs


def cache_dir() -> Path:
    """The directory new cache files go to (the first of :func:`data_dirs`)."""
    return data_dirs()[0]
