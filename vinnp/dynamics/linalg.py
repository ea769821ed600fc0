"""Tiny dense helpers for the rollout kernels (d is small: loops beat BLAS calls)."""

from vinnp.jit import njit


@njit(cache=True)
def matvec(A, x, out, scale):
    """out += scale * A x."""
    d = x.shape[0]
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += A[i, j] * x[j]
        out[i] += scale * s


@njit(cache=True)
def matvec_t(A, x, out, scale):
    """out += scale * A^T x."""
    d = x.shape[0]
    for j in range(d):
        s = 0.0
        for i in range(d):
            s += A[i, j] * x[i]
        out[j] += scale * s


@njit(cache=True)
def outer_add(G, x, y, scale):
    """G += scale * x y^T."""
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            G[i, j] += scale * x[i] * y[j]
