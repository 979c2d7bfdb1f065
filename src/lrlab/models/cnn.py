"""Convolutional networks: seed 003's CIFAR CNN, the mnist1d and digits CNNs, and a generic
small CNN for users' image folders and FER2013-style pixel CSVs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lrlab.errors import check
from lrlab.models.init import activation, batch_norm, initialize


class CifarCNN(nn.Module):
    """Seed 003's CIFAR-10 ``Net``: 5 convs (32, 32, pool, BN, 64, 64, pool, BN, 128, pool),
    dropout 0.5, FC 2048 → 300 → 10; 757,326 parameters.

    The seed ends in ``LogSoftmax`` and trains with ``NLLLoss``; ``log_softmax=True`` (the
    default) keeps that, so the task's criterion is ``NLLLoss``. With ``log_softmax=False``
    the model returns logits for ``CrossEntropyLoss`` — the same loss, since
    ``CE(z, y) = NLL(log_softmax(z), y)``. Accuracy is unchanged either way (argmax).
    ``norm=False`` drops the two BatchNorm layers (seed 000's "no normalization").
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        dropout: float = 0.5,
        norm: bool = True,
        bn_momentum: float = 0.1,
        log_softmax: bool = True,
        init: str = "default",
    ) -> None:
        super().__init__()
        check(0.0 <= dropout < 1.0, f"{dropout=} must be in [0, 1).")
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv5 = nn.Conv2d(64, 128, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.bn1 = batch_norm(32, enabled=norm, momentum=bn_momentum)
        self.bn2 = batch_norm(64, enabled=norm, momentum=bn_momentum)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(128 * 4 * 4, 300)
        self.fc2 = nn.Linear(300, num_classes)
        self.out = nn.LogSoftmax(dim=1) if log_softmax else nn.Identity()
        initialize(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The seed's order: conv-ReLU-conv-ReLU, then pool, then BatchNorm.
        x = self.bn1(self.pool(self.relu(self.conv2(self.relu(self.conv1(x))))))
        x = self.bn2(self.pool(self.relu(self.conv4(self.relu(self.conv3(x))))))
        x = self.pool(self.relu(self.conv5(x)))
        x = self.dropout(x.flatten(1))
        x = self.dropout(self.relu(self.fc1(x)))
        return self.out(self.fc2(x))


class Mnist1dCNN(nn.Module):
    """The mnist1d paper's CNN: three 1-D convs of 25 channels (kernel 5/3/3, stride 2,
    padding 1; 40 → 19 → 10 → 5) with ReLU, then a linear layer 125 → 10; 5,210
    parameters. Accepts ``(N, 40)`` or ``(N, 1, 40)``."""

    def __init__(
        self,
        channels: int = 25,
        num_classes: int = 10,
        length: int = 40,
        *,
        act: str = "relu",
        norm: bool = False,
        bn_momentum: float = 0.1,
        init: str = "default",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, n = 1, length
        for kernel in (5, 3, 3):
            layers += [nn.Conv1d(c_in, channels, kernel, stride=2, padding=1)]
            layers += [batch_norm(channels, enabled=norm, momentum=bn_momentum, dims=1)]
            layers += [activation(act)]
            c_in, n = channels, (n + 2 - kernel) // 2 + 1
        check(n >= 1, f"signals of length {length} are too short for three stride-2 convs.")
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(channels * n, num_classes)
        initialize(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.linear(self.features(x).flatten(1))


class ImageCNN(nn.Module):
    """A small generic CNN for ``(N, C, H, W)`` images of any size ≥ 2^stages: per stage
    ``conv3×3 → [BatchNorm] → act → MaxPool2``, then global average pooling, dropout and a
    linear head. Used by the digits, image-folder and pixel-CSV tasks."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int] = (32, 64, 128),
        *,
        act: str = "relu",
        norm: bool = True,
        bn_momentum: float = 0.1,
        dropout: float = 0.0,
        init: str = "default",
    ) -> None:
        super().__init__()
        check(len(widths) >= 1, "ImageCNN needs at least one stage (widths).")
        check(0.0 <= dropout < 1.0, f"{dropout=} must be in [0, 1).")
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            # A conv followed by BatchNorm needs no bias (BN's β replaces it).
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=not norm)]
            layers += [batch_norm(w, enabled=norm, momentum=bn_momentum), activation(act)]
            layers += [nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(c, num_classes)
        initialize(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pool(self.features(x)).flatten(1)))


def digits_cnn(*, norm: bool = True, init: str = "default", act: str = "relu") -> ImageCNN:
    """Two stages (16, 32) for the 8×8 digits: 8 → 4 → 2, global pool, linear 32 → 10."""
    return ImageCNN(1, 10, (16, 32), norm=norm, init=init, act=act)
