"""Likelihoods, the KL term and the reparameterisation, each with its backward next to it.

* :func:`gaussian_nll` — eq. (14): the phase-space VIN is trained by maximising
  sum_t log N(y_t | x_t, sigma^2 I) with the error variance learned (as log sigma^2).
* :func:`bernoulli_nll_logits` — pixel likelihood p(y_t | q_t) of Section 3.2 on
  decoder logits (grey levels in [0, 1] allowed).
* :func:`kl_std_normal` — KL[q(x_1) || p(x_1)] of the ELBO (Section 3.2, eqs.
  15–18) for q(x_1) = N(m_1, s_1^2), eq. (18), and p(x_1) = N(0, I).
* :func:`reparam_sample` — x_1 = m_1 + s_1 * eps, the sample that is propagated
  through the network (eq. 15 and the expectation in the ELBO).

Conventions: every loss returns a **sum** over all elements as a Python float;
callers divide by the batch or sequence size they want. Backwards take the
forward's arguments plus the upstream gradient (``dloss`` for a scalar loss,
``dz`` for the sample) and return new arrays. Arrays are float32 or float64;
all array arguments of one call share a dtype (Python scalars are cast to it),
and results keep it.

``log_var`` may be anything that broadcasts to the shape of the data without
changing it: a scalar, per-dimension (D,), or the full shape. Its gradient is
summed back to ``log_var``'s own shape.
"""

import math
import numbers

import numpy as np
from numba import njit

from vinnp.layers.activations import ONE32, tanh32

from vinnp.checks import as_array
from vinnp.params import Layout

LOG_2PI = float(np.log(2.0 * np.pi))


# ----------------------------------------------------------------------------
# Validation and broadcasting helpers
# ----------------------------------------------------------------------------


def _data(x, name):
    arr = as_array(x, name)
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
    return arr


def _like(x, name, ref):
    """``x`` with exactly ``ref``'s shape and dtype."""
    return as_array(x, name, shape=ref.shape, dtype=ref.dtype)


def _log_var(x, ref):
    """``log_var`` broadcastable to ``ref.shape`` without enlarging it."""
    lv = as_array(x, "log_var", dtype=ref.dtype)
    try:
        ok = lv.ndim <= ref.ndim and np.broadcast_shapes(lv.shape, ref.shape) == ref.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"log_var: expected a scalar or a shape that broadcasts to {ref.shape} "
                         f"(e.g. ({ref.shape[-1] if ref.ndim else 1},) or {ref.shape}), "
                         f"got {lv.shape}")
    return lv


def _scalar(x, name, dtype):
    if isinstance(x, np.ndarray) and x.shape == ():
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x):
        raise ValueError(f"{name}: expected a finite real number, got {x!r}")
    return dtype.type(x)


