"""Function-regression datasets (seed 003: "Diving deep: learning rate").

A dataset is the grid ``x_i = i / samples · (stop − start) + start`` for
``i = 0 … samples − 1`` (so ``stop`` itself is excluded) with targets ``y_i = f(x_i)``, as
the seed's ``FunctionDataset``. Default: 2,501 points on ``[-5, 5)``; ``log`` starts at 0.01,
``exp7`` runs to 7. With 2,501 points on ``[-5, 5)`` no grid point is 0, so ``1/x`` stays
finite; the point nearest 0 is ``x = -5/2501`` and gives the spike ``1/x = -500.2`` (the
seed's data, spike included).

Evaluation set: the seed measures loss on the training grid itself (``getLoss(dl)``), and so
does ``eval_grid="same"`` (the default). ``eval_grid="midpoints"`` evaluates between the
training points instead (``x_{i+1/2}``), a check of interpolation rather than fit.

No extra dependency: numpy computes the targets in float64, returned as float32 tensors of
shape ``(samples, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lrlab.errors import InvalidArgument, check


# Named functions rather than lambdas: specs stay picklable (process pools, Ray).
def _exp_neg(x: np.ndarray) -> np.ndarray:
    return np.exp(-x)


def _inv(x: np.ndarray) -> np.ndarray:
    return 1.0 / x


def _linear(x: np.ndarray) -> np.ndarray:
    return 2.0 * x + 8.0


def _step(x: np.ndarray) -> np.ndarray:
    return (x > 0).astype(np.float64)


@dataclass(frozen=True)
class FunctionSpec:
    """A target function and the default range of its grid."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    start: float = -5.0
    stop: float = 5.0
    formula: str = ""


# name -> spec; the seed's data loaders expDl, expNDl, exp7Dl, logDl, invDl, linDl, sinDl, stepDl
FUNCTIONS: dict[str, FunctionSpec] = {
    "exp": FunctionSpec("exp", np.exp, formula="exp(x)"),
    "exp-neg": FunctionSpec("exp-neg", _exp_neg, formula="exp(-x)"),
    "exp7": FunctionSpec("exp7", np.exp, stop=7.0, formula="exp(x), x up to 7"),
    "log": FunctionSpec("log", np.log, start=0.01, formula="log(x), x from 0.01"),
    "inv": FunctionSpec("inv", _inv, formula="1/x"),
    "linear": FunctionSpec("linear", _linear, formula="2x + 8"),
    "sin": FunctionSpec("sin", np.sin, formula="sin(x)"),
    "step": FunctionSpec("step", _step, formula="1 if x > 0 else 0"),
}

EVAL_GRIDS = ("same", "midpoints")


def function_grid(samples: int, start: float, stop: float, *, offset: float = 0.0) -> np.ndarray:
    """``x_i = (i + offset) / samples · (stop − start) + start`` for ``i < samples`` (float64)."""
    check(samples >= 1, f"{samples=} must be >= 1.")
    check(stop > start, f"stop={stop} must be larger than start={start}.")
    return (np.arange(samples, dtype=np.float64) + offset) / samples * (stop - start) + start


def function_data(
    name: str,
    *,
    samples: int = 2501,
    start: float | None = None,
    stop: float | None = None,
    eval_grid: str = "same",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_eval, y_eval)``, each float32 of shape ``(samples, 1)``.

    ``start``/``stop`` default to the function's range (see :data:`FUNCTIONS`).
    """
    spec = FUNCTIONS.get(name)
    if spec is None:
        raise InvalidArgument(
            f"Unknown function {name!r}.", hint=f"Known functions: {sorted(FUNCTIONS)}."
        )
    check(eval_grid in EVAL_GRIDS, f"{eval_grid=} must be one of {EVAL_GRIDS}.")
    lo = spec.start if start is None else float(start)
    hi = spec.stop if stop is None else float(stop)
    x = function_grid(samples, lo, hi)
    x_eval = x if eval_grid == "same" else function_grid(samples, lo, hi, offset=0.5)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y, y_eval = spec.fn(x), spec.fn(x_eval)
    for label, values in (("training", y), ("evaluation", y_eval)):
        if not np.all(np.isfinite(values)):
            raise InvalidArgument(
                f"function {name!r} is not finite on the {label} grid [{lo}, {hi}) "
                f"with {samples} samples.",
                hint="Choose start/stop/samples that avoid its singularities.",
            )

    def col(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32)).reshape(-1, 1)

    return col(x), col(y), col(x_eval), col(y_eval)
