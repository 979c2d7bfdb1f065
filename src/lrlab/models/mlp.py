"""Multi-layer perceptrons: seed 003's function MLP and the mnist1d / digits MLPs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lrlab.errors import check
from lrlab.models.init import activation, batch_norm, initialize


class MLP(nn.Module):
    """``Linear → [BatchNorm] → act → Dropout`` per hidden layer, then a linear head.

    Inputs of any shape ``(N, …)`` are flattened to ``(N, in_features)``.

    Args:
        in_features, out_features: input width and number of outputs.
        hidden: widths of the hidden layers.
        act: activation name (see :data:`lrlab.models.init.ACTIVATIONS`).
        dropout: dropout probability after every hidden activation (0 = none).
        norm: BatchNorm1d after every hidden linear layer.
        init: ``"default"`` (PyTorch's) or ``"kaiming"``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (100, 100),
        *,
        act: str = "relu",
        dropout: float = 0.0,
        norm: bool = False,
        bn_momentum: float = 0.1,
        init: str = "default",
    ) -> None:
        super().__init__()
        check(0.0 <= dropout < 1.0, f"{dropout=} must be in [0, 1).")
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if norm:
                layers.append(batch_norm(h, momentum=bn_momentum, dims=1))
            layers.append(activation(act))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)
        initialize(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


def function_mlp(
    *, hidden: int = 10, act: str = "relu", dropout: float = 0.0, init: str = "default"
) -> MLP:
    """Seed 003's ``NN``: 1 → 10 → 10 → 10 → 1 (three hidden layers of ``hidden`` units),
    ReLU by default, optional dropout after each hidden activation. 251 parameters."""
    return MLP(1, 1, (hidden, hidden, hidden), act=act, dropout=dropout, init=init)


def mnist1d_mlp(
    *, hidden: int = 100, act: str = "relu", norm: bool = False, init: str = "default"
) -> MLP:
    """The mnist1d paper's MLP: 40 → 100 → 100 → 10 (15,210 parameters)."""
    return MLP(40, 10, (hidden, hidden), act=act, norm=norm, init=init)


def digits_mlp(
    *, hidden: int = 64, act: str = "relu", norm: bool = False, init: str = "default"
) -> MLP:
    """64 → 64 → 10 for the 8×8 digits (4,810 parameters)."""
    return MLP(64, 10, (hidden,), act=act, norm=norm, init=init)
