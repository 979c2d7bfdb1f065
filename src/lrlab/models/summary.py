"""A model summary like the seeds print (torchsummary's table), from forward hooks.

One row per module call, in the order the calls *finish* (a block's row follows its
layers'), skipping pure containers (``Sequential``, ``ModuleList``, ``ModuleDict``) and
``Identity`` (lrlab's stand-in for a layer switched off, e.g. ``norm=False``); the model
itself is the last row. Rows are named ``<Class>-<k>``. A row's parameter count is the
module's *own* parameters (``recurse=False``), so blocks and the model show 0 as in the
seeds, and the column sums to the total.

Sizes follow torchsummary's formulas (float32, 4 bytes; MB = 2^20 bytes), with ``N`` the
batch size (1 for the table's ``-1``):

* input size  = 4 · N · ∏ input_size
* forward/backward pass size = 2 · 4 · N · Σ_rows ∏ output_shape   (activations + grads)
* params size = 4 · total params
* estimated total = the sum of the three.

For seed 001's ResNet9 this reproduces the seed's table: 6,575,370 parameters, 0.01 /
6.75 / 25.08 / 31.85 MB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from lrlab.errors import InvalidArgument

_MB = 1024.0**2
_SKIPPED = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity)


@dataclass
class SummaryRow:
    layer: str
    output_shape: list[Any]
    params: int
    trainable: bool


@dataclass
class ModelSummary:
    """The rows and totals of :func:`summary` (``str()`` renders the table)."""

    rows: list[SummaryRow]
    input_size: list[int]
    batch_size: int
    total_params: int
    trainable_params: int
    input_mb: float
    forward_backward_mb: float
    params_mb: float
    total_mb: float = field(init=False)

    def __post_init__(self) -> None:
        self.total_mb = self.input_mb + self.forward_backward_mb + self.params_mb

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["non_trainable_params"] = self.non_trainable_params
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSummary:
        fields = {k: d[k] for k in ("input_size", "batch_size", "total_params", "trainable_params")}
        sizes = {k: d[k] for k in ("input_mb", "forward_backward_mb", "params_mb")}
        return cls(rows=[SummaryRow(**r) for r in d["rows"]], **fields, **sizes)

    def __str__(self) -> str:
        line = "-" * 64
        out = [line, f"{'Layer (type)':>20}  {'Output Shape':>25} {'Param #':>15}", "=" * 64]
        for r in self.rows:
            out.append(f"{r.layer:>20}  {_shape_text(r.output_shape):>25} {r.params:>15,}")
        out += [
            "=" * 64,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            line,
            f"Input size (MB): {self.input_mb:.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_mb:.2f}",
            f"Params size (MB): {self.params_mb:.2f}",
            f"Estimated Total Size (MB): {self.total_mb:.2f}",
            line,
        ]
        return "\n".join(out)


def _shape_text(shape: list[Any]) -> str:
    return str(shape)


def _shape(out: Any, batch: int) -> list[Any]:
    if isinstance(out, torch.Tensor):
        return [batch, *out.shape[1:]] if out.dim() else []
    if isinstance(out, (tuple, list)):
        return [_shape(o, batch) for o in out]
    return []


def _numel(shape: list[Any]) -> int:
    if shape and isinstance(shape[0], list):
        return sum(_numel(s) for s in shape)
    return abs(math.prod(shape)) if shape else 0


def summary(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    batch_size: int = -1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> ModelSummary:
    """Summarise ``model`` on an input of shape ``(batch, *input_size)``.

    Runs one forward pass on zeros with a batch of 2 (BatchNorm needs more than one sample)
    in ``eval()`` mode and without gradients, then restores the mode — so running statistics
    and the RNG are untouched. ``batch_size=-1`` prints ``-1`` as the batch dim and counts
    sizes per sample, as torchsummary.
    """
    if not input_size or any(int(s) < 1 for s in input_size):
        raise InvalidArgument(f"input_size={tuple(input_size)} must be positive dimensions.")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    rows: list[SummaryRow] = []
    hooks = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        name = type(module).__name__
        own = list(module.parameters(recurse=False))
        rows.append(
            SummaryRow(
                layer=f"{name}-{len(rows) + 1}",
                output_shape=_shape(output, batch_size),
                params=sum(p.numel() for p in own),
                trainable=any(p.requires_grad for p in own),
            )
        )

    for m in model.modules():
        if not isinstance(m, _SKIPPED) or m is model:
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_size, dtype=dtype, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n = abs(batch_size)
    return ModelSummary(
        rows=rows,
        input_size=[int(s) for s in input_size],
        batch_size=batch_size,
        total_params=total,
        trainable_params=trainable,
        input_mb=4.0 * n * math.prod(input_size) / _MB,
        forward_backward_mb=2.0 * 4.0 * n * sum(_numel(r.output_shape) for r in rows) / _MB,
        params_mb=4.0 * total / _MB,
    )
