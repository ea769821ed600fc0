"""Checks that can fail: the gradient checker refuses a check that could not fail, every block
`vinnp gradcheck` runs has a live gradient, every float32 fast path is held to its float64
reference, and the guards of the fused step and the relu kink are pinned."""

import numpy as np
import pytest

from vinnp.gradcheck import all_blocks, check_block, gradcheck
from vinnp.gradcheck.fastpaths import FLOAT32_TOL, FastPath, check_fast_path, fast_paths
from vinnp.layers.dense import dense_backward, dense_forward
from vinnp.layers.mlp import MLP
from vinnp.models.registry import make_model
from vinnp.optim import Adam
from vinnp.params import Layout
from vinnp.training.fused import make_stepper


def test_an_all_zero_gradient_fails_the_check():
    """A dead relu: the loss is flat and the (zero) gradient agrees with it, whatever the
    backward pass does; the checker says so instead of reporting 0.0 ok."""
    p = np.array([-1.0, -2.0, -0.5])

    def loss(x):
        return float(np.sum(np.maximum(x, 0.0)))

    rows = gradcheck(loss, lambda x: (loss(x), np.zeros_like(x)), p)
    assert not any(r["ok"] for r in rows) and "all zero" in rows[0]["why"]


def test_a_loss_constant_over_the_stencil_fails_the_check():
    """A non-zero gradient against a loss no difference step moves is still no check."""
    p = np.array([0.3, 0.7])
    rows = gradcheck(lambda x: 1.0, lambda x: (1.0, np.array([0.0, 1e-30])), p)
    assert not rows[0]["ok"] and "constant" in rows[0]["why"]


def test_a_real_check_passes_and_reports_how_much_it_saw():
    p = np.array([0.3, -1.2, 2.0])
    rows = gradcheck(lambda x: float(np.sum(np.sin(x))), lambda x: (float(np.sum(np.sin(x))), np.cos(x)), p)
    assert rows[0]["ok"] and rows[0]["nonzero"] == 1.0 and "why" not in rows[0]


@pytest.mark.parametrize("family", ["mlp[relu]", "dense[relu]"])
def test_relu_blocks_are_alive(family):
    """The relu blocks used to end in a dead relu (loss 0, every gradient 0)."""
    block = next(b for b in all_blocks() if b.name == family)
    value, grad = block.loss_and_grad(block.params.copy())
    assert value != 0.0 and np.count_nonzero(grad) >= 0.5 * grad.size
    assert all(r["ok"] for r in check_block(block))


@pytest.mark.parametrize("path", fast_paths(), ids=lambda p: p.name)
def test_float32_fast_path_matches_float64(path):
    row = check_fast_path(path)
    assert row["ok"], row
    assert row["max_rel_err"] > 0  # it really ran in single precision


def test_fast_path_check_can_fail():
    """A float32 result off by a factor 1.001 (a far smaller error than any wrong derivative)."""
    bad = FastPath("bad", lambda dt: [np.arange(1.0, 5.0) * (1.001 if dt == np.float32 else 1.0)])
    assert not check_fast_path(bad)["ok"]
    zero = FastPath("zero", lambda dt: [np.zeros(3)])
    assert not check_fast_path(zero)["ok"]
    assert FLOAT32_TOL < 1e-3


def test_fused_step_refuses_a_finite_loss_with_a_non_finite_gradient():
    """float32, a tiny noise variance: the loss is finite, the gradient's sum of squares
    overflows. The step must change nothing (no parameter, no Adam moment, no step count)."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((4, 8, 1))
    batch = {k: v.astype(np.float32) for k, v in {"q": q, "p": 0.5 * q, "dqdt": q, "dpdt": -q}.items()}
    model = make_model("vin-vv", 1, 0.1, n_seq=4, hidden=(8,))
    params = model.init(rng, batch, np.float32)
    params[model.layout.slice("log_var")] = -60.0  # 1 / sigma^2 = e^60 ~ 1e26
    loss, grad = model.loss_and_grad(params, batch)
    with np.errstate(over="ignore"):
        assert np.isfinite(loss) and not np.isfinite(np.sum(grad.astype(np.float32) ** 2))
    opt = Adam(params.size, dtype=np.float32)
    step = make_stepper(model, batch, opt)
    before = params.copy()
    assert not np.isfinite(step(params))
    assert np.array_equal(params, before) and opt.t == 0 and not opt.m.any() and not opt.v.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_relu_derivative_is_zero_at_the_kink(dtype):
    """relu'(0) = 0 in the BLAS dense backward, as in act_d1 (the per-sample kernels)."""
    net = MLP([2, 3, 1], ["relu", "identity"])
    layout = net.layout()
    params = np.zeros(layout.size, dtype)
    layout.view(params, "W1")[...] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    layout.view(params, "W2")[...] = [[1.0, 1.0, 1.0]]
    x = np.array([[0.0, 0.0], [1.0, -1.0]], dtype)  # z = (0, 0, 0), then (1, -1, 0)
    out, cache = dense_forward(net, params, x)
    grad = np.zeros_like(params)
    dx = dense_backward(net, params, cache, np.ones((2, 1), dtype), grad)
    # only the one unit with z > 0 (unit 0 of the second row) passes gradient
    np.testing.assert_array_equal(dx, np.array([[0.0, 0.0], [1.0, 0.0]], dtype))
    np.testing.assert_array_equal(layout.view(grad, "b1"), np.array([1.0, 0.0, 0.0], dtype))
