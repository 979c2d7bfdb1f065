"""Built-in models: ResNet9 (seeds 001/004, Page), CIFAR ResNets (He et al. 2016), the seed
003 CNN and MLP, small mnist1d/digits/image models, and a torchsummary-style summary."""

from __future__ import annotations

from lrlab.models.cnn import CifarCNN, ImageCNN, Mnist1dCNN
from lrlab.models.init import ACTIVATIONS, INITS, initialize, torch_bn_momentum
from lrlab.models.mlp import MLP, function_mlp

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "MLP",
    "CifarCNN",
    "ImageCNN",
    "Mnist1dCNN",
    "function_mlp",
    "initialize",
    "torch_bn_momentum",
]
