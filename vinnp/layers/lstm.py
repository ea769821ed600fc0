"""LSTM over a sequence: forward pass and hand-written backpropagation through time.

The pixel encoder of the paper (Appendix C.2) embeds each frame with a two-layer
MLP and runs an LSTM with 50 hidden units over the embedded window *in reverse*;
its final output gives the mean and variance of q(x_1), eq. (18). Run in
reverse, the last state to be computed is the one that has just read frame 1 —
the frame whose latent state it must describe — having seen the whole window.

Equations, with gate order **i, f, g, o** along the rows of ``Wx``, ``Wh``, ``b``
(block ``k`` is rows ``k*H:(k+1)*H``)::

    a_t = Wx x_t + Wh h_prev + b                   (4H,)
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_prev + i * g
    h_t = o * tanh(c_t)

``h_prev`` is the state of the previous *processed* step: ``h_{t-1}`` for the
forward direction, ``h_{t+1}`` for ``reverse=True``; the first processed step
starts from ``(h0, c0)``.

All parameters live in one flat vector described by :func:`lstm_layout`. The
input projection of every time step is one BLAS matmul; the recurrence runs one
step at a time, with the elementwise gate maths (and its derivative, right
below it) in Numba kernels. No state is kept between calls: the forward returns
a cache, the backward consumes it and accumulates into a gradient buffer.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit

from vinnp.checks import as_array, float_dtype, positive_int
from vinnp.params import Layout

GATE_ORDER = ("i", "f", "g", "o")


# ----------------------------------------------------------------------------
# Layout and initialisation
# ----------------------------------------------------------------------------


def lstm_layout(input_dim, hidden_dim):
    """Flat-parameter layout of an LSTM with D = ``input_dim``, H = ``hidden_dim``.

    Entries: ``Wx`` (4H, D), ``Wh`` (4H, H), ``b`` (4H,), gate blocks in the
    order i, f, g, o.
    """
    d = positive_int(input_dim, "input_dim")
    h = positive_int(hidden_dim, "hidden_dim")
    return Layout([("Wx", (4 * h, d)), ("Wh", (4 * h, h)), ("b", (4 * h,))])


def _resolve_layout(layout):
    """Return (D, H, layout) from a Layout of :func:`lstm_layout` or a (D, H) pair."""
    if isinstance(layout, Layout):
        shape = layout.shapes.get("Wx")
        if shape is None or len(shape) != 2 or shape[0] % 4:
            raise ValueError("layout: expected the layout of lstm_layout(input_dim, hidden_dim) "
                             f"(entries Wx, Wh, b), got entries {layout.names}")
        d, h = shape[1], shape[0] // 4
        if layout != lstm_layout(d, h):
            raise ValueError("layout: expected the layout of lstm_layout(input_dim, hidden_dim) "
                             f"(Wx, Wh, b in that order), got {layout.to_json()}")
        return d, h, layout
    if isinstance(layout, tuple | list) and len(layout) == 2:
        lay = lstm_layout(*layout)
        return lay.shapes["Wx"][1], lay.shapes["Wh"][1], lay
    raise ValueError("layout: expected a Layout from lstm_layout or an (input_dim, hidden_dim) "
                     f"pair, got {layout!r}")


def lstm_slice(layout, prefix):
    """Locate an LSTM inside a model's joined Layout (e.g. prefix ``"enc.lstm"``).

    Returns ``(lstm_layout(D, H), sl)`` such that ``params[sl]`` and ``grad[sl]``
    are views holding the LSTM's flat parameters, ready for :func:`lstm_forward`
    and :func:`lstm_backward`.
    """
    names = [f"{prefix}.{n}" if prefix else n for n in ("Wx", "Wh", "b")]
    missing = [n for n in names if n not in layout.shapes]
    if missing or len(layout.shapes[names[0]]) != 2:
        raise ValueError(f"prefix: layout has no LSTM entries {names} (missing {missing})")
    four_h, d = layout.shapes[names[0]]
    sub = lstm_layout(d, max(four_h // 4, 1))
    start = layout.offsets[names[0]]
    for n, full in zip(sub.names, names):
        if layout.shapes[full] != sub.shapes[n] or layout.offsets[full] != start + sub.offsets[n]:
            raise ValueError(f"prefix: entries {names} are not an LSTM layout (Wx, Wh, b "
                             "with shapes (4H, D), (4H, H), (4H,), contiguous and in order)")
    return sub, slice(start, start + sub.size)


def lstm_init(rng, input_dim, hidden_dim, dtype=np.float64):
    """Initial flat parameters, shape (lstm_layout(D, H).size,).

    Weights and biases ~ U(-1/sqrt(H), 1/sqrt(H)) (the usual LSTM default), plus
    1 on the forget-gate bias so that early in training the cell keeps its
    memory and gradients flow through time (Jozefowicz et al., 2015).
    ``rng`` must be a ``numpy.random.Generator``: randomness is always explicit.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    layout = lstm_layout(input_dim, hidden_dim)
    dt = float_dtype(dtype)
    h = layout.shapes["Wh"][1]
    bound = 1.0 / np.sqrt(h)
    params = rng.uniform(-bound, bound, size=layout.size).astype(dt)
    layout.view(params, "b")[h:2 * h] += 1.0
    return params


