"""JAX peers of the three benchmark workloads (benchmarks/workloads.py), for benchmarks only.

Each workload's loss is written the way a JAX user would write it, with autodiff doing
every gradient; it reads vinnp's flat parameter vector through the model's own
:class:`~vinnp.params.Layout`, so the gradient comes back flat, entry by entry in vinnp's
order, and the two can be compared directly.

Two implementations:

* ``"jax"``: one ``jax.jit`` over the whole step: ``jax.value_and_grad`` of the loss, the
  force dU/dq by ``jax.grad`` inside the rollout (so the loss gradient is second order),
  and the Adam update in jnp, with the time loops as rolled ``lax.scan``s;
* ``"jax-unrolled"``: the same with every scan fully unrolled (``unroll=True``), which
  lets XLA fuse across time steps: the strongest peer on small batches, where per-step
  overhead dominates. W2 has no time loop, so there both are the same program.

Conventions mirrored from vinnp (each a place where a silent mismatch would make the two
disagree):

* dense layers z = a W^T + b, W stored (n_out, n_in); the potential's output bias never
  reaches dU/dq, so its gradient is exactly 0, as in vinnp;
* VIN-SV (W1): x_1 = (q_0, q_1) per trajectory; obs[0] = (q_1, (q_1 - q_0)/h);
  q_{t+1} = 2 q_t - q_{t-1} - h^2 dU/dq(q_t), p_{t+1} = (q_{t+1} - q_t)/h, M = I;
* HNN (W2): input (q, p), prediction (dH/dp, -dH/dq) against (dq/dt, dp/dt);
* W1/W2 likelihood: Gaussian NLL with one learned log-variance, constant 0.5 log 2 pi
  kept, averaged over every observed scalar (vinnp.layers.losses.mean_gaussian_nll);
* W3: encoder ReLU MLP per frame; LSTM gates i, f, g, o along the rows, one bias, zero
  initial state, reading the window from the last frame to the first (the head reads the
  state that has just read frame 1); head -> (mean, log_var) of x_1 = (q_1, p_1);
  velocity Verlet with h = model.h (1.0), the force at q_{t+1} reused by the next step;
  decoder sees q_t only, rows ordered (window, time); loss = (Bernoulli NLL + KL) / B;
* Adam exactly as vinnp.optim: theta -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps),
  b1 = 0.9, b2 = 0.999, eps = 1e-8, no clipping.

Only a fixed (identity) mass is mirrored: vinnp's workloads never learn it.

Threads. The benchmark runner sets OMP_NUM_THREADS etc. before importing this module.
XLA's CPU client ignores those variables, so when OMP_NUM_THREADS == "1" (and the caller
has not set XLA_FLAGS itself) we set XLA_FLAGS to
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` before jax is
imported: Eigen's matrix products and convolutions then run on the calling thread. For
more threads XLA has no flag that takes a thread count: its intra-op pool is sized to the
CPUs the process may run on (its affinity mask), so we leave XLA_FLAGS alone and the
runner should restrict the process with ``taskset``/``os.sched_setaffinity`` to N cores
if it wants exactly N. We never touch affinity here, since the runner's process also
hosts vinnp and the other peers.

jax is an optional benchmark dependency (the ``bench`` extra): nothing under vinnp/ or
cli/ imports this module, and :func:`available` says why it cannot run when jax is missing.

    python benchmarks/peers_jax.py       # float64 equality checks against vinnp
"""

import math
import os
import sys
import time

# Must happen before jax is imported: XLA reads XLA_FLAGS once, when its CPU backend starts.
if os.environ.get("OMP_NUM_THREADS") == "1" and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    from jax import lax

    # float64 problems need 64-bit arrays; float32 problems stay float32 because every array
    # is created from the problem's own dtype and Python scalars are weakly typed.
    jax.config.update("jax_enable_x64", True)
    _IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    jax = jnp = lax = None
    _IMPORT_ERROR = f"jax is not installed ({exc}); pip install 'jax[cpu]'"

IMPLS = ("jax", "jax-unrolled")
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
LOG_2PI = math.log(2.0 * math.pi)


def available(impl):
    """None if ``impl`` can run here, else a one-line reason."""
    if impl not in IMPLS:
        return f"unknown JAX implementation {impl!r} (expected one of {', '.join(IMPLS)})"
    return _IMPORT_ERROR


# ----------------------------------------------------------------------------
# Building blocks, reading vinnp's flat vector
# ----------------------------------------------------------------------------


