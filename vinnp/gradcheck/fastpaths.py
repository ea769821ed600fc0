"""The float32 fast paths, each held to its float64 reference: ``vinnp gradcheck``'s second half.

Training runs in float32 through kernels that central differences cannot check in float32
itself: the one-hidden-tanh-layer force and its second-order backward (vinnp.layers.potential,
with the vectorised tanh32 and relaxed summation order), the fused Bernoulli likelihood, the
BLAS dense layers, and every integrator's rollout and BPTT on top of them. Each is checked here
by running the same computation in float32 and in float64 (whose gradients the central-
difference blocks check) at one point and comparing, entry by entry,

    max |g32 - g64| / max |g64|   <=   FLOAT32_TOL = 1e-4.

Why 1e-4: float32's unit round-off is 6e-8. The values compared are sums of at most a few
thousand rounded products (200 hidden units, 25 trajectories, 30 steps), whose worst-case
error is that count times the round-off of the largest term: ~1e-4 of the largest entry,
and typically 1e-6. A wrong derivative formula (a sign, a factor, a missing term) is an O(1)
disagreement. A comparison whose reference is all zero could not fail and counts as a failure.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vinnp.dynamics import registry as integrators
from vinnp.layers.dense import dense_backward, dense_forward
from vinnp.layers.losses import bernoulli_nll_logits_and_grad
from vinnp.layers.mlp import MLP
from vinnp.layers.potential import force, force_backward, potential_mlp
from vinnp.models.registry import make_model

FLOAT32_TOL = 1e-4


@dataclass
class FastPath:
    """name; run(dtype) -> list of arrays (outputs and gradients) computed in that dtype."""

    name: str
    run: Callable


def check_fast_path(path, tol=FLOAT32_TOL):
    """One row: the worst entry-wise error of float32 against float64, relative to the
    largest float64 entry of each output."""
    ref = [np.asarray(a, np.float64) for a in path.run(np.float64)]
    got = [np.asarray(a, np.float64) for a in path.run(np.float32)]
    worst, why = 0.0, None
    for r, g in zip(ref, got):
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        if scale == 0.0:
            why = "the float64 reference is all zero: the comparison could not fail"
            continue
        worst = max(worst, float(np.max(np.abs(g - r))) / scale)
    row = {"block": path.name, "param": "float32", "max_rel_err": worst, "tol": tol,
           "ok": bool(why is None and np.isfinite(worst) and worst <= tol)}
    if why:
        row["why"] = why
    return row


def _potential_paths(rng):
    paths = []
    for d in (1, 3):
        net = potential_mlp(d, (200,), "tanh")
        theta = net.init(rng, scheme="uniform")
        theta += 0.1 * rng.standard_normal(theta.size)
        q = rng.standard_normal((25, d))
        v = rng.standard_normal((25, d))

        def run_force(dt, net=net, theta=theta, q=q):
            return [force(net, theta.astype(dt), q.astype(dt))]

        def run_rop(dt, net=net, theta=theta, q=q, v=v):
            g, hv = force_backward(net, theta.astype(dt), q.astype(dt), v.astype(dt))
            return [g, hv]

        paths += [FastPath(f"float32:potential-force[d={d}]", run_force),
                  FastPath(f"float32:potential-force-backward[d={d}]", run_rop)]
    return paths


def _model_paths(rng):
    """Every VIN of the registry (fixed mass: the fused training step's case) and the HNN, as
    trained: loss_and_grad at paper sizes (one hidden layer of 200 tanh units, h = 0.1)."""
    paths = []
    names = [n for n, spec in integrators.INTEGRATORS.items() if spec.potential] + ["hnn"]
    for name in names:
        d = integrators.INTEGRATORS[name].dim if name in integrators.INTEGRATORS else None
        for dim in ((d,) if d else (1, 3)):
            q = rng.standard_normal((25, 30, dim))
            p = 0.5 * rng.standard_normal((25, 30, dim))
            batch = {"q": q, "p": p, "dqdt": p, "dpdt": -q}
            model = make_model(name, dim, 0.1, n_seq=25, hidden=(200,))
            params = model.init(rng, batch, scheme="uniform")

            def run(dt, model=model, params=params, batch=batch):
                b = {k: v.astype(dt) for k, v in batch.items()}
                loss, grad = model.loss_and_grad(params.astype(dt), b)
                return [np.array([loss]), grad]

            paths.append(FastPath(f"float32:model[{name}, d={dim}]", run))
    return paths


def _pixel_paths(rng):
    y = rng.uniform(size=(50, 784))
    logits = 3.0 * rng.standard_normal((50, 784))

    def run_bernoulli(dt):
        loss, g = bernoulli_nll_logits_and_grad(y.astype(dt), logits.astype(dt))
        return [np.array([loss]), g]

    paths = [FastPath("float32:bernoulli_nll_logits", run_bernoulli)]
    for act in ("relu", "tanh"):
        net = MLP([784, 64, 64, 784], [act, act, "identity"])
        theta = net.init(rng)
        x = rng.uniform(size=(20, 784))
        g_out = rng.standard_normal((20, 784))

        def run_dense(dt, net=net, theta=theta, x=x, g_out=g_out):
            t = theta.astype(dt)
            out, cache = dense_forward(net, t, x.astype(dt))
            grad = np.zeros_like(t)
            dx = dense_backward(net, t, cache, g_out.astype(dt), grad)
            return [out, grad, dx]

        paths.append(FastPath(f"float32:dense[{act}]", run_dense))
    return paths


def fast_paths(seed=0):
    """Every float32 fast path with its float64 reference, built with one seeded Generator."""
    rng = np.random.default_rng(seed)
    return _potential_paths(rng) + _model_paths(rng) + _pixel_paths(rng)
