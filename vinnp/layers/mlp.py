"""Dense MLPs of any depth: the specification, and compiled forward/backward kernels.

An MLP with sizes [n0, ..., nL] and per-layer activations sigma_1..sigma_L
computes z_l = W_l a_{l-1} + b_l, a_l = sigma_l(z_l), a_0 = x. Its parameters
W1, b1, ..., WL, bL live in a flat vector (see :mod:`vinnp.params`); kernels
take the *whole model's* flat vector plus the offsets of this network inside
it, so several networks of one model share one parameter and one gradient
buffer.

Per-sample kernels (``forward_one``, ``backward_one``) are the building blocks
that the fused rollout kernels call inside their time loops; they use
preallocated work buffers and allocate nothing. Batched entry points are
parallel over fixed-size chunks of the batch, and reduce the per-chunk
gradients in a fixed order, so results do not depend on the thread count.
"""

import numpy as np

from vinnp.checks import as_array, one_of, positive_int
from vinnp.jit import njit, prange
from vinnp.layers.activations import ACTIVATIONS, act, act_d1, code_of
from vinnp.params import Layout

MAX_CHUNKS = 16  # parallel work items per batch
MIN_CHUNK = 4  # samples per work item, at least
INIT_SCHEMES = ("normal", "uniform")  # MLP.init


