"""Mixed precision: the one parser of ``amp=`` settings, for every loop and command.

Accepted everywhere (``fit``, ``range_test``, ``find_lr``, configs, ``--amp``):

==============================  ===========================================================
``False``, ``None``, ``"off"``  full precision
``"bf16"`` / ``"bfloat16"``     ``torch.autocast(dtype=bfloat16)`` on CUDA or the CPU
``"fp16"`` / ``"float16"``      ``torch.autocast(dtype=float16)`` with a ``GradScaler``; CUDA
``True`` / ``"auto"``           CUDA only: bf16 where the GPU supports it, else fp16
==============================  ===========================================================

A task's own setting (``Task.amp``) is meant for GPUs: :func:`task_amp` applies it on CUDA
and runs full precision elsewhere, unless the user asked for something explicitly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from lrlab.errors import InvalidArgument

AMP_DTYPES: dict[str, torch.dtype] = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
"""Precision names -> autocast dtypes."""

_OFF = ("off", "none", "false", "fp32", "no")
_AUTO = ("auto", "on", "true")
_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class Precision:
    """A parsed ``amp`` setting: the autocast ``dtype`` (``None``: full precision) and the
    device type autocast runs on."""

    dtype: torch.dtype | None = None
    device_type: str = "cpu"

    @property
    def name(self) -> str | None:
        """``"bf16"``, ``"fp16"`` or ``None`` (what records and configs store)."""
        return None if self.dtype is None else _NAMES[self.dtype]

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of a forward pass (a no-op context in full precision)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        """A new ``GradScaler`` for fp16 (its gradients underflow without one), else ``None``."""
        return torch.amp.GradScaler("cuda") if self.dtype is torch.float16 else None


FULL = Precision()


def _is_off(amp: Any) -> bool:
    return amp is None or amp is False or (isinstance(amp, str) and amp.strip().lower() in _OFF)


def amp_name(amp: Any) -> str | bool:
    """``amp`` validated without a device: ``False``, ``"bf16"``, ``"fp16"`` or ``True``
    ("auto", decided on the device). For configs and options checked before anything runs."""
    if _is_off(amp):
        return False
    if amp is True or (isinstance(amp, str) and amp.strip().lower() in _AUTO):
        return True
    if isinstance(amp, str) and amp.strip().lower() in AMP_DTYPES:
        return _NAMES[AMP_DTYPES[amp.strip().lower()]]
    raise InvalidArgument(
        f"amp={amp!r} is not a precision lrlab knows.",
        hint="Use amp=False, 'bf16' (CUDA or CPU), 'fp16' (CUDA) or True (CUDA: bf16 where "
        "supported, else fp16).",
    )


def parse_amp(amp: Any, device: torch.device | str) -> Precision:
    """The :class:`Precision` of ``amp`` on ``device`` (see the module docstring).

    Raises:
        InvalidArgument: an unknown value, or one the device cannot run (fp16 or ``True``
            without CUDA, autocast on a device type other than CUDA and CPU).
    """
    dev = torch.device(device)
    name = amp_name(amp)
    if name is False:
        return FULL
    if name is True:
        if dev.type != "cuda":
            raise InvalidArgument(
                f"amp=True needs a CUDA model; this one is on {dev.type}.",
                hint="Drop amp, or pass amp='bf16' to use CPU bfloat16 autocast explicitly.",
            )
        name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and dev.type != "cuda":
        raise InvalidArgument(
            f"amp={amp!r} is not supported on {dev}: 'fp16' needs a CUDA device.",
            hint="fp16 needs CUDA (and a GradScaler); use amp='bf16' (CUDA or CPU) or amp=False.",
        )
    if dev.type not in ("cuda", "cpu"):
        raise InvalidArgument(
            f"amp={amp!r} is not supported on {dev.type}.",
            hint="fp16 needs CUDA; bf16 works on CUDA and CPU; use amp=False elsewhere.",
        )
    return Precision(AMP_DTYPES[name], dev.type)


def task_amp(task_setting: str | None, device: torch.device | str, explicit: Any = None) -> Any:
    """The ``amp`` a run of a task uses: ``explicit`` when the user gave one, else the task's
    setting on CUDA and full precision elsewhere (task settings are meant for GPUs)."""
    if explicit is not None:
        return amp_name(explicit)
    return (task_setting or False) if torch.device(device).type == "cuda" else False
