"""BLAS-backed dense MLP: against the per-sample kernels, against central differences, bad input."""

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from vinnp.gradcheck.core import check_block, gradcheck
from vinnp.layers import mlp
from vinnp.layers.activations import ACTIVATIONS
from vinnp.gradcheck.layers import dense_blocks as gradcheck_blocks
from vinnp.layers.dense import DenseCache, dense_backward, dense_forward
from vinnp.layers.mlp import MLP
from vinnp.params import Layout


@st.composite
def networks(draw, activations=ACTIVATIONS):
    """Depth 1-3, widths 1-32, batch 1-16, any activations, a seed."""
    depth = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 32)) for _ in range(depth + 1)]
    acts = [draw(st.sampled_from(activations)) for _ in range(depth)]
    batch = draw(st.integers(1, 16))
    seed = draw(st.integers(0, 2**31))
    return sizes, acts, batch, seed


def build(case):
    sizes, acts, batch, seed = case
    rng = np.random.default_rng(seed)
    net = MLP(sizes, acts)
    params = net.init(rng) + 0.1 * rng.standard_normal(net.layout().size)
    x = rng.standard_normal((batch, sizes[0]))
    g = rng.standard_normal((batch, sizes[-1]))
    return net, params, x, g, rng


def close(a, b, tol=1e-12):
    """Equal to ``tol`` relative to the array's scale (BLAS sums in another order)."""
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


@given(networks())
def test_matches_per_sample_kernels_float64(case):
    net, params, x, g, _ = build(case)
    y, cache = dense_forward(net, params, x)
    close(y, mlp.forward(net, params, x))
    grad = np.zeros_like(params)
    dx = dense_backward(net, params, cache, g, grad)
    grad_ref, dx_ref = mlp.backward(net, params, x, g)
    close(grad, grad_ref)
    close(dx, dx_ref)


def kink_margin(net, params, x):
    """Smallest |z| over the relu layers (inf when there are none)."""
    _, cache = dense_forward(net, params, x)
    zs = [z for z, a in zip(cache.z, net.activations) if a == "relu"]
    return min((np.abs(z).min() for z in zs), default=np.inf)


@given(networks())
def test_backward_matches_central_differences(case):
    """Parameters and inputs; relu only where no stencil step can cross its kink."""
    net, params, x, Rw, rng = build(case)
    # The stencil moves a parameter by at most 2e-4 max(1, |p|); with O(1) weights a
    # pre-activation moves by far less than this margin.
    assume(kink_margin(net, params, x) > 2e-2)
    k = params.size
    layout = Layout.join([("", net.layout()), ("", Layout([("x", x.shape)]))])
    theta = np.concatenate([params, x.ravel()])

    def loss(p):
        return float(np.sum(Rw * dense_forward(net, p[:k], layout.view(p, "x"))[0]))

    def loss_and_grad(p):
        y, cache = dense_forward(net, p[:k], layout.view(p, "x"))
        grad = np.zeros_like(p)
        grad[k:] = dense_backward(net, p[:k], cache, Rw, grad[:k]).ravel()
        return float(np.sum(Rw * y)), grad

    rows = gradcheck(loss, loss_and_grad, theta, layout, rng=rng, max_entries=12)
    assert all(r["ok"] for r in rows), rows


def test_float32_tracks_float64():
    rng = np.random.default_rng(1)
    net = MLP([40, 30, 30, 5], ["relu", "tanh", "identity"])
    params = net.init(rng)
    x = rng.uniform(size=(16, 40))
    g = rng.standard_normal((16, 5))
    y64, c64 = dense_forward(net, params, x)
    y32, c32 = dense_forward(net, params.astype(np.float32), x.astype(np.float32))
    assert y32.dtype == np.float32 and all(z.dtype == np.float32 for z in c32.z)
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    g64, g32 = np.zeros_like(params), np.zeros(params.size, np.float32)
    dx64 = dense_backward(net, params, c64, g, g64)
    dx32 = dense_backward(net, params.astype(np.float32), c32, g.astype(np.float32), g32)
    assert g32.dtype == dx32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * np.abs(g64).max())
    np.testing.assert_allclose(dx32, dx64, rtol=1e-3, atol=1e-4 * np.abs(dx64).max())


def test_inside_a_model_vector_accumulates_and_skips_dx():
    """Under a prefix in a bigger flat vector: only its own slice moves, += twice is 2x."""
    rng = np.random.default_rng(2)
    net = MLP([3, 4, 2], "softplus")
    layout = Layout.join([("a", Layout([("w", (5,))])), ("net", net.layout())])
    params = np.concatenate([rng.standard_normal(5), net.init(rng)])
    x = rng.standard_normal((6, 3))
    g = rng.standard_normal((6, 2))
    y, cache = dense_forward(net, params, x, layout, "net")
    close(y, mlp.forward(net, params[5:], x))
    grad = np.zeros_like(params)
    dx = dense_backward(net, params, cache, g, grad, layout, "net")
    assert np.all(grad[:5] == 0)
    close(grad[5:], mlp.backward(net, params[5:], x, g)[0])
    once = grad.copy()
    assert dense_backward(net, params, cache, g, grad, layout, "net", need_dx=False) is None
    close(grad, 2 * once)
    close(dx, mlp.backward(net, params[5:], x, g)[1])


