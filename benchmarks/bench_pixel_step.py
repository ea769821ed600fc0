"""One training step of the pixel VIN-VV autoencoder: vinnp against PyTorch, side by side.

Workload W3: ``PixelVIN("vin-vv", window=10, latent_dim=1)`` at the paper's sizes
(encoder 784 -> 1000 -> 1000 ReLU, LSTM 50 read in reverse, velocity-Verlet
rollout with a 1 -> 1000 tanh -> 1 potential, decoder 1 -> 1000 -> 1000 -> 784),
batch 50 windows x 10 frames, float32. One step = negative ELBO and its gradient
+ one Adam update (lr 3e-4):

* vinnp: ``model.loss_and_grad`` (hand-written gradients) + ``vinnp.optim.Adam.step``;
* torch: ``benchmarks/torch_pixel.py`` (autograd; the force dU/dq inside the
  rollout by ``torch.autograd.grad(..., create_graph=True)``, so the backward is
  double backprop) + ``torch.optim.Adam`` (its fused CPU kernel where available).

Before timing, both are run in float64 from the same flat parameter vector, on a
small model (like ``gradcheck_model``: enc 6, LSTM 4, dec 5, dyn 5, T 4, batch 2,
d 2, learned mass) and on the full-size one, and must agree: loss to relative
1e-6, gradient to max|diff| / max|g| <= 1e-6; and one Adam update from the same
gradient must move the parameters identically (to 1e-6 of lr). A mismatch stops
the run (exit 1): the two would not be timing the same computation.

Timing: both in one process, interleaved in rounds (the order alternates each
round so neither always runs on a cache the other warmed), warm-up steps
excluded; min and median over the repeats, and the ratio torch / vinnp.

FLOPs counted: the large matrix products only, 2 per multiply-add, over the
B*T = 500 rows: every encoder and decoder layer (forward, weight gradient and
input gradient, except the encoder's first input gradient, which neither
implementation forms) and the LSTM's input projection (1000 -> 200, forward,
weight and input gradient). The recurrences, the rollout's force network and
the elementwise work are left out, so GFLOP/s is a lower bound on what runs.

    python benchmarks/bench_pixel_step.py [--threads 1] [--repeats 20] [--batch 50] [--json]

PyTorch is an optional peer: install the ``bench`` extra (``pip install -e '.[bench]'``).
"""

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
TOL = 1e-6
LR = 3e-4


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="threads for BLAS, OpenMP, Numba and torch (default 1)")
    ap.add_argument("--batch", type=int, default=50, help="windows per step (default 50)")
    ap.add_argument("--window", type=int, default=10, help="frames per window, T (default 10)")
    ap.add_argument("--repeats", type=int, default=20, help="timed steps per implementation (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per implementation first (default 2)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--no-check", action="store_true", help="skip the float64 equality checks")
    ap.add_argument("--json", action="store_true", help="print only the timing rows, as JSON")
    args = ap.parse_args(argv)
    for name in ("threads", "batch", "window", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        ap.error("--warmup must be at least 0")
    return args


# ----------------------------------------------------------------------------
# FLOP count
# ----------------------------------------------------------------------------


def dense_flops(sizes, rows, input_grad):
    """Forward + backward FLOPs of a dense stack with widths ``sizes`` over ``rows`` rows.

    Each layer: forward z = a W^T and weight gradient gz^T a, 2 rows n_in n_out each;
    the input gradient gz W the same again, for every layer but the first unless
    ``input_grad`` (the encoder reads pixels, which need no gradient).
    """
    total = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        mult = 3 if (l > 0 or input_grad) else 2
        total += mult * 2 * rows * n_in * n_out
    return total


def step_flops(model, batch):
    rows = batch * model.T
    E = model.encoder.sizes[-1]
    four_h = 4 * model._lstm.shapes["Wh"][1]
    parts = {
        "encoder": dense_flops(model.encoder.sizes, rows, input_grad=False),
        "lstm input projection": dense_flops([E, four_h], rows, input_grad=True),
        "decoder": dense_flops(model.decoder.sizes, rows, input_grad=True),
    }
    return parts, sum(parts.values())


# ----------------------------------------------------------------------------
# Equality checks (float64)
# ----------------------------------------------------------------------------


def compare(name, model, params, frames, eps, log):
    """Loss, gradient and one Adam update of vinnp and the torch peer on identical inputs.

    Returns True when all three agree to TOL; logs the numbers either way.
    """
    import numpy as np
    import torch

    from torch_pixel import TorchPixelVIN
    from vinnp.optim import Adam

    B, T = frames.shape[:2]
    loss_v, grad_v = model.loss_and_grad(params, frames, eps)
    peer = TorchPixelVIN(model, params, torch.float64)
    loss_t = peer.loss(torch.tensor(frames.reshape(B, T, -1)), torch.tensor(eps))
    loss_t.backward()
    loss_t = float(loss_t.detach())
    grad_t = peer.flat_grad()

    rel_loss = abs(loss_t - loss_v) / abs(loss_v)
    scale = np.abs(grad_v).max()
    rel_grad = np.abs(grad_t - grad_v).max() / scale
    # Per component as well: a small part (the potential, the LSTM) could hide under a
    # global max that the decoder sets, so show where the worst difference sits.
    worst = []
    for part, sl in model.parts.items():
        g = grad_v[sl]
        m = np.abs(g).max()
        worst.append(f"{part} {np.abs(grad_t[sl] - g).max() / m if m > 0 else 0.0:.1e}")

    # Adam: feed both optimisers vinnp's gradient, so only the update rule is compared.
    theta = params.copy()
    Adam(theta.size, lr=LR, dtype=theta.dtype).step(theta, grad_v.copy())
    for p, sl in zip(peer.params, (model.layout.slice(n) for n in peer.names)):
        p.grad = torch.tensor(grad_v[sl].reshape(p.shape))
    torch.optim.Adam(peer.params, lr=LR).step()
    rel_adam = np.abs(peer.flat_params() - theta).max() / LR

    ok = rel_loss <= TOL and rel_grad <= TOL and rel_adam <= TOL
    log(f"  {name}: {model.layout.size} params, loss {loss_v:.10g} (vinnp) vs {loss_t:.10g} (torch), "
        f"rel {rel_loss:.1e}; grad max|diff|/max|g| {rel_grad:.1e} (max|g| {scale:.3g}; per part: "
        f"{', '.join(worst)}); Adam step max|diff|/lr {rel_adam:.1e} -> {'ok' if ok else 'MISMATCH'}")
    return ok


def run_checks(batch, window, log):
    import numpy as np

    from vinnp.models.pixel_vae import PixelVIN, gradcheck_model

    log(f"float64 equality checks (tolerance {TOL:g}):")
    rng = np.random.default_rng(1)
    ok = compare("small model (enc 6, lstm 4, dec 5, dyn 5, T 4, batch 2, d 2, learned mass)",
                 *gradcheck_model("vin-vv", rng, window=4, batch=2), log=log)
    model = PixelVIN("vin-vv", window=window, latent_dim=1)
    params = model.init(rng)
    frames = rng.uniform(size=(batch, window, 28, 28))
    eps = rng.standard_normal((batch, model.x_dim))
    ok &= compare(f"full model (batch {batch}, T {window})", model, params, frames, eps, log=log)
    return ok


# ----------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------


def make_steps(model, dtype, batch, seed=0):
    """Two closures, each one full training step on its own copy of the same start."""
    import numpy as np
    import torch

    from torch_pixel import TorchPixelVIN
    from vinnp.optim import Adam

    rng = np.random.default_rng(seed)
    np_dt = np.dtype(dtype)
    theta = model.init(rng).astype(np_dt)
    frames = rng.uniform(size=(batch, model.T, 28, 28)).astype(np_dt)
    eps = rng.standard_normal((batch, model.x_dim)).astype(np_dt)
    opt = Adam(theta.size, lr=LR, dtype=np_dt)

    def vinnp_step():
        _, grad = model.loss_and_grad(theta, frames, eps)
        opt.step(theta, grad)

    t_dt = getattr(torch, dtype)
    peer = TorchPixelVIN(model, theta, t_dt)
    # Inputs become tensors once, outside the step, as a torch data pipeline would hand them over.
    y = torch.tensor(frames.reshape(batch, model.T, -1))
    e = torch.tensor(eps)
    try:  # the fused CPU Adam (torch >= 2.4) is torch's fastest; fall back to the loop kernel
        topt = torch.optim.Adam(peer.params, lr=LR, fused=True)
        adam_kind = "fused"
    except (RuntimeError, TypeError, ValueError):
        topt = torch.optim.Adam(peer.params, lr=LR)
        adam_kind = "default"

    def torch_step():
        topt.zero_grad(set_to_none=True)
        peer.loss(y, e).backward()
        topt.step()

    return {"vinnp": vinnp_step, "torch": torch_step}, adam_kind


def time_interleaved(steps, repeats, warmup):
    """{impl: [seconds]}: rounds of one step each, order alternating, warm-up steps dropped."""
    names = list(steps)
    for _ in range(warmup):
        for n in names:
            steps[n]()
    times = {n: [] for n in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            gc.collect()  # collect outside the timed region, not in the middle of a step
            t0 = time.perf_counter()
            steps[n]()
            times[n].append(time.perf_counter() - t0)
    return times


def main(argv=None):
    args = parse_args(argv)
    # Thread pools size themselves when their library loads, so this must come first.
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    try:
        import torch
    except ImportError:
        print("bench_pixel_step: PyTorch is not installed; install the bench extra: pip install -e '.[bench]'")
        return 2
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for torch_pixel

    import numba
    import numpy as np

    from vinnp.models.pixel_vae import PixelVIN

    def log(msg):
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    if not args.no_check and not run_checks(args.batch, args.window, log):
        log("bench_pixel_step: vinnp and torch disagree; not timing two different computations")
        return 1

    model = PixelVIN("vin-vv", window=args.window, latent_dim=1)
    steps, adam_kind = make_steps(model, args.dtype, args.batch)
    times = time_interleaved(steps, args.repeats, args.warmup)
    parts, flops = step_flops(model, args.batch)

    rows = []
    for impl in ("vinnp", "torch"):
        ts = times[impl]
        rows.append({"workload": "W3", "impl": impl, "batch": args.batch, "threads": args.threads,
                     "dtype": args.dtype, "median_ms": round(statistics.median(ts) * 1e3, 3),
                     "min_ms": round(min(ts) * 1e3, 3)})
    if args.json:
        print(json.dumps(rows))
        return 0

    print(f"W3: pixel VIN-VV step (loss, gradient, Adam), batch {args.batch} x {args.window} frames, "
          f"{args.dtype}, {model.layout.size:,} params")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus; threads {args.threads} "
          f"(numba {numba.get_num_threads()}, torch {torch.get_num_threads()}); numpy {np.__version__}, "
          f"numba {numba.__version__}, torch {torch.__version__} (Adam: {adam_kind})")
    print(f"matmul FLOPs per step: {flops / 1e9:.2f} G ("
          + ", ".join(f"{k} {v / 1e9:.2f}" for k, v in parts.items())
          + f"); {args.repeats} interleaved repeats after {args.warmup} warm-up")
    for row in rows:
        print(f"  {row['impl']:<6} median {row['median_ms']:9.2f} ms   min {row['min_ms']:9.2f} ms   "
              f"{flops / (row['median_ms'] * 1e-3) / 1e9:6.1f} GFLOP/s (median)")
    v, t = rows
    print(f"  ratio torch/vinnp: median {t['median_ms'] / v['median_ms']:.2f}x, min {t['min_ms'] / v['min_ms']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
