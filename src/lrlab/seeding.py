"""Seeding every random stream lrlab's work depends on."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every CUDA device).

    Two runs that call this with the same seed and then do the same work see the same random
    numbers. (Bit-exact equality on CUDA also needs deterministic kernels; see
    ``torch.use_deterministic_algorithms``.)
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def derive_seed(seed: int, *labels: str | int) -> int:
    """A stable 63-bit seed derived from ``seed`` and labels (same inputs, same output).

    Used to give independent but reproducible streams to parts of a run (model init, data
    order, augmentation) without them consuming each other's random numbers. Python's
    ``hash`` is salted per process, so a small FNV-1a hash is used instead.
    """
    h = 0xCBF29CE484222325
    for part in (seed, *labels):
        for byte in repr(part).encode():
            h ^= byte
            h = (h * 0x100000001B3) % 2**64
    return h % 2**63
