"""Forced VIN-VV: velocity Verlet with friction and inputs, from the discrete Lagrange-d'Alembert principle.

The unforced cell (vinnp.dynamics.vv) is the variational integrator of the trapezoidal
discrete Lagrangian (eqs. 7-8),

    L_d(q_k, q_{k+1}) = (h/2) v^T M v - (h/2) (U(q_k) + U(q_{k+1})),   v = (q_{k+1} - q_k) / h.

Generalised forces f(q, qdot, u) = -D qdot + B u (a Rayleigh dissipation D = L L^T and an
input map B; u held over each step) enter the discrete Euler-Lagrange equations as discrete
forces (Marsden & West 2001, sec. 3.2):

    D_2 L_d(q_{k-1}, q_k) + D_1 L_d(q_k, q_{k+1}) + f^+_{k-1} + f^-_k = 0.

We take the trapezoidal rule of the force along the step with the step's own velocity v,
f^-_k = f^+_k = (h/2) (-D v + B u_k), which keeps the scheme second order and symmetric in
D. The forced discrete Legendre transforms p_k = -D_1 L_d - f^-_k, p_{k+1} = D_2 L_d + f^+_k
then give the update (g_k = B u_k, A = M + (h/2) D):

    q_{k+1} = q_k + A^{-1} (h p_k - (h^2/2) dU/dq(q_k) + (h^2/2) g_k)                 (9')
    p_{k+1} = p_k - (h/2)(dU/dq(q_k) + dU/dq(q_{k+1})) - D (q_{k+1} - q_k) + h g_k    (10')

(the second is D_2 L_d + f^+_k rewritten with the first). With D = 0 and g = 0, A = M and
(9')-(10') are eqs. (9)-(10) operation for operation: the forced cell then reproduces the
unforced one exactly (tested). The energy H = p^T M^{-1} p / 2 + U changes over a step by
the discrete work (q_{k+1} - q_k) . (f^-_k + f^+_k) / h ... up to the O(h^3) error of the
conservative scheme; with u = 0 that work is -v^T D v h <= 0.

Kernels: the shared signature of vinnp.dynamics.kernels, with mass = (M^{-1}, M, D, A^{-1})
and drive[t] = B u_t. aux (T, d) keeps dU/dq(q_t) as in VIN-VV.
"""

from typing import NamedTuple

import numpy as np

from vinnp.dynamics import kernels
from vinnp.dynamics.integrator import PHASE, Integrator
from vinnp.dynamics.linalg import matvec, matvec_t, outer_add
from vinnp.jit import njit
from vinnp.layers import reference as R
from vinnp.layers.potential import force_one, force_rop_one, potential_mlp


