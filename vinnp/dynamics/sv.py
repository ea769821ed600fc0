"""VIN-SV: the Stormer-Verlet variational integrator network, eq. (6).

    q_{t+1} = 2 q_t - q_{t-1} - h^2 M^{-1} dU/dq(q_t)

State x_t = (q_{t-1}, q_t). Symplectic (a variational integrator of the
rectangle-rule discrete Lagrangian, eq. 5), second order, time reversible.
Observations are positions and the discrete momenta of eq. (3):
p_t = dL^d(q_{t-1}, q_t)/dq_t = M (q_t - q_{t-1}) / h.

Kernels: ``rollout`` writes obs (B, T, 2, d) with obs[:, 0] from x_1;
``rollout_backward`` is backpropagation through time, recomputing each
step's force (cheaper than storing the network's activations across T).
"""

import numpy as np
from numba import njit, prange

from vinnp.dynamics.linalg import matvec, matvec_t, outer_add
from vinnp.layers.mlp import chunking
from vinnp.layers.potential import N_BUFFERS, force_one, force_rop_one


@njit(cache=True)
def _rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, m, h, x1, obs, buf, f, dq):
    d = x1.shape[1]
    T = obs.shape[0]
    for i in range(d):
        obs[0, 0, i] = x1[1, i]
        obs[0, 1, i] = 0.0
    for i in range(d):
        dq[i] = x1[1, i] - x1[0, i]
    matvec(m, dq, obs[0, 1], 1.0 / h)
    prev = x1[0]
    for t in range(1, T):
        cur = obs[t - 1, 0]
        force_one(theta, w_off, b_off, sizes, acts, n_off, cur, buf, f)
        nxt = obs[t, 0]
        for i in range(d):
            nxt[i] = 2.0 * cur[i] - prev[i]
            obs[t, 1, i] = 0.0
        matvec(minv, f, nxt, -h * h)
        for i in range(d):
            dq[i] = nxt[i] - cur[i]
        matvec(m, dq, obs[t, 1], 1.0 / h)
        prev = cur


@njit(cache=True, parallel=True)
def rollout(theta, w_off, b_off, sizes, acts, n_off, minv, m, h, X1, obs):
    B = X1.shape[0]
    d = X1.shape[2]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        buf = np.empty((N_BUFFERS, n_off[-1]), theta.dtype)
        f = np.empty(d, theta.dtype)
        dq = np.empty(d, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, m, h, X1[b], obs[b], buf, f, dq)


@njit(cache=True)
def _backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, m, h, x1, obs, g_obs,
                  buf, a, w, dq, grad, g_minv, g_m, g_x1):
    d = x1.shape[1]
    T = obs.shape[0]
    # a[k] = dLoss/dq_k for k = 0..T, q_0 = x1[0], q_k = obs[k-1, 0]
    a[:] = 0.0
    for k in range(1, T + 1):
        qk = obs[k - 1, 0]
        qprev = x1[0] if k == 1 else obs[k - 2, 0]
        for i in range(d):
            a[k, i] += g_obs[k - 1, 0, i]
            dq[i] = (qk[i] - qprev[i]) / h
            w[i] = 0.0
        # p_k = M (q_k - q_{k-1}) / h
        matvec_t(m, g_obs[k - 1, 1], w, 1.0 / h)
        for i in range(d):
            a[k, i] += w[i]
            a[k - 1, i] -= w[i]
        outer_add(g_m, g_obs[k - 1, 1], dq, 1.0)
    for k in range(T - 1, 0, -1):
        # q_{k+1} = 2 q_k - q_{k-1} - h^2 M^{-1} f(q_k); a[k+1] is complete here
        qk = obs[k - 1, 0]
        for i in range(d):
            w[i] = 0.0
        matvec_t(minv, a[k + 1], w, -h * h)
        force_rop_one(theta, w_off, b_off, sizes, acts, n_off, qk, w, buf, grad, a[k])
        outer_add(g_minv, a[k + 1], buf[3, :d], -h * h)  # buf[3, :d] = f(q_k) after the sweep
        for i in range(d):
            a[k, i] += 2.0 * a[k + 1, i]
            a[k - 1, i] -= a[k + 1, i]
    for i in range(d):
        g_x1[0, i] += a[0, i]
        g_x1[1, i] += a[1, i]


@njit(cache=True, parallel=True)
def rollout_backward(theta, w_off, b_off, sizes, acts, n_off, minv, m, h, X1, obs, g_obs,
                     grad, g_minv, g_m, g_X1):
    """Accumulate (+=) dLoss/dtheta, dLoss/dM^{-1}, dLoss/dM and dLoss/dx_1 from g_obs."""
    B = X1.shape[0]
    d = X1.shape[2]
    T = obs.shape[1]
    nchunk, size = chunking(B)
    p_grad = np.zeros((nchunk, theta.shape[0]), theta.dtype)
    p_minv = np.zeros((nchunk, d, d), theta.dtype)
    p_m = np.zeros((nchunk, d, d), theta.dtype)
    for c in prange(nchunk):
        buf = np.empty((N_BUFFERS, n_off[-1]), theta.dtype)
        a = np.empty((T + 1, d), theta.dtype)
        w = np.empty(d, theta.dtype)
        dq = np.empty(d, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, m, h, X1[b], obs[b], g_obs[b],
                          buf, a, w, dq, p_grad[c], p_minv[c], p_m[c], g_X1[b])
    for c in range(nchunk):
        grad += p_grad[c]
        g_minv += p_minv[c]
        g_m += p_m[c]
