"""The force dU/dq and its second-order backward, at any depth."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from vinnp.gradcheck.core import gradcheck
from vinnp.layers import reference as R
from vinnp.layers.activations import SMOOTH
from vinnp.layers.mlp import MLP, backward
from vinnp.layers.potential import force, force_backward, potential_mlp
from vinnp.params import Layout


@st.composite
def potentials(draw):
    depth = draw(st.integers(1, 4))
    width = draw(st.integers(1, 64))
    acts = [draw(st.sampled_from(SMOOTH)) for _ in range(depth)]
    d = draw(st.integers(1, 5))
    batch = draw(st.integers(1, 32))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    net = MLP([d] + [width] * (depth - 1) + [1], acts)
    params = net.init(rng) + 0.2 * rng.standard_normal(net.layout().size)
    return net, params, rng.standard_normal((batch, d)), rng


@given(potentials())
def test_force_is_the_input_gradient_of_u(case):
    net, params, q, rng = case
    ones = np.ones((q.shape[0], 1))
    np.testing.assert_allclose(force(net, params, q), backward(net, params, q, ones)[1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(force(net, params, q), R.force(net.weights(params), net.activations, q),
                               rtol=1e-10, atol=1e-12)


@given(potentials())
def test_second_order_backward_matches_reference(case):
    net, params, q, rng = case
    v = rng.standard_normal(q.shape)
    grad, hv = force_backward(net, params, q, v)
    grads_ref, hv_ref = R.force_backward(net.weights(params), net.activations, q, v)
    flat_ref = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in grads_ref])
    np.testing.assert_allclose(grad, flat_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(hv, hv_ref, rtol=1e-9, atol=1e-11)


@given(potentials())
def test_second_order_backward_matches_central_differences(case):
    """vᵀ ∂(∂U/∂q)/∂θ and the Hessian-vector product against differences of the force."""
    net, params, q, rng = case
    v = rng.standard_normal(q.shape)
    k = params.size
    layout = Layout.join([("", net.layout()), ("", Layout([("q", q.shape)]))])
    theta = np.concatenate([params, q.ravel()])

    def loss(p):
        return float(np.sum(v * force(net, p[:k], p[k:].reshape(q.shape))))

    def loss_and_grad(p):
        grad, hv = force_backward(net, p[:k], p[k:].reshape(q.shape), v)
        return loss(p), np.concatenate([grad, hv.ravel()])

    rows = gradcheck(loss, loss_and_grad, theta, layout, rng=rng, max_entries=12)
    assert all(r["ok"] for r in rows), rows


def test_hessian_is_symmetric():
    rng = np.random.default_rng(0)
    net = potential_mlp(3, (20, 10), "softplus")
    params = net.init(rng)
    q = rng.standard_normal((1, 3))
    H = np.stack([force_backward(net, params, q, e[None])[1][0] for e in np.eye(3)])
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)


def test_known_linear_potential():
    """U = w2 (w1 q + b1) + b2 through identity layers: dU/dq = w1 w2 exactly, Hessian 0."""
    net = MLP([1, 1, 1], ["identity", "identity"])
    layout = net.layout()
    params = layout.zeros()
    layout.view(params, "W1")[...] = 3.0
    layout.view(params, "W2")[...] = -2.0
    q = np.array([[0.7], [-1.1]])
    np.testing.assert_allclose(force(net, params, q), [[-6.0], [-6.0]])
    _, hv = force_backward(net, params, q, np.ones_like(q))
    np.testing.assert_allclose(hv, 0.0)


def test_float32_force_tracks_float64():
    rng = np.random.default_rng(4)
    net = potential_mlp(2, (200,))
    params = net.init(rng)
    q = rng.standard_normal((64, 2))
    v = rng.standard_normal((64, 2))
    f32 = force(net, params.astype(np.float32), q.astype(np.float32))
    np.testing.assert_allclose(f32, force(net, params, q), rtol=1e-4, atol=1e-5)
    g32, h32 = force_backward(net, params.astype(np.float32), q.astype(np.float32), v.astype(np.float32))
    g64, h64 = force_backward(net, params, q, v)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


def test_bad_inputs():
    net = potential_mlp(2, (4,))
    params = net.init(np.random.default_rng(0))
    with pytest.raises(ValueError, match="a potential network has one output"):
        force(MLP([2, 3, 2], "tanh"), MLP([2, 3, 2], "tanh").init(np.random.default_rng(0)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"q: expected shape \(batch, 2\)"):
        force(net, params, np.zeros((3, 1)))
    with pytest.raises(ValueError, match="v: expected 3 rows"):
        force_backward(net, params, np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="q: contains NaN"):
        force(net, params, np.array([[np.nan, 0.0]]))


def test_saturated_tanh_keeps_relative_precision():
    """The case Hypothesis found: square then a saturated tanh output, force ~ sech^2 ~ 1e-10."""
    net = MLP([1, 10, 10, 1], ["identity", "square", "tanh"])
    rng = np.random.default_rng(5)
    params = net.init(rng) + 0.2 * rng.standard_normal(net.layout().size)
    layout = net.layout()
    layout.view(params, "b3")[...] = 12.0  # deep in saturation
    q = np.array([[-0.45]])
    v = np.array([[0.7]])
    k = params.size
    theta = np.concatenate([params, q.ravel()])

    def loss(p):
        return float(np.sum(v * force(net, p[:k], p[k:].reshape(1, 1))))

    def loss_and_grad(p):
        grad, hv = force_backward(net, p[:k], p[k:].reshape(1, 1), v)
        return loss(p), np.concatenate([grad, hv.ravel()])

    assert abs(loss(theta)) < 1e-6  # saturated indeed
    big = Layout.join([("", layout), ("", Layout([("q", (1, 1))]))])
    rows = gradcheck(loss, loss_and_grad, theta, big, rng=rng, max_entries=12)
    assert all(r["ok"] for r in rows), rows
