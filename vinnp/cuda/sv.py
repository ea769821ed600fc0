"""VIN-SV's training kernel on the GPU (numba.cuda): rollout and BPTT of eq. (6), one thread per trajectory.

Imported only when a CUDA step is built (vinnp.cuda.vin_step, through the integrator's
declaration); the shared device functions, reductions and Adam are vinnp.cuda.kernels'.
"""

import functools

import numba
import numpy as np
from numba import cuda

from vinnp.cuda import kernels


def scratch_shapes(T, d, B):
    """Device scratch of ``traj`` after the shared head: Q, P, A (trajectory index last)."""
    return [(T + 1, d, B), (T, d, B), (T + 1, d, B)]


@functools.lru_cache(maxsize=None)
def build(dtype_name, D, tpb_reduce, tpb_finish):
    """(traj, shared namespace) for one dtype, dimension D and block sizes; cached."""
    c = kernels.build(dtype_name, D, tpb_reduce, tpb_finish)
    nb_t = numba.from_dtype(np.dtype(dtype_name))
    ZERO, ONE, TWO = c.ZERO, c.ONE, c.TWO
    exp_inv_var, force, force_rop = c.exp_inv_var, c.force, c.force_rop

    @cuda.jit
    def traj(theta, minv, mm, h, y, x1_off, lv_off, w1, b1, w2, H, N, Q, P, A, pg, ssb, grad):
        """VIN-SV, eq. (6), for trajectory b: Q[k] = q_k (k = 0..T, q_0 = x_1[0]), P[k] the
        observed momentum of step k; then sv._backward_one's BPTT with A[k] = dLoss/dq_k."""
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
        rh = ONE / h
        hh = -h * h
        for i in range(D):
            Q[0, i, b] = theta[xb + i]
            Q[1, i, b] = theta[xb + D + i]
        for i in range(D):   # p_1 = M (q_1 - q_0) / h
            s = ZERO
            for j in range(D):
                s += mm[i, j] * (Q[1, j, b] - Q[0, j, b])
            P[0, i, b] = rh * s
        for t in range(1, T):
            for i in range(D):
                q[i] = Q[t, i, b]
            force(theta, w1, b1, w2, H, q, f)
            for i in range(D):
                s = ZERO
                for j in range(D):
                    s += minv[i, j] * f[j]
                Q[t + 1, i, b] = (TWO * q[i] - Q[t - 1, i, b]) + hh * s
            for i in range(D):
                s = ZERO
                for j in range(D):
                    s += mm[i, j] * (Q[t + 1, j, b] - Q[t, j, b])
                P[t, i, b] = rh * s
        # this trajectory's squared residuals, in float64 as the CPU step sums them
        ss = 0.0
        for k in range(T):
            for i in range(D):
                r = Q[k + 1, i, b] - y[k, 0, i, b]
                ss += r * r
            for i in range(D):
                r = P[k, i, b] - y[k, 1, i, b]
                ss += r * r
        ssb[b] = ss
        # BPTT; g_obs = (obs - y) exp(-log_var) / N, formed where it is used (N arrives in the
        # dtype: an integer N would promote float32 lanes to float64)
        inv = exp_inv_var(theta[lv_off])
        for p in range(pg.shape[0]):
            pg[p, b] = ZERO
        for k in range(T + 1):
            for i in range(D):
                A[k, i, b] = ZERO
        for k in range(1, T + 1):
            for i in range(D):
                A[k, i, b] += (Q[k, i, b] - y[k - 1, 0, i, b]) * inv / N
            for j in range(D):   # w = M^T g_p / h, p_k = M (q_k - q_{k-1}) / h
                s = ZERO
                for i in range(D):
                    s += mm[i, j] * ((P[k - 1, i, b] - y[k - 1, 1, i, b]) * inv / N)
                w[j] = rh * s
            for i in range(D):
                A[k, i, b] += w[i]
                A[k - 1, i, b] -= w[i]
        for k in range(T - 1, 0, -1):
            # q_{k+1} = 2 q_k - q_{k-1} - h^2 M^{-1} f(q_k); A[k+1] is complete here
            for j in range(D):
                s = ZERO
                for i in range(D):
                    s += minv[i, j] * A[k + 1, i, b]
                w[j] = hh * s
                q[j] = Q[k, j, b]
            force_rop(theta, w1, b1, w2, H, q, w, pg, b, hv)
            for i in range(D):
                A[k, i, b] += hv[i]
            for i in range(D):
                A[k, i, b] += TWO * A[k + 1, i, b]
                A[k - 1, i, b] -= A[k + 1, i, b]
        for i in range(D):
            grad[xb + i] = A[0, i, b]
            grad[xb + D + i] = A[1, i, b]

    return traj, c