def _views(layout, flat):
    """Dict name -> slice of the traced flat vector, reshaped. Static slices: XLA fuses them,
    and their transpose writes each gradient piece straight into one flat gradient."""
    out = {}
    for name in layout.names:
        sl = layout.slice(name)
        out[name] = flat[sl.start:sl.stop].reshape(layout.shapes[name])
    return out


# jax.nn.relu, not jnp.maximum(z, 0): at z == 0 exactly (a unit whose inputs are all zero,
# with a zero bias) maximum's gradient splits the tie (0.5), while vinnp, like jax.nn.relu and
# PyTorch, uses 0 there.
_ACTS = {"identity": lambda z: z, "tanh": lambda z: jnp.tanh(z), "relu": lambda z: jax.nn.relu(z)}


def _mlp(P, prefix, net, x):
    """Forward of a vinnp MLP spec on rows x (N, n0) with P[f"{prefix}.W{l}"], P[f"{prefix}.b{l}"]."""
    for l, name in enumerate(net.activations, start=1):
        if name not in _ACTS:
            raise ValueError(f"jax peer: activation {name!r} is not mirrored here")
        x = _ACTS[name](x @ P[f"{prefix}.W{l}"].T + P[f"{prefix}.b{l}"])
    return x


def _grad_of_scalar_net(P, prefix, net):
    """x (N, n0) -> dU/dx (N, n0) for a scalar-output net, by jax.grad of sum_n U(x_n)
    (rows are independent, so the sum's gradient is every row's own gradient)."""
    return jax.grad(lambda x: jnp.sum(_mlp(P, prefix, net, x)))


def _mean_gaussian_nll(y, mean, log_var):
    """mean over every scalar of -log N(y | mean, exp(log_var)); log_var a scalar."""
    r = y - mean
    return 0.5 * (jnp.mean(r * r) * jnp.exp(-log_var) + log_var + LOG_2PI)


def _check_fixed_mass(layout):
    if any(n.endswith("mass.L") for n in layout.names):
        raise ValueError("jax peer: a learned mass is not mirrored (the workloads use M = I)")


# ----------------------------------------------------------------------------
# The three losses: (flat params, *device inputs) -> scalar
# ----------------------------------------------------------------------------


def _w1(problem, unroll):
    """VIN-SV on noisy (q, p): returns (loss_fn, host inputs)."""
    model = problem["model"]
    layout, net, h = model.layout, model.cell.net, float(model.cell.h)
    _check_fixed_mass(layout)
    if model.cell.kind != "vin-sv":
        raise ValueError(f"jax peer: W1 mirrors the vin-sv cell, got {model.cell.kind}")
    y = np.stack([problem["inputs"]["q"], problem["inputs"]["p"]], axis=2).astype(problem["dtype"])  # (B, T, 2, d)
    T = y.shape[1]

    def loss(flat, y):
        P = _views(layout, flat)
        force = _grad_of_scalar_net(P, "cell.net", net)
        q0, q1 = P["x1"][:, 0], P["x1"][:, 1]                      # (B, d) each

        def sv_step(carry, _):
            q_prev, q = carry
            q_next = 2.0 * q - q_prev - (h * h) * force(q)
            return (q, q_next), q_next

        _, qs = lax.scan(sv_step, (q0, q1), None, length=T - 1, unroll=unroll)   # (T-1, B, d)
        q_all = jnp.concatenate([q1[None], qs], axis=0)               # q_1 .. q_T
        p_all = (q_all - jnp.concatenate([q0[None], q_all[:-1]], axis=0)) * (1.0 / h)  # M (q_t - q_{t-1}) / h
        pred = jnp.stack([q_all, p_all], axis=2).transpose(1, 0, 2, 3)              # (B, T, 2, d)
        return _mean_gaussian_nll(y, pred, P["log_var"][0])

    return loss, (y,)


def _w2(problem, unroll):
    """HNN on noisy derivatives: returns (loss_fn, host inputs). No time loop: unroll is moot."""
    model = problem["model"]
    layout, net, d = model.layout, model.net, model.dim
    if model.name != "hnn":
        raise ValueError(f"jax peer: W2 mirrors the hnn model, got {model.name}")
    x, y = model._inputs(problem["inputs"], problem["dtype"])       # (N, 2d) each, vinnp's own ordering

    def loss(flat, x, y):
        P = _views(layout, flat)
        g = _grad_of_scalar_net(P, "net", net)(x)                   # (dH/dq, dH/dp)
        pred = jnp.concatenate([g[:, d:], -g[:, :d]], axis=1)       # (dH/dp, -dH/dq)
        return _mean_gaussian_nll(y, pred, P["log_var"][0])

    return loss, (x, y)


