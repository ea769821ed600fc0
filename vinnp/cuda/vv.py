"""VIN-VV's training kernel on the GPU (numba.cuda): rollout and BPTT of eqs. (9)-(10), one thread per trajectory.

Imported only when a CUDA step is built (vinnp.cuda.vin_step, through the integrator's
declaration); the shared device functions, reductions and Adam are vinnp.cuda.kernels'.
"""

import functools

import numba
import numpy as np
from numba import cuda

from vinnp.cuda import kernels


def scratch_shapes(T, d, B):
    """Device scratch of ``traj`` after the shared head: Q, P, F, AQ, AP, AF (trajectory index last)."""
    return [(T, d, B)] * 6


@functools.lru_cache(maxsize=None)
def build(dtype_name, D, tpb_reduce, tpb_finish):
    """(traj, shared namespace) for one dtype, dimension D and block sizes; cached."""
    c = kernels.build(dtype_name, D, tpb_reduce, tpb_finish)
    nb_t = numba.from_dtype(np.dtype(dtype_name))
    ZERO, HALF = c.ZERO, c.HALF
    exp_inv_var, force, force_rop = c.exp_inv_var, c.force, c.force_rop

    @cuda.jit
    def traj(theta, minv, mm, h, y, x1_off, lv_off, w1, b1, w2, H, N, Q, P, F, AQ, AP, AF, pg, ssb, grad):
        """VIN-VV, eqs. (9)-(10), for trajectory b: (Q[t], P[t]) = (q_t, p_t), F[t] = dU/dq(q_t);
        then vv._backward_one's BPTT (AQ, AP, AF: adjoints of q, p and f)."""
        b = cuda.grid(1)
        B = ssb.shape[0]
        if b >= B:
            return
        T = P.shape[0]
        q = cuda.local.array(D, nb_t)
        f = cuda.local.array(D, nb_t)
        w = cuda.local.array(D, nb_t)
        hv = cuda.local.array(D, nb_t)
        xb = x1_off + b * 2 * D
        hh = -HALF * h * h
        hf = HALF * h
        for i in range(D):
            Q[0, i, b] = theta[xb + i]
            P[0, i, b] = theta[xb + D + i]
            q[i] = theta[xb + i]
        force(theta, w1, b1, w2, H, q, f)
        for i in range(D):
            F[0, i, b] = f[i]
        for t in range(1, T):
            for i in range(D):
                s = ZERO
                for j in range(D):
                    s += minv[i, j] * P[t - 1, j, b]
                s2 = ZERO
                for j in range(D):
                    s2 += minv[i, j] * F[t - 1, j, b]
                q[i] = (Q[t - 1, i, b] + h * s) + hh * s2
                Q[t, i, b] = q[i]
            force(theta, w1, b1, w2, H, q, f)
            for i in range(D):
                F[t, i, b] = f[i]
                P[t, i, b] = P[t - 1, i, b] - hf * (F[t - 1, i, b] + f[i])
        ss = 0.0
        for k in range(T):
            for i in range(D):
                r = Q[k, i, b] - y[k, 0, i, b]
                ss += r * r
            for i in range(D):
                r = P[k, i, b] - y[k, 1, i, b]
                ss += r * r
        ssb[b] = ss
        inv = exp_inv_var(theta[lv_off])
        for p in range(pg.shape[0]):
            pg[p, b] = ZERO
        for t in range(T):
            for i in range(D):
                AQ[t, i, b] = (Q[t, i, b] - y[t, 0, i, b]) * inv / N
                AP[t, i, b] = (P[t, i, b] - y[t, 1, i, b]) * inv / N
                AF[t, i, b] = ZERO
        for t in range(T - 2, -1, -1):
            # f_{t+1} enters p_{t+1} (this step) and step t+1 (already processed): complete now
            for i in range(D):
                AF[t + 1, i, b] -= hf * AP[t + 1, i, b]
                q[i] = Q[t + 1, i, b]
                f[i] = AF[t + 1, i, b]
            force_rop(theta, w1, b1, w2, H, q, f, pg, b, hv)
            for i in range(D):
                AQ[t + 1, i, b] += hv[i]
            for j in range(D):   # w = M^{-T} aq_{t+1}
                s = ZERO
                for i in range(D):
                    s += minv[i, j] * AQ[t + 1, i, b]
                w[j] = s
            for i in range(D):
                AQ[t, i, b] += AQ[t + 1, i, b]
                AP[t, i, b] += h * w[i] + AP[t + 1, i, b]
                AF[t, i, b] += hh * w[i] - hf * AP[t + 1, i, b]
        for i in range(D):
            q[i] = Q[0, i, b]
            f[i] = AF[0, i, b]
        force_rop(theta, w1, b1, w2, H, q, f, pg, b, hv)
        for i in range(D):
            AQ[0, i, b] += hv[i]
        for i in range(D):
            grad[xb + i] = AQ[0, i, b]
            grad[xb + D + i] = AP[0, i, b]

    return traj, c
