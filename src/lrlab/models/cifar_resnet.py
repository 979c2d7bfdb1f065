"""CIFAR ResNets of He et al. (2016, "Deep residual learning for image recognition", §4.2).

Depth ``6n + 2``: a 3×3 conv with 16 filters, then three stages of ``n`` basic blocks with
16, 32 and 64 filters on 32×32, 16×16 and 8×8 maps (the first block of stages 2 and 3
strides by 2), global average pooling and a 10-way linear layer. ResNet-20/32/44/56/110
have n = 3/5/7/9/18 and 0.27/0.46/0.66/0.85/1.7 M parameters (the paper's Table 6).

Shortcuts are the paper's **option A** for CIFAR: identity, and where the shape changes the
input is subsampled by 2 (``x[:, :, ::2, ::2]``) and zero-padded with the missing channels —
no parameters. Convs have no bias (BatchNorm follows). Init: He (Kaiming) normal, as the
paper (``init="kaiming"``, the default here).

Seed 002 trained ResNet-56 with the BatchNorm running-average weight set to 0.95 (Smith &
Topin's super-convergence setting). In PyTorch's convention that is ``bn_momentum=0.05``;
see :func:`lrlab.models.init.torch_bn_momentum`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lrlab.errors import check
from lrlab.models.init import batch_norm, initialize

DEPTHS = (20, 32, 44, 56, 110)


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad ``extra`` channels, split
    evenly before and after the existing ones (as the reference implementations do)."""

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        before = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, before, self.extra - before))


class BasicBlock(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""

    def __init__(
        self, c_in: int, c_out: int, stride: int = 1, *, norm: bool = True, bn_momentum: float = 0.1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = batch_norm(c_out, enabled=norm, momentum=bn_momentum)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = batch_norm(c_out, enabled=norm, momentum=bn_momentum)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = (
            ShortcutA(stride, c_out - c_in) if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-``depth`` for 32×32 CIFAR images (``depth = 6n + 2``).

    Args:
        depth: 20, 32, 44, 56, 110 (any ``6n + 2`` works).
        num_classes: outputs.
        norm: BatchNorm on/off (seed 000's "no normalization" switch).
        bn_momentum: PyTorch convention (0.05 = the paper's 0.95).
        init: ``"kaiming"`` (the paper's) or ``"default"`` (PyTorch's).
        width: filters of the first stage (16 in the paper; the stages use w, 2w, 4w).
    """

    def __init__(
        self,
        depth: int = 56,
        num_classes: int = 10,
        *,
        norm: bool = True,
        bn_momentum: float = 0.1,
        init: str = "kaiming",
        width: int = 16,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check(
            depth >= 8 and (depth - 2) % 6 == 0,
            f"{depth=} must be 6n + 2 (e.g. 20, 32, 44, 56, 110).",
        )
        n = (depth - 2) // 6
        self.depth = depth
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = batch_norm(width, enabled=norm, momentum=bn_momentum)
        self.relu = nn.ReLU()
        blocks: list[nn.Module] = []
        c = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(c, c_out, stride, norm=norm, bn_momentum=bn_momentum))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        initialize(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.relu(self.bn(self.conv(x))))
        return self.fc(self.pool(x).flatten(1))
