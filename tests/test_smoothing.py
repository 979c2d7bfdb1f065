import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlab.errors import InvalidArgument
from lrlab.smoothing import EMA, ema


def test_ema_known_values():
    # beta=0.5: m1=0.5*2=1 -> s1=1/0.5=2; m2=0.5*1+0.5*4=2.5 -> s2=2.5/0.75
    np.testing.assert_allclose(ema([2.0, 4.0], beta=0.5), [2.0, 2.5 / 0.75])
    np.testing.assert_allclose(ema([1.0, 2.0, 3.0], beta=0.0), [1.0, 2.0, 3.0])


@given(st.floats(-1e6, 1e6), st.integers(1, 50), st.floats(0.0, 0.99))
def test_constant_series_is_a_fixed_point(c, n, beta):
    np.testing.assert_allclose(ema([c] * n, beta), [c] * n, rtol=1e-9, atol=1e-6)


def test_streaming_equals_offline_and_nan_propagates():
    xs = [3.0, 1.0, 4.0, 1.0, 5.0]
    s = EMA(0.9)
    np.testing.assert_allclose([s.update(x) for x in xs], ema(xs, 0.9))
    assert s.count == 5
    assert math.isnan(ema([1.0, float("nan"), 1.0])[-1])


@pytest.mark.parametrize("beta", [-0.1, 1.0])
def test_beta_is_validated(beta):
    with pytest.raises(InvalidArgument, match="beta"):
        ema([1.0], beta)