# ----------------------------------------------------------------------------
# Numba kernels: one time step of gate maths, forward and backward side by side
# ----------------------------------------------------------------------------


@njit(cache=True)
def _sigmoid(z):
    # Two branches so exp never overflows, whatever the sign of z.
    if z >= 0:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z)
    return e / (1.0 + e)


@njit(cache=True)
def _cell_forward(a, c_prev, gates, c, tc, h):
    """One step. a: (B, 4H) pre-activations; c_prev: (B, H).

    Writes gates (B, 4H) = [i, f, g, o] after their nonlinearities, the new cell
    state c (B, H), tc = tanh(c) (B, H) and the new hidden state h (B, H).
    """
    nb, nh = c.shape
    for n in range(nb):
        for j in range(nh):
            i = _sigmoid(a[n, j])
            f = _sigmoid(a[n, nh + j])
            g = np.tanh(a[n, 2 * nh + j])
            o = _sigmoid(a[n, 3 * nh + j])
            gates[n, j] = i
            gates[n, nh + j] = f
            gates[n, 2 * nh + j] = g
            gates[n, 3 * nh + j] = o
            c[n, j] = f * c_prev[n, j] + i * g
            tc[n, j] = np.tanh(c[n, j])
            h[n, j] = o * tc[n, j]


@njit(cache=True)
def _cell_backward(dh, dc_next, gates, c_prev, tc, da, dc_prev):
    """Backward of :func:`_cell_forward`.

    dh: (B, H) total gradient reaching h_t (from the output and from the next
    processed step); dc_next: (B, H) gradient reaching c_t from the next step.
    Writes da (B, 4H), the gradient to the pre-activations, and dc_prev (B, H).
    """
    nb, nh = dh.shape
    for n in range(nb):
        for j in range(nh):
            i = gates[n, j]
            f = gates[n, nh + j]
            g = gates[n, 2 * nh + j]
            o = gates[n, 3 * nh + j]
            t = tc[n, j]
            # h = o tanh(c): c receives dh * o * tanh'(c) on top of what flows back in time.
            dc = dc_next[n, j] + dh[n, j] * o * (1.0 - t * t)
            da[n, j] = dc * g * i * (1.0 - i)                    # sigmoid' = s (1 - s)
            da[n, nh + j] = dc * c_prev[n, j] * f * (1.0 - f)
            da[n, 2 * nh + j] = dc * i * (1.0 - g * g)           # tanh' = 1 - tanh^2
            da[n, 3 * nh + j] = dh[n, j] * t * o * (1.0 - o)
            dc_prev[n, j] = dc * f


# ----------------------------------------------------------------------------
# Sequence forward / backward
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LSTMCache:
    """What :func:`lstm_backward` needs; time-major so every step is a contiguous slice.

    Wx (4H, D), Wh (4H, H): copies of the weights used. x (T, B, D), h0, c0 (B, H).
    gates (T, B, 4H) post-nonlinearity [i, f, g, o]; c, tc, h (T, B, H) cell state,
    tanh(cell state), hidden state at each time index.
    """

    layout: Layout
    reverse: bool
    Wx: np.ndarray
    Wh: np.ndarray
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    gates: np.ndarray
    c: np.ndarray
    tc: np.ndarray
    h: np.ndarray

    @property
    def last_index(self):
        """Time index of the last processed step: T-1 forward, 0 in reverse."""
        return 0 if self.reverse else self.h.shape[0] - 1

    @property
    def h_last(self):
        """Final hidden state (B, H): hs[:, T-1] forward, hs[:, 0] in reverse."""
        return self.h[self.last_index]

    @property
    def c_last(self):
        """Final cell state (B, H)."""
        return self.c[self.last_index]


