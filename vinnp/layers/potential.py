"""Potential networks U_theta(q): the force dU/dq and its second-order backward.

``force`` returns dU/dq — the quantity in eqs. (6), (9) and (10); note it is
*minus* the physical force. Every VIN and HNN loss depends on it, so its
backward is second order: given an upstream vector v on dU/dq it returns

* the parameter gradient  sum_b v_b^T d^2U/(dq dtheta)(q_b)   and
* the Hessian-vector product  (d^2U/dq^2)(q_b) v_b.

Both come from one forward-mode sweep (tangent v along q) over the reverse pass
that computes dU/dq and dU/dtheta (Pearlmutter's R-operator): the tangent of
dU/dq is Hv, and the tangent of dU/dtheta is v^T d^2U/(dq dtheta) by symmetry
of mixed partial derivatives. Per layer l (z = W a + b, a = sigma(z)):

  forward tangent   dz_l = W_l da_{l-1},          da_l = sigma'(z_l) dz_l
  reverse           gz_l = sigma'(z_l) ga_l,      ga_{l-1} = W_l^T gz_l
  reverse tangent   dgz_l = sigma''(z_l) dz_l ga_l + sigma'(z_l) dga_l
                    dga_{l-1} = W_l^T dgz_l
  parameter grads   dW_l += dgz_l a_{l-1}^T + gz_l da_{l-1}^T,  db_l += dgz_l

with ga_L = 1 (scalar output) and dga_L = 0; Hv = dga_0. Any depth, any
activation with a second derivative.
"""

import numpy as np

from vinnp.jit import njit, prange
from vinnp.layers.activations import ONE32, IDENTITY, TANH, act_d1, act_d2, tanh32
from vinnp.layers.mlp import MLP, backward_one, check_inputs, check_params, chunking, forward_one, grad_buffer

N_BUFFERS = 8  # z, a, gz, ga, dz, da, dgz, dga


def potential_mlp(dim, hidden=(200,), activation="tanh", last="identity"):
    """U_theta: R^dim -> R, Appendix C.1's default is one hidden layer of 200 tanh units."""
    return MLP([dim, *hidden, 1], activation, last)


# The float32 fast path: Appendix C's potentials are one hidden tanh layer, U = w2 . tanh(W1 q
# + b1) + b2, and a rollout calls the force and its R-op at every step. Written for that shape
# alone, each hidden unit is a few multiplies and one branch-free tanh32, so LLVM vectorises
# the loop over units (for d = 1, across all of them); the general kernels below dispatch on
# the activation per unit and call libm, which no loop can vectorise. Summation order is
# relaxed (reassoc) only here, in float32; float64 keeps the general kernels, whose gradients
# the central-difference tests check, and the tests hold this path to the float64 one.
FAST = {"reassoc", "contract", "nsz"}
_TWO32 = np.float32(2.0)
_ZERO32 = np.float32(0.0)


@njit(cache=True)
def is_shallow_tanh(sizes, acts):
    return sizes.shape[0] == 3 and acts[0] == TANH and acts[1] == IDENTITY


# The kernels below index views (W1, b1, w2 sliced out of theta) with the loop counter: an
# index known to be >= 0 needs no negative-index wraparound, and only then does LLVM see
# contiguous loads and vectorise (theta[w1 + j] with a runtime offset measured 7x slower).


@njit(cache=True, fastmath=FAST, error_model="numpy")
def _force_tanh1_d1(W, bias, c, q0):
    """sum_j c_j (1 - tanh^2(W_j q0 + b_j)) W_j: the d = 1 force, one reduction over the
    units, kept in a function of its own so that it is optimised apart from the d > 1
    passes (0.8 ns per unit measured on its own)."""
    s = _ZERO32
    for j in range(W.shape[0]):
        w = W[j]
        y = tanh32(w * q0 + bias[j])
        s += c[j] * (ONE32 - y * y) * w
    return s


@njit(cache=True, fastmath=FAST, error_model="numpy")
def force_tanh1_f32(theta, w1, b1, w2, d, H, q, out, z, g):
    """dU/dq = W1^T (w2 * (1 - tanh^2(W1 q + b1))) for float32 theta, q, out; z, g: (>= H,) scratch."""
    W = theta[w1: w1 + H * d]
    bias = theta[b1: b1 + H]
    c = theta[w2: w2 + H]
    if d == 1:
        out[0] = _force_tanh1_d1(W, bias, c, q[0])
        return
    # d > 1: unit-major passes, each a loop over the H units that LLVM vectorises (the
    # weights are read with stride d); z and g live in the caller's scratch rows.
    for j in range(H):
        z[j] = bias[j]
    for i in range(d):
        qi = q[i]
        for j in range(H):
            z[j] += W[j * d + i] * qi
    for j in range(H):
        y = tanh32(z[j])
        g[j] = c[j] * (ONE32 - y * y)
    for i in range(d):
        acc = _ZERO32
        for j in range(H):
            acc += g[j] * W[j * d + i]
        out[i] = acc


