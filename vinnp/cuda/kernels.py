"""numba.cuda kernels of one VIN training step (imported only when a CUDA step is built).

The maths is that of the CPU kernels it mirrors, operation for operation where it can be:
vinnp.dynamics.sv / vv (rollout, ``_backward_one``), vinnp.layers.potential (the force of a
one-hidden-layer tanh potential and its R-op backward, written out in ``force_tanh1_f32``)
and vinnp.training.fused (eq. 14's likelihood, Adam). A step is four launches:

1. ``traj``    one thread per trajectory b: rollout, that trajectory's share of the squared
               residuals, then BPTT with the likelihood's gradient formed on the fly (it needs
               sigma^2 = exp(log_var) only, not the total). Writes dLoss/dx_1[b] straight into
               ``grad`` (each trajectory owns its x_1) and its network gradient into column b
               of ``pg`` (n_net, B).
2. ``reduce``  one block per network parameter: sum of its column over b, strided per thread
               and then a shared-memory tree: a fixed order, so every run gives the same bits
               (no float atomics anywhere).
3. ``finish``  one block: total squared residual (same fixed tree), the loss, dLoss/dlog_var,
               the gradient's sum of squares; writes the loss, or NaN where the loss or the
               gradient is not finite (then ``adam`` changes nothing, as on the CPU).
4. ``adam``    one thread per parameter, Adam.step's update from the same constants k.

Scratch arrays put the trajectory index last ((T, d, B) and so on), so that neighbouring
threads touch neighbouring addresses (coalesced loads and stores). The dimension d, the
dtype and the block sizes are compile-time constants of a kernel set (``build``): d-sized
vectors live in registers (cuda.local.array) and float32 kernels use float32 constants,
never promoting to float64 (slow on most GPUs) except for the loss's residual sum, which the
CPU step also accumulates in float64.
"""

import functools
import math

import numba
import numpy as np
from numba import cuda

LOG_2PI = math.log(2.0 * math.pi)
SV, VV = 0, 1


