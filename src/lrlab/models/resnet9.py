"""ResNet9, the "custom ResNet" of seeds 001 and 004, and David Page's variant.

Seed layout (torchsummary table in seed 001; 6,575,370 parameters)::

    prep    conv 3→64 · BN · ReLU                                         32×32
    layer1  conv 64→128 · max-pool 2 · BN · ReLU · ResNetBlock(128)        16×16
    layer2  conv 128→256 · max-pool 2 · BN · ReLU                           8×8
    layer3  conv 256→512 · max-pool 2 · BN · ReLU · ResNetBlock(512)        4×4
    head    max-pool 4 · linear 512→10                                      1×1

``ResNetBlock(c)`` is ``x + (conv·BN·ReLU · conv·BN·ReLU)(x)``; every conv is 3×3, padding 1,
with a bias (which BatchNorm makes redundant, but the seeds count it).

Page's variant (``variant="page"``; "How to train your ResNet", 2018, the DAWNBench
CIFAR-10 record): the same widths, convs *without* bias, each conv followed by
BN · ReLU *then* max-pool (``conv_bn`` then ``pool``), no bias in the final linear layer, and
the logits multiplied by 0.125 (a fixed temperature that stops the softmax from saturating
early). 6,573,120 parameters.

(Seed 004's table shows 14×14 after layer2's conv: that notebook used padding 0 there and a
ceil-mode pool; the parameter count is the same. lrlab follows seed 001 and Page: padding 1.)
"""

from __future__ import annotations

import torch
from torch import nn

from lrlab.errors import check
from lrlab.models.init import batch_norm, initialize

VARIANTS = ("seed", "page")


class ResNetBlock(nn.Module):
    """``x + f(x)`` with ``f = (conv3×3 · BN · ReLU) × 2`` at constant width."""

    def __init__(
        self, channels: int, *, bias: bool = True, norm: bool = True, bn_momentum: float = 0.1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)
        self.bn1 = batch_norm(channels, enabled=norm, momentum=bn_momentum)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)
        self.bn2 = batch_norm(channels, enabled=norm, momentum=bn_momentum)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.relu1(self.bn1(self.conv1(x)))
        r = self.relu2(self.bn2(self.conv2(r)))
        return x + r


class Scale(nn.Module):
    """Multiply by a fixed constant (Page's ``Mul(0.125)`` on the logits)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def _stage(c_in: int, c_out: int, *, page: bool, norm: bool, bn_momentum: float) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=not page)
    bn, relu, pool = (
        batch_norm(c_out, enabled=norm, momentum=bn_momentum),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )
    return [conv, bn, relu, pool] if page else [conv, pool, bn, relu]


class ResNet9(nn.Module):
    """ResNet9 for 32×32 images (see the module docstring).

    Args:
        num_classes: outputs of the final linear layer.
        variant: ``"seed"`` (seeds 001/004: conv biases, conv → pool → BN → ReLU, linear
            bias; 6,575,370 parameters) or ``"page"`` (Page's: no biases, conv → BN → ReLU →
            pool, logits × 0.125; 6,573,120 parameters).
        norm: BatchNorm layers (``False`` replaces them by identities — seed 000's "no
            normalization").
        bn_momentum: BatchNorm momentum, PyTorch convention (see :mod:`lrlab.models.init`).
        init: ``"default"`` (PyTorch's) or ``"kaiming"``.
        in_channels: input channels (3 for CIFAR).
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        variant: str = "seed",
        norm: bool = True,
        bn_momentum: float = 0.1,
        init: str = "default",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check(variant in VARIANTS, f"{variant=} is not one of {VARIANTS}.")
        page = variant == "page"
        kw = {"norm": norm, "bn_momentum": bn_momentum}
        self.prep = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1, bias=not page),
            batch_norm(64, enabled=norm, momentum=bn_momentum),
            nn.ReLU(),
        )
        self.layer1 = nn.Sequential(
            *_stage(64, 128, page=page, **kw), ResNetBlock(128, bias=not page, **kw)
        )
        self.layer2 = nn.Sequential(*_stage(128, 256, page=page, **kw))
        self.layer3 = nn.Sequential(
            *_stage(256, 512, page=page, **kw), ResNetBlock(512, bias=not page, **kw)
        )
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(512, num_classes, bias=not page)
        # None rather than Identity in the seed variant: its summary then matches the seed's.
        self.scale = Scale(0.125) if page else None
        initialize(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        x = self.pool(x).flatten(1)
        x = self.fc(x)
        return x if self.scale is None else self.scale(x)
