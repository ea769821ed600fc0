"""The one kernel signature every integrator cell shares, and the batched kernels built on it.

An integrator unit (vinnp/dynamics/<integrator>.py) writes two per-trajectory kernels,

    rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec)
    backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive)

with the same arguments for every cell (llm.c's habit: a few named structs of arrays
rather than two dozen positionals):

* ``net``   a :data:`Net` (theta, w_off, b_off, sizes, acts, n_off): the flat parameter
            vector and where the cell's network sits in it (``MLP.kernel_args``);
* ``mass``  (K, d, d): mass[0] = M^{-1}, mass[1] = M (eq. 4); K = 2, or 4 for a forced
            cell, which adds its dissipation D and (M + h D / 2)^{-1}
            (vinnp.dynamics.forcing); ``g_mass`` likewise (+=);
* ``h``     the step size, in the parameters' dtype;
* ``x1``    (2, d) the cell's initial state in its own layout (its ``state``);
* ``drive`` (T, d) the generalised input force B u_t held over step t (forced cells), or
            (0, d) for a cell without inputs; ``g_drive`` (+=) its gradient;
* ``obs``   (T, 2, d) <- observed (q_t, p_t), obs[0] from x1;
* ``aux``   (T, A) what the forward keeps for the backward (A = INTEGRATOR.aux * d);
* ``buf``   (N_BUFFERS, sum(sizes)) and ``vec`` (4, T + 1, 2d): per-thread scratch;
* ``grad``  (+=) dLoss/dtheta; ``g_x1`` (+=) dLoss/dx1; ``g_obs`` (T, 2, d) upstream.

and registers them with :func:`register` under a tag: a one-field NamedTuple class of its
own whose *type* selects its kernels when the batched kernels below are compiled (Numba
resolves :func:`step_rollout` and :func:`step_backward` through ``overload``). A shared
kernel therefore never compares names, and adding an integrator compiles new
specialisations without touching this file. (Passing the kernels themselves as arguments
would defeat Numba's on-disk cache; a NamedTuple type is cached like any other.)

Batches are split into fixed chunks (``chunking``) whose gradients are added in a fixed
order, so results do not depend on the thread count.
"""

from collections import namedtuple

import numpy as np

from vinnp.jit import njit, overload, prange
from vinnp.layers.mlp import chunking
from vinnp.layers.potential import N_BUFFERS

Net = namedtuple("Net", "theta w_off b_off sizes acts n_off")
N_VEC = 4  # rows of ``vec``


def step_rollout(tag, net, mass, h, x1, drive, obs, aux, buf, vec):
    """One trajectory's rollout by the integrator ``tag`` names (resolved at compile time)."""
    raise NotImplementedError("step_rollout runs inside compiled kernels only")


def step_backward(tag, net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    """One trajectory's backpropagation through time by the integrator ``tag`` names."""
    raise NotImplementedError("step_backward runs inside compiled kernels only")


def register(tag_class, rollout_one, backward_one):
    """Make ``tag_class`` instances select ``rollout_one`` / ``backward_one`` in compiled code."""

    def selects(tag):
        return getattr(tag, "instance_class", None) is tag_class

    @overload(step_rollout)
    def _rollout(tag, net, mass, h, x1, drive, obs, aux, buf, vec):
        if selects(tag):
            def impl(tag, net, mass, h, x1, drive, obs, aux, buf, vec):
                rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec)
            return impl
        return None

    @overload(step_backward)
    def _backward(tag, net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
        if selects(tag):
            def impl(tag, net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
                backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive)
            return impl
        return None


Workspace = namedtuple("Workspace", "bufs vecs p_grad p_mass")


def workspace(net, B, T, d, n_mass):
    """The batched kernels' scratch for B trajectories of T steps in dimension d, allocated once
    by a caller that steps many times (the fused training step): per chunk (see ``chunking``)
    a network buffer, the ``vec`` rows, a parameter gradient and a (n_mass, d, d) matrix gradient.
    Allocating inside the parallel loops instead cost ~40 % of a small training step."""
    nchunk, _ = chunking(B)
    dt = net.theta.dtype
    return Workspace(np.empty((nchunk, N_BUFFERS, int(net.n_off[-1])), dt),
                     np.zeros((nchunk, N_VEC, T + 1, 2 * d), dt),
                     np.empty((nchunk, net.theta.shape[0]), dt),
                     np.empty((nchunk, n_mass, d, d), dt))


@njit(cache=True)
def zero(a, b):
    """a[...] = 0 and b[...] = 0. Kept out of the parallel kernels on purpose: there Numba turns
    each array statement into a parallel region of its own, and their thread wake-ups cost
    more than the work (a VIN step measured 870 us with them inline, 560 us without)."""
    a[...] = 0.0
    b[...] = 0.0


@njit(cache=True)
def reduce_chunks(grad, p_grad, g_mass, p_mass):
    """grad += sum_c p_grad[c], g_mass = sum_c p_mass[c], chunk by chunk in a fixed order (the
    result does not depend on the thread count). Serial on purpose (see ``zero``)."""
    g_mass[...] = 0.0
    for c in range(p_grad.shape[0]):
        grad += p_grad[c]
        g_mass += p_mass[c]


@njit(cache=True)
def add(a, b):
    """a += b, serially (see ``zero``)."""
    a += b


@njit(cache=True, parallel=True)
def rollout(tag, net, mass, h, X1, drive, obs, aux, ws):
    """obs (B, T, 2, d) and aux (B, T, A) from X1 (B, 2, d) and drive (B, T or 0, d)."""
    B = obs.shape[0]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        for b in range(c * size, min(B, (c + 1) * size)):
            step_rollout(tag, net, mass, h, X1[b], drive[b], obs[b], aux[b], ws.bufs[c], ws.vecs[c])


@njit(cache=True, parallel=True)
def rollout_backward(tag, net, mass, h, X1, drive, obs, aux, g_obs, grad, g_mass, g_X1, g_drive, ws):
    """Accumulate (+=) dLoss/dtheta into grad, dLoss/d(mass) into g_mass (K, d, d),
    dLoss/dx1 into g_X1 (B, 2, d) and dLoss/d(drive) into g_drive, from g_obs (B, T, 2, d)."""
    B = obs.shape[0]
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        zero(ws.p_grad[c], ws.p_mass[c])
        for b in range(c * size, min(B, (c + 1) * size)):
            step_backward(tag, net, mass, h, X1[b], drive[b], obs[b], aux[b], g_obs[b], ws.bufs[c], ws.vecs[c],
                          ws.p_grad[c], ws.p_mass[c], g_X1[b], g_drive[b])
    acc = np.zeros_like(g_mass)
    reduce_chunks(grad, ws.p_grad, acc, ws.p_mass)
    add(g_mass, acc)
