"""Losses: values against independent references, gradients against central differences."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, stats

from vinnp.gradcheck.core import check_block, gradcheck
from vinnp.gradcheck.layers import (
    LOG_VAR_FORMS,
    bernoulli_block,
    elbo_block,
    gaussian_nll_block,
    kl_block,
    log_var_shape,
    losses_blocks as gradcheck_blocks,
    reparam_block,
)
from vinnp.layers.losses import (
    bernoulli_nll_logits,
    bernoulli_nll_logits_and_grad,
    bernoulli_nll_logits_backward,
    gaussian_nll,
    gaussian_nll_backward,
    kl_std_normal,
    kl_std_normal_backward,
    reparam_sample,
    reparam_sample_backward,
)


def fd_floor(block):
    """Absolute floor for the relative error, from the loss size.

    The fourth-order stencil's round-off is ~2e-12 |f| here (measured); a
    gradient entry below 1e-4 |f| (e.g. d/dmean of the KL where mean ~ 0) cannot
    be resolved to 1e-6 relative, so it is judged on absolute error <= 1e-10 |f|.
    """
    return 1e-4 * max(1.0, abs(block.loss(block.params)))


def assert_block_ok(block, **kwargs):
    rows = check_block(block, **kwargs)
    bad = [r for r in rows if not r["ok"]]
    assert not bad, (block.name, bad)
    return rows


# --------------------------------------------------------------------------
# Gradients: central differences, float64
# --------------------------------------------------------------------------


def test_gradcheck_blocks_cover_every_backward_and_log_var_form():
    blocks = gradcheck_blocks(np.random.default_rng(0))
    names = {b.name for b in blocks}
    for form in LOG_VAR_FORMS:
        assert f"gaussian_nll[log_var={form}]" in names
        assert f"kl_std_normal[log_var={form}]" in names
        assert f"reparam_sample[log_var={form}]" in names
    assert "bernoulli_nll_logits" in names
    assert "elbo[reparam+gaussian_nll+kl]" in names
    for block in blocks:
        assert block.params.dtype == np.float64
        for r in assert_block_ok(block):  # default floor, tol 1e-6
            assert r["max_rel_err"] <= 1e-6


_shapes = dict(batch=st.integers(1, 32), dim=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))


@settings(max_examples=25, deadline=None)
@given(form=st.sampled_from(LOG_VAR_FORMS), **_shapes)
def test_gaussian_nll_gradcheck_property(form, batch, dim, seed):
    block = gaussian_nll_block(np.random.default_rng(seed), batch, dim, form)
    assert block.layout.shapes["log_var"] == (log_var_shape(form, (batch, dim)) or (1,))
    assert_block_ok(block, floor=fd_floor(block))


@settings(max_examples=25, deadline=None)
@given(**_shapes)
def test_bernoulli_gradcheck_property(batch, dim, seed):
    block = bernoulli_block(np.random.default_rng(seed), batch, dim, logit_scale=4.0)
    assert_block_ok(block, floor=fd_floor(block))


@settings(max_examples=25, deadline=None)
@given(form=st.sampled_from(LOG_VAR_FORMS), **_shapes)
def test_kl_gradcheck_property(form, batch, dim, seed):
    block = kl_block(np.random.default_rng(seed), batch, dim, form)
    assert_block_ok(block, floor=fd_floor(block))


@settings(max_examples=25, deadline=None)
@given(form=st.sampled_from(LOG_VAR_FORMS), **_shapes)
def test_reparam_gradcheck_property(form, batch, dim, seed):
    block = reparam_block(np.random.default_rng(seed), batch, dim, form)
    assert_block_ok(block, floor=fd_floor(block))


@settings(max_examples=20, deadline=None)
@given(**_shapes)
def test_elbo_chain_gradcheck_property(batch, dim, seed):
    block = elbo_block(np.random.default_rng(seed), batch, dim)
    assert_block_ok(block, floor=fd_floor(block))


def test_gradcheck_detects_a_wrong_gradient():
    # Forgetting to sum the broadcast log_var gradient must be caught.
    rng = np.random.default_rng(1)
    y, mean = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def loss(p):
        return gaussian_nll(y, mean, p)

    def wrong(p):
        _, d_full = gaussian_nll_backward(y, mean, np.broadcast_to(p, y.shape))
        return loss(p), d_full[0]  # one row instead of the sum over the batch

    rows = gradcheck(loss, wrong, np.array([0.1, -0.2, 0.3]))
    assert not rows[0]["ok"]


# --------------------------------------------------------------------------
# Values against independent references
# --------------------------------------------------------------------------


@pytest.mark.parametrize("form", LOG_VAR_FORMS)
def test_gaussian_nll_matches_scipy(form):
    rng = np.random.default_rng(2)
    y, mean = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    log_var = rng.normal(size=log_var_shape(form, y.shape))
    sd = np.broadcast_to(np.exp(0.5 * log_var), y.shape)
    want = -np.sum(stats.norm.logpdf(y, loc=mean, scale=sd))
    assert gaussian_nll(y, mean, log_var) == pytest.approx(want, rel=1e-12)


def test_gaussian_nll_gradient_is_reduced_to_log_var_shape():
    rng = np.random.default_rng(3)
    y, mean = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    full = np.full(y.shape, 0.3)
    _, d_full = gaussian_nll_backward(y, mean, full)
    for lv, want in [(0.3, d_full.sum()),
                     (np.full((3,), 0.3), d_full.sum(axis=(0, 1))),
                     (np.full((4, 1), 0.3), d_full.sum(axis=(0, 2))[:, None]),
                     (np.full((1, 1, 1), 0.3), d_full.sum().reshape(1, 1, 1))]:
        dm, dlv = gaussian_nll_backward(y, mean, lv)
        assert np.shape(dlv) == np.shape(lv)
        np.testing.assert_allclose(dlv, want, rtol=1e-12)
        assert gaussian_nll(y, mean, lv) == pytest.approx(gaussian_nll(y, mean, full), rel=1e-13)


def test_gaussian_nll_dloss_scales_the_gradient():
    rng = np.random.default_rng(4)
    y, mean, lv = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2,))
    a = gaussian_nll_backward(y, mean, lv)
    b = gaussian_nll_backward(y, mean, lv, dloss=-0.25)
    for u, v in zip(a, b):
        np.testing.assert_allclose(v, -0.25 * u, rtol=1e-14)


def test_bernoulli_matches_direct_formula_and_scipy():
    rng = np.random.default_rng(5)
    y = rng.uniform(size=(6, 4))
    logits = rng.normal(0, 3, size=(6, 4))
    s = 1 / (1 + np.exp(-logits))
    want = -np.sum(y * np.log(s) + (1 - y) * np.log1p(-s))
    assert bernoulli_nll_logits(y, logits) == pytest.approx(want, rel=1e-12)
    yb = (y > 0.5).astype(float)
    assert bernoulli_nll_logits(yb, logits) == pytest.approx(
        -np.sum(stats.bernoulli.logpmf(yb, s)), rel=1e-12)
    np.testing.assert_allclose(bernoulli_nll_logits_backward(y, logits), s - y, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_stable_for_large_logits(dtype):
    logits = np.array([-1000.0, -80.0, 80.0, 1000.0], dtype=dtype)
    y = np.array([1.0, 1.0, 0.0, 0.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = bernoulli_nll_logits(y, logits)
        grad = bernoulli_nll_logits_backward(y, logits)
    # softplus(|l|) = |l| + log1p(exp(-|l|)) = |l| to working precision here.
    assert value == pytest.approx(2160.0, rel=1e-6)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, [-1.0, -1.0, 1.0, 1.0], rtol=1e-6)
    # Right answers at large |l|: loss ~ exp(-|l|), gradient exactly the tiny sigmoid.
    small = bernoulli_nll_logits(np.array([0.0]), np.array([-40.0]))
    assert small == pytest.approx(np.exp(-40.0), rel=1e-12, abs=0)
    assert bernoulli_nll_logits_backward(np.array([0.0]), np.array([-40.0]))[0] == \
        pytest.approx(np.exp(-40.0) / (1 + np.exp(-40.0)), rel=1e-12, abs=0)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_bernoulli_fused_pass_equals_the_two_functions(dtype, rtol):
    """The pixel model's one-pass loss and gradient: same values as the separate functions,
    in the logits' dtype, including saturated logits."""
    rng = np.random.default_rng(11)
    y = rng.uniform(size=(7, 9)).astype(dtype)
    logits = rng.normal(0, 4, size=(7, 9)).astype(dtype)
    logits[0, :4] = [-1000.0, -80.0, 80.0, 1000.0]
    value, grad = bernoulli_nll_logits_and_grad(y, logits, dloss=0.3)
    assert grad.dtype == dtype and grad.shape == logits.shape
    assert value == pytest.approx(bernoulli_nll_logits(y, logits), rel=rtol)
    np.testing.assert_allclose(grad, bernoulli_nll_logits_backward(y, logits, 0.3), rtol=rtol, atol=1e-7)
    with pytest.raises(ValueError, match=r"y: expected values in \[0, 1\]"):
        bernoulli_nll_logits_and_grad(y + 1, logits)


