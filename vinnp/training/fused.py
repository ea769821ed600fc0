"""Fused training steps: loss, gradient and the Adam update in one compiled call.

A VIN or HNN step on noisy data (Section 3.1, Appendix C.1) is small: 25 trajectories of
30 steps through a 200-unit network is ~1 MFLOP. Done as ``model.loss_and_grad`` followed
by ``Adam.step`` it is a dozen NumPy and Numba calls with their argument checks,
temporaries and parallel-region launches, and that glue costs more than the arithmetic.
Here one ``@njit`` function runs the whole step over a workspace allocated once: the
per-trajectory rollout and BPTT kernels of vinnp.dynamics (the very ones
``loss_and_grad`` uses, so the maths is shared, not rewritten), the Gaussian likelihood
of eq. (14) with its learned variance, the reduction of the per-chunk gradients in a
fixed order (the result does not depend on the thread count), and Adam.

``make_stepper(model, batch, opt)`` returns a step for the models it covers (VIN-SV and
VIN-VV with a fixed mass, and the HNN) and None otherwise; the tests hold every step to
``loss_and_grad`` + ``Adam.step``.
"""

import math

import numpy as np
from numba import njit, prange

from vinnp.dynamics import sv, vv
from vinnp.layers.mlp import chunking
from vinnp.layers.potential import N_BUFFERS, force_one, force_rop_one
from vinnp.training.adam import adam_apply

LOG_2PI = math.log(2.0 * math.pi)
SV, VV = 0, 1


@njit(cache=True)
def _adam(theta, grad, m, v, k):
    """Adam.step's update from its constants k (params' dtype, see Stepper), unless the
    gradient is not finite: then nothing moves and False is returned."""
    sq = 0.0
    for i in range(grad.shape[0]):
        sq += grad[i] * grad[i]
    if not math.isfinite(sq):
        return False
    adam_apply(theta, grad, m, v, k[0], k[1], k[2], k[3], k[4], k[5], k[6])
    return True


@njit(cache=True)
def _reduce_and_update(theta, grad, p_grad, lv_off, d_lv, loss, adam_m, adam_v, adam_k):
    """The common end of both steps: add the chunks' gradients in a fixed order (the result
    does not depend on the thread count), the log-variance's own term, then Adam. ``grad``
    arrives zeroed or holding what the caller wrote straight into it (the x_1 gradients)."""
    for c in range(p_grad.shape[0]):
        grad += p_grad[c]
    grad[lv_off] += d_lv
    if not _adam(theta, grad, adam_m, adam_v, adam_k):
        return math.nan
    return loss


@njit(cache=True, parallel=True)
def _vin_step(kind, theta, w_off, b_off, sizes, acts, n_off, minv, mm, h, x1_off, lv_off, y, obs, F, g_obs,
              grad, p_grad, bufs, work, gmass, adam_m, adam_v, adam_k):
    """One VIN step; returns the loss (mean NLL per observed scalar), NaN if not finite (no update)."""
    B, T, _, d = y.shape
    x1 = theta[x1_off: x1_off + B * 2 * d].reshape(B, 2, d)
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        buf = bufs[c]
        for b in range(c * size, min(B, (c + 1) * size)):
            if kind == SV:
                sv._rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, mm, h, x1[b], obs[b], buf,
                                work[c, 0, 0], work[c, 0, 1])
            else:
                vv._rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, h, x1[b], obs[b], F[b], buf)
    # eq. (14) averaged over the N observed scalars, log sigma^2 = lv
    lv = theta[lv_off]
    inv = math.exp(-lv)
    N = B * T * 2 * d
    ss = 0.0
    for b in range(B):
        for k in range(T):
            for j in range(2):
                for i in range(d):
                    r = obs[b, k, j, i] - y[b, k, j, i]
                    ss += r * r
                    g_obs[b, k, j, i] = r * inv / N
    loss = 0.5 * (LOG_2PI + lv) + 0.5 * inv * ss / N
    if not math.isfinite(loss):
        return math.nan
    grad[:] = 0.0
    g_x1 = grad[x1_off: x1_off + B * 2 * d].reshape(B, 2, d)
    for c in prange(nchunk):
        pg = p_grad[c]
        pg[:] = 0.0
        buf = bufs[c]
        for b in range(c * size, min(B, (c + 1) * size)):
            # the mass is fixed here: its gradient goes to a scratch matrix and is dropped
            if kind == SV:
                sv._backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, mm, h, x1[b], obs[b], g_obs[b],
                                 buf, work[c, 1], work[c, 0, 0], work[c, 0, 1], pg, gmass[c, 0], gmass[c, 1],
                                 g_x1[b])
            else:
                vv._backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, h, obs[b], F[b], g_obs[b],
                                 buf, work[c, 1, :T], work[c, 2, :T], work[c, 3, :T], work[c, 0, 0], pg,
                                 gmass[c, 0], g_x1[b])
        gmass[c] = 0.0
    return _reduce_and_update(theta, grad, p_grad, lv_off, 0.5 - 0.5 * inv * ss / N, loss, adam_m, adam_v, adam_k)


