"""Rendering throughput of the 28×28 rasteriser (issue 3: 10 000 frames well under a second).

    NUMBA_NUM_THREADS=1 python benchmarks/bench_render.py [--frames 10000] [--repeats 5]

Prints, per system, the best wall time of ``render_frames`` over the repeats
(after one call that compiles or loads the cached kernel) and frames per second.
"""

import argparse
import time

import numpy as np

from vinnp.data.pixels import render_frames


def bench(name, q, repeats):
    render_frames(name, q[:2])  # compile / load the Numba cache outside the timing
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        frames = render_frames(name, q)
        best = min(best, time.perf_counter() - start)
    assert frames.shape == q.shape + (28, 28)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # configurations over the default energy ranges: pendulum |q| <= 40.4°, spring |q| <= √2
    cases = {"pendulum": rng.uniform(-0.705, 0.705, args.frames), "spring": rng.uniform(-1.414, 1.414, args.frames)}
    for name, q in cases.items():
        seconds = bench(name, q, args.repeats)
        print(f"{name:8s} {args.frames} frames in {seconds * 1e3:7.1f} ms  ->  {args.frames / seconds:10,.0f} frames/s")


if __name__ == "__main__":
    main()
