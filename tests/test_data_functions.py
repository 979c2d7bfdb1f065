"""Function-regression data against seed 003's FunctionDataset formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.data.functions import FUNCTIONS, function_data, function_grid
from lrlab.errors import InvalidArgument

# The seed's own formulas, evaluated in plain Python (x = index/samples*(stop-start)+start).
REFERENCE = {
    "exp": (math.exp, -5.0, 5.0),
    "exp-neg": (lambda x: math.exp(-x), -5.0, 5.0),
    "exp7": (math.exp, -5.0, 7.0),
    "log": (math.log, 0.01, 5.0),
    "inv": (lambda x: 1 / x, -5.0, 5.0),
    "linear": (lambda x: 2 * x + 8, -5.0, 5.0),
    "sin": (math.sin, -5.0, 5.0),
    "step": (lambda x: float(x > 0), -5.0, 5.0),
}


def test_every_seed_function_is_registered():
    assert set(FUNCTIONS) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_grid_and_targets_match_the_seed(name):
    fn, start, stop = REFERENCE[name]
    x, y, xe, ye = function_data(name)
    assert x.shape == y.shape == (2501, 1)
    assert x.dtype == y.dtype == torch.float32
    idx = [0, 1, 1250, 1251, 2500]
    for i in idx:
        xi = i / 2501 * (stop - start) + start
        assert float(x[i, 0]) == pytest.approx(xi, rel=1e-6, abs=1e-6)
        assert float(y[i, 0]) == pytest.approx(fn(xi), rel=1e-5, abs=1e-5)
    assert float(x.max()) < stop  # the stop point itself is excluded
    # eval = the training grid, as in the seed (getLoss on the same loader)
    assert torch.equal(x, xe) and torch.equal(y, ye)


def test_inverse_has_no_infinite_point_on_the_default_grid():
    _, y, _, _ = function_data("inv")
    assert torch.isfinite(y).all()
    # nearest grid point to 0 is x = -5/2501, so the spike is 1/x = -2501/5
    assert float(y.min()) == pytest.approx(-2501 / 5, rel=1e-5)


def test_midpoint_eval_grid_lies_between_training_points():
    x, _, xe, ye = function_data("sin", samples=11, eval_grid="midpoints")
    assert torch.all(xe[:, 0] > x[:, 0])
    assert torch.allclose(xe[:-1, 0], (x[:-1, 0] + x[1:, 0]) / 2)
    assert torch.allclose(ye, torch.sin(xe), atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 500),
    st.floats(-100, 100, allow_nan=False),
    st.floats(0.01, 50, allow_nan=False),
)
def test_grid_formula(samples, start, width):
    g = function_grid(samples, start, start + width)
    i = np.arange(samples)
    np.testing.assert_allclose(g, i / samples * width + start)
    assert g[0] == start and g[-1] < start + width


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "cosh"},
        {"name": "log", "start": -1.0},  # log of negative numbers
        {"name": "inv", "samples": 2500},  # the even grid hits x = 0
        {"name": "sin", "start": 2.0, "stop": 1.0},
        {"name": "sin", "samples": 0},
        {"name": "sin", "eval_grid": "random"},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidArgument):
        function_data(**kwargs)
