"""PyTorch peers of the benchmark workloads (benchmarks/workloads.py), for the benchmark runner.

Two implementations of the same training step, both starting from the problem's flat vinnp
parameter vector and returning gradients in vinnp's layout order:

* ``torch``: eager autograd, the way a PyTorch user writes a VIN or an HNN. The network's
  input gradient dU/dq (dH/dx for the HNN) comes from ``torch.autograd.grad(...,
  create_graph=True)`` inside the rollout, so the loss's backward is double backprop.
  W3 reuses ``torch_pixel.TorchPixelVIN``, which does the same for the pixel VIN-VV.
* ``torch-compile``: torch.compile does not take ``autograd.grad(create_graph=True)`` into
  its graph, and what it compiles cannot be differentiated a second time, so the step is
  written with torch.func instead: the forward takes dU/dq with ``torch.func.grad``, and the
  parameter gradient is ``torch.func.grad_and_value`` of that whole loss, all of it one
  function wrapped in ``torch.compile(fullgraph=True)`` (a graph break is an error, never a
  silent eager fallback). Adam stays outside the compiled function, so the compile can be
  triggered (and timed) once, without an update, before the timed calls. W3 is supported
  the same way (TorchPixelVIN's forward with its force swapped for the torch.func one).
  Shapes are static, so every (workload, batch, d, dtype) compiles on its own: cold, about
  80-145 s for W1 and 80 s for the small W3 on a busy 2-core machine, a few seconds when
  inductor's on-disk cache already holds the graph (see make_step's compile_source).

Both use ``torch.optim.Adam`` (betas 0.9/0.999, eps 1e-8; fused CPU kernel where torch has
one, else foreach, else the loop). The maths mirrors vinnp exactly (each point is a place
where a silent mismatch would make the gradients disagree):

* W1, VIN-SV with M = I (vinnp.dynamics.sv): the state x1[b] = (q0, q1); obs[0] = (q1,
  (q1 - q0)/h); q_{t+1} = 2 q_t - q_{t-1} - h^2 dU/dq(q_t), p_{t+1} = (q_{t+1} - q_t)/h;
  observations y = stack(q, p) of shape (B, T, 2, d); loss = mean over every observed scalar
  of the Gaussian NLL with one learned log-variance (vinnp.layers.losses.mean_gaussian_nll,
  constant 0.5 log 2 pi kept). Parameter order: cell.net.W1, b1, W2, b2, x1, log_var.
* W2, HNN (vinnp.models.derivative): x = (q, p) rows (B T, 2d), pred = (dH/dp, -dH/dq)
  against y = (dq/dt, dp/dt), same likelihood. Order: net.W1, b1, W2, b2, log_var.
* Dense layers z = a W^T + b with W of shape (n_out, n_in) (vinnp.layers.mlp), shared with
  torch_pixel's ``_mlp``.

The potential's output bias never reaches dU/dq, so autograd leaves its ``.grad`` None (and
torch.func gives 0); the flat gradient reports 0 there, as vinnp does, and Adam leaves it
unchanged in both.

The runner sets OMP_NUM_THREADS (etc.) before importing this module; torch's intra-op pool
is sized from it when torch is first imported here. torch is optional: ``available`` says
why an implementation cannot run instead of failing at import.

    python benchmarks/peers_torch.py      # float64 equality checks against vinnp
"""

import math
import os
import shutil
import sys
import time

import numpy as np

IMPLS = ("torch", "torch-compile")
LOG_2PI = math.log(2.0 * math.pi)
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
TOL = 1e-6
# make_step raises CompileTooSlow rather than hand out a step whose compile took longer.
COMPILE_LIMIT_S = 120.0

_torch = None


class CompileTooSlow(RuntimeError):
    """torch.compile took longer than the limit (the step is not handed out)."""


def _import_torch():
    """torch, imported once; its thread pool sized from OMP_NUM_THREADS (default 1)."""
    global _torch
    if _torch is None:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        _torch = torch
    return _torch