def test_kl_matches_numerical_integration():
    for m, lv in [(0.0, 0.0), (0.7, -0.4), (-1.3, 0.9)]:
        s = np.exp(0.5 * lv)
        integrand = lambda x: stats.norm.pdf(x, m, s) * (stats.norm.logpdf(x, m, s)
                                                         - stats.norm.logpdf(x))
        want, _ = integrate.quad(integrand, m - 12 * s, m + 12 * s, epsabs=1e-13)
        assert kl_std_normal(np.array([m]), np.array([lv])) == pytest.approx(want, abs=1e-10)
    assert kl_std_normal(np.zeros((3, 2)), 0.0) == 0.0


def test_kl_with_broadcast_log_var_equals_full():
    rng = np.random.default_rng(6)
    mean, lv = rng.normal(size=(5, 3)), rng.normal(size=(3,))
    full = np.broadcast_to(lv, mean.shape).copy()
    assert kl_std_normal(mean, lv) == pytest.approx(kl_std_normal(mean, full), rel=1e-13)
    dm, dlv = kl_std_normal_backward(mean, lv)
    dm_f, dlv_f = kl_std_normal_backward(mean, full)
    np.testing.assert_allclose(dm, dm_f)
    np.testing.assert_allclose(dlv, dlv_f.sum(axis=0), rtol=1e-13)


