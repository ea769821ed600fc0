"""Micro-benchmark: potential force dU/dq forward + its second-order backward.

Network d -> 200 tanh -> 1, batch 1000, float32 (issue: engine core). Times the
Numba kernels and, side by side in the same run, the NumPy matrix-form
reference; prints medians of repeats, the ratio, and achieved GFLOP/s.

FLOP count (2 per multiply-add, weights only; biases and activations ignored):
the force is a forward and a reverse sweep (4 per weight per sample); its
backward re-runs both and adds the forward tangent, the reverse tangent and the
parameter-gradient products (12 per weight per sample) -> 16 per weight.

    python benchmarks/bench_potential.py [--dim 2] [--batch 1000] [--repeats 50]
"""

import argparse
import os
import platform
import time

import numpy as np


def median_time(fn, repeats):
    fn()  # warm (compilation, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()

    import numba

    from vinnp.layers import reference as R
    from vinnp.layers.potential import force, force_backward, potential_mlp

    rng = np.random.default_rng(0)
    dt = np.dtype(args.dtype)
    net = potential_mlp(args.dim, (args.hidden,))
    params = net.init(rng).astype(dt)
    q = rng.standard_normal((args.batch, args.dim)).astype(dt)
    v = rng.standard_normal((args.batch, args.dim)).astype(dt)
    weights = net.weights(params)

    def vinnp_step():
        force(net, params, q)
        force_backward(net, params, q, v)

    def numpy_step():
        R.force(weights, net.activations, q)
        R.force_backward(weights, net.activations, q, v)

    n_weights = sum(W.size for W, _ in weights)
    flops = 16 * n_weights * args.batch
    print(f"potential force fwd+bwd: d={args.dim}, {args.hidden} tanh units, batch {args.batch}, {dt}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"numba threads {numba.get_num_threads()}, numpy {np.__version__}, numba {numba.__version__}")
    rows = []
    for name, fn in (("vinnp (numba)", vinnp_step), ("numpy reference", numpy_step)):
        med, best = median_time(fn, args.repeats)
        rows.append((name, med, best))
        print(f"  {name:<16} median {med * 1e3:8.3f} ms   min {best * 1e3:8.3f} ms   "
              f"{flops / med / 1e9:6.2f} GFLOP/s")
    print(f"  ratio numpy/vinnp (median): {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