def _torch_pixel():
    """benchmarks/torch_pixel.py, importable whether or not benchmarks/ is on sys.path."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import torch_pixel

    return torch_pixel


def available(impl):
    """None when ``impl`` can run here, else a one-line reason."""
    if impl not in IMPLS:
        return f"unknown implementation {impl!r} (expected one of {', '.join(IMPLS)})"
    try:
        torch = _import_torch()
    except ImportError as exc:
        return f"PyTorch is not installed ({exc})"
    if impl == "torch-compile":
        if not (hasattr(torch, "compile") and hasattr(torch, "func")):
            return f"torch {torch.__version__} has no torch.compile / torch.func"
        # Inductor's CPU backend writes C++ and builds it with the host compiler.
        cxx = os.environ.get("CXX")
        if not any(shutil.which(c) for c in ([cxx] if cxx else []) + ["g++", "c++", "clang++"]):
            return "torch.compile's CPU backend needs a C++ compiler (g++/clang++), none found"
    return None


# ----------------------------------------------------------------------------
# The losses, shared by both implementations; ``force`` decides how dU/dq is taken
# ----------------------------------------------------------------------------


def _force_autograd(potential, q):
    """dU/dq for each row of q, kept in the graph so the loss can differentiate through it.

    U.sum() suffices: rows are independent, so d(sum_b U_b)/dq_b = dU_b/dq_b.
    """
    torch = _torch
    (g,) = torch.autograd.grad(potential(q).sum(), q, create_graph=True)
    return g


def _force_func(potential, q):
    """The same with torch.func, which composes with an outer torch.func.grad and torch.compile."""
    return _torch.func.grad(lambda x: potential(x).sum())(q)


def _mean_gaussian_nll(y, pred, log_var):
    """vinnp.layers.losses.mean_gaussian_nll: mean over all scalars of 0.5 (log 2pi + lv + r^2 e^-lv)."""
    lv = log_var[0]  # shape (): torch.func.grad wants a 0-d output
    r = y - pred
    return 0.5 * (_torch.mean(r * r) * _torch.exp(-lv) + lv + LOG_2PI)


def _sv_loss(P, y, net, h, force, mlp):
    """W1: Stormer-Verlet rollout from each learned x1 (M = I) and its mean Gaussian NLL.

    mlp: torch_pixel._mlp, looked up by the caller (an import is nothing to trace).
    """
    potential = lambda q: mlp(P, "cell.net", net, q)  # noqa: E731
    T = y.shape[1]
    x1 = P["x1"]
    inv_h = 1.0 / h
    q_prev, q = x1[:, 0], x1[:, 1]
    qs, ps = [q], [(q - q_prev) * inv_h]           # obs[0]: p_1 = (q_1 - q_0) / h
    for _ in range(1, T):
        q_next = 2.0 * q - q_prev - (h * h) * force(potential, q)
        qs.append(q_next)
        ps.append((q_next - q) * inv_h)
        q_prev, q = q, q_next
    pred = _stack_obs(qs, ps)
    return _mean_gaussian_nll(y, pred, P["log_var"])


def _stack_obs(qs, ps):
    """Lists of T (B, d) tensors -> (B, T, 2, d), vinnp's obs layout."""
    torch = _torch
    return torch.stack([torch.stack(qs, dim=1), torch.stack(ps, dim=1)], dim=2)


def _hnn_loss(P, x, y, net, d, force, mlp):
    """W2: vector field (dH/dp, -dH/dq) of H_theta(q, p) against the derivative observations."""
    g = force(lambda z: mlp(P, "net", net, z), x)  # dH/dx = (dH/dq, dH/dp)
    pred = _torch.cat([g[:, d:], -g[:, :d]], dim=1)
    return _mean_gaussian_nll(y, pred, P["log_var"])


# ----------------------------------------------------------------------------
# Building a peer from a problem
# ----------------------------------------------------------------------------


def _torch_dtype(np_dtype):
    torch = _torch
    if np_dtype == np.float64:
        return torch.float64
    if np_dtype == np.float32:
        return torch.float32
    raise ValueError(f"dtype: expected float32 or float64, got {np_dtype}")


