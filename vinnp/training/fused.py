"""Fused training steps: loss, gradient and the Adam update in one compiled call.

A VIN or HNN step on noisy data (Section 3.1, Appendix C.1) is small: 25 trajectories of
30 steps through a 200-unit network is ~1 MFLOP. Done as ``model.loss_and_grad`` followed
by ``Adam.step`` it is a dozen NumPy and Numba calls with their argument checks,
temporaries and parallel-region launches, and that glue costs more than the arithmetic.
Here one compiled call runs the loss and gradient over a workspace allocated once: the
per-trajectory rollout and BPTT kernels of vinnp.dynamics (the very ones ``loss_and_grad``
uses, so the maths is shared, not rewritten), the Gaussian likelihood of eq. (14) with its
learned variance, and the reduction of the per-chunk gradients in a fixed order (the result
does not depend on the thread count), and Adam. Calling the batched rollout and BPTT
kernels one after the other from Python, or Adam apart, measured slower: 750-1000 us a step
against 500-830 us (vin-vv, 25 x 30 points, 200 units, float32, 2 threads, noisy VM).

``make_stepper(model, batch, opt)`` returns a step for the models it covers (the VIN of
every integrator in vinnp.dynamics.registry with a fixed mass, forced cells included, and
the HNN without inputs) and None otherwise; the tests hold every step to
``loss_and_grad`` + ``Adam.step``. (A forced cell's step is two compiled calls, the
gradient and Adam, so that its small matrix algebra runs in NumPy between them.)
"""

import math

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.kernels import Net, step_backward, step_rollout
from vinnp.layers.losses import gaussian_mean_value, mean_gaussian_nll_kernel
from vinnp.layers.mlp import chunking
from vinnp.jit import njit, prange
from vinnp.layers.potential import N_BUFFERS, force_one, force_rop_one
from vinnp.optim import Stepper, adam_apply


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
def _vin_step(tag, net, mass, h, x1_off, lv_off, y, drive, obs, aux, g_obs, grad, p_grad, bufs, vecs, p_mass, g_mass,
              g_drive, adam_m, adam_v, adam_k, update):
    """One VIN step of the integrator ``tag`` selects (vinnp.dynamics.kernels): loss (mean NLL per
    observed scalar, eq. 14), grad <- dLoss/dtheta (network, x_1, log variance), g_mass <-
    dLoss/d(mass), g_drive <- dLoss/d(drive), then Adam if ``update`` (a forced cell's step
    adds its dissipation and input map's gradients first and calls :func:`_adam` itself).
    Returns the loss, NaN if it or the gradient is not finite (then nothing moves)."""
    theta = net.theta
    B, T, _, d = y.shape
    x1 = theta[x1_off: x1_off + B * 2 * d].reshape(B, 2, d)
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        for b in range(c * size, min(B, (c + 1) * size)):
            step_rollout(tag, net, mass, h, x1[b], drive[b], obs[b], aux[b], bufs[c], vecs[c])
    loss, d_lv = mean_gaussian_nll_kernel(obs, y, theta[lv_off], g_obs)  # eq. (14)
    if not math.isfinite(loss):
        return math.nan
    kernels.zero(grad, g_drive)
    g_x1 = grad[x1_off: x1_off + B * 2 * d].reshape(B, 2, d)
    for c in prange(nchunk):
        kernels.zero(p_grad[c], p_mass[c])
        for b in range(c * size, min(B, (c + 1) * size)):
            step_backward(tag, net, mass, h, x1[b], drive[b], obs[b], aux[b], g_obs[b], bufs[c], vecs[c], p_grad[c],
                          p_mass[c], g_x1[b], g_drive[b])
    kernels.reduce_chunks(grad, p_grad, g_mass, p_mass)
    grad[lv_off] += d_lv
    if update and not _adam(theta, grad, adam_m, adam_v, adam_k):
        return math.nan
    return loss


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
    loss, d_lv = gaussian_mean_value(ss, M, lv)  # eq. (14) on the derivatives
    if not math.isfinite(loss):
        return math.nan
    grad[:] = 0.0
    return _reduce_and_update(theta, grad, p_grad, lv_off, d_lv, loss, adam_m, adam_v, adam_k)


def make_stepper(model, batch, opt):
    """A fused step for ``model`` on ``batch`` with optimiser ``opt``, or None where not covered
    (the pixel models, a learned mass, gradient clipping)."""
    if opt.clip_norm > 0:
        return None
    dtype = opt.m.dtype
    if model.family == "vin" and not model.cell.mass.learned:
        return _vin_stepper(model, batch, opt, dtype)
    if model.family == "derivative" and model.name == "hnn" and not getattr(model, "n_inputs", 0):
        return _hnn_stepper(model, batch, opt, dtype)
    return None


def _vin_stepper(model, batch, opt, dtype):
    """The VIN step: :func:`_vin_step` (compiled, Adam included), or for a forced cell its
    gradient, the dissipation and input map's gradients from the matrix and drive gradients
    (NumPy: d x d algebra), then the compiled Adam. Every array is allocated once, here."""
    cell, layout = model.cell, model.layout
    y = np.ascontiguousarray(np.stack([batch["q"], batch["p"]], axis=2), dtype)
    B, T, _, d = y.shape
    if B != model.n_seq:
        raise ValueError(f"batch: expected {model.n_seq} sequences, got {B}")
    u = cell.inputs(model.batch_inputs(batch), B, T, dtype)
    args = cell.net.kernel_args(layout, "cell.net")
    obs = np.empty((B, T, 2, d), dtype)
    aux = np.empty((B, T, cell.spec.aux * d), dtype)
    g_obs = np.empty_like(obs)
    grad = np.empty(layout.size, dtype)
    h = dtype.type(cell.h)
    x1_off, lv_off = layout.slice("x1").start, layout.slice("log_var").start
    forced = cell.forcing is not None
    fixed = None if forced else cell.mass_pair(layout.zeros(dtype), layout)  # the mass is fixed here
    g_mass = np.zeros((4 if forced else 2, d, d), dtype)
    g_drive = np.zeros((B, T if forced else 0, d), dtype)
    no_drive = np.zeros((B, 0, d), dtype)
    ws = kernels.workspace(Net(layout.zeros(dtype), *args), B, T, d, g_mass.shape[0])

    def run(params, am, av, k):
        net = Net(params, *args)  # the offsets once, above; only the parameter vector is the caller's
        mass, drive = fixed, no_drive
        if forced:  # D and B are parameters: the kernels' matrices and drive follow them
            mass = cell.mass_pair(params, layout)
            drive = cell.drive(params, layout, u, B, T)
        loss = _vin_step(cell.spec.tag, net, mass, h, x1_off, lv_off, y, drive, obs, aux, g_obs, grad, ws.p_grad,
                         ws.bufs, ws.vecs, ws.p_mass, g_mass, g_drive, am, av, k, not forced)
        if not forced or not math.isfinite(loss):
            return loss
        cell.fold_gradients(params, layout, mass, g_mass, g_drive, u, grad)
        return loss if _adam(params, grad, am, av, k) else math.nan

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
