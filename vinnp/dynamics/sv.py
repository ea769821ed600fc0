"""VIN-SV: the Stormer-Verlet variational integrator network, eq. (6).

    q_{t+1} = 2 q_t - q_{t-1} - h^2 M^{-1} dU/dq(q_t)

State x_t = (q_{t-1}, q_t). Symplectic (a variational integrator of the rectangle-rule
discrete Lagrangian, eq. 5), second order, time reversible. Observations are positions
and the discrete momenta of eq. (3): p_t = dL^d(q_{t-1}, q_t)/dq_t = M (q_t - q_{t-1}) / h.

Kernels (vinnp.dynamics.kernels' shared signature): ``rollout_one`` writes obs (T, 2, d)
with obs[0] from x_1; ``backward_one`` is backpropagation through time, recomputing each
step's force (cheaper than storing the network's activations across T).
"""

from typing import NamedTuple

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.integrator import POSITIONS, Integrator
from vinnp.dynamics.linalg import matvec, matvec_t, outer_add
from vinnp.jit import njit
from vinnp.layers import reference as R
from vinnp.layers.potential import force_one, force_rop_one, potential_mlp


class StormerVerletTag(NamedTuple):
    order: int = 2


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    theta, w_off, b_off, sizes, acts, n_off = net
    minv, m = mass[0], mass[1]
    d = x1.shape[1]
    T = obs.shape[0]
    f = vec[0, 0, :d]
    dq = vec[0, 1, :d]
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


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    theta, w_off, b_off, sizes, acts, n_off = net
    minv, m = mass[0], mass[1]
    g_minv, g_m = g_mass[0], g_mass[1]
    d = x1.shape[1]
    T = obs.shape[0]
    w = vec[0, 0, :d]
    dq = vec[0, 1, :d]
    a = vec[1, :, :d]
    # a[k] = dLoss/dq_k for k = 0..T, q_0 = x1[0], q_k = obs[k-1, 0]
    a[:, :] = 0.0
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


def reference(weights, activations, minv, m, h, x1, T):
    """NumPy rollout, eq. (6); p_t = M (q_t - q_{t-1}) / h. x1 (B, 2, d) -> obs (B, T, 2, d)."""
    x1 = np.asarray(x1)
    obs = np.empty((x1.shape[0], T, 2, x1.shape[2]), dtype=x1.dtype)
    prev, cur = x1[:, 0], x1[:, 1]
    for t in range(T):
        if t > 0:
            prev, cur = cur, 2 * cur - prev - h * h * R.force(weights, activations, cur) @ minv.T
        obs[:, t, 0] = cur
        obs[:, t, 1] = (cur - prev) @ m.T / h
    return obs


def initial_state(q, p, minv, h):
    """q_0 = q - h M^{-1} p inverts p_1 = M (q_1 - q_0) / h exactly."""
    q, p = np.asarray(q), np.asarray(p)
    return np.stack([q - h * p @ minv.T, q], axis=1)


kernels.register(StormerVerletTag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="vin-sv", summary="Stormer-Verlet VIN, eq. (6)", order=2, symplectic=True, reversible=True,
    lie_group=None, state=POSITIONS, make_net=potential_mlp, potential=True, mass=True, dim=None, aux=0,
    tag=StormerVerletTag(), reference=reference, initial_state=initial_state, cuda="vinnp.cuda.sv",
    # velocity coordinates and h = 0.1 for the pixel VAE: see vinnp.models.pixel_vae
    pixel_h=0.1, pixel_coords="velocity",
    roles=("table-noisy", "table-pixels-spring", "default-pixels-spring"))
