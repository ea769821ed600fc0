"""ResRNN: the parameter-tied residual network, i.e. explicit Euler on a free-form field.

    x_{t+1} = x_t + h f_theta(x_t),   x = (q, p) in R^{2d}

The paper's baseline architecture (Section 4.2): first order and not symplectic, so its
forecasts drift in energy — the contrast the VINs are measured against.
"""

from typing import NamedTuple

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.integrator import PHASE, Integrator
from vinnp.jit import njit
from vinnp.layers import reference as R
from vinnp.layers.mlp import MLP, backward_one as mlp_backward_one, forward_one


class EulerTag(NamedTuple):
    order: int = 1


def make_net(dim, hidden=(200,), activation="tanh"):
    """f_theta: R^{2d} -> R^{2d}."""
    return MLP([2 * dim, *hidden, 2 * dim], activation)


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    theta, w_off, b_off, sizes, acts, n_off = net
    z, a = buf[0], buf[1]
    d = x1.shape[1]
    T = obs.shape[0]
    lo = n_off[sizes.shape[0] - 1]
    xs = obs.reshape(T, 2 * d)
    for i in range(d):
        xs[0, i] = x1[0, i]
        xs[0, d + i] = x1[1, i]
    for t in range(1, T):
        forward_one(theta, w_off, b_off, sizes, acts, n_off, xs[t - 1], z, a)
        for i in range(2 * d):
            xs[t, i] = xs[t - 1, i] + h * a[lo + i]


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    theta, w_off, b_off, sizes, acts, n_off = net
    z, a, ga, gz = buf[0], buf[1], buf[2], buf[3]
    T = obs.shape[0]
    D = obs.shape[1] * obs.shape[2]
    d = D // 2
    xs = obs.reshape(T, D)
    ax, g = vec[1, :T, :D], vec[0, 0, :D]
    ax[:, :] = g_obs.reshape(T, D)
    for t in range(T - 2, -1, -1):
        forward_one(theta, w_off, b_off, sizes, acts, n_off, xs[t], z, a)
        for i in range(D):
            g[i] = h * ax[t + 1, i]
            ax[t, i] += ax[t + 1, i]
        mlp_backward_one(theta, w_off, b_off, sizes, acts, n_off, z, a, g, ga, gz, grad, True, ax[t])
    for i in range(d):
        g_x1[0, i] += ax[0, i]
        g_x1[1, i] += ax[0, d + i]


def reference(weights, activations, minv, m, h, x1, T):
    """NumPy rollout of explicit Euler. x1 (B, 2, d) = (q_1, p_1) -> obs (B, T, 2, d)."""
    x1 = np.asarray(x1)
    B, _, d = x1.shape
    obs = np.empty((B, T, 2, d), dtype=x1.dtype)
    x = np.concatenate([x1[:, 0], x1[:, 1]], axis=1)
    for t in range(T):
        if t > 0:
            x = x + h * R.mlp_forward(weights, activations, x)[0]
        obs[:, t, 0] = x[:, :d]
        obs[:, t, 1] = x[:, d:]
    return obs


def initial_state(q, p, minv, h):
    """The state is (q, p) itself."""
    return np.stack([np.asarray(q), np.asarray(p)], axis=1)


kernels.register(EulerTag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="resrnn", summary="parameter-tied residual network (explicit Euler), the paper's baseline",
    order=1, symplectic=False, reversible=False, lie_group=None, state=PHASE, make_net=make_net,
    potential=False, mass=False, dim=None, aux=0, tag=EulerTag(), reference=reference,
    initial_state=initial_state, roles=("table-pixels-pendulum", "table-pixels-spring"))
