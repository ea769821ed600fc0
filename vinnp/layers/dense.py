"""BLAS-backed batched MLPs for wide layers (the 1000-unit pixel encoder and decoder, App. C.2).

Same :class:`~vinnp.layers.mlp.MLP` specification and flat layout as the
per-sample kernels of :mod:`vinnp.layers.mlp`, but every layer is one matrix
product over the whole batch, done by NumPy's ``@`` (BLAS) in the parameters'
dtype. For an MLP with sizes [n0, ..., nL]::

    z_l = a_{l-1} W_l^T + b_l      (B, n_l)      W_l: (n_l, n_{l-1}), b_l: (n_l,)
    a_l = sigma_l(z_l)                            a_0 = x: (B, n0)

and the reverse pass for an upstream gradient G = dLoss/da_L::

    gz_l = ga_l * sigma_l'(z_l)
    dW_l += gz_l^T a_{l-1},   db_l += sum_rows gz_l,   ga_{l-1} = gz_l W_l

The elementwise maths is a small Numba kernel calling the very ``act`` /
``act_d1`` that the per-sample kernels use, so the two paths share one
definition of every activation. No state is kept between calls: the forward
returns a cache, the backward consumes it and accumulates (+=) into the flat
gradient buffer, or overwrites the network's entries (``accumulate=False``).
"""

from dataclasses import dataclass

import numpy as np
from numba import njit

from vinnp.layers.activations import IDENTITY, RELU, act, act_d1, code_of
from vinnp.layers.mlp import MLP, check_inputs, check_params, grad_buffer


# ---------------------------------------------------------------------------
# elementwise kernels: the activation and its derivative side by side
# ---------------------------------------------------------------------------

@njit(cache=True)
def _activate(c, z, a):
    """a[i] = sigma_c(z[i]) over flat arrays of one length."""
    if c == RELU:  # the wide layers' activation: a branch-free loop LLVM vectorises
        for i in range(z.shape[0]):
            zi = z[i]
            a[i] = zi if zi > 0 else zi * 0  # as act(): NaN stays NaN, so divergence is still seen
        return
    for i in range(z.shape[0]):
        a[i] = act(c, z[i])


@njit(cache=True)
def _bias_activate(c, z, b, a):
    """z[r] += b, then a[r] = sigma_c(z[r]), row by row in one pass over z (B, n).

    One pass instead of two over the (B, n) product (torch's addmm plus relu reads it
    twice too); the row stays in cache between the add and the activation.
    """
    for r in range(z.shape[0]):
        zr, ar = z[r], a[r]
        for j in range(zr.shape[0]):
            zr[j] += b[j]
        _activate(c, zr, ar)


@njit(cache=True)
def _activate_backward(c, z, a, ga, gz):
    """gz[i] = ga[i] * sigma_c'(z[i]), given a = sigma_c(z) (tanh reuses it)."""
    if c == RELU:  # as act_d1: 1 where z > 0, else 0 (the kink itself included)
        zero = ga[0] * 0
        for i in range(z.shape[0]):
            gz[i] = ga[i] if z[i] > 0 else zero
        return
    for i in range(z.shape[0]):
        gz[i] = ga[i] * act_d1(c, z[i], a[i])


@njit(cache=True)
def _activate_backward_bias(c, z, a, ga, gz, gb, accumulate):
    """gz = ga * sigma_c'(z) row by row (B, n), and gb (+)= the column sums of gz, in
    the same pass (the bias gradient otherwise costs one more read of gz)."""
    if not accumulate:
        gb[:] = 0
    for r in range(z.shape[0]):
        gzr = gz[r]
        _activate_backward(c, z[r], a[r], ga[r], gzr)
        for j in range(gzr.shape[0]):
            gb[j] += gzr[j]


# ---------------------------------------------------------------------------
# forward / backward
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DenseCache:
    """What :func:`dense_backward` needs.

    a : [a_0, ..., a_L], layer outputs with a_0 = x (B, n0) — a reference to the
        caller's input, not a copy — and a_L the network output (B, nL).
    z : [z_1, ..., z_L] pre-activations (B, n_l); for an identity layer z_l is
        a_l (the same array).
    """

    a: list
    z: list

    @property
    def batch(self):
        return self.a[0].shape[0]


def _check_mlp(mlp):
    if not isinstance(mlp, MLP):
        raise ValueError(f"mlp: expected a vinnp.layers.mlp.MLP, got {type(mlp).__name__}")
    return mlp


