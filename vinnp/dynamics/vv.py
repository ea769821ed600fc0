"""VIN-VV: the velocity Verlet variational integrator network, eqs. (9)-(10).

    q_{t+1} = q_t + h M^{-1} p_t - (h^2 / 2) M^{-1} dU/dq(q_t)             (9)
    p_{t+1} = p_t - (h / 2) (dU/dq(q_t) + dU/dq(q_{t+1}))                  (10)

State x_t = (q_t, p_t), observed directly. Symplectic (the symmetric discrete Lagrangian of
eqs. 7-8), second order, time reversible. Each step evaluates the force once:
dU/dq(q_{t+1}) is carried to the next step.

The kernels here are written for a *composition* of such steps with step sizes
w_1 h, ..., w_S h (velocity Verlet itself is S = 1, w = (1,)); the fourth-order VIN
(vinnp.dynamics.yoshida4) is the same code with Yoshida's three weights. A composition of
symplectic, reversible steps with palindromic weights is again symplectic and reversible.

aux (T, (3S - 2) d), per step t: the force at (q_t, p_t), then (q, p, force) at the start
of substeps 2..S. Backpropagation through time runs over the substep points with running
adjoints (three d-vectors), so its scratch does not grow with S.
"""

from typing import NamedTuple

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.integrator import PHASE, Integrator
from vinnp.dynamics.linalg import matvec, matvec_t, outer_add
from vinnp.jit import njit
from vinnp.layers import reference as R
from vinnp.layers.potential import force_one, force_rop_one, potential_mlp

WEIGHTS = (1.0,)


class VelocityVerletTag(NamedTuple):
    order: int = 2


@njit(cache=True)
def point(obs, aux, S, k):
    """(q, p, dU/dq) at substep point k = S t + s: views into obs and aux."""
    d = obs.shape[2]
    t, s = k // S, k % S
    if s == 0:
        return obs[t, 0], obs[t, 1], aux[t, :d]
    o = d + 3 * d * (s - 1)
    return aux[t, o: o + d], aux[t, o + d: o + 2 * d], aux[t, o + 2 * d: o + 3 * d]


@njit(cache=True)
def composition_rollout_one(W, net, mass, h, x1, obs, aux, buf):
    """Steps of S velocity Verlet substeps with sizes W[s] h (eqs. 9-10 with h -> W[s] h)."""
    theta, w_off, b_off, sizes, acts, n_off = net
    minv = mass[0]
    S = len(W)
    d = x1.shape[1]
    T = obs.shape[0]
    for i in range(d):
        obs[0, 0, i] = x1[0, i]
        obs[0, 1, i] = x1[1, i]
    force_one(theta, w_off, b_off, sizes, acts, n_off, obs[0, 0], buf, aux[0, :d])
    for k in range(1, S * (T - 1) + 1):
        tau = W[(k - 1) % S] * h
        q, p, f = point(obs, aux, S, k - 1)
        qn, pn, fn = point(obs, aux, S, k)
        for i in range(d):
            qn[i] = q[i]
        matvec(minv, p, qn, tau)
        matvec(minv, f, qn, -0.5 * tau * tau)
        force_one(theta, w_off, b_off, sizes, acts, n_off, qn, buf, fn)
        for i in range(d):
            pn[i] = p[i] - 0.5 * tau * (f[i] + fn[i])


@njit(cache=True)
def composition_backward_one(W, net, mass, h, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1):
    """BPTT of composition_rollout_one; accumulates (+=) grad, g_mass[0] (dLoss/dM^{-1}), g_x1."""
    theta, w_off, b_off, sizes, acts, n_off = net
    minv, g_minv = mass[0], g_mass[0]
    S = len(W)
    d = obs.shape[2]
    T = obs.shape[0]
    # running adjoints of the current point: aq, ap complete, af partial (the force there
    # also enters the step after it, already processed)
    aq, ap, af, u = vec[0, 0, :d], vec[1, 0, :d], vec[2, 0, :d], vec[3, 0, :d]
    for i in range(d):
        aq[i] = g_obs[T - 1, 0, i]
        ap[i] = g_obs[T - 1, 1, i]
        af[i] = 0.0
    for k in range(S * (T - 1), 0, -1):
        tau = W[(k - 1) % S] * h
        q, p, f = point(obs, aux, S, k - 1)
        qn = point(obs, aux, S, k)[0]
        # the force at point k enters p_k of this substep: its adjoint is complete now
        for i in range(d):
            af[i] -= 0.5 * tau * ap[i]
        force_rop_one(theta, w_off, b_off, sizes, acts, n_off, qn, af, buf, grad, aq)
        for i in range(d):
            u[i] = 0.0
        matvec_t(minv, aq, u, 1.0)
        outer_add(g_minv, aq, p, tau)
        outer_add(g_minv, aq, f, -0.5 * tau * tau)
        observed = (k - 1) % S == 0
        t = (k - 1) // S
        for i in range(d):
            afi = -0.5 * tau * tau * u[i] - 0.5 * tau * ap[i]
            api = tau * u[i] + ap[i]
            if observed:
                aq[i] = g_obs[t, 0, i] + aq[i]
                ap[i] = g_obs[t, 1, i] + api
            else:
                ap[i] = api
            af[i] = afi
    force_rop_one(theta, w_off, b_off, sizes, acts, n_off, obs[0, 0], af, buf, grad, aq)
    for i in range(d):
        g_x1[0, i] += aq[i]
        g_x1[1, i] += ap[i]


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    composition_rollout_one(WEIGHTS, net, mass, h, x1, obs, aux, buf)


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    composition_backward_one(WEIGHTS, net, mass, h, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1)


def composition_reference(weights_h, weights, activations, minv, h, x1, T):
    """NumPy rollout of composed velocity Verlet steps (sizes weights_h[s] * h): obs (B, T, 2, d)."""
    x1 = np.asarray(x1)
    obs = np.empty((x1.shape[0], T, 2, x1.shape[2]), dtype=x1.dtype)
    q, p = x1[:, 0], x1[:, 1]
    f = R.force(weights, activations, q)
    for t in range(T):
        if t > 0:
            for w in weights_h:
                tau = w * h
                q = q + tau * p @ minv.T - 0.5 * tau * tau * f @ minv.T
                fn = R.force(weights, activations, q)
                p = p - 0.5 * tau * (f + fn)
                f = fn
        obs[:, t, 0] = q
        obs[:, t, 1] = p
    return obs


def reference(weights, activations, minv, m, h, x1, T):
    """NumPy rollout, eqs. (9)-(10). x1 (B, 2, d) = (q_1, p_1) -> obs (B, T, 2, d)."""
    return composition_reference(WEIGHTS, weights, activations, minv, h, x1, T)


def initial_state(q, p, minv, h):
    """The state is (q, p) itself."""
    return np.stack([np.asarray(q), np.asarray(p)], axis=1)


kernels.register(VelocityVerletTag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="vin-vv", summary="velocity Verlet VIN, eqs. (9)-(10)", order=2, symplectic=True, reversible=True,
    lie_group=None, state=PHASE, make_net=potential_mlp, potential=True, mass=True, dim=None,
    aux=3 * len(WEIGHTS) - 2, tag=VelocityVerletTag(), reference=reference, initial_state=initial_state, cuda="vinnp.cuda.vv",
    roles=("default-phase", "table-noisy", "table-pixels-pendulum"))