@njit(cache=True, fastmath=FAST, error_model="numpy")
def force_rop_tanh1_f32(theta, w1, b1, w2, d, H, q, v, grad, hv, z, dz, f):
    """force_rop_one for the one-hidden-tanh-layer shape, float32 (module docstring's recursion
    written out: s = 1 - y^2, dz = W1 v, gz = w2 s, dgz = -2 y s dz w2). z, dz: (>= H,)
    scratch. Like the general kernel, it also leaves dU/dq(q) in f[:d] (the SV backward
    reads it there for the mass gradient)."""
    W = theta[w1: w1 + H * d]
    bias = theta[b1: b1 + H]
    c = theta[w2: w2 + H]
    gW = grad[w1: w1 + H * d]
    gb = grad[b1: b1 + H]
    gc = grad[w2: w2 + H]
    if d == 1:
        q0 = q[0]
        v0 = v[0]
        acc = _ZERO32
        force = _ZERO32
        for j in range(H):
            w = W[j]
            y = tanh32(w * q0 + bias[j])
            s = ONE32 - y * y
            dzj = w * v0
            cj = c[j]
            dgz = -_TWO32 * y * s * dzj * cj
            gc[j] += s * dzj
            gb[j] += dgz
            gW[j] += dgz * q0 + s * cj * v0
            acc += w * dgz
            force += s * cj * w
        hv[0] += acc
        f[0] = force
        return
    # d > 1: as in force_tanh1_f32, passes over the units; z, dz, then s, dgz reuse them
    for j in range(H):
        z[j] = bias[j]
        dz[j] = _ZERO32
    for i in range(d):
        qi = q[i]
        vi = v[i]
        for j in range(H):
            w = W[j * d + i]
            z[j] += w * qi
            dz[j] += w * vi
    for j in range(H):
        y = tanh32(z[j])
        s = ONE32 - y * y
        cj = c[j]
        dzj = dz[j]
        dgz = -_TWO32 * y * s * dzj * cj
        gc[j] += s * dzj
        gb[j] += dgz
        z[j] = dgz          # z now holds dgz_j
        dz[j] = s * cj      # dz now holds gz_j
    for i in range(d):
        qi = q[i]
        vi = v[i]
        acc = _ZERO32
        force = _ZERO32
        for j in range(H):
            w = W[j * d + i]
            gW[j * d + i] += z[j] * qi + dz[j] * vi
            acc += w * z[j]
            force += w * dz[j]
        hv[i] += acc
        f[i] = force


@njit(cache=True)
def force_one(theta, w_off, b_off, sizes, acts, n_off, q, buf, out):
    """out[:] = dU/dq at one q. buf: (8, sum(sizes)) work space; rows 0-3 hold z, a, gz, ga."""
    if theta.itemsize == 4 and is_shallow_tanh(sizes, acts):
        force_tanh1_f32(theta, w_off[0], b_off[0], w_off[1], sizes[0], sizes[1], q, out, buf[0], buf[1])
        return
    forward_one(theta, w_off, b_off, sizes, acts, n_off, q, buf[0], buf[1])
    one = buf[4, :1]  # scratch: upstream gradient 1 on the scalar U
    one[0] = 1.0
    for i in range(sizes[0]):
        out[i] = 0.0
    backward_one(theta, w_off, b_off, sizes, acts, n_off, buf[0], buf[1], one,
                 buf[3], buf[2], theta, False, out)


