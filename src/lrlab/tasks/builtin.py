"""The built-in tasks (``TASKS``), from the seeds and the CPU-sized testbeds.

Factories are module-level functions (tasks stay picklable for process pools and Ray); each
model factory takes ``num_classes`` and ``input_shape`` (filled in by ``Task.model``) and its
own options.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lrlab.data.base import DatasetSplits
from lrlab.data.functions import FUNCTIONS, function_data
from lrlab.tasks.base import OptimizerSpec, Task

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
    ]
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _builtin_tasks()
