"""Choosing a torch device from a user's string."""

from __future__ import annotations

import torch

from lrlab.errors import InvalidArgument


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` / ``None`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / ``"mps"`` into a device.

    ``"auto"`` (and ``None``) picks CUDA when available, else CPU. Asking for CUDA on a
    machine without it is an error (silently falling back would make timings and AMP
    settings lie).
    """
    if isinstance(spec, torch.device):
        return spec
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError) as exc:
        raise InvalidArgument(
            f"device={spec!r} is not a device torch knows.",
            hint="Use 'auto', 'cpu', 'cuda' or 'cuda:N'.",
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgument(
            f"device={spec!r} was asked for but CUDA is not available on this machine.",
            hint="Use --device cpu (or 'auto').",
        )
    return device
