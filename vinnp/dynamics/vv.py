"""VIN-VV: the velocity Verlet variational integrator network, eqs. (9)-(10).

    q_{t+1} = q_t + h M^{-1} p_t - (h^2 / 2) M^{-1} dU/dq(q_t)
    p_{t+1} = p_t - (h / 2) (dU/dq(q_t) + dU/dq(q_{t+1}))

State x_t = (q_t, p_t), observed directly. Symplectic (the symmetric discrete
Lagrangian of eqs. 7-8), second order, time reversible. Each step evaluates
the force once: dU/dq(q_{t+1}) is carried to the next step.
"""

import numpy as np
from numba import njit, prange

from vinnp.dynamics.linalg import matvec, matvec_t, outer_add
from vinnp.layers.mlp import chunking
from vinnp.layers.potential import N_BUFFERS, force_one, force_rop_one


@njit(cache=True)
def _rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, h, x1, obs, F, buf):
    d = x1.shape[1]
    T = obs.shape[0]
    for i in range(d):
        obs[0, 0, i] = x1[0, i]
        obs[0, 1, i] = x1[1, i]
    force_one(theta, w_off, b_off, sizes, acts, n_off, obs[0, 0], buf, F[0])
    for t in range(1, T):
        q, p, f = obs[t - 1, 0], obs[t - 1, 1], F[t - 1]
        qn = obs[t, 0]
        for i in range(d):
            qn[i] = q[i]
        matvec(minv, p, qn, h)
        matvec(minv, f, qn, -0.5 * h * h)
        force_one(theta, w_off, b_off, sizes, acts, n_off, qn, buf, F[t])
        for i in range(d):
            obs[t, 1, i] = p[i] - 0.5 * h * (f[i] + F[t, i])


@njit(cache=True, parallel=True)
def rollout(theta, w_off, b_off, sizes, acts, n_off, minv, h, X1, obs, F):
    """obs (B, T, 2, d) <- (q_t, p_t); F (B, T, d) <- dU/dq(q_t), kept for the backward."""
    B = X1.shape[0]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        buf = np.empty((N_BUFFERS, n_off[-1]), theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, h, X1[b], obs[b], F[b], buf)


@njit(cache=True)
def _backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, h, obs, F, g_obs,
                  buf, aq, ap, af, u, grad, g_minv, g_x1):
    d = obs.shape[2]
    T = obs.shape[0]
    for t in range(T):
        for i in range(d):
            aq[t, i] = g_obs[t, 0, i]
            ap[t, i] = g_obs[t, 1, i]
            af[t, i] = 0.0
    for t in range(T - 2, -1, -1):
        # f_{t+1} enters p_{t+1} (this step) and step t+1 (already processed): complete now
        for i in range(d):
            af[t + 1, i] -= 0.5 * h * ap[t + 1, i]
        force_rop_one(theta, w_off, b_off, sizes, acts, n_off, obs[t + 1, 0], af[t + 1], buf, grad, aq[t + 1])
        for i in range(d):
            u[i] = 0.0
        matvec_t(minv, aq[t + 1], u, 1.0)
        for i in range(d):
            aq[t, i] += aq[t + 1, i]
            ap[t, i] += h * u[i] + ap[t + 1, i]
            af[t, i] += -0.5 * h * h * u[i] - 0.5 * h * ap[t + 1, i]
        outer_add(g_minv, aq[t + 1], obs[t, 1], h)
        outer_add(g_minv, aq[t + 1], F[t], -0.5 * h * h)
    force_rop_one(theta, w_off, b_off, sizes, acts, n_off, obs[0, 0], af[0], buf, grad, aq[0])
    for i in range(d):
        g_x1[0, i] += aq[0, i]
        g_x1[1, i] += ap[0, i]


@njit(cache=True, parallel=True)
def rollout_backward(theta, w_off, b_off, sizes, acts, n_off, minv, h, obs, F, g_obs, grad, g_minv, g_X1):
    """Accumulate (+=) dLoss/dtheta, dLoss/dM^{-1} and dLoss/dx_1 from g_obs (B, T, 2, d)."""
    B = obs.shape[0]
    T = obs.shape[1]
    d = obs.shape[3]
    nchunk, size = chunking(B)
    p_grad = np.zeros((nchunk, theta.shape[0]), theta.dtype)
    p_minv = np.zeros((nchunk, d, d), theta.dtype)
    for c in prange(nchunk):
        buf = np.empty((N_BUFFERS, n_off[-1]), theta.dtype)
        aq = np.empty((T, d), theta.dtype)
        ap = np.empty((T, d), theta.dtype)
        af = np.empty((T, d), theta.dtype)
        u = np.empty(d, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, h, obs[b], F[b], g_obs[b],
                          buf, aq, ap, af, u, p_grad[c], p_minv[c], g_X1[b])
    for c in range(nchunk):
        grad += p_grad[c]
        g_minv += p_minv[c]