@functools.lru_cache(maxsize=None)
def build(dtype_name, kind, D, tpb_reduce, tpb_finish):
    """The four kernels for one dtype ("float32"/"float64"), cell kind (SV/VV), dimension D
    and block sizes (powers of two); cached, as numba compiles each new closure afresh."""
    dt = np.dtype(dtype_name)
    nb_t = numba.from_dtype(dt)
    ZERO, ONE, TWO, HALF, FOUR = (dt.type(x) for x in (0.0, 1.0, 2.0, 0.5, 4.0))
    # float64 takes sech^2 where tanh saturates, as vinnp.layers.activations.tanh_d1 does
    # (1 - y^2 cancels there); the float32 CPU fast path uses 1 - y^2 throughout, so do we
    EXACT_D1 = dt == np.float64
    # above this exp overflows: the GPU gives inf, but the simulator's math.exp (Python's)
    # raises OverflowError, so the branch spells out the GPU's result for both
    MAX_EXP = dt.type(math.log(np.finfo(dt).max))
    INF = dt.type(np.inf)

    @cuda.jit(device=True)
    def exp_inv_var(lv):
        """exp(-lv) = 1 / sigma^2, inf where it overflows (a non-finite step, see finish)."""
        x = -lv
        if x > MAX_EXP:
            return INF
        return math.exp(x)

    @cuda.jit(device=True)
    def sech2(z):
        # tanh'(z) as the CPU's tanh_d1: 1 - y^2 unless saturated, then 4e/(1+e)^2
        e = math.exp(-TWO * abs(z))
        s = ONE + e
        return FOUR * e / (s * s)

    @cuda.jit(device=True)
    def force(theta, w1, b1, w2, H, q, out):
        """out = dU/dq(q) = W1^T (w2 * tanh'(W1 q + b1)); q, out: length-D local arrays."""
        for i in range(D):
            out[i] = ZERO
        for j in range(H):
            z = theta[b1 + j]
            for i in range(D):
                z += theta[w1 + j * D + i] * q[i]
            y = math.tanh(z)
            s = ONE - y * y
            if EXACT_D1 and abs(z) >= 4.0:
                s = sech2(z)
            g = theta[w2 + j] * s
            for i in range(D):
                out[i] += theta[w1 + j * D + i] * g

    @cuda.jit(device=True)
    def force_rop(theta, w1, b1, w2, H, q, v, pg, b, hv):
        """Backward of dU/dq for upstream v (potential.py's recursion for one tanh layer:
        s = tanh', dz = W1 v, gz = w2 s, dgz = -2 y s dz w2): pg[:, b] += v^T d(dU/dq)/dtheta,
        hv = (d^2U/dq^2) v (overwritten, the caller adds it)."""
        for i in range(D):
            hv[i] = ZERO
        for j in range(H):
            z = theta[b1 + j]
            dz = ZERO
            for i in range(D):
                wji = theta[w1 + j * D + i]
                z += wji * q[i]
                dz += wji * v[i]
            y = math.tanh(z)
            s = ONE - y * y
            if EXACT_D1 and abs(z) >= 4.0:
                s = sech2(z)
            cj = theta[w2 + j]
            gz = s * cj
            dgz = -TWO * y * s * dz * cj
            pg[w2 + j, b] += s * dz
            pg[b1 + j, b] += dgz
            for i in range(D):
                wji = theta[w1 + j * D + i]
                pg[w1 + j * D + i, b] += dgz * q[i] + gz * v[i]
                hv[i] += wji * dgz

    @cuda.jit
    def traj_sv(theta, minv, mm, h, y, x1_off, lv_off, w1, b1, w2, H, N, Q, P, A, pg, ssb, grad):
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

    @cuda.jit
    def traj_vv(theta, minv, mm, h, y, x1_off, lv_off, w1, b1, w2, H, N, Q, P, F, AQ, AP, AF, pg, ssb, grad):
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

    @cuda.jit
    def reduce(pg, grad):
        """grad[j] = sum_b pg[j, b], block j; a fixed order (strided, then a tree)."""
        j = cuda.blockIdx.x
        t = cuda.threadIdx.x
        sh = cuda.shared.array(tpb_reduce, nb_t)
        s = ZERO
        for b in range(t, pg.shape[1], tpb_reduce):
            s += pg[j, b]
        sh[t] = s
        cuda.syncthreads()
        step = tpb_reduce // 2
        while step > 0:
            if t < step:
                sh[t] += sh[t + step]
            cuda.syncthreads()
            step //= 2
        if t == 0:
            grad[j] = sh[0]

    @cuda.jit(device=True)
    def tree64(sh, t):
        """Sum of sh[:tpb_finish] (float64, shared), every thread calling; same order always."""
        cuda.syncthreads()
        step = tpb_finish // 2
        while step > 0:
            if t < step:
                sh[t] += sh[t + step]
            cuda.syncthreads()
            step //= 2
        total = sh[0]
        cuda.syncthreads()   # everyone has read sh[0] before the caller reuses sh
        return total

    @cuda.jit
    def finish(theta, grad, ssb, lv_off, N, out):
        """One block: loss and dLoss/dlog_var of eq. (14) from the per-trajectory residual sums,
        then out[0] = loss, or NaN if the loss or the gradient's sum of squares is not finite."""
        t = cuda.threadIdx.x
        sh = cuda.shared.array(tpb_finish, numba.float64)
        s = 0.0
        for b in range(t, ssb.shape[0], tpb_finish):
            s += ssb[b]
        sh[t] = s
        ss = tree64(sh, t)
        lv = theta[lv_off]
        inv = exp_inv_var(lv)
        loss = 0.5 * (LOG_2PI + lv) + 0.5 * inv * ss / N
        if t == 0:
            grad[lv_off] = 0.5 - 0.5 * inv * ss / N
        cuda.syncthreads()   # grad[lv_off] visible to the block (same-block global write)
        s = 0.0
        for j in range(t, grad.shape[0], tpb_finish):
            g = grad[j]
            s += g * g       # in the gradient's dtype, then float64: as fused._adam
        sh[t] = s
        sq = tree64(sh, t)
        if t == 0:
            if math.isfinite(loss) and math.isfinite(sq):
                out[0] = loss
            else:
                out[0] = math.nan

    @cuda.jit
    def adam(theta, grad, m, v, k, out):
        """adam_apply's update, unless ``finish`` found the step not finite (out[0] NaN)."""
        i = cuda.grid(1)
        if i >= theta.shape[0] or not math.isfinite(out[0]):
            return
        g = grad[i]
        mi = k[0] * m[i] + k[1] * g
        vi = k[2] * v[i] + k[3] * (g * g)
        m[i] = mi
        v[i] = vi
        theta[i] -= k[4] * mi / (math.sqrt(vi) * k[5] + k[6])

    return (traj_sv if kind == SV else traj_vv), reduce, finish, adam