def _tensor(a, dtype):
    """A fresh torch tensor holding a copy of the NumPy array ``a`` in ``dtype``."""
    return _torch.tensor(np.ascontiguousarray(a), dtype=dtype)


class _Peer:
    """One implementation on one problem: leaves in layout order, and ``run()``.

    ``run()`` computes the loss (returned as a 0-d tensor) and leaves the gradient in each
    leaf's ``.grad``, which is where torch.optim.Adam reads it.
    """

    def __init__(self, impl, problem, compile_limit=COMPILE_LIMIT_S):
        err = available(impl)
        if err:
            raise RuntimeError(f"{impl}: {err}")
        self.impl = impl
        self.problem = problem
        self.np_dtype = np.dtype(problem["dtype"])
        self.dtype = _torch_dtype(self.np_dtype)
        self.compile_seconds = 0.0
        self.compile_source = None  # torch-compile: "compiled", "disk-cache" or "in-process"
        self.compile_limit = compile_limit
        wl = problem["workload"]
        if wl == "W3":
            self._init_pixel()
            return
        model = problem["model"]
        self.names = list(model.layout.names)
        views = model.layout.views(problem["params"])
        if any(n.startswith("cell.mass") for n in self.names):
            raise NotImplementedError("torch peer: a learned mass is not mirrored (the workloads use M = I)")
        # Eager autograd needs leaves that require grad; under torch.func the gradient is a
        # return value, so plain tensors keep autograd (and AOTAutograd) out of the way.
        eager = impl == "torch"
        self.P = {n: _tensor(views[n], self.dtype).requires_grad_(eager) for n in self.names}
        self.params = [self.P[n] for n in self.names]
        inp = problem["inputs"]
        mlp = _torch_pixel()._mlp
        if wl == "W1":
            net, h = model.cell.net, float(model.cell.h)
            y = _tensor(np.stack([inp["q"], inp["p"]], axis=2), self.dtype)  # (B, T, 2, d) = (q, p)
            self.args = (y,)

            def loss_of(P, y, force):
                return _sv_loss(P, y, net, h, force, mlp)
        elif wl == "W2":
            net, d = model.net, model.dim
            x = _tensor(np.concatenate([inp["q"], inp["p"]], axis=-1).reshape(-1, 2 * d), self.dtype)
            y = _tensor(np.concatenate([inp["dqdt"], inp["dpdt"]], axis=-1).reshape(-1, 2 * d), self.dtype)
            # autograd.grad needs x in the graph; backward(inputs=params) keeps dLoss/dx uncomputed.
            x.requires_grad_(eager)
            self.args = (x, y)

            def loss_of(P, x, y, force):
                return _hnn_loss(P, x, y, net, d, force, mlp)
        else:
            raise ValueError(f"workload: expected W1, W2 or W3, got {wl!r}")
        if eager:
            self.run = self._eager(lambda: loss_of(self.P, *self.args, _force_autograd))
        else:
            self.run = self._compiled(lambda P, *args: loss_of(P, *args, _force_func))

    def _init_pixel(self):
        tp = _torch_pixel()
        model, problem = self.problem["model"], self.problem
        frames, eps = problem["inputs"]["frames"], problem["inputs"]["eps"]
        B, T = frames.shape[:2]
        y = _tensor(frames.reshape(B, T, -1), self.dtype)
        e = _tensor(eps, self.dtype)
        self.args = (y, e)
        if self.impl == "torch":
            peer = tp.TorchPixelVIN(model, problem["params"], self.dtype)
            self.names, self.P, self.params = peer.names, peer.P, peer.params
            self.run = self._eager(lambda: peer.loss(y, e))
            return

        class FuncPixelVIN(tp.TorchPixelVIN):
            """TorchPixelVIN with the force taken by torch.func, so the loss composes with
            torch.func.grad and torch.compile; everything else is the eager peer's code."""

            def _force(self, q):
                net = self.model.cell.net
                return _force_func(lambda z: tp._mlp(self.P, "cell.net", net, z), q)

        peer = FuncPixelVIN(model, problem["params"], self.dtype)
        for p in peer.params:
            p.requires_grad_(False)
        self.names, self.P, self.params = peer.names, peer.P, peer.params

        def loss_of(P, y, e):
            # TorchPixelVIN reads its parameters from self.P: point it at the traced ones.
            saved = peer.P
            peer.P = P
            try:
                return peer.loss(y, e)
            finally:
                peer.P = saved

        self.run = self._compiled(loss_of)

    def _eager(self, loss_fn):
        params = self.params

        def run():
            for p in params:
                p.grad = None
            loss = loss_fn()
            loss.backward(inputs=params)  # the parameters only, not the data tensors
            return loss.detach()

        return run

    def _compiled(self, loss_of):
        torch = _torch
        dyn = torch._dynamo.config
        # Every problem compiles its own graph, all from the same code objects; past the
        # recompile limit dynamo would silently run eager, so raise it and make a hit an error.
        for name, value in (("recompile_limit", 64), ("cache_size_limit", 64),
                            ("fail_on_recompile_limit_hit", True)):
            if hasattr(dyn, name):
                setattr(dyn, name, value)

        def grad_and_loss(P, *args):
            return torch.func.grad_and_value(loss_of)(P, *args)

        fn = torch.compile(grad_and_loss, fullgraph=True, dynamic=False)
        P, args, names, params = self.P, self.args, self.names, self.params

        def run():
            grads, loss = fn(P, *args)
            for n, p in zip(names, params):
                p.grad = grads[n]
            return loss

        # The first call traces and compiles (it is pure: no parameter changes). What that
        # costs depends on what is cached, so say which case was timed: dynamo reuses a graph
        # it already holds in this process when its guards pass (same code, same model
        # objects, same shapes: e.g. loss_and_grad then make_step on one problem), and
        # inductor keeps compiled graphs on disk, so one compiled by an earlier process
        # reloads in seconds instead of minutes.
        counters = torch._dynamo.utils.counters
        graphs = lambda: counters["stats"]["unique_graphs"]  # noqa: E731
        hits = lambda: (counters["aot_autograd"]["autograd_cache_hit"]  # noqa: E731
                        + counters["inductor"]["fxgraph_cache_hit"])
        graphs0, hits0 = graphs(), hits()
        t0 = time.perf_counter()
        run()
        self.compile_seconds = time.perf_counter() - t0
        if graphs() == graphs0:
            self.compile_source = "in-process"
        elif hits() > hits0:
            self.compile_source = "disk-cache"
        else:
            self.compile_source = "compiled"
        if self.compile_seconds > self.compile_limit:
            raise CompileTooSlow(f"torch-compile: compiling took {self.compile_seconds:.0f} s "
                                 f"(> {self.compile_limit:.0f} s)")
        return run

    def flat_grad(self):
        """The leaves' gradients concatenated in layout order, zeros where there is none."""
        torch = _torch
        parts = [torch.zeros(p.numel(), dtype=self.dtype) if p.grad is None else p.grad.reshape(-1)
                 for p in self.params]
        return torch.cat(parts).detach().numpy().astype(self.np_dtype)

    def flat_params(self):
        return _torch.cat([p.detach().reshape(-1) for p in self.params]).numpy().astype(self.np_dtype)


