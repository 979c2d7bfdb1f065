"""Choosing a torch device from a user's string, and checking it exists before any work."""

from __future__ import annotations

from typing import Any

import torch

from lrlab.errors import InvalidArgument

_FIX = "Use device 'cpu' (--device cpu), or 'auto': CUDA when present, else the CPU."


def _backend(kind: str) -> Any:
    """torch's module for a device type (``torch.cuda``, ``torch.xpu``, ...), or None."""
    if kind == "mps":
        return getattr(torch.backends, "mps", None)
    return getattr(torch, kind, None)


def _count(kind: str) -> int:
    """How many devices of this type torch can use here (0: none, or not compiled in)."""
    backend = _backend(kind)
    if backend is None or not backend.is_available():
        return 0
    if kind == "mps":
        return 1
    count = getattr(backend, "device_count", None)
    return int(count()) if count is not None else 1


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` / ``None`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / ``"mps"`` /
    ``"xpu"`` into a device that exists on this machine.

    ``"auto"`` (and ``None``) picks CUDA when available, else CPU. Asking for a device this
    machine lacks (no MPS, no second GPU, a torch built without XPU) is one
    :class:`InvalidArgument` before anything is built: silently falling back would make
    timings and AMP settings lie, and torch's own error comes late, as a traceback.
    """
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(spec, torch.device):
        device = spec
    else:
        try:
            device = torch.device(spec)
        except (RuntimeError, TypeError) as exc:
            raise InvalidArgument(
                f"device={spec!r} is not a device torch knows.",
                hint="Use 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or 'xpu'.",
            ) from exc
    check_device(device, str(spec))
    return device


def check_device(device: torch.device, spec: str | None = None) -> None:
    """Raise :class:`InvalidArgument` unless ``device`` exists here (CPU and ``meta`` always
    do)."""
    kind = device.type
    if kind in ("cpu", "meta"):
        return
    shown = spec if spec is not None else str(device)
    count = _count(kind)
    if count == 0:
        raise InvalidArgument(
            f"device={shown!r} was asked for but {kind.upper()} is not available on this "
            "machine (or this torch build lacks it).",
            hint=_FIX,
        )
    if device.index is not None and device.index >= count:
        raise InvalidArgument(
            f"device={shown!r} was asked for but this machine has {count} {kind} device(s) "
            f"({kind}:0 to {kind}:{count - 1}).",
            hint="Use one of those, or --device cpu.",
        )
