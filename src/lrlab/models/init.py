"""Options the seeds toggle: activations, normalisation layers on/off, init schemes.

Seed 000 compared "no normalization, no initialization" against BatchNorm and Kaiming
initialisation; seed 002 changed BatchNorm's momentum for super-convergence. These helpers
give every built-in model the same switches.

**BatchNorm momentum conventions.** PyTorch updates running statistics as
``running = (1 − momentum) · running + momentum · batch`` (default ``momentum = 0.1``).
Caffe (``moving_average_fraction``), TensorFlow/Keras (``decay``/``momentum``) and Smith &
Topin's super-convergence paper use the weight of the *past*: their 0.95 is PyTorch's
``momentum = 0.05``. Models here take ``bn_momentum`` in PyTorch's convention; use
:func:`torch_bn_momentum` to convert the paper's value (seed 002 "changed the BatchNorm2d's
momentum from 0.1 to 0.95", which in PyTorch means 0.05 — ``torch_bn_momentum(0.95)``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lrlab.errors import InvalidArgument, check

# name -> constructor; new instances per layer (some activations hold state, e.g. PReLU)
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    """A new activation module by name (see :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise InvalidArgument(
            f"Unknown activation {name!r}.", hint=f"Known activations: {sorted(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def torch_bn_momentum(decay: float) -> float:
    """PyTorch's BatchNorm ``momentum`` for a running-average ``decay`` in the Caffe/TF/paper
    sense (weight of the past): ``1 − decay``. ``torch_bn_momentum(0.95) == 0.05``."""
    check(0.0 <= decay < 1.0, f"{decay=} must be in [0, 1) (weight of the past).")
    return 1.0 - decay


def batch_norm(
    channels: int, *, enabled: bool = True, momentum: float = 0.1, dims: int = 2
) -> nn.Module:
    """``BatchNorm{1,2}d(channels, momentum=momentum)`` or ``Identity`` when disabled."""
    if not enabled:
        return nn.Identity()
    check(0.0 < momentum <= 1.0, f"bn momentum={momentum} must be in (0, 1] (PyTorch convention).")
    cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
    return cls(channels, momentum=momentum)


def _kaiming(model: nn.Module) -> None:
    """He et al. (2015) normal init for conv/linear weights (``fan_out`` for convs, as
    torchvision's ResNets; ``fan_in`` for linear layers), zero biases, BatchNorm γ=1, β=0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _default(model: nn.Module) -> None:
    """PyTorch's own layer init (already applied at construction): nothing to do."""


INITS: dict[str, Callable[[nn.Module], None]] = {"default": _default, "kaiming": _kaiming}


def initialize(model: nn.Module, scheme: str = "default") -> nn.Module:
    """Apply an init scheme from :data:`INITS` in place and return the model."""
    if scheme not in INITS:
        raise InvalidArgument(f"Unknown init {scheme!r}.", hint=f"Known: {sorted(INITS)}.")
    INITS[scheme](model)
    return model