def _order(steps, reverse):
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _check_reverse(reverse):
    if not isinstance(reverse, bool | np.bool_):
        raise ValueError(f"reverse: expected True or False, got {reverse!r}")
    return bool(reverse)


def _check_inputs(params, layout, x, h0, c0):
    d, h, layout = _resolve_layout(layout)
    params = layout.check(params, "params")
    dt = params.dtype
    # dtype follows params: a float32 x with float64 weights is a caller bug, not a cast.
    x = as_array(x, "x", shape=(None, None, d), dtype=dt)
    nb, nt, _ = x.shape
    if nb < 1 or nt < 1:
        raise ValueError(f"x: expected shape (batch >= 1, steps >= 1, {d}), got {x.shape}")
    h0 = np.ascontiguousarray(as_array(h0, "h0", shape=(nb, h), dtype=dt))
    c0 = np.ascontiguousarray(as_array(c0, "c0", shape=(nb, h), dtype=dt))
    return layout, params, x, h0, c0


def lstm_forward(params, layout, x, h0, c0, reverse=False):
    """Run the LSTM over a batch of sequences.

    Parameters
    ----------
    params : (layout.size,) float32 or float64 flat vector (see :func:`lstm_layout`).
    layout : the Layout from ``lstm_layout(D, H)``, or the pair ``(D, H)``.
    x : (B, T, D) inputs, same dtype as ``params``.
    h0, c0 : (B, H) initial hidden and cell state.
    reverse : if True the recurrence runs from t = T-1 down to 0.

    Returns
    -------
    hs : (B, T, H) hidden state after reading x[:, t], for every t. The final
        state is hs[:, T-1] forward and hs[:, 0] in reverse (``cache.h_last``;
        the final cell state is ``cache.c_last``).
    cache : :class:`LSTMCache` for :func:`lstm_backward`.
    """
    reverse = _check_reverse(reverse)
    layout, params, x, h0, c0 = _check_inputs(params, layout, x, h0, c0)
    nb, nt, d = x.shape
    nh = h0.shape[1]
    w = layout.views(params)
    wx, wh, b = w["Wx"].copy(), w["Wh"].copy(), w["b"]
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))
    # Input projection for all steps at once: one (T*B, D) x (D, 4H) BLAS call.
    a = (x_tm.reshape(nt * nb, d) @ wx.T).reshape(nt, nb, 4 * nh)
    a += b
    gates = np.empty((nt, nb, 4 * nh), dtype=params.dtype)
    c = np.empty((nt, nb, nh), dtype=params.dtype)
    tc = np.empty_like(c)
    h = np.empty_like(c)
    h_prev, c_prev = h0, c0
    for t in _order(nt, reverse):
        a[t] += h_prev @ wh.T
        _cell_forward(a[t], c_prev, gates[t], c[t], tc[t], h[t])
        h_prev, c_prev = h[t], c[t]
    cache = LSTMCache(layout, reverse, wx, wh, x_tm, h0, c0, gates, c, tc, h)
    return np.ascontiguousarray(h.transpose(1, 0, 2)), cache


def _grad_buffer(grad_params, layout, dtype):
    # The gradient is accumulated in place, so a copy (list, other dtype, strided
    # view) would silently lose it: refuse rather than convert.
    if not isinstance(grad_params, np.ndarray):
        raise ValueError(f"grad_params: expected a NumPy array, got {type(grad_params).__name__}")
    if grad_params.dtype != dtype:
        raise ValueError(f"grad_params: expected dtype {dtype}, got {grad_params.dtype}")
    if grad_params.shape != (layout.size,):
        raise ValueError(f"grad_params: expected shape ({layout.size},), got {grad_params.shape}")
    if not (grad_params.flags.c_contiguous and grad_params.flags.writeable):
        raise ValueError("grad_params: expected a writeable, contiguous array")
    return grad_params


