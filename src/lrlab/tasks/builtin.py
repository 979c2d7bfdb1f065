"""The built-in tasks (``TASKS``), from the seeds and the CPU-sized testbeds.

Factories are module-level functions (tasks stay picklable for process pools and Ray); each
model factory takes ``num_classes`` and ``input_shape`` (filled in by ``Task.model``) and its
own options.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lrlab.data.augment import ImageAugment
from lrlab.data.base import DatasetSplits
from lrlab.data.functions import FUNCTIONS, function_data
from lrlab.optim.registry import OptimizerSpec
from lrlab.tasks.base import ImagePipeline, Task

# --- data factories -------------------------------------------------------------------------


def _functions(**options: Any) -> DatasetSplits:
    x, y, xe, ye = function_data(**options)
    return DatasetSplits(f"function-{options['name']}", x, y, xe, ye)


def _mnist1d(**options: Any) -> DatasetSplits:
    from lrlab.data.mnist1d import load_mnist1d

    return load_mnist1d(**options)


def _digits(**options: Any) -> DatasetSplits:
    from lrlab.data.digits import load_digits

    return load_digits(**options)


def _cifar10(**options: Any) -> DatasetSplits:
    from lrlab.data.cifar import load_cifar10

    return load_cifar10(**options)


def _image_folder(**options: Any) -> DatasetSplits:
    from lrlab.data.folders import load_image_folder

    return load_image_folder(**options)


def _pixel_csv(**options: Any) -> DatasetSplits:
    from lrlab.data.folders import load_pixel_csv

    return load_pixel_csv(**options)


# --- model factories ------------------------------------------------------------------------


def _function_mlp(*, num_classes: Any, input_shape: Any, **options: Any) -> nn.Module:
    from lrlab.models.mlp import function_mlp

    return function_mlp(**options)


def _mnist1d_mlp(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.mlp import MLP

    hidden = options.pop("hidden", 100)
    return MLP(input_shape[-1], num_classes, (hidden, hidden), **options)


def _mnist1d_cnn(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.cnn import Mnist1dCNN

    return Mnist1dCNN(num_classes=num_classes, length=input_shape[-1], **options)


def _digits_mlp(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.mlp import MLP

    hidden = options.pop("hidden", 64)
    n_in = 1
    for d in input_shape:
        n_in *= d
    return MLP(n_in, num_classes, (hidden,), **options)


def _digits_cnn(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.cnn import ImageCNN

    widths = options.pop("widths", (16, 32))
    return ImageCNN(input_shape[0], num_classes, widths, **options)


def _resnet9(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.resnet9 import ResNet9

    return ResNet9(num_classes, in_channels=input_shape[0], **options)


def _cifar_resnet(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.cifar_resnet import CifarResNet

    return CifarResNet(num_classes=num_classes, in_channels=input_shape[0], **options)


def _cifar_cnn(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.cnn import CifarCNN

    return CifarCNN(num_classes, **options)


def _image_cnn(*, num_classes: int, input_shape: tuple[int, ...], **options: Any) -> nn.Module:
    from lrlab.models.cnn import ImageCNN

    widths = options.pop("widths", (32, 64, 128))
    return ImageCNN(input_shape[0], num_classes, widths, **options)


# --- the registry ---------------------------------------------------------------------------


def _function_task(fname: str) -> Task:
    spec = FUNCTIONS[fname]
    return Task(
        name=f"function-{fname}",
        description=f"Regress {spec.formula} on [{spec.start:g}, {spec.stop:g}) with seed 003's "
        "1→10→10→10→1 MLP (MSE, Adam).",
        kind="regression",
        model_fn=_function_mlp,
        data_fn=_functions,
        # Seed 003: batch 1280 over 2,501 points (two batches per epoch), Adam, MSELoss, a
        # look-ahead window 1e-6…100, training runs of 30-500 epochs.
        batch_size=1280,
        epochs=200,
        lr_range=(1e-6, 100.0),
        optimizer=OptimizerSpec("adam", {"lr": 3.2e-2}),
        loss="mse",
        metrics=("mae",),
        chance_level=None,
        train_size=2501,
        eval_size=2501,
        num_classes=None,
        input_shape=(1,),
        model_options={"hidden": 10, "act": "relu", "dropout": 0.0, "init": "default"},
        data_options={
            "name": fname,
            "samples": 2501,
            "start": None,
            "stop": None,
            "eval_grid": "same",
        },
    )


_MNIST1D_DATA = {"num_samples": 5000, "dataset_seed": 42, "use_cache": True}
_MNIST1D_COMMON: dict[str, Any] = dict(
    kind="classification",
    data_fn=_mnist1d,
    # The mnist1d paper trains with batch 100 and Adam at 1e-2.
    batch_size=100,
    epochs=20,
    lr_range=(1e-5, 1.0),
    optimizer=OptimizerSpec("adam", {"lr": 1e-2}),
    loss="cross_entropy",
    metrics=("accuracy",),
    chance_level=0.106,  # 106 of the 1,000 test signals are of the most frequent class
    requires=("datasets",),
    train_size=4000,
    eval_size=1000,
    num_classes=10,
    input_shape=(40,),
    data_options=_MNIST1D_DATA,
)

_DIGITS_COMMON: dict[str, Any] = dict(
    kind="classification",
    data_fn=_digits,
    batch_size=64,
    epochs=20,
    lr_range=(1e-5, 10.0),
    optimizer=OptimizerSpec("sgd", {"lr": 0.05, "momentum": 0.9}),
    loss="cross_entropy",
    metrics=("accuracy",),
    chance_level=37 / 359,  # the largest class has 37 of the 359 test images
    requires=("datasets",),
    train_size=1438,
    eval_size=359,
    num_classes=10,
    input_shape=(1, 8, 8),
    data_options={"test_fraction": 0.2, "split_seed": 0},
)


_CIFAR_COMMON: dict[str, Any] = dict(
    kind="classification",
    data_fn=_cifar10,
    loss="cross_entropy",
    metrics=("accuracy",),
    chance_level=0.1,  # the test set has 1,000 images of each class
    train_size=50000,
    eval_size=10000,
    num_classes=10,
    input_shape=(3, 32, 32),
    data_options={"path": None, "download": True},
)
# Page / seed 001: random 32×32 crop of the image reflect-padded by 4, flip, one 8×8 cutout.
_PAGE_AUGMENT = ImagePipeline(ImageAugment(padding=4, pad_mode="reflect", flip=True, cutout=8))
# He et al. (2016): "4 pixels are padded on each side" (zeros), random crop, flip.
_HE_AUGMENT = ImagePipeline(ImageAugment(padding=4, pad_mode="zeros", flip=True))
# Seeds 001/004 and Page: batch 512, 24 epochs, Page's augmentation.
_RESNET9_COMMON: dict[str, Any] = dict(
    model_fn=_resnet9, batch_size=512, epochs=24, pipeline=_PAGE_AUGMENT, **_CIFAR_COMMON
)


def _resnet9_options(variant: str) -> dict[str, Any]:
    return {"variant": variant, "norm": True, "bn_momentum": 0.1, "init": "default"}


def _cifar_resnet_task(depth: int) -> Task:
    return Task(
        name=f"cifar10-resnet{depth}",
        description=f"CIFAR-10 with He et al.'s ResNet-{depth} (option-A shortcuts), crop + flip; "
        "seed 002 ran ResNet-56 (bn_momentum=0.05 is its BatchNorm 0.95).",
        model_fn=_cifar_resnet,
        # He et al.: batch 128, SGD lr 0.1, momentum 0.9, weight decay 1e-4, 164 epochs.
        # Seed 002 found ResNet-56 did not diverge up to LR 20 without momentum.
        batch_size=128,
        epochs=164,
        lr_range=(1e-5, 10.0),
        optimizer=OptimizerSpec("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}),
        model_options={
            "depth": depth,
            "norm": True,
            "bn_momentum": 0.1,
            "init": "kaiming",
            "width": 16,
        },
        pipeline=_HE_AUGMENT,
        **_CIFAR_COMMON,
    )


_FOLDER_COMMON: dict[str, Any] = dict(
    kind="classification",
    model_fn=_image_cnn,
    # Seed 000: SGD with weight decay, one-cycle to 0.1 over 30 epochs (and gradient clipping,
    # a training-loop option).
    batch_size=128,
    epochs=30,
    lr_range=(1e-5, 1.0),
    optimizer=OptimizerSpec("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),
    loss="cross_entropy",
    metrics=("accuracy",),
    chance_level=None,  # depends on the user's data: DataBundle.chance_level has it
    pipeline=ImagePipeline(ImageAugment(padding=4, pad_mode="reflect", flip=True)),
)


def _builtin_tasks() -> dict[str, Task]:
    tasks = [_function_task(f) for f in FUNCTIONS]
    tasks += [
        Task(
            name="mnist1d-mlp",
            description="mnist1d (40-sample 1-D signals, 10 classes) with the paper's "
            "40→100→100→10 MLP.",
            model_fn=_mnist1d_mlp,
            model_options={"hidden": 100, "act": "relu", "norm": False, "init": "default"},
            **_MNIST1D_COMMON,
        ),
        Task(
            name="mnist1d-cnn",
            description="mnist1d with the paper's 3-conv 1-D CNN (25 channels, 5,210 params).",
            model_fn=_mnist1d_cnn,
            model_options={"channels": 25, "act": "relu", "norm": False, "init": "default"},
            **_MNIST1D_COMMON,
        ),
        Task(
            name="digits-mlp",
            description="scikit-learn's 8×8 digits (fixed stratified 80/20 split), MLP 64→64→10.",
            model_fn=_digits_mlp,
            model_options={"hidden": 64, "act": "relu", "norm": False, "init": "default"},
            **_DIGITS_COMMON,
        ),
        Task(
            name="digits-cnn",
            description="scikit-learn's 8×8 digits with a 2-stage CNN (16, 32 channels).",
            model_fn=_digits_cnn,
            model_options={"widths": (16, 32), "act": "relu", "norm": True, "init": "default"},
            **_DIGITS_COMMON,
        ),
        Task(
            name="cifar10-resnet9",
            description="CIFAR-10 with seeds 001/004's ResNet9 (6,575,370 params), crop + flip + "
            "8×8 cutout, batch 512, 24 epochs (one-cycle in the seeds).",
            # Seed 004: batch 512, 24 epochs, one-cycle peaking at 0.025 after a range test in
            # 0.004…0.04 (0.01…10 was too wide and the run failed); seed 001 found 0.08.
            lr_range=(1e-5, 1.0),
            optimizer=OptimizerSpec("sgd", {"lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4}),
            model_options=_resnet9_options("seed"),
            **_RESNET9_COMMON,
        ),
        Task(
            name="cifar10-resnet9-page",
            description="CIFAR-10 with David Page's ResNet9 (no biases, logits × 0.125), his "
            "augmentation and optimizer (SGD nesterov, LR 0.4, weight decay 5e-4).",
            # Page: batch 512, 24 epochs, LR 0 → 0.4 (epoch 5) → 0; his per-sample LR 0.4/512
            # with a summed loss and weight decay 5e-4·512 is LR 0.4 and 5e-4 for a mean loss.
            lr_range=(1e-5, 10.0),
            optimizer=OptimizerSpec(
                "sgd", {"lr": 0.4, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
            ),
            model_options=_resnet9_options("page"),
            **_RESNET9_COMMON,
        ),
        *(_cifar_resnet_task(d) for d in (20, 32, 56, 110)),
        Task(
            name="cifar10-cnn",
            description="CIFAR-10 with seed 003's 5-conv CNN (BN, dropout 0.5, FC 300; "
            "LogSoftmax + NLLLoss), flips and ±10° rotations, Adam.",
            model_fn=_cifar_cnn,
            # Seed 003: batch 100, Adam (weight decay 1e-5), LR 1e-3 for 64 epochs, look-ahead
            # window 1e-6…100; RandomHorizontalFlip + RandomRotation(10).
            batch_size=100,
            epochs=64,
            lr_range=(1e-6, 100.0),
            optimizer=OptimizerSpec("adam", {"lr": 1e-3, "weight_decay": 1e-5}),
            model_options={
                "dropout": 0.5,
                "norm": True,
                "bn_momentum": 0.1,
                "log_softmax": True,
                "init": "default",
            },
            pipeline=ImagePipeline(ImageAugment(padding=0, flip=True, rotate=10.0)),
            **{**_CIFAR_COMMON, "loss": "nll"},
        ),
        Task(
            name="imagefolder",
            description="Your images, one sub-folder per class (path=ROOT; train/ + test/ "
            "sub-folders or a stratified 80/20 split), with a small CNN.",
            data_fn=_image_folder,
            model_options={
                "widths": (32, 64, 128),
                "act": "relu",
                "norm": True,
                "dropout": 0.0,
                "init": "default",
            },
            data_options={
                "path": None,
                "image_size": None,
                "grayscale": False,
                "eval_fraction": 0.2,
                "split_seed": 0,
            },
            **_FOLDER_COMMON,
        ),
        Task(
            name="csv-pixels",
            description="A FER2013-style CSV (emotion,pixels,Usage; path=FILE), e.g. seed 000's "
            "7-class 48×48 faces, with a small CNN.",
            data_fn=_pixel_csv,
            model_options={
                "widths": (32, 64, 128, 256),
                "act": "relu",
                "norm": True,
                "dropout": 0.0,
                "init": "default",
            },
            data_options={
                "path": None,
                "label_column": "emotion",
                "pixels_column": "pixels",
                "usage_column": "Usage",
                "eval_usage": "PublicTest",
                "image_shape": None,
                "eval_fraction": 0.2,
                "split_seed": 0,
            },
            **_FOLDER_COMMON,
        ),
    ]
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _builtin_tasks()