@njit(cache=True)
def chunking(B):
    """(number of chunks, samples per chunk) for a batch of B.

    A function of B alone, never of the thread count: each chunk accumulates its
    own gradient and the chunks are added in a fixed order, so every result is
    the same whatever NUMBA_NUM_THREADS is.
    """
    size = max(MIN_CHUNK, (B + MAX_CHUNKS - 1) // MAX_CHUNKS)
    return (B + size - 1) // size, size


class MLP:
    """A dense network's shape: sizes [n0, ..., nL] and L activation names.

    ``activations`` may be one name (hidden layers) — then the last layer is
    ``last`` (identity by default) — or a list of L names.
    """

    def __init__(self, sizes, activations="tanh", last="identity"):
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise ValueError(f"sizes: expected a list of at least two layer widths, got {sizes!r}")
        self.sizes = [positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
        L = len(sizes) - 1
        if isinstance(activations, str):
            activations = [activations] * (L - 1) + [last]
        activations = list(activations)
        if len(activations) != L:
            raise ValueError(f"activations: expected {L} names (one per layer), got {len(activations)}")
        for a in activations:
            code_of(a, "activations")
        self.activations = activations
        self.depth = L

    def __repr__(self):
        return f"MLP({self.sizes}, {self.activations})"

    def layout(self):
        entries = []
        for l in range(1, self.depth + 1):
            entries.append((f"W{l}", (self.sizes[l], self.sizes[l - 1])))
            entries.append((f"b{l}", (self.sizes[l],)))
        return Layout(entries)

    def weights(self, params, layout=None, prefix=""):
        """[(W, b)] views of this network inside ``params`` (for the NumPy reference)."""
        layout = layout or self.layout()
        p = f"{prefix}." if prefix else ""
        return [(layout.view(params, f"{p}W{l}"), layout.view(params, f"{p}b{l}"))
                for l in range(1, self.depth + 1)]

    def kernel_args(self, layout=None, prefix=""):
        """(w_off, b_off, sizes, acts, n_off): int64 arrays the kernels take.

        w_off/b_off: where W_l, b_l start in the model's flat vector (``layout``,
        this network's pieces named ``prefix.W1`` ...). n_off: where layer l's
        units start in a per-sample work buffer of length sum(sizes).
        """
        layout = layout or self.layout()
        p = f"{prefix}." if prefix else ""
        w_off = np.array([layout.offsets[f"{p}W{l}"] for l in range(1, self.depth + 1)], np.int64)
        b_off = np.array([layout.offsets[f"{p}b{l}"] for l in range(1, self.depth + 1)], np.int64)
        sizes = np.array(self.sizes, np.int64)
        acts = np.array([code_of(a) for a in self.activations], np.int64)
        n_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return w_off, b_off, sizes, acts, n_off

    @property
    def n_units(self):
        return int(sum(self.sizes))

    def init(self, rng, dtype=np.float64, hidden_bias_std=1.0, scheme="normal"):
        """Random parameters from ``rng`` in one of two schemes.

        ``"normal"``: weights ~ N(0, 1/fan_in) (LeCun: keeps tanh units out of
        saturation), hidden biases ~ N(0, hidden_bias_std^2), the output bias 0.
        Random hidden biases spread the units' centres over the input range: with
        zero biases every tanh(w q) unit of a potential is odd about q = 0, a poor
        basis for an even potential such as the pendulum's 1 - cos q.

        ``"uniform"``: every weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        the common framework default (PyTorch's nn.Linear). Its first-layer slopes
        are sqrt(3) times smaller, so a fresh network is a smoother function of q;
        the phase-space runs use it (vinnp.training.setup, where the measurement
        that chose it is cited). ``hidden_bias_std`` applies to "normal" only.
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng: expected a numpy.random.Generator")
        one_of(scheme, "init", INIT_SCHEMES)
        layout = self.layout()
        flat = layout.zeros(dtype)
        for l in range(1, self.depth + 1):
            W = layout.view(flat, f"W{l}")
            b = layout.view(flat, f"b{l}")
            if scheme == "uniform":
                bound = 1.0 / np.sqrt(self.sizes[l - 1])
                W[...] = rng.uniform(-bound, bound, W.shape)
                b[...] = rng.uniform(-bound, bound, b.shape)
                continue
            W[...] = rng.standard_normal(W.shape) / np.sqrt(self.sizes[l - 1])
            if l < self.depth and hidden_bias_std > 0:
                b[...] = hidden_bias_std * rng.standard_normal(b.shape)
        return flat

    def to_json(self):
        return {"sizes": list(self.sizes), "activations": list(self.activations)}

    @classmethod
    def from_json(cls, obj):
        try:
            return cls(list(obj["sizes"]), list(obj["activations"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"mlp: malformed network description ({exc})") from None


# ---------------------------------------------------------------------------
# per-sample kernels
# ---------------------------------------------------------------------------

@njit(cache=True)
def forward_one(theta, w_off, b_off, sizes, acts, n_off, x, z, a):
    """One sample: fills z, a (length sum(sizes)); the output is a[n_off[L]:]."""
    for i in range(sizes[0]):
        a[i] = x[i]
    for l in range(1, sizes.shape[0]):
        nin = sizes[l - 1]
        ai = n_off[l - 1]
        zo = n_off[l]
        wo = w_off[l - 1]
        bo = b_off[l - 1]
        c = acts[l - 1]
        for j in range(sizes[l]):
            s = theta[bo + j]
            row = wo + j * nin
            for i in range(nin):
                s += theta[row + i] * a[ai + i]
            z[zo + j] = s
            a[zo + j] = act(c, s)


@njit(cache=True)
def backward_one(theta, w_off, b_off, sizes, acts, n_off, z, a, g_out, ga, gz,
                 grad, want_params, grad_x):
    """One sample's reverse pass after ``forward_one``.

    g_out: upstream gradient on the output (length n_L). Leaves dL/dz_l in gz,
    dL/da_l in ga; accumulates (+=) parameter gradients into ``grad`` (indexed
    like ``theta``) when ``want_params``, and dL/dx into ``grad_x``.
    """
    L = sizes.shape[0] - 1
    lo = n_off[L]
    for j in range(sizes[L]):
        ga[lo + j] = g_out[j]
    for l in range(L, 0, -1):
        nin = sizes[l - 1]
        ai = n_off[l - 1]
        zo = n_off[l]
        wo = w_off[l - 1]
        bo = b_off[l - 1]
        c = acts[l - 1]
        for j in range(sizes[l]):
            gz[zo + j] = ga[zo + j] * act_d1(c, z[zo + j], a[zo + j])
        for i in range(nin):
            ga[ai + i] = 0.0
        for j in range(sizes[l]):
            g = gz[zo + j]
            row = wo + j * nin
            if want_params:
                grad[bo + j] += g
                for i in range(nin):
                    grad[row + i] += g * a[ai + i]
            for i in range(nin):
                ga[ai + i] += theta[row + i] * g
    for i in range(sizes[0]):
        grad_x[i] += ga[i]


# ---------------------------------------------------------------------------
# batched kernels
# ---------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def _forward_batch(theta, w_off, b_off, sizes, acts, n_off, X, Y):
    B = X.shape[0]
    n = n_off[-1]
    L = sizes.shape[0] - 1
    nchunk, size = chunking(B)
    for c in prange(nchunk):
        z = np.empty(n, theta.dtype)
        a = np.empty(n, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            forward_one(theta, w_off, b_off, sizes, acts, n_off, X[b], z, a)
            for j in range(sizes[L]):
                Y[b, j] = a[n_off[L] + j]


@njit(cache=True, parallel=True)
def _backward_batch(theta, w_off, b_off, sizes, acts, n_off, X, G, grad, GX):
    B = X.shape[0]
    n = n_off[-1]
    nchunk, size = chunking(B)
    partial = np.zeros((nchunk, theta.shape[0]), theta.dtype)
    for c in prange(nchunk):
        z = np.empty(n, theta.dtype)
        a = np.empty(n, theta.dtype)
        ga = np.empty(n, theta.dtype)
        gz = np.empty(n, theta.dtype)
        for b in range(c * size, min(B, (c + 1) * size)):
            forward_one(theta, w_off, b_off, sizes, acts, n_off, X[b], z, a)
            backward_one(theta, w_off, b_off, sizes, acts, n_off, z, a, G[b], ga, gz,
                         partial[c], True, GX[b])
    for c in range(nchunk):  # fixed order: deterministic whatever the thread count
        grad += partial[c]


# ---------------------------------------------------------------------------
# public batched API
# ---------------------------------------------------------------------------

def check_params(params, layout, name="params"):
    """A finite float32/float64 vector of ``layout.size`` entries."""
    return as_array(params, name, shape=(layout.size,))


def grad_buffer(grad, params):
    """The gradient accumulator for ``params``: zeros when None, else checked.

    Gradients are accumulated in place through views, so a converted copy would
    silently lose them: a wrong dtype, shape or layout is an error instead.
    """
    if grad is None:
        return np.zeros_like(params)
    if not isinstance(grad, np.ndarray):
        raise ValueError(f"grad: expected a NumPy array, got {type(grad).__name__}")
    if grad.shape != params.shape or grad.dtype != params.dtype:
        raise ValueError(f"grad: expected a {params.dtype} vector of {params.size} entries, "
                         f"got {grad.dtype} of shape {grad.shape}")
    if not (grad.flags.c_contiguous and grad.flags.writeable):
        raise ValueError("grad: expected a writeable, contiguous array")
    return grad


def check_inputs(x, width, dtype, name="x"):
    x = as_array(x, name, ndim=2)
    if x.shape[1] != width:
        raise ValueError(f"{name}: expected shape (batch, {width}), got {x.shape}")
    if x.dtype != dtype:
        raise ValueError(f"{name}: dtype {x.dtype} does not match the parameters' dtype {dtype}")
    return np.ascontiguousarray(x)


def forward(mlp, params, x, layout=None, prefix=""):
    """Batched forward. x: (B, n0) -> (B, nL), same dtype as params."""
    layout = layout or mlp.layout()
    params = check_params(params, layout)
    x = check_inputs(x, mlp.sizes[0], params.dtype)
    y = np.empty((x.shape[0], mlp.sizes[-1]), params.dtype)
    _forward_batch(params, *mlp.kernel_args(layout, prefix), x, y)
    return y


def backward(mlp, params, x, g_out, grad=None, layout=None, prefix=""):
    """Batched reverse pass for the scalar sum(g_out * mlp(x)).

    Accumulates (+=) the parameter gradient into ``grad`` (allocated as zeros
    when None) and returns (grad, dx) with dx of shape (B, n0).
    """
    layout = layout or mlp.layout()
    params = check_params(params, layout)
    x = check_inputs(x, mlp.sizes[0], params.dtype)
    g_out = check_inputs(g_out, mlp.sizes[-1], params.dtype, "g_out")
    if g_out.shape[0] != x.shape[0]:
        raise ValueError(f"g_out: expected {x.shape[0]} rows to match x, got {g_out.shape[0]}")
    grad = grad_buffer(grad, params)
    dx = np.zeros_like(x)
    _backward_batch(params, *mlp.kernel_args(layout, prefix), x, g_out, grad, dx)
    return grad, dx


__all__ = ["MLP", "ACTIVATIONS", "forward", "backward", "forward_one", "backward_one"]