def dense_forward(mlp, params, x, layout=None, prefix="", check=True):
    """Batched forward of ``mlp`` with matrix products.

    Parameters
    ----------
    mlp : :class:`~vinnp.layers.mlp.MLP` (any depth, any activation of ACTIVATIONS).
    params : (layout.size,) float32 or float64 flat vector.
    x : (B, n0) inputs, same dtype as ``params``.
    layout, prefix : where the network sits in ``params`` (``mlp.layout()`` and
        "" by default; e.g. the model's layout and "dec").
    check : False skips validating ``params`` and ``x`` (shape, dtype, finiteness):
        for a model that validated its own inputs and builds ``x`` itself in params'
        dtype (each check reads the whole array: 1.8 M entries for a pixel encoder).

    Returns
    -------
    y : (B, nL), params' dtype (``cache.a[-1]``; do not modify it in place if
        the cache is still to be used).
    cache : :class:`DenseCache` for :func:`dense_backward`.
    """
    mlp = _check_mlp(mlp)
    layout = layout or mlp.layout()
    if check:
        params = check_params(params, layout)
        a = check_inputs(x, mlp.sizes[0], params.dtype)
    else:
        a = np.ascontiguousarray(x)
    acts, zs = [a], []
    for (W, b), name in zip(mlp.weights(params, layout, prefix), mlp.activations):
        z = a @ W.T
        c = code_of(name)
        if c == IDENTITY:
            z += b
            a = z
        else:
            a = np.empty_like(z)
            _bias_activate(c, z, b, a)
        zs.append(z)
        acts.append(a)
    return a, DenseCache(acts, zs)


def dense_backward(mlp, params, cache, g_out, grad, layout=None, prefix="", need_dx=True, accumulate=True,
                   check=True):
    """Reverse pass of :func:`dense_forward` for the scalar sum(g_out * y).

    Parameters
    ----------
    mlp, params, layout, prefix : as given to the forward.
    cache : the :class:`DenseCache` it returned.
    g_out : (B, nL) dLoss/dy, params' dtype.
    grad : (layout.size,) gradient buffer, params' dtype; the parameter gradient
        is **added** to it (zero it yourself), or written over it (``accumulate``).
    need_dx : if False the input gradient is not formed (it costs one more
        matrix product, as big as the first layer's forward) and None is returned.
    accumulate : True adds into ``grad``; False overwrites the network's entries,
        letting BLAS write each weight gradient straight into the buffer (no
        (n_l, n_{l-1}) temporary and no extra pass over it: 1000 x 1000 for the
        pixel layers). Only for a buffer that holds nothing else for them yet.
    check : False skips validating ``params`` and ``g_out`` (see :func:`dense_forward`).

    Returns
    -------
    dx : (B, n0) dLoss/dx, a new array (or None).
    """
    mlp = _check_mlp(mlp)
    layout = layout or mlp.layout()
    if not isinstance(cache, DenseCache) or len(cache.z) != mlp.depth:
        raise ValueError("cache: expected the DenseCache that dense_forward returned for this mlp")
    if check:
        params = check_params(params, layout)
        g = check_inputs(g_out, mlp.sizes[-1], params.dtype, "g_out")
    else:
        g = np.ascontiguousarray(g_out)
    if g.shape[0] != cache.batch:
        raise ValueError(f"g_out: expected {cache.batch} rows to match the forward's batch, got {g.shape[0]}")
    if grad is None:
        raise ValueError("grad: expected the model's gradient vector to accumulate into")
    grad = grad_buffer(grad, params)
    p = f"{prefix}." if prefix else ""
    weights = mlp.weights(params, layout, prefix)
    for l in range(mlp.depth, 0, -1):
        c = code_of(mlp.activations[l - 1])
        z, a = cache.z[l - 1], cache.a[l]
        gW, gb = layout.view(grad, f"{p}W{l}"), layout.view(grad, f"{p}b{l}")
        if c == IDENTITY:
            gz = g
            if accumulate:
                gb += gz.sum(axis=0)
            else:
                np.sum(gz, axis=0, out=gb)
        else:
            gz = np.empty_like(z)
            _activate_backward_bias(c, z, a, np.ascontiguousarray(g), gz, gb, accumulate)
        if accumulate:
            gW += gz.T @ cache.a[l - 1]
        else:
            np.matmul(gz.T, cache.a[l - 1], out=gW)
        if l > 1 or need_dx:
            g = gz @ weights[l - 1][0]
    return g if need_dx else None


__all__ = ["DenseCache", "dense_forward", "dense_backward"]