def _adam(params, lr):
    """torch.optim.Adam, its fastest CPU kernel first: fused, then foreach, then the loop."""
    torch = _torch
    for kind, extra in (("fused", {"fused": True}), ("foreach", {"foreach": True}), ("default", {})):
        try:
            return torch.optim.Adam(params, lr=lr, betas=BETAS, eps=ADAM_EPS, **extra), kind
        except (RuntimeError, TypeError, ValueError):
            continue
    raise RuntimeError("torch.optim.Adam could not be built")


# ----------------------------------------------------------------------------
# The runner's interface
# ----------------------------------------------------------------------------


def loss_and_grad(impl, problem, compile_limit=COMPILE_LIMIT_S):
    """(loss, flat gradient in vinnp's layout order, problem's dtype) at the problem's params."""
    peer = _Peer(impl, problem, compile_limit)
    loss = peer.run()
    return float(loss), peer.flat_grad()


def make_step(impl, problem, compile_limit=COMPILE_LIMIT_S):
    """(step, compile_seconds): step() = loss + gradient + one Adam update in place; returns the loss.

    Parameters and inputs become tensors here, once. For torch-compile the compile happens
    here too (one pure call, no update), so the first timed step runs compiled code.
    step.flat_params() gives the peer's current parameters (NumPy, layout order), step.adam
    the Adam kernel in use, and step.compile_source (torch-compile) where the compiled graph
    came from: "compiled" (a cold compile), "disk-cache" (inductor's on-disk cache, from an
    earlier process: compile_seconds is then a reload) or "in-process" (dynamo already held
    it, e.g. after loss_and_grad on the same problem: compile_seconds ~ 0).
    Raises CompileTooSlow past ``compile_limit`` seconds of compiling, NotImplementedError
    for what is not mirrored.
    """
    peer = _Peer(impl, problem, compile_limit)
    opt, kind = _adam(peer.params, problem["lr"])
    run = peer.run

    def step():
        loss = run()
        opt.step()
        return float(loss)

    step.flat_params = peer.flat_params
    step.adam = kind
    step.compile_source = peer.compile_source
    return step, peer.compile_seconds


