"""Dense MLP kernels: against the NumPy reference, against finite differences, bad input."""

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from vinnp.gradcheck.core import gradcheck
from vinnp.layers import reference as R
from vinnp.layers.activations import ACTIVATIONS
from vinnp.layers.mlp import MLP, backward, forward
from vinnp.params import Layout


def random_mlp(rng, depth, width, acts, n_in, n_out):
    sizes = [n_in] + [width] * (depth - 1) + [n_out]
    net = MLP(sizes, acts)
    params = net.init(rng) + 0.1 * rng.standard_normal(net.layout().size)
    return net, params


@st.composite
def networks(draw, activations=ACTIVATIONS):
    depth = draw(st.integers(1, 4))
    width = draw(st.integers(1, 64))
    acts = [draw(st.sampled_from(activations)) for _ in range(depth)]
    n_in = draw(st.integers(1, 6))
    n_out = draw(st.integers(1, 4))
    batch = draw(st.integers(1, 32))
    seed = draw(st.integers(0, 2**31))
    return depth, width, acts, n_in, n_out, batch, seed


def flat_grads(pairs):
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in pairs])


@given(networks())
def test_kernels_match_reference_float64(case):
    depth, width, acts, n_in, n_out, batch, seed = case
    rng = np.random.default_rng(seed)
    net, params = random_mlp(rng, depth, width, acts, n_in, n_out)
    x = rng.standard_normal((batch, n_in))
    g = rng.standard_normal((batch, n_out))
    y_ref, _, _ = R.mlp_forward(net.weights(params), acts, x)
    np.testing.assert_allclose(forward(net, params, x), y_ref, rtol=1e-12, atol=1e-12)
    grads_ref, dx_ref = R.mlp_backward(net.weights(params), acts, x, g)
    grad, dx = backward(net, params, x, g)
    np.testing.assert_allclose(grad, flat_grads(grads_ref), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-10)


@given(networks(activations=("identity", "tanh", "softplus", "sin")))
def test_backward_matches_central_differences(case):
    depth, width, acts, n_in, n_out, batch, seed = case
    rng = np.random.default_rng(seed)
    net, params = random_mlp(rng, depth, width, acts, n_in, n_out)
    x = rng.standard_normal((batch, n_in))
    Rw = rng.standard_normal((batch, n_out))
    k = params.size
    layout = Layout.join([("", net.layout()), ("", Layout([("x", (batch, n_in))]))])
    theta = np.concatenate([params, x.ravel()])

    def loss(p):
        return float(np.sum(Rw * forward(net, p[:k], p[k:].reshape(batch, n_in))))

    def loss_and_grad(p):
        xx = p[k:].reshape(batch, n_in)
        grad, dx = backward(net, p[:k], xx, Rw)
        return loss(p), np.concatenate([grad, dx.ravel()])

    rows = gradcheck(loss, loss_and_grad, theta, layout, rng=rng, max_entries=12)
    assert all(r["ok"] for r in rows), rows


@given(st.integers(1, 3), st.integers(0, 1000))
def test_relu_backward_away_from_kink(depth, seed):
    """relu has no derivative at 0; shift biases so no unit sits near its kink."""
    rng = np.random.default_rng(seed)
    net, params = random_mlp(rng, depth, 8, ["relu"] * depth, 3, 2)
    x = rng.standard_normal((5, 3))
    y = forward(net, params, x)
    Rw = rng.standard_normal(y.shape)

    def loss(p):
        return float(np.sum(Rw * forward(net, p, x)))

    def loss_and_grad(p):
        return loss(p), backward(net, p, x, Rw)[0]

    # Central differences are exact on a linear piece; keep every pre-activation
    # farther from its kink than the stencil's largest step can move it.
    _, zs, _ = R.mlp_forward(net.weights(params), net.activations, x)
    assume(min(np.abs(z).min() for z in zs[1:]) > 2e-2)
    # and a live network: with every unit of a layer off the loss is flat, and a check of a
    # zero gradient could not fail (the checker refuses it; tests/test_checks_can_fail.py)
    assume(np.any(loss_and_grad(params)[1]))
    assert all(r["ok"] for r in gradcheck(loss, loss_and_grad, params, net.layout()))