@given(networks(), st.sampled_from([np.float32, np.float64]))
def test_overwriting_equals_accumulating_into_zeros(case, dtype):
    """accumulate=False writes the network's slice (whatever it held) and nothing else; the
    result is bit-for-bit the += into a zero buffer, and dx is unchanged."""
    net, params, x, g, _ = build(case)
    params, x, g = params.astype(dtype), x.astype(dtype), g.astype(dtype)
    layout = Layout.join([("a", Layout([("w", (3,))])), ("net", net.layout())])
    flat = np.concatenate([np.ones(3, dtype), params])
    _, cache = dense_forward(net, flat, x, layout, "net")
    added = np.zeros_like(flat)
    dx_added = dense_backward(net, flat, cache, g, added, layout, "net")
    written = np.full_like(flat, 5.0)
    dx_written = dense_backward(net, flat, cache, g, written, layout, "net", accumulate=False)
    assert np.all(written[:3] == 5.0)
    assert np.array_equal(written[3:], added[3:]) and np.array_equal(dx_written, dx_added)


@given(networks(), st.sampled_from([np.float32, np.float64]), st.booleans())
def test_unchecked_path_is_the_same_computation(case, dtype, accumulate):
    """check=False (a model that validated its inputs once) changes nothing but the checks:
    bit-identical outputs and gradients, here from Fortran-ordered inputs that the unchecked
    path must make contiguous itself; and it does skip them, so a NaN parameter flows
    through instead of raising."""
    net, params, x, g, _ = build(case)
    params, x, g = params.astype(dtype), x.astype(dtype), g.astype(dtype)
    outs = []
    for check, xi, gi in ((True, x, g), (False, np.asfortranarray(x), np.asfortranarray(g))):
        y, cache = dense_forward(net, params, xi, check=check)
        grad = np.full_like(params, 0.5)
        dx = dense_backward(net, params, cache, gi, grad, accumulate=accumulate, check=check)
        outs.append((y, grad, dx))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
    bad = params.copy()
    bad[-1] = np.nan  # the last bias: every output row reads it
    y, _ = dense_forward(net, bad, x, check=False)
    assert np.isnan(y).any()


def test_registered_blocks_pass():
    blocks = gradcheck_blocks(np.random.default_rng(0))
    assert sorted(b.name for b in blocks) == sorted(f"dense[{a}]" for a in ACTIVATIONS)
    bad = [r for b in blocks for r in check_block(b) if not r["ok"]]
    assert not bad, bad


def test_bad_inputs_name_the_argument():
    net = MLP([3, 4, 2], "tanh")
    params = net.init(np.random.default_rng(0))
    x = np.zeros((2, 3))
    _, cache = dense_forward(net, params, x)
    grad = np.zeros_like(params)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 3\)"):
        dense_forward(net, params, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x: dtype float32 does not match"):
        dense_forward(net, params, x.astype(np.float32))
    with pytest.raises(ValueError, match="params: contains NaN"):
        dense_forward(net, np.full_like(params, np.nan), x)
    with pytest.raises(ValueError, match="mlp: expected"):
        dense_forward("tanh", params, x)
    with pytest.raises(ValueError, match="g_out: expected 2 rows"):
        dense_backward(net, params, cache, np.zeros((3, 2)), grad)
    with pytest.raises(ValueError, match=r"g_out: expected shape \(batch, 2\)"):
        dense_backward(net, params, cache, np.zeros((2, 3)), grad)
    with pytest.raises(ValueError, match="grad: expected a float64 vector"):
        dense_backward(net, params, cache, np.zeros((2, 2)), grad.astype(np.float32))
    with pytest.raises(ValueError, match="grad: expected a NumPy array"):
        dense_backward(net, params, cache, np.zeros((2, 2)), list(grad))
    with pytest.raises(ValueError, match="grad: expected a writeable, contiguous"):
        dense_backward(net, params, cache, np.zeros((2, 2)), np.zeros(2 * params.size)[::2])
    with pytest.raises(ValueError, match="cache: expected the DenseCache"):
        dense_backward(MLP([3, 2], "tanh"), MLP([3, 2], "tanh").init(np.random.default_rng(0)),
                       cache, np.zeros((2, 2)), grad)
    assert isinstance(cache, DenseCache)