def lstm_backward(dhs, cache, grad_params, dh_last=None, dc_last=None):
    """Backpropagation through time for :func:`lstm_forward`.

    Parameters
    ----------
    dhs : (B, T, H) gradient of the loss with respect to ``hs``.
    cache : the :class:`LSTMCache` returned by the forward pass.
    grad_params : (layout.size,) gradient buffer, same dtype as the forward;
        d loss / d params is **added** to it (zero it yourself).
    dh_last, dc_last : optional (B, H) gradients with respect to the final
        hidden and cell state (``cache.h_last``, ``cache.c_last``).

    Returns
    -------
    dx : (B, T, D), dh0 : (B, H), dc0 : (B, H) — new arrays.
    """
    if not isinstance(cache, LSTMCache):
        raise ValueError("cache: expected the LSTMCache from lstm_forward, "
                         f"got {type(cache).__name__}")
    nt, nb, d = cache.x.shape
    nh = cache.h0.shape[1]
    dt = cache.h.dtype
    layout = cache.layout
    dhs = as_array(dhs, "dhs", shape=(nb, nt, nh), dtype=dt)
    grad_params = _grad_buffer(grad_params, layout, dt)
    dh = np.zeros((nb, nh), dt) if dh_last is None else \
        as_array(dh_last, "dh_last", shape=(nb, nh), dtype=dt).copy()
    dc = np.zeros((nb, nh), dt) if dc_last is None else \
        as_array(dc_last, "dc_last", shape=(nb, nh), dtype=dt).copy()

    dhs_tm = dhs.transpose(1, 0, 2)
    da = np.empty((nt, nb, 4 * nh), dtype=dt)
    dc_prev = np.empty((nb, nh), dtype=dt)
    order = list(_order(nt, cache.reverse))
    # h_prev / c_prev of each time index, in time-major order, for dWh and dc.
    h_prev = np.empty_like(cache.h)
    c_prev = np.empty_like(cache.c)
    for k, t in enumerate(order):
        h_prev[t] = cache.h0 if k == 0 else cache.h[order[k - 1]]
        c_prev[t] = cache.c0 if k == 0 else cache.c[order[k - 1]]
    for t in reversed(order):
        dh_t = dhs_tm[t] + dh
        _cell_backward(dh_t, dc, cache.gates[t], c_prev[t], cache.tc[t], da[t], dc_prev)
        dh = da[t] @ cache.Wh
        dc, dc_prev = dc_prev, dc

    g = layout.views(grad_params)
    da2 = da.reshape(nt * nb, 4 * nh)
    # Weight gradients summed over all steps: one BLAS call each.
    g["Wx"] += da2.T @ cache.x.reshape(nt * nb, d)
    g["Wh"] += da2.T @ h_prev.reshape(nt * nb, nh)
    g["b"] += da2.sum(axis=0)
    dx = (da2 @ cache.Wx).reshape(nt, nb, d).transpose(1, 0, 2)
    return np.ascontiguousarray(dx), dh, dc


# ----------------------------------------------------------------------------
# Slow, obviously-correct reference
# ----------------------------------------------------------------------------


def lstm_forward_reference(params, layout, x, h0, c0, reverse=False):
    """Pure NumPy, one sequence and one step at a time; the kernels are tested against it.

    Same arguments as :func:`lstm_forward`. Returns ``(hs, cs)``, both (B, T, H):
    hidden and cell state after reading x[:, t].
    """
    reverse = _check_reverse(reverse)
    layout, params, x, h0, c0 = _check_inputs(params, layout, x, h0, c0)
    w = layout.views(params)
    nb, nt, _ = x.shape
    nh = h0.shape[1]

    def sigmoid(z):
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # exact identity, cannot overflow

    hs = np.empty((nb, nt, nh), dtype=x.dtype)
    cs = np.empty_like(hs)
    steps = range(nt - 1, -1, -1) if reverse else range(nt)
    for n in range(nb):
        h, c = h0[n], c0[n]
        for t in steps:
            a = w["Wx"] @ x[n, t] + w["Wh"] @ h + w["b"]
            i = sigmoid(a[0:nh])
            f = sigmoid(a[nh:2 * nh])
            g = np.tanh(a[2 * nh:3 * nh])
            o = sigmoid(a[3 * nh:4 * nh])
            c = f * c + i * g
            h = o * np.tanh(c)
            hs[n, t], cs[n, t] = h, c
    return hs, cs


# ----------------------------------------------------------------------------
# Gradient-check blocks (collected by `vinnp gradcheck`)
# ----------------------------------------------------------------------------