class ForcedVelocityVerletTag(NamedTuple):
    order: int = 2


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    theta, w_off, b_off, sizes, acts, n_off = net
    D, ainv = mass[2], mass[3]
    d = x1.shape[1]
    T = obs.shape[0]
    for i in range(d):
        obs[0, 0, i] = x1[0, i]
        obs[0, 1, i] = x1[1, i]
    force_one(theta, w_off, b_off, sizes, acts, n_off, obs[0, 0], buf, aux[0])
    for t in range(T - 1):
        q, p, f, g = obs[t, 0], obs[t, 1], aux[t], drive[t]
        qn, pn, fn = obs[t + 1, 0], obs[t + 1, 1], aux[t + 1]
        for i in range(d):
            qn[i] = q[i]
        matvec(ainv, p, qn, h)                     # (9')
        matvec(ainv, f, qn, -0.5 * h * h)
        matvec(ainv, g, qn, 0.5 * h * h)
        force_one(theta, w_off, b_off, sizes, acts, n_off, qn, buf, fn)
        dq = vec[0, 0, :d]
        for i in range(d):
            pn[i] = p[i] - 0.5 * h * (f[i] + fn[i])    # (10')
            dq[i] = qn[i] - q[i]
        matvec(D, dq, pn, -1.0)
        for i in range(d):
            pn[i] += h * g[i]


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    """BPTT of (9')-(10'); accumulates grad, g_mass[2] (dLoss/dD), g_mass[3] (dLoss/dA^{-1}),
    g_x1 and g_drive. Running adjoints of the current point: aq, ap complete, af partial."""
    theta, w_off, b_off, sizes, acts, n_off = net
    D, ainv = mass[2], mass[3]
    g_D, g_ainv = g_mass[2], g_mass[3]
    d = obs.shape[2]
    T = obs.shape[0]
    aq, ap, af, u = vec[0, 0, :d], vec[1, 0, :d], vec[2, 0, :d], vec[3, 0, :d]
    dq, r = vec[0, 1, :d], vec[1, 1, :d]
    for i in range(d):
        aq[i] = g_obs[T - 1, 0, i]
        ap[i] = g_obs[T - 1, 1, i]
        af[i] = 0.0
    for t in range(T - 2, -1, -1):
        q, p, f, g = obs[t, 0], obs[t, 1], aux[t], drive[t]
        qn = obs[t + 1, 0]
        for i in range(d):
            dq[i] = qn[i] - q[i]
            af[i] -= 0.5 * h * ap[i]           # dU/dq(q_{t+1}) in p_{t+1}: its adjoint is complete
            g_drive[t, i] += h * ap[i]
        matvec_t(D, ap, aq, -1.0)              # -D q_{t+1} in p_{t+1}
        outer_add(g_D, ap, dq, -1.0)
        force_rop_one(theta, w_off, b_off, sizes, acts, n_off, qn, af, buf, grad, aq)
        # aq is now dLoss/dq_{t+1} complete; through (9')
        for i in range(d):
            u[i] = 0.0
            r[i] = h * p[i] - 0.5 * h * h * f[i] + 0.5 * h * h * g[i]
        matvec_t(ainv, aq, u, 1.0)
        outer_add(g_ainv, aq, r, 1.0)
        matvec_t(D, ap, aq, 1.0)               # +D q_t in p_{t+1}
        for i in range(d):
            g_drive[t, i] += 0.5 * h * h * u[i]
            af[i] = -0.5 * h * h * u[i] - 0.5 * h * ap[i]
            ap[i] = h * u[i] + ap[i] + g_obs[t, 1, i]
            aq[i] = aq[i] + g_obs[t, 0, i]
    force_rop_one(theta, w_off, b_off, sizes, acts, n_off, obs[0, 0], af, buf, grad, aq)
    for i in range(d):
        g_x1[0, i] += aq[i]
        g_x1[1, i] += ap[i]


def reference(weights, activations, minv, m, h, x1, T, D, drive):
    """NumPy rollout of (9')-(10'). x1 (B, 2, d), drive (B, T, d) = B u_t -> obs (B, T, 2, d)."""
    x1 = np.asarray(x1)
    ainv = np.linalg.inv(m + 0.5 * h * D)
    obs = np.empty((x1.shape[0], T, 2, x1.shape[2]), dtype=x1.dtype)
    q, p = x1[:, 0], x1[:, 1]
    f = R.force(weights, activations, q)
    for t in range(T):
        if t > 0:
            g = drive[:, t - 1]
            qn = q + (h * p - 0.5 * h * h * f + 0.5 * h * h * g) @ ainv.T
            fn = R.force(weights, activations, qn)
            p = p - 0.5 * h * (f + fn) - (qn - q) @ D.T + h * g
            q, f = qn, fn
        obs[:, t, 0] = q
        obs[:, t, 1] = p
    return obs


def initial_state(q, p, minv, h, D=None, g0=None):
    """The state is (q, p) itself."""
    return np.stack([np.asarray(q), np.asarray(p)], axis=1)


kernels.register(ForcedVelocityVerletTag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="vin-vv-forced", summary="velocity Verlet VIN with friction and inputs (Lagrange-d'Alembert), eqs. (9)-(10)",
    order=2, symplectic=False, reversible=False, lie_group=None, state=PHASE, make_net=potential_mlp,
    potential=True, mass=True, dim=None, aux=1, tag=ForcedVelocityVerletTag(), reference=reference,
    initial_state=initial_state, forced=True, roles=("default-forced",))