@njit(cache=True)
def force_rop_one(theta, w_off, b_off, sizes, acts, n_off, q, v, buf, grad, hv):
    """Backward of dU/dq at one q for upstream v: grad += v^T d(dU/dq)/dtheta, hv += H v.

    Recomputes the forward and reverse passes (cheaper than storing them across
    a rollout) and runs their tangents; see the module docstring.
    """
    if theta.itemsize == 4 and is_shallow_tanh(sizes, acts):
        force_rop_tanh1_f32(theta, w_off[0], b_off[0], w_off[1], sizes[0], sizes[1], q, v, grad, hv, buf[0], buf[1], buf[3])
        return
    z, a, gz, ga, dz, da, dgz, dga = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]
    L = sizes.shape[0] - 1
    forward_one(theta, w_off, b_off, sizes, acts, n_off, q, z, a)
    # forward tangent along v
    for i in range(sizes[0]):
        da[i] = v[i]
    for l in range(1, L + 1):
        nin = sizes[l - 1]
        ai = n_off[l - 1]
        zo = n_off[l]
        wo = w_off[l - 1]
        c = acts[l - 1]
        for j in range(sizes[l]):
            s = 0.0
            row = wo + j * nin
            for i in range(nin):
                s += theta[row + i] * da[ai + i]
            dz[zo + j] = s
            da[zo + j] = act_d1(c, z[zo + j], a[zo + j]) * s
    # reverse pass and its tangent, layer by layer
    lo = n_off[L]
    ga[lo] = 1.0
    dga[lo] = 0.0
    for l in range(L, 0, -1):
        nin = sizes[l - 1]
        ai = n_off[l - 1]
        zo = n_off[l]
        wo = w_off[l - 1]
        bo = b_off[l - 1]
        c = acts[l - 1]
        for j in range(sizes[l]):
            s1 = act_d1(c, z[zo + j], a[zo + j])
            gz[zo + j] = s1 * ga[zo + j]
            dgz[zo + j] = act_d2(c, z[zo + j], a[zo + j]) * dz[zo + j] * ga[zo + j] + s1 * dga[zo + j]
        for i in range(nin):
            ga[ai + i] = 0.0
            dga[ai + i] = 0.0
        for j in range(sizes[l]):
            g = gz[zo + j]
            dg = dgz[zo + j]
            row = wo + j * nin
            grad[bo + j] += dg
            for i in range(nin):
                grad[row + i] += dg * a[ai + i] + g * da[ai + i]
                ga[ai + i] += theta[row + i] * g
                dga[ai + i] += theta[row + i] * dg
    for i in range(sizes[0]):
        hv[i] += dga[i]


@njit(cache=True, parallel=True)
def _force_batch(theta, w_off, b_off, sizes, acts, n_off, Q, F):
    B = Q.shape[0]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        buf = np.empty((8, n_off[-1]), theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            force_one(theta, w_off, b_off, sizes, acts, n_off, Q[b], buf, F[b])


@njit(cache=True, parallel=True)
def _force_backward_batch(theta, w_off, b_off, sizes, acts, n_off, Q, V, grad, HV):
    B = Q.shape[0]
    nchunk, size = chunking(B)
    partial = np.zeros((nchunk, theta.shape[0]), theta.dtype)
    for c in prange(nchunk):
        buf = np.empty((8, n_off[-1]), theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            force_rop_one(theta, w_off, b_off, sizes, acts, n_off, Q[b], V[b], buf, partial[c], HV[b])
    for c in range(nchunk):
        grad += partial[c]


def _check_potential(mlp):
    if mlp.sizes[-1] != 1:
        raise ValueError(f"mlp: a potential network has one output, got sizes {mlp.sizes}")


def force(mlp, params, q, layout=None, prefix=""):
    """dU/dq for a batch q of shape (B, d) -> (B, d), same dtype as params."""
    _check_potential(mlp)
    layout = layout or mlp.layout()
    params = check_params(params, layout)
    q = check_inputs(q, mlp.sizes[0], params.dtype, "q")
    out = np.empty_like(q)
    _force_batch(params, *mlp.kernel_args(layout, prefix), q, out)
    return out


def force_backward(mlp, params, q, v, grad=None, layout=None, prefix=""):
    """Backward of ``force`` for upstream v (B, d).

    Accumulates sum_b v_b^T d^2U/(dq dtheta) into ``grad`` (zeros when None) and
    returns (grad, hv) with hv[b] = (d^2U/dq^2)(q_b) v_b.
    """
    _check_potential(mlp)
    layout = layout or mlp.layout()
    params = check_params(params, layout)
    q = check_inputs(q, mlp.sizes[0], params.dtype, "q")
    v = check_inputs(v, mlp.sizes[0], params.dtype, "v")
    if v.shape[0] != q.shape[0]:
        raise ValueError(f"v: expected {q.shape[0]} rows to match q, got {v.shape[0]}")
    grad = grad_buffer(grad, params)
    hv = np.zeros_like(q)
    _force_backward_batch(params, *mlp.kernel_args(layout, prefix), q, v, grad, hv)
    return grad, hv