def test_reparam_sample_values_and_moments():
    rng = np.random.default_rng(7)
    mean = np.array([[1.0, -2.0]])
    log_var = np.array([np.log(4.0), np.log(0.25)])
    eps = rng.normal(size=(200_000, 2))
    z = reparam_sample(np.broadcast_to(mean, eps.shape), log_var, eps)
    np.testing.assert_allclose(z, mean + np.array([2.0, 0.5]) * eps, rtol=1e-14)
    np.testing.assert_allclose(z.mean(axis=0), mean[0], atol=0.02)
    np.testing.assert_allclose(z.std(axis=0), [2.0, 0.5], rtol=0.01)


def test_reparam_backward_returns_copies_and_shapes():
    rng = np.random.default_rng(8)
    mean, eps, dz = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    dm, dlv = reparam_sample_backward(mean, 0.2, eps, dz)
    assert np.shape(dlv) == ()
    np.testing.assert_array_equal(dm, dz)
    dm[0, 0] += 1.0
    assert dz[0, 0] != dm[0, 0]  # not an alias of the caller's array
    assert float(dlv) == pytest.approx(np.sum(0.5 * np.exp(0.1) * eps * dz), rel=1e-13)


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------


def test_float32_results_stay_float32_and_close_to_float64():
    rng = np.random.default_rng(9)
    y, mean, lv, eps = (rng.normal(size=(8, 3)) for _ in range(4))
    lv_dim = lv[0]  # per-dimension form, shape (3,)
    yb, logits = rng.uniform(size=(8, 3)), 3 * mean

    def f32(a):
        return a.astype(np.float32) if isinstance(a, np.ndarray) else a  # scalars stay Python

    calls = [
        (gaussian_nll_backward, (y, mean, lv_dim)),
        (gaussian_nll_backward, (y, mean, 0.5)),
        (bernoulli_nll_logits_backward, (yb, logits)),
        (kl_std_normal_backward, (mean, lv)),
        (reparam_sample, (mean, lv, eps)),
        (reparam_sample_backward, (mean, lv_dim, eps, y)),
    ]
    for fn, args in calls:
        want, got = fn(*args), fn(*map(f32, args))
        want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
        for w, g in zip(want, got):
            assert np.asarray(g).dtype == np.float32, fn.__name__
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=fn.__name__)
    for fn, args in [(gaussian_nll, (y, mean, lv)), (bernoulli_nll_logits, (yb, logits)),
                     (kl_std_normal, (mean, lv))]:
        assert fn(*map(f32, args)) == pytest.approx(fn(*args), rel=1e-5)


