"""ResRNN: the parameter-tied residual network, i.e. explicit Euler on a free-form field.

    x_{t+1} = x_t + h f_theta(x_t),   x = (q, p) in R^{2d}

The paper's baseline architecture (Section 4.2): not symplectic, so its
forecasts drift in energy — the contrast the VINs are measured against.
"""

import numpy as np
from numba import njit, prange

from vinnp.layers.mlp import chunking, backward_one, forward_one


@njit(cache=True)
def _rollout_one(theta, w_off, b_off, sizes, acts, n_off, h, x1, obs, z, a):
    d = x1.shape[1]
    T = obs.shape[0]
    L = sizes.shape[0] - 1
    lo = n_off[L]
    xs = obs.reshape(T, 2 * d)
    for i in range(d):
        xs[0, i] = x1[0, i]
        xs[0, d + i] = x1[1, i]
    for t in range(1, T):
        forward_one(theta, w_off, b_off, sizes, acts, n_off, xs[t - 1], z, a)
        for i in range(2 * d):
            xs[t, i] = xs[t - 1, i] + h * a[lo + i]


@njit(cache=True, parallel=True)
def rollout(theta, w_off, b_off, sizes, acts, n_off, h, X1, obs):
    B = X1.shape[0]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        z = np.empty(n_off[-1], theta.dtype)
        a = np.empty(n_off[-1], theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _rollout_one(theta, w_off, b_off, sizes, acts, n_off, h, X1[b], obs[b], z, a)


@njit(cache=True)
def _backward_one(theta, w_off, b_off, sizes, acts, n_off, h, obs, g_obs, z, a, ga, gz, ax, g, grad, g_x1):
    T = obs.shape[0]
    D = obs.shape[1] * obs.shape[2]
    d = D // 2
    xs = obs.reshape(T, D)
    ax[:, :] = g_obs.reshape(T, D)
    for t in range(T - 2, -1, -1):
        forward_one(theta, w_off, b_off, sizes, acts, n_off, xs[t], z, a)
        for i in range(D):
            g[i] = h * ax[t + 1, i]
            ax[t, i] += ax[t + 1, i]
        backward_one(theta, w_off, b_off, sizes, acts, n_off, z, a, g, ga, gz, grad, True, ax[t])
    for i in range(d):
        g_x1[0, i] += ax[0, i]
        g_x1[1, i] += ax[0, d + i]


@njit(cache=True, parallel=True)
def rollout_backward(theta, w_off, b_off, sizes, acts, n_off, h, obs, g_obs, grad, g_X1):
    B = obs.shape[0]
    T = obs.shape[1]
    D = obs.shape[2] * obs.shape[3]
    nchunk, size = chunking(B)
    p_grad = np.zeros((nchunk, theta.shape[0]), theta.dtype)
    for c in prange(nchunk):
        n = n_off[-1]
        z = np.empty(n, theta.dtype)
        a = np.empty(n, theta.dtype)
        ga = np.empty(n, theta.dtype)
        gz = np.empty(n, theta.dtype)
        ax = np.empty((T, D), theta.dtype)
        g = np.empty(D, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _backward_one(theta, w_off, b_off, sizes, acts, n_off, h, obs[b], g_obs[b], z, a, ga, gz, ax, g,
                          p_grad[c], g_X1[b])
    for c in range(nchunk):
        grad += p_grad[c]