def _w3(problem, unroll):
    """Pixel VIN-VV negative ELBO: returns (loss_fn, host inputs)."""
    model = problem["model"]
    if model.kind != "vin-vv":
        raise ValueError(f"jax peer: W3 mirrors the vin-vv pixel model, got {model.kind}")
    layout, d, h, T = model.layout, model.d, float(model.h), model.T
    _check_fixed_mass(layout)
    frames = problem["inputs"]["frames"]
    B = frames.shape[0]
    y = np.ascontiguousarray(frames[:, :T].reshape(B, T, -1), problem["dtype"])   # (B, T, 784)
    eps = np.asarray(problem["inputs"]["eps"], problem["dtype"])                   # (B, 2d)

    def loss(flat, y, eps):
        P = _views(layout, flat)
        npix = y.shape[2]
        e = _mlp(P, "enc", model.encoder, y.reshape(B * T, npix))  # (B T, E)

        # LSTM in reverse over time; the input projection of every step is one product.
        Wh = P["lstm.Wh"]
        H = Wh.shape[1]
        ax = (e @ P["lstm.Wx"].T + P["lstm.b"]).reshape(B, T, 4 * H).transpose(1, 0, 2)

        def lstm_step(carry, a_x):
            hs, cs = carry
            a = a_x + hs @ Wh.T
            i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
            cs = jax.nn.sigmoid(f) * cs + jax.nn.sigmoid(i) * jnp.tanh(g)
            hs = jax.nn.sigmoid(o) * jnp.tanh(cs)
            return (hs, cs), None

        zeros = jnp.zeros((B, H), flat.dtype)
        (hs, _), _ = lax.scan(lstm_step, (zeros, zeros), ax, reverse=True, unroll=unroll)

        out = _mlp(P, "head", model.head, hs)
        mean, log_var = out[:, :2 * d], out[:, 2 * d:]
        x1 = (mean + jnp.exp(0.5 * log_var) * eps).reshape(B, 2, d)   # (q_1, p_1)

        force = _grad_of_scalar_net(P, "cell.net", model.cell.net)

        def vv_step(carry, _):
            q, p, f = carry
            q_next = q + h * p - (0.5 * h * h) * f
            f_next = force(q_next)
            p_next = p - (0.5 * h) * (f + f_next)
            return (q_next, p_next, f_next), q_next

        q1, p1 = x1[:, 0], x1[:, 1]
        _, qs = lax.scan(vv_step, (q1, p1, force(q1)), None, length=T - 1, unroll=unroll)
        q_all = jnp.concatenate([q1[:, None], qs.transpose(1, 0, 2)], axis=1).reshape(B * T, d)

        logits = _mlp(P, "dec", model.decoder, q_all)
        target = y.reshape(B * T, npix)
        nll = jnp.sum(jnp.maximum(logits, 0) - target * logits + jnp.log1p(jnp.exp(-jnp.abs(logits))))
        kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean * mean - 1.0 - log_var)
        return (nll + kl) / B

    return loss, (y, eps)


_BUILDERS = {"W1": _w1, "W2": _w2, "W3": _w3}


def _build(impl, problem):
    reason = available(impl)
    if reason:
        raise RuntimeError(f"jax peer unavailable: {reason}")
    unroll = True if impl == "jax-unrolled" else 1
    return _BUILDERS[problem["workload"]](problem, unroll)


# ----------------------------------------------------------------------------
# The runner's interface
# ----------------------------------------------------------------------------


def loss_and_grad(impl, problem):
    """(loss, flat gradient in vinnp's layout order, problem's dtype) at problem["params"]."""
    loss, host_inputs = _build(impl, problem)
    f = jax.jit(jax.value_and_grad(loss))
    value, grad = f(jnp.asarray(problem["params"]), *(jnp.asarray(a) for a in host_inputs))
    grad = np.asarray(grad)
    if grad.dtype != problem["dtype"]:
        raise AssertionError(f"jax peer: gradient came back {grad.dtype}, expected {problem['dtype']}")
    return float(value), grad