def test_float32_kernels_track_float64():
    rng = np.random.default_rng(1)
    net, params = random_mlp(rng, 3, 50, ["tanh", "softplus", "identity"], 4, 3)
    x = rng.standard_normal((20, 4))
    g = rng.standard_normal((20, 3))
    y64 = forward(net, params, x)
    y32 = forward(net, params.astype(np.float32), x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    g32, dx32 = backward(net, params.astype(np.float32), x.astype(np.float32), g.astype(np.float32))
    g64, dx64 = backward(net, params, x, g)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


def test_backward_accumulates_into_grad():
    rng = np.random.default_rng(2)
    net, params = random_mlp(rng, 2, 5, "tanh", 2, 1)
    x = rng.standard_normal((4, 2))
    g = np.ones((4, 1))
    once, _ = backward(net, params, x, g)
    twice, _ = backward(net, params, x, g, grad=once.copy())
    np.testing.assert_allclose(twice, 2 * once)


def test_results_do_not_depend_on_batch_chunking():
    """Batches above one chunk are reduced in a fixed order: same bits as summing chunks."""
    rng = np.random.default_rng(3)
    net, params = random_mlp(rng, 2, 16, "tanh", 3, 1)
    x = rng.standard_normal((100, 3))
    g = rng.standard_normal((100, 1))
    a, _ = backward(net, params, x, g)
    b, _ = backward(net, params, x, g)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a, sum(backward(net, params, x[i:i + 1], g[i:i + 1])[0] for i in range(100)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda: MLP([3], "tanh"), "sizes"),
    (lambda: MLP([3, 0, 1], "tanh"), r"sizes\[1\]"),
    (lambda: MLP([3, 4, 1], "swish"), "activations.*swish"),
    (lambda: MLP([3, 4, 1], ["tanh"]), "activations: expected 2"),
])
def test_bad_network_specs(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_name_the_argument():
    net = MLP([3, 4, 2], "tanh")
    params = net.init(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 3\)"):
        forward(net, params, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x: contains NaN"):
        forward(net, params, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="params: contains NaN"):
        forward(net, np.full_like(params, np.inf), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"params: expected shape"):
        forward(net, params[:-1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x: dtype float32 does not match"):
        forward(net, params, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="g_out: expected 2 rows"):
        backward(net, params, np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="params: expected dtype float32 or float64"):
        forward(net, params.astype(np.float16), np.zeros((2, 3)))


@given(networks(), st.sampled_from(["normal", "uniform"]))
def test_init_schemes_are_seeded_and_bounded(case, scheme):
    depth, width, acts, n_in, n_out, _, seed = case
    net = MLP([n_in] + [width] * (depth - 1) + [n_out], acts)
    a = net.init(np.random.default_rng(seed), scheme=scheme)
    assert np.array_equal(a, net.init(np.random.default_rng(seed), scheme=scheme))
    layout = net.layout()
    for l in range(1, depth + 1):
        W, b = layout.view(a, f"W{l}"), layout.view(a, f"b{l}")
        if scheme == "uniform":  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases alike
            bound = 1 / np.sqrt(net.sizes[l - 1])
            assert np.all(np.abs(W) <= bound) and np.all(np.abs(b) <= bound)
            assert np.any(b != 0)
        elif l == depth:
            assert np.all(b == 0)  # "normal" leaves the output bias at zero


def test_uniform_init_fills_its_interval():
    # a wide layer's draws reach close to both ends of U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and
    # have that distribution's standard deviation, bound / sqrt(3)
    net = MLP([4, 4000, 1], "tanh")
    params = net.init(np.random.default_rng(0), scheme="uniform")
    W1 = net.layout().view(params, "W1")
    bound = 0.5
    assert W1.max() > 0.99 * bound and W1.min() < -0.99 * bound
    assert abs(W1.std() - bound / np.sqrt(3)) < 0.01 * bound


def test_unknown_init_scheme_names_the_field():
    with pytest.raises(ValueError, match="init: expected one of normal, uniform; got 'glorot'"):
        MLP([2, 3, 1], "tanh").init(np.random.default_rng(0), scheme="glorot")


def test_normal_init_draws_are_pinned():
    # pixel runs and old phase-space runs were initialised with "normal": its draws must not
    # change (order or scale), or those runs could no longer be repeated
    net = MLP([1, 3, 1], "tanh")
    rng = np.random.default_rng(0)
    expected = np.concatenate([rng.standard_normal(3), rng.standard_normal(3),
                               rng.standard_normal(3) / np.sqrt(3), [0.0]])
    layout = net.layout()
    got = net.init(np.random.default_rng(0))
    order = np.concatenate([layout.view(got, n).ravel() for n in ("W1", "b1", "W2", "b2")])
    assert np.array_equal(order, expected)
