"""Adam against its textbook update, worked by hand."""

import math

import numpy as np
import pytest

from vinnp.optim import Adam


def test_first_two_steps_by_hand():
    # Step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> theta -= lr * g/(|g| + eps)
    theta = np.array([1.0, -2.0])
    opt = Adam(2, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    g1 = np.array([0.5, -4.0])
    opt.step(theta, g1)
    np.testing.assert_allclose(theta, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8)], rtol=1e-14)
    # Step 2 with g2 = [1, 1]: m = 0.9*0.1*g1 + 0.1*g2, v = 0.999*0.001*g1^2 + 0.001*g2^2
    before = theta.copy()
    g2 = np.array([1.0, 1.0])
    opt.step(theta, g2)
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    m_hat = m / (1 - 0.9**2)
    v_hat = v / (1 - 0.999**2)
    np.testing.assert_allclose(theta, before - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-14)
    # hand-computed first coordinate: m = 0.145, v = 0.0012495 -> m_hat = 0.763158, v_hat = 0.625063
    assert math.isclose(m_hat[0], 0.145 / 0.19, rel_tol=1e-12)
    assert opt.t == 2


def test_clipping_by_global_norm():
    theta = np.zeros(2)
    opt = Adam(2, lr=1.0, clip_norm=1.0)
    norm = opt.step(theta, np.array([3.0, 4.0]))
    assert norm == 5.0
    # after clipping g = [0.6, 0.8]; step 1 moves each coordinate by lr * sign
    np.testing.assert_allclose(theta, [-1.0, -1.0], rtol=1e-7)
    np.testing.assert_allclose(opt.m, [0.06, 0.08])


def test_float32_state_and_bad_input():
    opt = Adam(3, dtype=np.float32)
    theta = np.zeros(3, np.float32)
    assert opt.step(theta, np.ones(3, np.float32)) is None  # no clipping: the norm is not computed
    assert theta.dtype == np.float32 and opt.m.dtype == np.float32
    with pytest.raises(ValueError, match="grad: expected 3 entries"):
        opt.step(theta, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="grad: expected dtype float32"):
        opt.step(theta, np.ones(3))
    with pytest.raises(ValueError, match="lr"):
        Adam(3, lr=-1.0)
    with pytest.raises(ValueError, match="beta1"):
        Adam(3, beta1=1.0)
