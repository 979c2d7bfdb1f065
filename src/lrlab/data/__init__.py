"""Datasets held as tensors, the on-device loader and whole-batch augmentation.

Readers return :class:`DatasetSplits` (CPU tensors); :class:`TensorLoader` serves batches
from the device. Optional dependencies (mnist1d, scikit-learn) are imported only when their
dataset is asked for.
"""

from __future__ import annotations

from lrlab.data.augment import ImageAugment, Normalize, crop_flip, cutout, hflip, random_crop
from lrlab.data.base import DatasetSplits, data_dirs
from lrlab.data.functions import FUNCTIONS, function_data
from lrlab.data.loader import TensorLoader

__all__ = [
    "FUNCTIONS",
    "DatasetSplits",
    "ImageAugment",
    "Normalize",
    "TensorLoader",
    "crop_flip",
    "cutout",
    "data_dirs",
    "function_data",
    "hflip",
    "random_crop",
]