@njit(cache=True, parallel=True)
def _hnn_step(theta, w_off, b_off, sizes, acts, n_off, lv_off, x, y, grad, p_grad, bufs, vecs, adam_m, adam_v, adam_k):
    """One HNN step on N samples x = (q, p), y = (dq/dt, dp/dt); the vector field is (dH/dp, -dH/dq)."""
    N, D = x.shape
    d = D // 2
    lv = theta[lv_off]
    inv = math.exp(-lv)
    M = N * D
    nchunk, size = chunking(N)
    ss_c = np.zeros(nchunk)
    for c in prange(nchunk):
        buf = bufs[c]
        g = vecs[c, 0]
        v = vecs[c, 1]
        hv = vecs[c, 2]
        pg = p_grad[c]
        pg[:] = 0.0
        ss = 0.0
        for n in range(c * size, min(N, (c + 1) * size)):
            force_one(theta, w_off, b_off, sizes, acts, n_off, x[n], buf, g)   # g = dH/dx = (dH/dq, dH/dp)
            for i in range(d):
                rq = g[d + i] - y[n, i]         # dq/dt = dH/dp
                rp = -g[i] - y[n, d + i]        # dp/dt = -dH/dq
                ss += rq * rq + rp * rp
                # upstream on dH/dx: (-dL/d(pdot), dL/d(qdot))
                v[i] = -rp * inv / M
                v[d + i] = rq * inv / M
            hv[:] = 0.0  # Hv is not needed: the inputs are data
            force_rop_one(theta, w_off, b_off, sizes, acts, n_off, x[n], v, buf, pg, hv)
        ss_c[c] = ss
    ss = 0.0
    for c in range(nchunk):
        ss += ss_c[c]
    loss = 0.5 * (LOG_2PI + lv) + 0.5 * inv * ss / M
    if not math.isfinite(loss):
        return math.nan
    grad[:] = 0.0
    return _reduce_and_update(theta, grad, p_grad, lv_off, 0.5 - 0.5 * inv * ss / M, loss, adam_m, adam_v, adam_k)


class Stepper:
    """``step(params)``: one fused training step in place; returns the loss (NaN: not finite,
    parameters untouched). Uses and advances ``opt``'s moments and step count."""

    def __init__(self, run, opt):
        self._run = run
        self.opt = opt

    def __call__(self, params):
        opt = self.opt
        t = opt.t + 1
        b1, b2 = opt.beta1, opt.beta2
        # Adam.step's constants, computed in float64 and then rounded to the params' dtype
        # exactly as it does (no clipping here: make_stepper refuses clip_norm)
        k = np.array([b1, 1.0 - b1, b2, 1.0 - b2, opt.lr / (1.0 - b1**t), 1.0 / math.sqrt(1.0 - b2**t), opt.eps],
                     opt.m.dtype)
        loss = self._run(params, opt.m, opt.v, k)
        if math.isfinite(loss):
            opt.t = t
        return loss


def make_stepper(model, batch, opt):
    """A fused step for ``model`` on ``batch`` with optimiser ``opt``, or None where not covered
    (other cells, a learned mass, gradient clipping)."""
    if opt.clip_norm > 0:
        return None
    dtype = opt.m.dtype
    if model.family == "vin" and model.cell.kind in ("vin-sv", "vin-vv") and not model.cell.mass.learned:
        return _vin_stepper(model, batch, opt, dtype)
    if model.family == "derivative" and model.name == "hnn":
        return _hnn_stepper(model, batch, opt, dtype)
    return None


def _vin_stepper(model, batch, opt, dtype):
    cell, layout = model.cell, model.layout
    y = np.ascontiguousarray(np.stack([batch["q"], batch["p"]], axis=2), dtype)
    B, T, _, d = y.shape
    if B != model.n_seq:
        raise ValueError(f"batch: expected {model.n_seq} sequences, got {B}")
    args = cell.net.kernel_args(layout, "cell.net")
    params0 = layout.zeros(dtype)
    minv, m = cell.matrices(params0, layout, "cell")
    nchunk, _ = chunking(B)
    obs = np.empty((B, T, 2, d), dtype)
    F = np.empty((B, T, d), dtype)
    g_obs = np.empty_like(obs)
    grad = np.empty(layout.size, dtype)
    p_grad = np.empty((nchunk, layout.size), dtype)
    bufs = np.empty((nchunk, N_BUFFERS, int(args[-1][-1])), dtype)
    work = np.zeros((nchunk, 4, T + 1, d), dtype)   # per chunk: two d-vectors, (T+1, d) adjoints
    gmass = np.zeros((nchunk, 2, d, d), dtype)      # the fixed mass's gradient, computed and dropped
    kind = SV if cell.kind == "vin-sv" else VV
    h = dtype.type(cell.h)
    x1_off, lv_off = layout.slice("x1").start, layout.slice("log_var").start

    def run(params, am, av, k):
        return _vin_step(kind, params, *args, minv, m, h, x1_off, lv_off, y, obs, F, g_obs, grad, p_grad, bufs,
                         work, gmass, am, av, k)

    return Stepper(run, opt)


def _hnn_stepper(model, batch, opt, dtype):
    layout = model.layout
    x, y = model._inputs(batch, dtype)
    args = model.net.kernel_args(layout, "net")
    nchunk, _ = chunking(x.shape[0])
    grad = np.empty(layout.size, dtype)
    p_grad = np.empty((nchunk, layout.size), dtype)
    bufs = np.empty((nchunk, N_BUFFERS, int(args[-1][-1])), dtype)
    vecs = np.zeros((nchunk, 3, x.shape[1]), dtype)
    lv_off = layout.slice("log_var").start

    def run(params, am, av, k):
        return _hnn_step(params, *args, lv_off, x, y, grad, p_grad, bufs, vecs, am, av, k)

    return Stepper(run, opt)
