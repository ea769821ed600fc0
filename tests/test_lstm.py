"""LSTM forward against a slow reference, BPTT against central differences, bad inputs."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vinnp.gradcheck.core import check_block, gradcheck
from vinnp.params import Layout
from vinnp.layers import lstm
from vinnp.gradcheck.layers import lstm_blocks as gradcheck_blocks, lstm_gradcheck_block
from vinnp.layers.lstm import (
    lstm_backward,
    lstm_forward,
    lstm_forward_reference,
    lstm_init,
    lstm_layout,
    lstm_slice,
)

PIECES = {"lstm.Wx", "lstm.Wh", "lstm.b", "x", "h0", "c0"}


def fd_floor(block):
    """Absolute floor for the relative error, from the loss size.

    The fourth-order stencil's round-off is ~3e-11 |f| here (measured), so an
    entry smaller than 1e-4 |f| cannot be resolved to 1e-6 relative; such
    entries are judged on absolute error <= 1e-10 |f| instead.
    """
    return 1e-4 * max(1.0, abs(block.loss(block.params)))


def make(rng, nb, nt, d, nh, dtype=np.float64, scale=1.0):
    params = (lstm_init(rng, d, nh) * scale).astype(dtype)
    x = rng.normal(size=(nb, nt, d)).astype(dtype)
    h0 = rng.normal(0, 0.5, size=(nb, nh)).astype(dtype)
    c0 = rng.normal(0, 0.5, size=(nb, nh)).astype(dtype)
    return params, x, h0, c0


def full_grad(params, x, h0, c0, reverse, dhs, dh_last=None, dc_last=None):
    nh = h0.shape[1]
    hs, cache = lstm_forward(params, (x.shape[2], nh), x, h0, c0, reverse=reverse)
    g = np.zeros_like(params)
    dx, dh0, dc0 = lstm_backward(dhs, cache, g, dh_last=dh_last, dc_last=dc_last)
    return hs, cache, g, dx, dh0, dc0


# --------------------------------------------------------------------------
# Gradients: central differences, float64, both directions
# --------------------------------------------------------------------------


def test_gradcheck_blocks_cover_both_directions_and_every_piece():
    blocks = gradcheck_blocks(np.random.default_rng(0))
    assert sorted(b.name for b in blocks) == ["lstm[forward]", "lstm[reverse]"]
    for block in blocks:
        assert block.params.dtype == np.float64
        rows = check_block(block)
        assert {r["param"] for r in rows} == PIECES
        for r in rows:
            assert r["ok"], r
            assert r["max_rel_err"] <= 1e-6


@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_every_entry_small_case(reverse):
    # Every entry of every piece (no sampling), default floor, tolerance 1e-6.
    block = lstm_gradcheck_block(np.random.default_rng(1), 2, 4, 3, 3, reverse)
    rows = gradcheck(block.loss, block.loss_and_grad, block.params, block.layout,
                     max_entries=10**6)
    assert sum(r["n_checked"] for r in rows) == block.params.size
    assert all(r["ok"] for r in rows), rows


@settings(max_examples=25, deadline=None)
@given(nb=st.integers(1, 8), nt=st.integers(1, 6), d=st.integers(1, 8), nh=st.integers(1, 8),
       seed=st.integers(0, 2**32 - 1), reverse=st.booleans())
def test_gradcheck_property(nb, nt, d, nh, seed, reverse):
    block = lstm_gradcheck_block(np.random.default_rng(seed), nb, nt, d, nh, reverse)
    rows = check_block(block, max_entries=8, rng=np.random.default_rng(seed),
                       floor=fd_floor(block))
    assert {r["param"] for r in rows} == PIECES
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


def test_gradcheck_detects_a_wrong_gradient():
    # The check itself must be able to fail: drop the forget-gate term of dc_prev.
    block = lstm_gradcheck_block(np.random.default_rng(2), 2, 3, 2, 2, False)
    original = lstm._cell_backward

    def broken(dh, dc_next, gates, c_prev, tc, da, dc_prev):
        original(dh, dc_next, gates, c_prev, tc, da, dc_prev)
        dc_prev[...] = 0.0

    lstm._cell_backward = broken
    try:
        rows = check_block(block)
    finally:
        lstm._cell_backward = original
    failed = {r["param"] for r in rows if not r["ok"]}
    assert "c0" in failed


# --------------------------------------------------------------------------
# Numba kernels against the NumPy reference
# --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(nb=st.integers(1, 8), nt=st.integers(1, 6), d=st.integers(1, 8), nh=st.integers(1, 8),
       seed=st.integers(0, 2**32 - 1), reverse=st.booleans())
def test_forward_matches_reference_float64(nb, nt, d, nh, seed, reverse):
    params, x, h0, c0 = make(np.random.default_rng(seed), nb, nt, d, nh, scale=3.0)
    hs, cache = lstm_forward(params, lstm_layout(d, nh), x, h0, c0, reverse=reverse)
    hs_ref, cs_ref = lstm_forward_reference(params, lstm_layout(d, nh), x, h0, c0, reverse=reverse)
    assert hs.shape == (nb, nt, nh) and hs.dtype == np.float64
    np.testing.assert_allclose(hs, hs_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cache.c.transpose(1, 0, 2), cs_ref, rtol=1e-12, atol=1e-14)
    last = 0 if reverse else nt - 1
    np.testing.assert_array_equal(cache.h_last, hs[:, last])
    np.testing.assert_allclose(cache.c_last, cs_ref[:, last], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
def test_float32_forward_and_backward_close_to_float64(reverse):
    rng = np.random.default_rng(3)
    p64, x64, h64, c64 = make(rng, 4, 6, 5, 7)
    dhs = rng.normal(size=(4, 6, 7))
    to32 = [a.astype(np.float32) for a in (p64, x64, h64, c64)]
    hs32, _, g32, dx32, dh32, dc32 = full_grad(*to32, reverse, dhs.astype(np.float32))
    hs64, _, g64, dx64, dh64, dc64 = full_grad(p64, x64, h64, c64, reverse, dhs)
    for a in (hs32, g32, dx32, dh32, dc32):
        assert a.dtype == np.float32
    hs_ref32, _ = lstm_forward_reference(to32[0], (5, 7), *to32[1:], reverse=reverse)
    assert hs_ref32.dtype == np.float32
    np.testing.assert_allclose(hs32, hs_ref32, atol=1e-6)
    np.testing.assert_allclose(hs32, hs64, atol=1e-6)
    for a32, a64 in ((g32, g64), (dx32, dx64), (dh32, dh64), (dc32, dc64)):
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-5)


def test_saturated_gates_stay_finite_and_match_reference():
    # Pre-activations of hundreds: the sigmoid must not overflow in either dtype.
    for dtype in (np.float32, np.float64):
        params, x, h0, c0 = make(np.random.default_rng(4), 3, 5, 4, 3, dtype=dtype, scale=300.0)
        hs, cache = lstm_forward(params, (4, 3), x, h0, c0)
        hs_ref, _ = lstm_forward_reference(params, (4, 3), x, h0, c0)
        assert np.all(np.isfinite(hs)) and np.all(np.isfinite(cache.gates))
        np.testing.assert_allclose(hs, hs_ref, atol=1e-6)
        _, _, g, dx, dh0, dc0 = full_grad(params, x, h0, c0, False, np.ones_like(hs))
        assert all(np.all(np.isfinite(a)) for a in (g, dx, dh0, dc0))


def test_paper_encoder_size_runs_in_float32():
    # Appendix C.2: embedded frames of width 1000, window of 10, 50 hidden units, in reverse.
    rng = np.random.default_rng(5)
    params = lstm_init(rng, 1000, 50, dtype=np.float32)
    x = rng.normal(size=(4, 10, 1000)).astype(np.float32)
    h0 = np.zeros((4, 50), np.float32)
    hs, cache = lstm_forward(params, lstm_layout(1000, 50), x, h0, h0, reverse=True)
    assert hs.shape == (4, 10, 50) and hs.dtype == np.float32
    hs_ref, _ = lstm_forward_reference(params, (1000, 50), x, h0, h0, reverse=True)
    np.testing.assert_allclose(hs, hs_ref, atol=2e-5)
    g = np.zeros_like(params)
    dx, _, _ = lstm_backward(np.zeros_like(hs), cache, g, dh_last=np.ones((4, 50), np.float32))
    assert dx.shape == x.shape and np.all(np.isfinite(g)) and np.any(g != 0)


# --------------------------------------------------------------------------
# Structure: reverse direction, accumulation, dh_last
# --------------------------------------------------------------------------


def test_reverse_is_forward_on_the_time_flipped_sequence():
    rng = np.random.default_rng(6)
    params, x, h0, c0 = make(rng, 3, 5, 4, 2)
    dhs = rng.normal(size=(3, 5, 2))
    hs_r, cache_r, g_r, dx_r, dh_r, dc_r = full_grad(params, x, h0, c0, True, dhs)
    hs_f, cache_f, g_f, dx_f, dh_f, dc_f = full_grad(params, x[:, ::-1], h0, c0, False,
                                                     dhs[:, ::-1])
    np.testing.assert_allclose(hs_r, hs_f[:, ::-1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cache_r.h_last, hs_r[:, 0], rtol=0, atol=0)
    np.testing.assert_allclose(g_r, g_f, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx_r, dx_f[:, ::-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dh_r, dh_f, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dc_r, dc_f, rtol=1e-12, atol=1e-14)
    # And it is not the same as running forward on the unflipped sequence.
    assert not np.allclose(hs_r, lstm_forward(params, (4, 2), x, h0, c0)[0])


def test_backward_accumulates_into_grad_params():
    rng = np.random.default_rng(7)
    params, x, h0, c0 = make(rng, 2, 3, 2, 2)
    hs, cache = lstm_forward(params, (2, 2), x, h0, c0)
    dhs = rng.normal(size=hs.shape)
    once = np.zeros_like(params)
    lstm_backward(dhs, cache, once)
    start = rng.normal(size=params.shape)
    acc = start.copy()
    lstm_backward(dhs, cache, acc)
    lstm_backward(dhs, cache, acc)
    np.testing.assert_allclose(acc, start + 2 * once, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
def test_dh_last_equals_adding_to_dhs_at_the_last_index(reverse):
    rng = np.random.default_rng(8)
    params, x, h0, c0 = make(rng, 2, 4, 3, 2)
    dhs = rng.normal(size=(2, 4, 2))
    extra = rng.normal(size=(2, 2))
    a = full_grad(params, x, h0, c0, reverse, dhs, dh_last=extra)
    last = 0 if reverse else 3
    dhs2 = dhs.copy()
    dhs2[:, last] += extra
    b = full_grad(params, x, h0, c0, reverse, dhs2)
    for u, v in zip(a[2:], b[2:]):
        np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-14)


def test_forward_keeps_no_reference_to_mutable_weights():
    # An optimiser updating params in place between forward and backward must not
    # change the gradient: the cache keeps its own copy of the weights.
    rng = np.random.default_rng(9)
    params, x, h0, c0 = make(rng, 2, 3, 2, 2)
    hs, cache = lstm_forward(params, (2, 2), x, h0, c0)
    g1 = np.zeros_like(params)
    dx1, _, _ = lstm_backward(np.ones_like(hs), cache, g1)
    params += 1.0
    g2 = np.zeros_like(params)
    dx2, _, _ = lstm_backward(np.ones_like(hs), cache, g2)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(dx1, dx2)


def test_layout_and_init():
    lay = lstm_layout(3, 5)
    assert lay.names == ["Wx", "Wh", "b"]
    assert lay.shapes == {"Wx": (20, 3), "Wh": (20, 5), "b": (20,)}
    p = lstm_init(np.random.default_rng(0), 3, 5, dtype="float32")
    assert p.dtype == np.float32 and p.shape == (lay.size,)
    b = lay.view(p, "b")
    assert np.all(b[5:10] > 0.5)  # forget-gate bias offset
    assert np.all(np.abs(lay.view(p, "Wx")) <= 1 / np.sqrt(5))


def test_lstm_slice_finds_the_lstm_inside_a_model_layout():
    rng = np.random.default_rng(11)
    model = Layout.join([("enc.mlp", Layout([("W1", (5, 3))])), ("enc.lstm", lstm_layout(5, 4)),
                         ("", Layout([("log_var", (2,))]))])
    sub, sl = lstm_slice(model, "enc.lstm")
    assert sub == lstm_layout(5, 4)
    flat = rng.normal(size=model.size)
    np.testing.assert_array_equal(sub.view(flat[sl], "Wh"), model.view(flat, "enc.lstm.Wh"))
    # The gradient of the sub-vector lands in place in the model's gradient buffer.
    grad = np.zeros(model.size)
    x, h0 = rng.normal(size=(2, 3, 5)), np.zeros((2, 4))
    hs, cache = lstm_forward(flat[sl], sub, x, h0, h0)
    lstm_backward(np.ones_like(hs), cache, grad[sl])
    assert np.any(model.view(grad, "enc.lstm.Wx") != 0)
    assert np.all(model.view(grad, "enc.mlp.W1") == 0) and np.all(model.view(grad, "log_var") == 0)
    with pytest.raises(ValueError, match="prefix"):
        lstm_slice(model, "dec.lstm")
    shuffled = Layout([("l.Wh", (16, 4)), ("l.Wx", (16, 5)), ("l.b", (16,))])
    with pytest.raises(ValueError, match="prefix"):
        lstm_slice(shuffled, "l")


# --------------------------------------------------------------------------
# Bad inputs: ValueError naming the argument
# --------------------------------------------------------------------------


@pytest.fixture
def ok():
    rng = np.random.default_rng(10)
    params, x, h0, c0 = make(rng, 2, 3, 4, 5)
    return params, x, h0, c0


@pytest.mark.parametrize("dims, name", [((0, 5), "input_dim"), ((4, -1), "hidden_dim"),
                                        ((4.0, 5), "input_dim"), ((4, True), "hidden_dim")])
def test_layout_rejects_non_positive_sizes(dims, name):
    with pytest.raises(ValueError, match=name):
        lstm_layout(*dims)


def test_forward_rejects_bad_inputs(ok):
    params, x, h0, c0 = ok
    lay = lstm_layout(4, 5)
    cases = [
        ((params[:-1], lay, x, h0, c0), "params"),
        ((params, lstm_layout(3, 5), x, h0, c0), "x"),            # D mismatch
        ((params, lay, x[:, :, :3], h0, c0), "x"),
        ((params, lay, x[0], h0, c0), "x"),                      # 2-d x
        ((params, lay, x[:, :0], h0, c0), "x"),                   # T = 0
        ((params, lay, x[:0], h0[:0], c0[:0]), "x"),              # B = 0
        ((params, lay, x, h0[:1], c0), "h0"),
        ((params, lay, x, h0, c0[:, :4]), "c0"),
        ((params, lay, x.astype(np.float32), h0, c0), "x"),       # dtype mismatch
        ((params.astype(np.float32), lay, x, h0, c0), "x"),
        ((params, lay, x, h0.astype(np.float32), c0), "h0"),
        ((params, lay, x.astype(np.float16), h0, c0), "x"),
        ((params, Layout([("W", (20, 4)), ("b", (20,))]), x, h0, c0), "layout"),
        ((params, "4x5", x, h0, c0), "layout"),
        ((params, (4, 0), x, h0, c0), "hidden_dim"),
    ]
    for args, name in cases:
        with pytest.raises(ValueError, match=name):
            lstm_forward(*args)
    for arr_name in ("params", "x", "h0", "c0"):
        bad = dict(zip(("params", "x", "h0", "c0"), (params, x, h0, c0)))
        bad[arr_name] = bad[arr_name].copy()
        bad[arr_name].flat[1] = np.nan
        with pytest.raises(ValueError, match=f"{arr_name}: contains NaN"):
            lstm_forward(bad["params"], lay, bad["x"], bad["h0"], bad["c0"])
        bad[arr_name].flat[1] = np.inf
        with pytest.raises(ValueError, match=f"{arr_name}: contains NaN or inf"):
            lstm_forward_reference(bad["params"], lay, bad["x"], bad["h0"], bad["c0"])
    with pytest.raises(ValueError, match="reverse"):
        lstm_forward(params, lay, x, h0, c0, reverse="yes")


def test_backward_rejects_bad_inputs(ok):
    params, x, h0, c0 = ok
    hs, cache = lstm_forward(params, (4, 5), x, h0, c0)
    g = np.zeros_like(params)
    cases = [
        ((hs[:, :2], cache, g), {}, "dhs"),
        ((hs.astype(np.float32), cache, g), {}, "dhs"),
        ((np.full_like(hs, np.nan), cache, g), {}, "dhs"),
        ((hs, "cache", g), {}, "cache"),
        ((hs, cache, g[:-1]), {}, "grad_params"),
        ((hs, cache, g.astype(np.float32)), {}, "grad_params"),
        ((hs, cache, list(g)), {}, "grad_params"),
        ((hs, cache, np.zeros(2 * g.size)[::2]), {}, "grad_params"),
        ((hs, cache, g), {"dh_last": np.zeros((2, 4))}, "dh_last"),
        ((hs, cache, g), {"dc_last": np.full((2, 5), np.inf)}, "dc_last"),
    ]
    for args, kwargs, name in cases:
        with pytest.raises(ValueError, match=name):
            lstm_backward(*args, **kwargs)
    assert np.all(g == 0)  # nothing was accumulated by a rejected call


def test_init_rejects_bad_rng_and_dtype():
    with pytest.raises(ValueError, match="rng"):
        lstm_init(np.random.RandomState(0), 2, 2)
    with pytest.raises(ValueError, match="dtype"):
        lstm_init(np.random.default_rng(0), 2, 2, dtype=np.int32)