# ----------------------------------------------------------------------------
# Self-check: float64 loss, gradient and one Adam step against vinnp
# ----------------------------------------------------------------------------

W3_SMALL = dict(enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=(5,))


def _check_cases():
    cases = [(wl, 3, d, {}) for wl in ("W1", "W2") for d in (1, 2)]
    cases.append(("W3", 2, 1, {"widths": W3_SMALL}))
    return cases


def self_check(impls=IMPLS, log=print):
    """Compare every available impl with vinnp on small float64 problems; True if all agree."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from workloads import make_problem, vinnp_loss_and_grad, vinnp_step

    ok = True
    for impl in impls:
        why = available(impl)
        if why:
            log(f"{impl}: skipped ({why})")
            continue
        for wl, batch, d, kw in _check_cases():
            problem = make_problem(wl, batch, d, np.float64, **kw)
            label = f"{impl:<13} {wl} batch {batch} d {d}{' (small widths)' if kw else ''}"
            try:
                # No compile limit here: this checks the maths, the runner the timings.
                t0 = time.perf_counter()
                loss_t, grad_t = loss_and_grad(impl, problem, compile_limit=math.inf)
                wall = time.perf_counter() - t0
                step, compile_s = make_step(impl, problem, compile_limit=math.inf)
            except NotImplementedError as exc:
                log(f"  {label}: not implemented ({exc})")
                continue
            loss_v, grad_v = vinnp_loss_and_grad(problem)
            rel_loss = abs(loss_t - loss_v) / abs(loss_v)
            rel_grad = np.abs(grad_t - grad_v).max() / np.abs(grad_v).max()
            # One Adam step each from the same start: checks betas, eps and bias correction too.
            vstep = vinnp_step(problem)
            step_loss, vstep_loss = step(), vstep()
            rel_adam = np.abs(step.flat_params() - vstep.params).max() / problem["lr"]
            good = (rel_loss <= TOL and rel_grad <= TOL and rel_adam <= TOL and grad_t.dtype == grad_v.dtype
                    and abs(step_loss - vstep_loss) <= TOL * abs(vstep_loss))
            ok &= good
            comp = f", make_step compile {compile_s:.1f} s ({step.compile_source})" if step.compile_source else ""
            log(f"  {label}: loss {loss_v:.12g} rel {rel_loss:.1e}; grad max|diff|/max|g| {rel_grad:.1e}; "
                f"Adam step max|diff|/lr {rel_adam:.1e} ({step.adam}); loss_and_grad {wall:.1f} s{comp}"
                f" -> {'ok' if good else 'MISMATCH'}")
    return ok


if __name__ == "__main__":
    print(f"peers_torch self-check: float64, tolerance {TOL:g} (loss, gradient, one Adam step)")
    sys.exit(0 if self_check() else 1)
