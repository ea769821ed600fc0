"""VIN-SO(2): the Lie group variational integrator network on SO(2), eqs. (11)-(12), App. B.

    sin(dth_t) = sin(dth_{t-1}) + h^2 M^{-1} r_phi(th_t)          (11)
    th_{t+1}   = th_t + dth_t,   dth_t = asin(clip(sin(dth_t)))   (12)

Eq. (28) with F_t = R(dth_t) gives the true pendulum's update with r(th) = -(g/l) sin th;
the network r_phi (sin activations at its last hidden layer) replaces the force term. The
rotation R(th_t) stays on SO(2) by construction: the state is an angle and every update is
a group element. State x_t = (th_{t-1}, th_t). Observed: th_t and the discrete angular
momentum p_t = M sin(dth_{t-1}) / h (the Legendre transform of eq. 26). d = 1.

asin needs |sin dth| <= 1: the update is clipped to [-CLIP, CLIP] and a clipped step passes
no gradient (the sine update saturated; see ``CLIP``). aux (T, 1) keeps sin(dth_{t-1}).
"""

import math
from typing import NamedTuple

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.integrator import POSITIONS, Integrator
from vinnp.jit import njit
from vinnp.layers import reference as R
from vinnp.layers.mlp import MLP, backward_one as mlp_backward_one, forward_one

# Largest |sin dth| kept. asin'(s) = 1/sqrt(1-s^2) is 7e3 at this bound, so a step at the
# edge still has a finite, if large, gradient.
CLIP = 1.0 - 1e-8


class SO2Tag(NamedTuple):
    order: int = 2


def make_net(dim, hidden=(200,), activation="tanh"):
    """r_phi: R -> R with sin at the last hidden layer (Section 3, eq. 11): r(th) = -(g/l) sin th
    is in the family."""
    if dim != 1:
        raise ValueError(f"dim: vin-so2 evolves one angle (dim 1), got dim {dim}")
    if not hidden:
        raise ValueError("hidden: vin-so2 needs at least one hidden layer (its last one is sin)")
    return MLP([1, *hidden, 1], [activation] * (len(hidden) - 1) + ["sin", "identity"])


@njit(cache=True)
def _r(theta, w_off, b_off, sizes, acts, n_off, th, z, a, x):
    x[0] = th
    forward_one(theta, w_off, b_off, sizes, acts, n_off, x, z, a)
    return a[n_off[-1] - 1]


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    theta, w_off, b_off, sizes, acts, n_off = net
    minv, m = mass[0, 0, 0], mass[1, 0, 0]
    z, a, x = buf[0], buf[1], vec[0, 0, :1]
    T = obs.shape[0]
    th = x1[1, 0]
    s = math.sin(x1[1, 0] - x1[0, 0])
    obs[0, 0, 0] = th
    obs[0, 1, 0] = m * s / h
    aux[0, 0] = s
    for t in range(1, T):
        u = s + h * h * minv * _r(theta, w_off, b_off, sizes, acts, n_off, th, z, a, x)
        u = min(max(u, -CLIP), CLIP)
        th = th + math.asin(u)
        s = u
        obs[t, 0, 0] = th
        obs[t, 1, 0] = m * s / h
        aux[t, 0] = s


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    theta, w_off, b_off, sizes, acts, n_off = net
    minv, m = mass[0, 0, 0], mass[1, 0, 0]
    z, a, ga, gz = buf[0], buf[1], buf[2], buf[3]
    x, g1, gx = vec[0, 0, :1], vec[0, 1, :1], vec[0, 2, :1]
    T = obs.shape[0]
    ath, as_ = vec[1, :T, 0], vec[2, :T, 0]
    for t in range(T):
        ath[t] = g_obs[t, 0, 0]
        as_[t] = g_obs[t, 1, 0] * m / h
        g_mass[1, 0, 0] += g_obs[t, 1, 0] * aux[t, 0] / h  # dLoss/dM
    for t in range(T - 2, -1, -1):
        s1 = aux[t + 1, 0]
        # th_{t+1} = th_t + asin(s_{t+1}); ath[t+1] is complete
        as_[t + 1] += ath[t + 1] / math.sqrt(1.0 - s1 * s1)
        ath[t] += ath[t + 1]
        if abs(s1) < CLIP:
            # s_{t+1} = s_t + h^2 M^{-1} r(th_t)
            as_[t] += as_[t + 1]
            k = h * h * as_[t + 1]
            r = _r(theta, w_off, b_off, sizes, acts, n_off, obs[t, 0, 0], z, a, x)
            g_mass[0, 0, 0] += k * r  # dLoss/dM^{-1}
            g1[0] = k * minv
            gx[0] = 0.0
            mlp_backward_one(theta, w_off, b_off, sizes, acts, n_off, z, a, g1, ga, gz, grad, True, gx)
            ath[t] += gx[0]
    c = math.cos(x1[1, 0] - x1[0, 0])
    g_x1[1, 0] += ath[0] + as_[0] * c
    g_x1[0, 0] -= as_[0] * c


def reference(weights, activations, minv, m, h, x1, T):
    """NumPy rollout, eqs. (11)-(12). x1 (B, 2, 1) = (th_0, th_1) -> obs (B, T, 2, 1)."""
    x1 = np.asarray(x1)
    obs = np.empty((x1.shape[0], T, 2, 1), dtype=x1.dtype)
    th = x1[:, 1, 0]
    s = np.sin(x1[:, 1, 0] - x1[:, 0, 0])
    for t in range(T):
        if t > 0:
            r = R.mlp_forward(weights, activations, th[:, None])[0][:, 0]
            s = np.clip(s + h * h * minv[0, 0] * r, -CLIP, CLIP)
            th = th + np.arcsin(s)
        obs[:, t, 0, 0] = th
        obs[:, t, 1, 0] = m[0, 0] * s / h
    return obs


def initial_state(q, p, minv, h):
    """th_0 = th - asin(h M^{-1} p) inverts p_1 = M sin(th_1 - th_0) / h."""
    q, p = np.asarray(q), np.asarray(p)
    s = np.clip(h * p * minv[0, 0], -CLIP, CLIP)
    return np.stack([q - np.arcsin(s), q], axis=1)


kernels.register(SO2Tag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="vin-so2", summary="Lie group VIN on SO(2), eqs. (11)-(12)", order=2, symplectic=True,
    reversible=True, lie_group="SO(2)", state=POSITIONS, make_net=make_net, potential=False, mass=True,
    dim=1, aux=1, tag=SO2Tag(), reference=reference, initial_state=initial_state, pixel_h=0.1,
    roles=("table-pixels-pendulum", "default-pixels-pendulum", "embedding"))
