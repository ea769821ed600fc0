"""Forced VIN-SV: Stormer-Verlet with friction and inputs, from the discrete Lagrange-d'Alembert principle.

The unforced cell (vinnp.dynamics.sv, eq. 6) is the variational integrator of the
rectangle-rule discrete Lagrangian (eq. 5), L_d(q_k, q_{k+1}) = (h/2) v^T M v - h U(q_k) with
v = (q_{k+1} - q_k) / h. Generalised forces f(q, qdot, u) = -D qdot + B u (Rayleigh
dissipation D = L L^T, input map B, u held over each step) enter as discrete forces
(Marsden & West 2001, sec. 3.2):

    D_2 L_d(q_{k-1}, q_k) + D_1 L_d(q_k, q_{k+1}) + f^+_{k-1} + f^-_k = 0,
    f^-_k = f^+_k = (h/2) (-D (q_{k+1} - q_k) / h + g_k),   g_k = B u_k,

the trapezoidal rule of the force over each step with that step's velocity. With
Delta_k = q_k - q_{k-1} and A = M + (h/2) D this is, solved for q_{k+1},

    q_{k+1} = 2 q_k - q_{k-1} - h^2 A^{-1} dU/dq(q_k) + A^{-1} w_k,                   (6')
    w_k     = -h D Delta_k + (h^2/2) (g_{k-1} + g_k),

and the observed momentum is the forced discrete Legendre transform (eq. 3 plus f^+):

    p_k = D_2 L_d(q_{k-1}, q_k) + f^+_{k-1} = M Delta_k / h - D Delta_k / 2 + (h/2) g_{k-1}.   (3')

The input before the first step is taken equal to the first (g_{-1} = g_0): the state
x_1 = (q_{-1}, q_0) is itself a fitted, fictitious earlier point. With D = 0 and g = 0,
A = M and (6'), (3') are eqs. (6) and (3) operation for operation (the extra terms add exact
zeros): the forced cell reproduces VIN-SV exactly (tested). Second order; the dissipative
term is symmetric in the step, so the scheme is time reversible for D = 0 only.

Kernels: the shared signature of vinnp.dynamics.kernels, with mass = (M^{-1}, M, D, A^{-1})
and drive[t] = B u_t.
"""

from typing import NamedTuple

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.integrator import POSITIONS, Integrator
from vinnp.dynamics.linalg import matvec, matvec_t, outer_add
from vinnp.jit import njit
from vinnp.layers import reference as R
from vinnp.layers.potential import force_one, force_rop_one, potential_mlp


class ForcedStormerVerletTag(NamedTuple):
    order: int = 2


