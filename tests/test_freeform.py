"""FreeForm, the DVAE baseline's dynamics x_{t+1} = f(x_t) (Figure 5).

Checks: BPTT against central differences, both as fixed cases and as a
Hypothesis property; the forward pass against the NumPy reference MLP; the
Cell conventions (obs[:, 0] = x1, JSON, layout, accumulation into grad); and
the whole pixel-VAE ELBO with FreeForm in place of the Cell.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vinnp.dynamics.cells import Cell
from vinnp.dynamics.freeform import FreeForm
from vinnp.gradcheck.dynamics import freeform_blocks as gradcheck_blocks, freeform_rollout_block as rollout_block
from vinnp.gradcheck.core import check_block
from vinnp.layers import reference as R
from vinnp.params import Layout


def build(dim=2, hidden=(8,), seed=0, dtype=np.float64):
    cell = FreeForm("dvae", dim, 1.0, hidden=hidden)
    layout = Layout.join([("cell", cell.layout())])
    rng = np.random.default_rng(seed)
    return cell, layout, cell.init(rng, dtype), rng


def assert_ok(rows):
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", [(6,), (5, 4)], ids=["depth1", "depth2"])
@pytest.mark.parametrize("dim", [1, 2])
def test_backward_matches_central_differences(dim, hidden):
    """Every W_l, b_l and x1, float64, max relative error <= 1e-6."""
    block = rollout_block(np.random.default_rng(10 * dim + len(hidden)), dim, hidden, batch=3, steps=7)
    rows = check_block(block, tol=1e-6)
    assert {r["param"] for r in rows} == set(block.layout.names)
    assert_ok(rows)


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 7), min_size=0, max_size=2),
       T=st.integers(1, 6),
       batch=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_backward_matches_central_differences_property(dim, hidden, T, batch, seed):
    """Any shape, T = 1 included (no step: only x1 has a gradient), no hidden layer included."""
    block = rollout_block(np.random.default_rng(seed), dim, tuple(hidden), batch=batch, steps=T)
    assert_ok(check_block(block, tol=1e-6, max_entries=8))


def test_gradcheck_blocks_pass():
    blocks = gradcheck_blocks(np.random.default_rng(0))
    assert len(blocks) == 2
    for block in blocks:
        assert_ok(check_block(block))


def test_backward_accumulates_into_grad():
    """backward adds to grad (a model sums several components' gradients into one buffer)."""
    cell, layout, params, rng = build()
    x1 = rng.standard_normal((4, 2, 2))
    g_obs = rng.standard_normal((4, 5, 2, 2))
    obs, cache = cell.rollout(params, layout, x1, 5)
    fresh = np.zeros_like(params)
    g1 = cell.backward(params, layout, cache, g_obs, fresh)
    grad = np.ones_like(params)
    g2 = cell.backward(params, layout, cache, g_obs, grad)
    np.testing.assert_allclose(grad, 1.0 + fresh, rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(g1, g2)


def test_drop_in_for_cell_in_the_pixel_vae():
    """The whole ELBO gradient with FreeForm replacing the model's cell.

    A DVAE net [2d, 5, 2d] has the same layout as the ResRNN's, so the model's
    flat vector fits unchanged. Redraw until every ReLU is 1e-2 from its kink,
    as gradcheck_model does.
    """
    from vinnp.gradcheck.core import Block
    from vinnp.models.pixel_vae import FD_FLOOR, PixelVIN

    rng = np.random.default_rng(3)
    model = PixelVIN("resrnn", 3, 2, enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=5)
    model.cell = FreeForm("dvae", 2, model.h, hidden=(5,))
    assert model.cell.layout() == Cell("resrnn", 2, 1.0, hidden=(5,)).layout()
    for _ in range(200):
        params = model.init(rng) + 0.1 * rng.standard_normal(model.layout.size)
        frames = rng.uniform(size=(2, 3, 28, 28))
        eps = rng.standard_normal((2, model.x_dim))
        if model.relu_margin(params, frames, eps) >= 1e-2:
            break
    value = model.loss(params, frames, eps)
    block = Block("pixel-vae[dvae]", model.layout, params,
                  lambda p: model.loss(p, frames, eps), lambda p: model.loss_and_grad(p, frames, eps),
                  meta={"floor": FD_FLOOR * max(1.0, value)})
    assert_ok(check_block(block, max_entries=4))


# ---------------------------------------------------------------------------
# forward and the Cell conventions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_observation_is_x1(dtype):
    cell, layout, params, rng = build(dtype=dtype)
    x1 = rng.standard_normal((3, 2, 2)).astype(dtype)
    obs, _ = cell.rollout(params, layout, x1, 4)
    assert obs.shape == (3, 4, 2, 2) and obs.dtype == dtype
    np.testing.assert_array_equal(obs[:, 0], x1)


def test_rollout_matches_reference_mlp():
    """obs[:, t] = f(obs[:, t-1]), with f the plain NumPy MLP: not residual."""
    cell, layout, params, rng = build(dim=2, hidden=(7, 5))
    x1 = rng.standard_normal((4, 2, 2))
    obs, _ = cell.rollout(params, layout, x1, 6)
    weights = cell.net.weights(params, layout, "cell.net")
    x = x1.reshape(4, 4)
    for t in range(1, 6):
        x = R.mlp_forward(weights, cell.net.activations, x)[0]
        np.testing.assert_allclose(obs[:, t].reshape(4, 4), x, rtol=1e-12, atol=1e-12)


def test_not_residual():
    """With zero weights and an output bias b, every later state is b (a residual map would give x1 + h b)."""
    cell, layout, params, rng = build(dim=1, hidden=(3,))
    params[:] = 0.0
    b = layout.view(params, f"cell.net.b{cell.net.depth}")
    b[...] = [0.5, -2.0]
    obs, _ = cell.rollout(params, layout, rng.standard_normal((2, 2, 1)), 3)
    np.testing.assert_array_equal(obs[:, 1:].reshape(2, 2, 2), np.broadcast_to([0.5, -2.0], (2, 2, 2)))


def test_json_round_trip_gives_identical_rollouts():
    cell = FreeForm("dvae", 2, 0.5, hidden=(6, 4), activation="softplus")
    assert set(cell.to_json()) == set(Cell("resrnn", 2, 0.5).to_json())
    again = FreeForm.from_json(json.loads(json.dumps(cell.to_json())))
    assert again.to_json() == cell.to_json() and again.layout() == cell.layout()
    layout = Layout.join([("cell", cell.layout())])
    rng = np.random.default_rng(1)
    params = cell.init(rng)
    x1 = rng.standard_normal((3, 2, 2))
    np.testing.assert_array_equal(cell.rollout(params, layout, x1, 5)[0], again.rollout(params, layout, x1, 5)[0])


def test_float32_close_to_float64():
    cell, layout, params, rng = build(dim=2, hidden=(16,))
    x1 = rng.standard_normal((5, 2, 2))
    obs64, c64 = cell.rollout(params, layout, x1, 8)
    obs32, c32 = cell.rollout(params.astype(np.float32), layout, x1.astype(np.float32), 8)
    assert obs32.dtype == np.float32
    np.testing.assert_allclose(obs32, obs64, rtol=1e-4, atol=1e-5)
    g_obs = rng.standard_normal(obs64.shape)
    g64 = np.zeros_like(params)
    g32 = np.zeros(params.size, np.float32)
    gx64 = cell.backward(params, layout, c64, g_obs, g64)
    gx32 = cell.backward(params.astype(np.float32), layout, c32, g_obs.astype(np.float32), g32)
    assert g32.dtype == gx32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-3 * np.abs(g64).max())
    np.testing.assert_allclose(gx32, gx64, rtol=1e-3, atol=1e-3 * np.abs(gx64).max())


def test_layout_and_attributes_match_cell():
    cell = FreeForm("dvae", 3, 1.0, hidden=(10,))
    assert cell.net.sizes == [6, 10, 6] and cell.net.activations == ["tanh", "identity"]
    assert not cell.mass.learned and cell.mass.n_params == 0
    assert cell.layout().names == ["net.W1", "net.b1", "net.W2", "net.b2"]
    assert cell.init(np.random.default_rng(0), np.float32).dtype == np.float32


@pytest.mark.parametrize("shape", [(3, 2), (3, 2, 3), (3, 1, 2), (2, 3, 2)])
def test_bad_x1_shape_raises(shape):
    cell, layout, params, _ = build(dim=2)
    with pytest.raises(ValueError, match="x1"):
        cell.rollout(params, layout, np.zeros(shape), 3)


def test_x1_dtype_must_match_params():
    cell, layout, params, _ = build(dim=2)
    with pytest.raises(ValueError, match="x1"):
        cell.rollout(params, layout, np.zeros((2, 2, 2), np.float32), 3)


def test_learn_mass_raises():
    with pytest.raises(ValueError, match="learn_mass"):
        FreeForm("dvae", 2, 1.0, learn_mass=True)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="model"):
        FreeForm("resrnn", 2, 1.0)
    with pytest.raises(ValueError, match="dim"):
        FreeForm("dvae", 0, 1.0)
    with pytest.raises(ValueError, match="hidden"):
        FreeForm("dvae", 2, 1.0, hidden=(0,))
    cell, layout, params, _ = build(dim=2)
    obs, cache = cell.rollout(params, layout, np.zeros((2, 2, 2)), 3)
    with pytest.raises(ValueError, match="g_obs"):
        cell.backward(params, layout, cache, np.zeros((2, 4, 2, 2)), np.zeros_like(params))