def _sum_to_shape(g, shape):
    """Sum a broadcast gradient back to ``shape`` (the adjoint of broadcasting)."""
    if g.shape == tuple(shape):
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(k for k, s in enumerate(shape) if s == 1 and g.shape[k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _sigmoid(z):
    # exp(-|z|) <= 1, so neither branch can overflow.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


# ----------------------------------------------------------------------------
# Gaussian likelihood with learned log-variance, eq. (14)
# ----------------------------------------------------------------------------


def gaussian_nll(y, mean, log_var):
    """Summed negative log-likelihood  -sum log N(y | mean, exp(log_var)).

    y, mean : same shape (e.g. (B, T, D)); log_var : scalar, per-dimension or
    full shape (broadcast against y). Per element:
    0.5 * (log 2pi + log_var + (y - mean)^2 exp(-log_var)) — eq. (14) with the
    constant kept, so values are comparable with scipy's logpdf.

    Returns the **sum** over all elements (a Python float).
    """
    y = _data(y, "y")
    mean = _like(mean, "mean", y)
    log_var = _log_var(log_var, y)
    r = y - mean
    return float(0.5 * (np.sum(r * r * np.exp(-log_var)) + np.sum(np.broadcast_to(log_var, y.shape))
                        + y.size * LOG_2PI))


def gaussian_nll_backward(y, mean, log_var, dloss=1.0):
    """Gradient of ``dloss * gaussian_nll(y, mean, log_var)``.

    Returns (d_mean, d_log_var): d_mean has y's shape, d_log_var has log_var's
    shape (summed over the axes it was broadcast along).
    d/dmean = (mean - y) exp(-log_var);  d/dlog_var = 0.5 (1 - (y - mean)^2 exp(-log_var)).
    """
    y = _data(y, "y")
    mean = _like(mean, "mean", y)
    log_var = _log_var(log_var, y)
    dloss = _scalar(dloss, "dloss", y.dtype)
    inv_var = np.exp(-log_var)
    r = mean - y
    d_mean = dloss * r * inv_var
    d_log_var = _sum_to_shape(dloss * 0.5 * (1.0 - r * r * inv_var), log_var.shape)
    return d_mean, d_log_var


# ----------------------------------------------------------------------------
# Bernoulli likelihood on logits (pixel decoder)
# ----------------------------------------------------------------------------


def bernoulli_nll_logits(y, logits):
    """Summed binary cross-entropy  -sum [y log s + (1 - y) log(1 - s)],  s = sigmoid(logits).

    y : targets in [0, 1] (grey levels allowed; the minimum is then not 0);
    logits : same shape. Written as max(l, 0) - y l + log1p(exp(-|l|)), which
    never overflows and keeps full precision for large |logits|.

    Returns the **sum** over all elements (a Python float).
    """
    y, logits = _bernoulli_args(y, logits)
    return float(np.sum(np.maximum(logits, 0) - y * logits + np.log1p(np.exp(-np.abs(logits)))))


def bernoulli_nll_logits_backward(y, logits, dloss=1.0):
    """Gradient of ``dloss * bernoulli_nll_logits(y, logits)`` w.r.t. logits.

    Returns dloss * (sigmoid(logits) - y), logits' shape.
    """
    y, logits = _bernoulli_args(y, logits)
    dloss = _scalar(dloss, "dloss", y.dtype)
    return dloss * (_sigmoid(logits) - y)


@njit(cache=True, error_model="numpy")
def _bernoulli_fused(y, logits, scale, one, g):
    """One pass: returns sum_i [max(l,0) - y l + log1p(e)], e = exp(-|l|); g = scale (sigmoid(l) - y).

    The loss and its gradient share e, and the sum is accumulated in float64. NumPy
    would make six temporaries of the (B T, 784) logits and two exp passes. float32
    goes to the vectorised :func:`_bernoulli_fused32`.
    """
    total = 0.0
    for i in range(logits.shape[0]):
        x = logits[i]
        e = math.exp(-abs(x))
        total += max(x, x * 0) - y[i] * x + math.log1p(e)
        s = (one if x >= 0 else e) / (one + e)
        g[i] = (s - y[i]) * scale
    return total


_HALF32 = np.float32(0.5)
_ATANH32 = tuple(np.float32(2.0 / k) for k in (1, 3, 5, 7, 9, 11))


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "nsz", "contract"})
def _bernoulli_fused32(y, logits, scale, g):
    """float32 :func:`_bernoulli_fused` without libm, so that LLVM vectorises it (7 ms -> ~1 ms
    for a pixel batch's 392k logits).

    With a = |l| and u = sigmoid(a) = (1 + tanh(a/2)) / 2 in [1/2, 1] (tanh32):
    log1p(exp(-a)) = -log(u), and log u = 2 atanh(s), s = (u - 1)/(u + 1) in [-1/3, 0], whose
    odd series to s^11 is within 1e-7; sigmoid(l) is u or 1 - u by the sign of l. Errors
    are absolute, at most ~2e-7 per entry (tanh32's), far below what float32 sums of
    this many terms keep anyway; float64 stays on the exact path.
    """
    total = 0.0
    for i in range(logits.shape[0]):
        x = logits[i]
        a = abs(x)
        u = _HALF32 + _HALF32 * tanh32(_HALF32 * a)
        s = (u - ONE32) / (u + ONE32)
        s2 = s * s
        log_u = s * (_ATANH32[0] + s2 * (_ATANH32[1] + s2 * (_ATANH32[2] + s2 * (_ATANH32[3] + s2 * (
            _ATANH32[4] + s2 * _ATANH32[5])))))
        total += (x + a) * _HALF32 - y[i] * x - log_u    # max(x, 0) = (x + |x|) / 2
        sig = u if x >= 0 else ONE32 - u
        g[i] = (sig - y[i]) * scale
    return total


def bernoulli_nll_logits_and_grad(y, logits, dloss=1.0):
    """(bernoulli_nll_logits(y, logits), its gradient dloss * (sigmoid(logits) - y)) in one pass."""
    y, logits = _bernoulli_args(y, logits)
    dloss = _scalar(dloss, "dloss", y.dtype)
    yf = np.ascontiguousarray(y).reshape(-1)
    lf = np.ascontiguousarray(logits).reshape(-1)
    g = np.empty_like(lf)
    if lf.dtype == np.float32:
        total = _bernoulli_fused32(yf, lf, dloss, g)
    else:
        total = _bernoulli_fused(yf, lf, dloss, 1.0, g)
    return float(total), g.reshape(logits.shape)


def _bernoulli_args(y, logits):
    y = _data(y, "y")
    if np.any(y < 0) or np.any(y > 1):
        raise ValueError(f"y: expected values in [0, 1], got range [{y.min()}, {y.max()}]")
    logits = _like(logits, "logits", y)
    return y, logits