@njit(cache=True)
def _momentum(m, D, h, dq, g, out):
    """out = p of (3') from dq = Delta_k and g = g_{k-1}, in eq. (3)'s order of operations."""
    for i in range(dq.shape[0]):
        out[i] = 0.0
    matvec(m, dq, out, 1.0 / h)
    matvec(D, dq, out, -0.5)
    for i in range(dq.shape[0]):
        out[i] += 0.5 * h * g[i]


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    theta, w_off, b_off, sizes, acts, n_off = net
    m, D, ainv = mass[1], mass[2], mass[3]
    d = x1.shape[1]
    T = obs.shape[0]
    f, dq, w = vec[0, 0, :d], vec[0, 1, :d], vec[2, 0, :d]
    for i in range(d):
        obs[0, 0, i] = x1[1, i]
        dq[i] = x1[1, i] - x1[0, i]
    _momentum(m, D, h, dq, drive[0], obs[0, 1])
    prev = x1[0]
    for t in range(T - 1):
        cur = obs[t, 0]
        gprev = drive[t - 1] if t > 0 else drive[0]
        force_one(theta, w_off, b_off, sizes, acts, n_off, cur, buf, f)
        for i in range(d):
            w[i] = 0.5 * h * h * (gprev[i] + drive[t, i])
        matvec(D, dq, w, -h)                         # dq = Delta_t here
        nxt = obs[t + 1, 0]
        for i in range(d):
            nxt[i] = 2.0 * cur[i] - prev[i]
        matvec(ainv, f, nxt, -h * h)                 # (6')
        matvec(ainv, w, nxt, 1.0)
        for i in range(d):
            dq[i] = nxt[i] - cur[i]
        _momentum(m, D, h, dq, drive[t], obs[t + 1, 1])
        prev = cur


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    """BPTT of (6') and (3'); a[k] = dLoss/dq_{k-1} for k = 0..T (q_{-1} = x1[0], q_t = obs[t, 0])."""
    theta, w_off, b_off, sizes, acts, n_off = net
    m, D, ainv = mass[1], mass[2], mass[3]
    g_m, g_D, g_ainv = g_mass[1], g_mass[2], g_mass[3]
    d = x1.shape[1]
    T = obs.shape[0]
    w, dq, a = vec[0, 0, :d], vec[0, 1, :d], vec[1, :, :d]
    v, up, wk = vec[2, 0, :d], vec[2, 1, :d], vec[3, 0, :d]
    a[:, :] = 0.0
    # the observed momenta (3'): p_t depends on Delta_t and g_{t-1}
    for t in range(T):
        gp = g_obs[t, 1]
        qprev = x1[0] if t == 0 else obs[t - 1, 0]
        for i in range(d):
            a[t + 1, i] += g_obs[t, 0, i]
            dq[i] = obs[t, 0, i] - qprev[i]
            w[i] = 0.0
        matvec_t(m, gp, w, 1.0 / h)
        matvec_t(D, gp, w, -0.5)
        for i in range(d):
            a[t + 1, i] += w[i]
            a[t, i] -= w[i]
            g_drive[max(t - 1, 0), i] += 0.5 * h * gp[i]
        outer_add(g_m, gp, dq, 1.0 / h)
        outer_add(g_D, gp, dq, -0.5)
    # the recurrence (6'), backwards; a[t + 2] = dLoss/dq_{t+1} is complete at step t
    for t in range(T - 2, -1, -1):
        cur = obs[t, 0]
        qprev = x1[0] if t == 0 else obs[t - 1, 0]
        tp = max(t - 1, 0)
        for i in range(d):
            v[i] = 0.0
            up[i] = 0.0
            dq[i] = cur[i] - qprev[i]
        matvec_t(ainv, a[t + 2], v, 1.0)
        for i in range(d):
            up[i] = -h * h * v[i]
        force_rop_one(theta, w_off, b_off, sizes, acts, n_off, cur, up, buf, grad, a[t + 1])
        outer_add(g_ainv, a[t + 2], buf[3, :d], -h * h)  # buf[3, :d] = dU/dq(q_t) after the sweep
        for i in range(d):
            wk[i] = 0.5 * h * h * (drive[tp, i] + drive[t, i])
        matvec(D, dq, wk, -h)
        outer_add(g_ainv, a[t + 2], wk, 1.0)
        matvec_t(D, v, a[t + 1], -h)
        matvec_t(D, v, a[t], h)
        outer_add(g_D, v, dq, -h)
        for i in range(d):
            g_drive[t, i] += 0.5 * h * h * v[i]
            g_drive[tp, i] += 0.5 * h * h * v[i]
            a[t + 1, i] += 2.0 * a[t + 2, i]
            a[t, i] -= a[t + 2, i]
    for i in range(d):
        g_x1[0, i] += a[0, i]
        g_x1[1, i] += a[1, i]


def reference(weights, activations, minv, m, h, x1, T, D, drive):
    """NumPy rollout of (6') and (3'). x1 (B, 2, d), drive (B, T, d) -> obs (B, T, 2, d)."""
    x1 = np.asarray(x1)
    ainv = np.linalg.inv(m + 0.5 * h * D)
    obs = np.empty((x1.shape[0], T, 2, x1.shape[2]), dtype=x1.dtype)
    prev, cur = x1[:, 0], x1[:, 1]
    g_prev = drive[:, 0]
    for t in range(T):
        if t > 0:
            g = drive[:, t - 1]
            w = -h * (cur - prev) @ D.T + 0.5 * h * h * (g_prev + g)
            nxt = 2 * cur - prev - h * h * R.force(weights, activations, cur) @ ainv.T + w @ ainv.T
            prev, cur, g_prev = cur, nxt, g
        dq = cur - prev
        obs[:, t, 0] = cur
        obs[:, t, 1] = dq @ m.T / h - 0.5 * dq @ D.T + 0.5 * h * g_prev
    return obs


def initial_state(q, p, minv, h, D=None, g0=None):
    """q_{-1} = q - Delta_0 with Delta_0 solving (3') for p_0 = p: (M/h - D/2) Delta_0 = p - (h/2) g_0."""
    q, p = np.asarray(q), np.asarray(p)
    if D is None:
        return np.stack([q - h * p @ minv.T, q], axis=1)
    rhs = p - 0.5 * h * (np.zeros_like(p) if g0 is None else np.asarray(g0))
    lhs = np.linalg.inv(minv) / h - 0.5 * D
    return np.stack([q - rhs @ np.linalg.inv(lhs).T, q], axis=1)


kernels.register(ForcedStormerVerletTag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="vin-sv-forced", summary="Stormer-Verlet VIN with friction and inputs (Lagrange-d'Alembert), eq. (6)",
    order=2, symplectic=False, reversible=False, lie_group=None, state=POSITIONS, make_net=potential_mlp,
    potential=True, mass=True, dim=None, aux=0, tag=ForcedStormerVerletTag(), reference=reference,
    initial_state=initial_state, forced=True)
