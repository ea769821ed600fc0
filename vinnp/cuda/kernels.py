"""numba.cuda kernels of one VIN training step (imported only when a CUDA step is built).

This module holds what every integrator shares; each integrator with GPU kernels has its
``traj`` kernel in vinnp/cuda/<integrator>.py (named by its declaration's ``cuda`` field).
The maths is that of the CPU kernels it mirrors, operation for operation where it can be:
vinnp.dynamics.sv / vv (``rollout_one``, ``backward_one``), vinnp.layers.potential (the force of a
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
import types

import numba
import numpy as np
from numba import cuda

LOG_2PI = math.log(2.0 * math.pi)


@functools.lru_cache(maxsize=None)
def build(dtype_name, D, tpb_reduce, tpb_finish):
    """The shared device functions and kernels for one dtype ("float32"/"float64"),
    dimension D and block sizes (powers of two), as a namespace: the constants, ``force``,
    ``force_rop`` and ``exp_inv_var`` that an integrator's ``traj`` kernel calls
    (vinnp/cuda/<integrator>.py), and ``reduce``, ``finish``, ``adam``. Cached, as numba
    compiles each new closure afresh."""
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

    return types.SimpleNamespace(ZERO=ZERO, ONE=ONE, TWO=TWO, HALF=HALF, D=D, exp_inv_var=exp_inv_var,
                                 force=force, force_rop=force_rop, reduce=reduce, finish=finish, adam=adam)