def _adam_update(theta, m, v, t, g, lr):
    """vinnp's Adam (vinnp.optim), bias corrections from t in theta's dtype.
    1 - b^t is formed as -expm1(t log b): in float32, 1 - 0.999^t directly would lose ~1e-4
    of its value to cancellation at small t."""
    t = t + 1
    m = BETA1 * m + (1.0 - BETA1) * g
    v = BETA2 * v + (1.0 - BETA2) * (g * g)
    c1 = -jnp.expm1(t * math.log(BETA1))
    c2 = -jnp.expm1(t * math.log(BETA2))
    theta = theta - (lr / c1) * m / (jnp.sqrt(v) * lax.rsqrt(c2) + ADAM_EPS)
    return theta, m, v, t


def make_step(impl, problem):
    """-> (step, compile_seconds).

    step() runs loss + gradient + one Adam update (lr = problem["lr"]) in one jitted program
    on the peer's own copy of the parameters, blocks until every output is ready, and
    returns the loss (at the parameters before the update). step.params() returns the
    current parameters as NumPy (flat, vinnp's order). compile_seconds is the trace and
    compile time of the step (ahead of time, so the first timed call does no compiling).
    """
    loss, host_inputs = _build(impl, problem)
    lr = float(problem["lr"])
    dtype = problem["dtype"]

    def train_step(state, *inputs):
        theta, m, v, t = state
        value, g = jax.value_and_grad(loss)(theta, *inputs)
        return value, _adam_update(theta, m, v, t, g, lr)

    # Parameters, optimiser state and inputs become device arrays once, here.
    theta = jnp.asarray(problem["params"].copy())
    state = (theta, jnp.zeros_like(theta), jnp.zeros_like(theta), jnp.zeros((), dtype))
    inputs = tuple(jnp.asarray(a) for a in host_inputs)

    # Donating the state lets XLA update parameters and moments in place, as vinnp's Adam does.
    t0 = time.perf_counter()
    compiled = jax.jit(train_step, donate_argnums=0).lower(state, *inputs).compile()
    compile_seconds = time.perf_counter() - t0

    box = [state]

    def step():
        value, new_state = compiled(box[0], *inputs)
        jax.block_until_ready((value, new_state))
        box[0] = new_state
        return float(value)

    step.params = lambda: np.asarray(box[0][0])
    return step, compile_seconds


# ----------------------------------------------------------------------------
# Self-check: float64 equality with vinnp
# ----------------------------------------------------------------------------

W3_SMALL = dict(enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=(5,))
TOL = 1e-6


def _cases():
    for wl in ("W1", "W2"):
        for d in (1, 2):
            yield f"{wl} batch 3 d {d}", (wl, 3, d, np.float64), {}
    yield "W3 batch 2 small widths", ("W3", 2, 1, np.float64), {"widths": W3_SMALL}


def self_check(impls=IMPLS, steps=2):
    """Loss and gradient against vinnp_loss_and_grad, then `steps` Adam steps against vinnp_step.

    Returns True when everything is within TOL: loss relative, gradient max|diff| / max|g|,
    parameters after the steps max|diff| / (steps * lr) (Adam moves each entry by ~lr).
    """
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from workloads import make_problem, vinnp_loss_and_grad, vinnp_step

    ok = True
    for label, args, kw in _cases():
        problem = make_problem(*args, **kw)
        ref_loss, ref_grad = vinnp_loss_and_grad(problem)
        for impl in impls:
            reason = available(impl)
            if reason:
                print(f"{impl:13s} {label:24s} skipped: {reason}")
                continue
            value, grad = loss_and_grad(impl, problem)
            e_loss = abs(value - ref_loss) / abs(ref_loss)
            e_grad = np.max(np.abs(grad - ref_grad)) / np.max(np.abs(ref_grad))
            step, _ = make_step(impl, problem)
            ref_step = vinnp_step(problem)
            step_losses = [(step(), ref_step()) for _ in range(steps)]
            e_step_loss = max(abs(a - b) / abs(b) for a, b in step_losses)
            e_params = np.max(np.abs(step.params() - ref_step.params)) / (steps * problem["lr"])
            good = max(e_loss, e_grad, e_step_loss, e_params) <= TOL and grad.dtype == problem["dtype"]
            ok &= bool(good)
            print(f"{impl:13s} {label:24s} loss {value:.10g}  rel {e_loss:.1e}  grad rel {e_grad:.1e}  "
                  f"{steps} Adam steps: loss rel {e_step_loss:.1e}, params {e_params:.1e} of lr  "
                  f"{'ok' if good else 'MISMATCH'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if self_check() else 1)