# ----------------------------------------------------------------------------
# KL to the standard normal prior (Section 3.2, eq. 18)
# ----------------------------------------------------------------------------


def kl_std_normal(mean, log_var):
    """KL( N(mean, exp(log_var)) || N(0, I) ), summed over all elements.

    mean : any shape, e.g. (B, d); log_var : broadcast against mean.
    Per element: 0.5 (exp(log_var) + mean^2 - 1 - log_var).
    Returns the **sum** (a Python float).
    """
    mean = _data(mean, "mean")
    log_var = _log_var(log_var, mean)
    lv = np.broadcast_to(log_var, mean.shape)
    return float(0.5 * np.sum(np.exp(lv) + mean * mean - 1.0 - lv))


def kl_std_normal_backward(mean, log_var, dloss=1.0):
    """Gradient of ``dloss * kl_std_normal(mean, log_var)``: (d_mean, d_log_var).

    d/dmean = mean;  d/dlog_var = 0.5 (exp(log_var) - 1), summed to log_var's shape.
    """
    mean = _data(mean, "mean")
    log_var = _log_var(log_var, mean)
    dloss = _scalar(dloss, "dloss", mean.dtype)
    d_log_var = np.broadcast_to(dloss * 0.5 * (np.exp(log_var) - 1.0), mean.shape)
    return dloss * mean, _sum_to_shape(d_log_var, log_var.shape)


# ----------------------------------------------------------------------------
# Reparameterised sample (Kingma & Welling, 2014; Section 3.2)
# ----------------------------------------------------------------------------


def reparam_sample(mean, log_var, eps):
    """z = mean + exp(log_var / 2) * eps, shape of ``mean``.

    ``eps`` (mean's shape) is standard normal noise drawn by the caller from a
    ``numpy.random.Generator`` — randomness stays explicit and reproducible, and
    the sample is a differentiable function of (mean, log_var).
    """
    mean = _data(mean, "mean")
    log_var = _log_var(log_var, mean)
    eps = _like(eps, "eps", mean)
    return mean + np.exp(0.5 * log_var) * eps


def reparam_sample_backward(mean, log_var, eps, dz):
    """Gradient through :func:`reparam_sample` given dz = d loss / d z (mean's shape).

    Returns (d_mean, d_log_var): dz, and 0.5 exp(log_var / 2) eps dz summed to
    log_var's shape. eps is noise, so no gradient is returned for it.
    """
    mean = _data(mean, "mean")
    log_var = _log_var(log_var, mean)
    eps = _like(eps, "eps", mean)
    dz = _like(dz, "dz", mean)
    d_log_var = _sum_to_shape(0.5 * np.exp(0.5 * log_var) * eps * dz, log_var.shape)
    return dz.copy(), d_log_var


# ----------------------------------------------------------------------------
# Gradient-check blocks (collected by `vinnp gradcheck`)
# ----------------------------------------------------------------------------


@njit(cache=True)
def gaussian_mean_value(ss, n, lv):
    """Eq. (14) averaged over n observed scalars with one log-variance lv, from the residual
    sum of squares ss: (loss, dloss/dlv). The fused steps' one formula for the likelihood."""
    inv = math.exp(-lv)
    return 0.5 * (LOG_2PI + lv) + 0.5 * inv * ss / n, 0.5 - 0.5 * inv * ss / n


@njit(cache=True)
def mean_gaussian_nll_kernel(pred, y, lv, g_pred):
    """:func:`mean_gaussian_nll` in one compiled pass over C-contiguous arrays of one shape:
    returns (loss, dloss/dlv) and writes g_pred = dloss/dpred. The residuals are summed in
    float64 whatever the dtype. The tests hold it to :func:`gaussian_nll`."""
    n = pred.size
    p = pred.reshape(n)
    t = y.reshape(n)
    g = g_pred.reshape(n)
    inv = math.exp(-lv)
    ss = 0.0
    for i in range(n):
        r = p[i] - t[i]
        ss += r * r
        g[i] = r * inv / n
    return gaussian_mean_value(ss, n, lv)


def mean_gaussian_nll(y, mean, log_var, want_grad=True):
    """Eq. (14) per observed scalar, with one learned log-variance (shape (1,)).

    Returns (value, d_mean, d_log_var) with d_log_var of shape (1,); the
    gradients are None when ``want_grad`` is false. Averaging over every
    observed scalar lets one learning rate serve any amount of data.
    """
    scale = 1.0 / y.size
    value = gaussian_nll(y, mean, log_var[0]) * scale
    if not want_grad:
        return value, None, None
    d_mean, d_lv = gaussian_nll_backward(y, mean, log_var[0], scale)
    return value, d_mean, np.reshape(d_lv, (1,))