# --------------------------------------------------------------------------
# Bad inputs: ValueError naming the argument
# --------------------------------------------------------------------------


def _bad(a, value=np.nan):
    a = np.array(a, dtype=float)
    a.flat[0] = value
    return a


Y = np.zeros((3, 2))
P = np.full((3, 2), 0.5)


@pytest.mark.parametrize("call, name", [
    # shapes
    (lambda: gaussian_nll(Y, np.zeros((3, 3)), 0.0), "mean"),
    (lambda: gaussian_nll(Y, Y, np.zeros(3)), "log_var"),
    (lambda: gaussian_nll(Y, Y, np.zeros((1, 3, 2))), "log_var"),
    (lambda: gaussian_nll_backward(Y, Y, np.zeros((2, 2))), "log_var"),
    (lambda: bernoulli_nll_logits(P, np.zeros(6)), "logits"),
    (lambda: kl_std_normal(Y, np.zeros(4)), "log_var"),
    (lambda: reparam_sample(Y, 0.0, np.zeros((2, 3))), "eps"),
    (lambda: reparam_sample_backward(Y, 0.0, Y, np.zeros(6)), "dz"),
    # empty
    (lambda: gaussian_nll(np.zeros((0, 2)), np.zeros((0, 2)), 0.0), "y"),
    (lambda: kl_std_normal(np.zeros(0), 0.0), "mean"),
    # NaN / inf
    (lambda: gaussian_nll(_bad(Y), Y, 0.0), "y: contains NaN"),
    (lambda: gaussian_nll(Y, _bad(Y, np.inf), 0.0), "mean: contains NaN or inf"),
    (lambda: gaussian_nll_backward(Y, Y, np.nan), "log_var: contains NaN"),
    (lambda: bernoulli_nll_logits(P, _bad(P)), "logits: contains NaN"),
    (lambda: bernoulli_nll_logits_backward(_bad(P), P), "y: contains NaN"),
    (lambda: kl_std_normal_backward(_bad(Y), 0.0), "mean: contains NaN"),
    (lambda: reparam_sample(Y, 0.0, _bad(Y)), "eps: contains NaN"),
    (lambda: gaussian_nll_backward(Y, Y, 0.0, dloss=np.inf), "dloss"),
    (lambda: kl_std_normal_backward(Y, 0.0, dloss="1"), "dloss"),
    # dtypes
    (lambda: gaussian_nll(Y, Y.astype(np.float32), 0.0), "mean: expected dtype float64"),
    (lambda: gaussian_nll(Y.astype(np.float32), Y.astype(np.float32), np.zeros(2)), "log_var"),
    (lambda: bernoulli_nll_logits(P.astype(np.float16), P), "y"),
    (lambda: kl_std_normal(Y.astype(np.complex128), 0.0), "mean"),
    (lambda: reparam_sample(Y, 0.0, np.array([["a", "b"]] * 3)), "eps"),
    # range
    (lambda: bernoulli_nll_logits(P + 0.6, P), r"y: expected values in \[0, 1\]"),
    (lambda: bernoulli_nll_logits_backward(P - 0.6, P), r"y: expected values in \[0, 1\]"),
])
def test_bad_inputs_raise_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_python_scalars_and_lists_are_accepted_and_cast():
    y32 = np.zeros((2, 2), np.float32)
    d_mean, d_lv = gaussian_nll_backward(y32, [[1, 2], [3, 4]], 0.0)
    assert d_mean.dtype == np.float32 and np.asarray(d_lv).dtype == np.float32
    assert gaussian_nll([[0.0]], [[0.0]], 0) == pytest.approx(0.5 * np.log(2 * np.pi), rel=1e-15)
