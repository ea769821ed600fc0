"""VIN-SO(2): the Lie group variational integrator network on SO(2), eqs. (11)-(12), App. B.

    sin(dth_t) = sin(dth_{t-1}) + h^2 M^{-1} r_phi(th_t)          (11)
    th_{t+1}   = th_t + dth_t,   dth_t = asin(clip(sin(dth_t)))   (12)

Eq. (28) with F_t = R(dth_t) gives the true pendulum's update with
r(th) = -(g/l) sin th; the network r_phi (sin activations at its last hidden
layer) replaces the force term. The rotation R(th_t) stays on SO(2) by
construction: the state is an angle and every update is a group element.
State x_t = (th_{t-1}, th_t). Observed: th_t and the discrete angular momentum
p_t = M sin(dth_{t-1}) / h (the Legendre transform of eq. 26). d = 1.

asin needs |sin dth| <= 1: the update is clipped to [-CLIP, CLIP] and a clipped
step passes no gradient (the sine update saturated; see ``CLIP``).
"""

import math

import numpy as np
from numba import njit, prange

from vinnp.layers.mlp import chunking, backward_one, forward_one

# Largest |sin dth| kept. asin'(s) = 1/sqrt(1-s^2) is 7e3 at this bound, so a
# step at the edge still has a finite, if large, gradient.
CLIP = 1.0 - 1e-8


@njit(cache=True)
def _r(theta, w_off, b_off, sizes, acts, n_off, th, z, a, x):
    x[0] = th
    forward_one(theta, w_off, b_off, sizes, acts, n_off, x, z, a)
    return a[n_off[-1] - 1]


@njit(cache=True)
def _rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, mass, h, x1, obs, S, z, a, x):
    T = obs.shape[0]
    th = x1[1, 0]
    s = math.sin(x1[1, 0] - x1[0, 0])
    obs[0, 0, 0] = th
    obs[0, 1, 0] = mass * s / h
    S[0] = s
    for t in range(1, T):
        u = s + h * h * minv * _r(theta, w_off, b_off, sizes, acts, n_off, th, z, a, x)
        u = min(max(u, -CLIP), CLIP)
        th = th + math.asin(u)
        s = u
        obs[t, 0, 0] = th
        obs[t, 1, 0] = mass * s / h
        S[t] = s


@njit(cache=True, parallel=True)
def rollout(theta, w_off, b_off, sizes, acts, n_off, minv, mass, h, X1, obs, S):
    """obs (B, T, 2, 1) <- (th_t, p_t); S (B, T) <- sin(dth_{t-1}), kept for the backward."""
    B = X1.shape[0]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        z = np.empty(n_off[-1], theta.dtype)
        a = np.empty(n_off[-1], theta.dtype)
        x = np.empty(1, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _rollout_one(theta, w_off, b_off, sizes, acts, n_off, minv, mass, h, X1[b], obs[b], S[b], z, a, x)


@njit(cache=True)
def _backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, mass, h, x1, obs, S, g_obs,
                  z, a, ga, gz, x, g1, gx, ath, as_, grad, g_scal, g_x1):
    T = obs.shape[0]
    for t in range(T):
        ath[t] = g_obs[t, 0, 0]
        as_[t] = g_obs[t, 1, 0] * mass / h
        g_scal[1] += g_obs[t, 1, 0] * S[t] / h  # dLoss/dM
    for t in range(T - 2, -1, -1):
        s1 = S[t + 1]
        # th_{t+1} = th_t + asin(s_{t+1}); ath[t+1] is complete
        as_[t + 1] += ath[t + 1] / math.sqrt(1.0 - s1 * s1)
        ath[t] += ath[t + 1]
        if abs(s1) < CLIP:
            # s_{t+1} = s_t + h^2 M^{-1} r(th_t)
            as_[t] += as_[t + 1]
            k = h * h * as_[t + 1]
            r = _r(theta, w_off, b_off, sizes, acts, n_off, obs[t, 0, 0], z, a, x)
            g_scal[0] += k * r  # dLoss/dM^{-1}
            g1[0] = k * minv
            gx[0] = 0.0
            backward_one(theta, w_off, b_off, sizes, acts, n_off, z, a, g1, ga, gz, grad, True, gx)
            ath[t] += gx[0]
    c = math.cos(x1[1, 0] - x1[0, 0])
    g_x1[1, 0] += ath[0] + as_[0] * c
    g_x1[0, 0] -= as_[0] * c


@njit(cache=True, parallel=True)
def rollout_backward(theta, w_off, b_off, sizes, acts, n_off, minv, mass, h, X1, obs, S, g_obs, grad, g_scal, g_X1):
    """Accumulate (+=) dLoss/dtheta, g_scal[0] += dLoss/dM^{-1}, g_scal[1] += dLoss/dM, dLoss/dx_1."""
    B = X1.shape[0]
    T = obs.shape[1]
    nchunk, size = chunking(B)
    p_grad = np.zeros((nchunk, theta.shape[0]), theta.dtype)
    p_scal = np.zeros((nchunk, 2), theta.dtype)
    for c in prange(nchunk):
        n = n_off[-1]
        z = np.empty(n, theta.dtype)
        a = np.empty(n, theta.dtype)
        ga = np.empty(n, theta.dtype)
        gz = np.empty(n, theta.dtype)
        x = np.empty(1, theta.dtype)
        g1 = np.empty(1, theta.dtype)
        gx = np.empty(1, theta.dtype)
        ath = np.empty(T, theta.dtype)
        as_ = np.empty(T, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            _backward_one(theta, w_off, b_off, sizes, acts, n_off, minv, mass, h, X1[b], obs[b], S[b], g_obs[b],
                          z, a, ga, gz, x, g1, gx, ath, as_, p_grad[c], p_scal[c], g_X1[b])
    for c in range(nchunk):
        grad += p_grad[c]
        g_scal += p_scal[c]
