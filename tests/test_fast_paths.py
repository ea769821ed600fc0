"""The float32 fast paths against the float64 kernels the central-difference tests check.

float32 kernels that approximate libm (tanh32) or specialise a network shape (one hidden
tanh layer) cannot be checked by central differences in float32 itself; instead they
must agree with the float64 path to float32 accuracy. A wrong derivative formula would
show up as an O(1) disagreement, far above the tolerances here.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from vinnp.layers.activations import CODES, tanh32
from vinnp.layers.dense import _activate, dense_backward, dense_forward
from vinnp.layers.mlp import MLP
from vinnp.layers.potential import force, force_backward, potential_mlp
from vinnp.optim import Adam


@njit  # not cached: a test module is no stable home for Numba's cache
def _tanh32_array(x, out):
    for i in range(x.shape[0]):
        out[i] = tanh32(x[i])


def test_tanh32_is_float32_accurate_everywhere():
    x = np.concatenate([np.linspace(-30, 30, 400001), [0.0, -0.0, 1e-30, -1e-30, 8.99, 9.0, 9.01]]).astype(np.float32)
    y = np.empty_like(x)
    _tanh32_array(x, y)
    exact = np.tanh(x.astype(np.float64))
    assert y.dtype == np.float32
    assert np.max(np.abs(y - exact)) < 4e-7            # measured 3.5e-7: ~3 ulp
    nz = np.abs(exact) > 1e-30
    assert np.max(np.abs(y[nz] - exact[nz]) / np.abs(exact[nz])) < 4e-7   # relative too, near 0
    assert np.all(np.abs(y) <= 1.0) and np.all(np.sign(y) == np.sign(x))
    assert np.all(np.diff(y[: 400001]) >= -4e-7)          # monotone up to its own error bound


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 4), hidden=st.integers(1, 300), batch=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_shallow_tanh_force_float32_matches_float64(d, hidden, batch, seed):
    """dU/dq, its parameter gradient and Hv: the float32 one-hidden-layer kernels against the
    general float64 kernels, for any d (the d = 1 loop is the vectorised one)."""
    rng = np.random.default_rng(seed)
    net = potential_mlp(d, (hidden,))
    p = net.init(rng)
    q = rng.standard_normal((batch, d))
    v = rng.standard_normal((batch, d))
    f64 = force(net, p, q)
    g64, h64 = force_backward(net, p, q, v)
    p32, q32, v32 = (a.astype(np.float32) for a in (p, q, v))
    f32 = force(net, p32, q32)
    g32, h32 = force_backward(net, p32, q32, v32)
    assert f32.dtype == g32.dtype == h32.dtype == np.float32
    # float32 sums over up to 300 units of O(1) terms: ~1e-6 relative to the largest entry
    assert _rel(f32, f64) < 2e-5 and _rel(g32, g64) < 2e-5 and _rel(h32, h64) < 2e-5


def test_the_fast_path_is_only_for_its_shape():
    """Two hidden layers (or another activation) take the general kernels in float32 too:
    they must agree with float64 just as well."""
    rng = np.random.default_rng(3)
    for net in (potential_mlp(2, (30, 20)), potential_mlp(2, (30,), "softplus")):
        p = net.init(rng)
        q = rng.standard_normal((10, 2))
        v = rng.standard_normal((10, 2))
        g64, h64 = force_backward(net, p, q, v)
        g32, h32 = force_backward(net, p.astype(np.float32), q.astype(np.float32), v.astype(np.float32))
        assert _rel(g32, g64) < 2e-5 and _rel(h32, h64) < 2e-5


def test_relu_dense_kernels_match_float64_and_keep_nan():
    rng = np.random.default_rng(4)
    net = MLP([7, 50, 40, 3], ["relu", "relu", "identity"])
    p = net.init(rng)
    x = rng.standard_normal((20, 7))
    g_out = rng.standard_normal((20, 3))
    out = {}
    for dt in (np.float64, np.float32):
        y, cache = dense_forward(net, p.astype(dt), x.astype(dt))
        grad = np.zeros(p.size, dt)
        dx = dense_backward(net, p.astype(dt), cache, g_out.astype(dt), grad)
        out[dt] = (y, grad, dx)
    for a, b in zip(out[np.float32], out[np.float64]):
        assert _rel(a, b) < 1e-5
    # NaN passes through the relu kernel as it does through act(): divergence stays visible
    z = np.array([np.nan, -1.0, 2.0, 0.0, 3.0, -2.0, 1.0], np.float32)
    a = np.empty_like(z)
    _activate(CODES["relu"], z, a)
    assert np.isnan(a[0]) and np.array_equal(a[1:], [0.0, 2.0, 0.0, 3.0, 0.0, 1.0])


def test_adam_float32_tracks_float64():
    rng = np.random.default_rng(5)
    theta = rng.standard_normal(1000)
    t32 = theta.astype(np.float32)
    o64, o32 = Adam(1000, lr=1e-2), Adam(1000, lr=1e-2, dtype=np.float32)
    for _ in range(20):
        g = rng.standard_normal(1000)
        o64.step(theta, g)
        o32.step(t32, g.astype(np.float32))
    assert np.max(np.abs(t32 - theta)) < 1e-5


@pytest.mark.parametrize("kind", ["vin-vv", "vin-sv", "resrnn"])
def test_pixel_elbo_float32_tracks_float64_at_paper_width_dynamics(kind):
    """The whole pixel ELBO and its gradient with a 1000-unit tanh dynamics network (the
    fast force path for the VINs) and the fused float32 Bernoulli pass."""
    from vinnp.models.pixel_vae import PixelVIN

    rng = np.random.default_rng(6)
    model = PixelVIN(kind, 5, 1, enc_hidden=16, lstm_hidden=4, dec_hidden=16, dyn_hidden=(1000,))
    params = model.init(rng)
    frames = rng.uniform(size=(3, 5, 28, 28))
    eps = rng.standard_normal((3, model.x_dim))
    v64, g64 = model.loss_and_grad(params, frames, eps)
    v32, g32 = model.loss_and_grad(params.astype(np.float32), frames.astype(np.float32), eps)
    assert v32 == pytest.approx(v64, rel=1e-5)
    assert np.linalg.norm(g32 - g64) <= 1e-4 * np.linalg.norm(g64)


@pytest.mark.parametrize("name", ["vin-sv", "vin-vv"])
@pytest.mark.parametrize("d", [1, 3])
def test_vin_gradient_with_learned_mass_float32_tracks_float64(name, d):
    """The whole VIN loss gradient, mass included: the SV backward reads dU/dq back from the
    force kernel's work buffer for d(M^-1), so the fast path must leave it there too."""
    from vinnp.models.registry import make_model

    rng = np.random.default_rng(d)
    model = make_model(name, d, 0.1, n_seq=4, hidden=(64,), learn_mass=True)
    batch = {"q": rng.standard_normal((4, 9, d)), "p": rng.standard_normal((4, 9, d))}
    params = model.init(rng, batch)
    params += 0.05 * rng.standard_normal(params.size)
    v64, g64 = model.loss_and_grad(params, batch)
    b32 = {k: v.astype(np.float32) for k, v in batch.items()}
    v32, g32 = model.loss_and_grad(params.astype(np.float32), b32)
    assert v32 == pytest.approx(v64, rel=1e-5)
    mass = model.layout.slice("cell.mass.L")
    assert _rel(g32[mass], g64[mass]) < 1e-4
    assert _rel(g32, g64) < 1e-4
