"""The VIN training step on a CUDA GPU (vinnp.cuda) against the fused CPU step, checked then timed.

One step = the VIN loss over B sequences of T observations, its gradient by BPTT, and one
Adam update, as ``vinnp train`` runs it (``vinnp.training.fused.make_stepper`` on the CPU,
``vinnp.cuda.make_cuda_stepper`` with ``--device cuda``).

Check first (``--no-check`` skips it): for VIN-SV and VIN-VV, d = 1 and 2, and a small and a
multi-block batch (B = 3 and 300, so the grids have one and several blocks), three GPU steps
from the same start must equal three CPU steps: float64 to relative 1e-10 (loss, parameters,
Adam's m and v), float32 on the GPU to 1e-4 of the float64 CPU step. A mismatch stops the run
(exit 1): the two would not be timing the same computation.

Then timing, VIN-VV, d = 1, the paper's 200 tanh units, T = 31 (3 s at h = 0.1), float32 by
default, for each B in ``--seqs``: both steppers in one process, interleaved in rounds after
warm-up; median and min over the repeats and the ratio CPU / GPU. The GPU time includes what
``vinnp train`` pays per step: copying parameters and Adam's state to the device and back.

    python benchmarks/bench_cuda_step.py [--seqs 25,250,2500,25000] [--repeats 20] [--json]

Needs a CUDA GPU and numba.cuda (the ``cuda`` extra). Under NUMBA_ENABLE_CUDASIM=1 it runs in
the simulator, where only the check is meaningful and every size must be tiny, e.g.
``--check-seqs 3,130 --T 5 --hidden 6 --seqs 4 --repeats 2`` (about 5 minutes on 2 cores).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seqs", default="25,250,2500,25000", help="comma-separated batch sizes B to time")
    ap.add_argument("--T", type=int, default=31, help="observations per sequence (default 31)")
    ap.add_argument("--hidden", type=int, default=200, help="tanh units of the potential (default 200)")
    ap.add_argument("--repeats", type=int, default=20, help="timed steps per implementation (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per implementation first (default 3)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--check-seqs", default="3,300", help="batch sizes of the equality check (default 3,300)")
    ap.add_argument("--no-check", action="store_true", help="skip the equality check")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = ap.parse_args(argv)
    try:
        args.seqs = [int(s) for s in args.seqs.split(",") if s]
        args.check_seqs = [int(s) for s in args.check_seqs.split(",") if s]
    except ValueError:
        ap.error("--seqs and --check-seqs: expected comma-separated positive integers")
    if min(args.seqs + args.check_seqs + [args.T - 1, args.hidden, args.repeats]) < 1:
        ap.error("--seqs, --check-seqs, --hidden and --repeats must be at least 1, --T at least 2")
    if args.warmup < 0:
        ap.error("--warmup must be at least 0")
    return args


def setup(name, d, B, T, hidden, seed):
    """A VIN with B sequences, a random batch and a perturbed start (all float64)."""
    from vinnp.models.registry import make_model

    rng = np.random.default_rng(seed)
    t = 0.1 * np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, (B, 1, d))
    amp = rng.uniform(0.5, 1.5, (B, 1, d))
    batch = {"q": amp * np.sin(t[None, :, None] + phase) + 0.1 * rng.standard_normal((B, T, d)),
             "p": amp * np.cos(t[None, :, None] + phase) + 0.1 * rng.standard_normal((B, T, d))}
    model = make_model(name, d, 0.1, n_seq=B, hidden=(hidden,))
    start = model.init(rng, batch)
    start += 0.01 * rng.standard_normal(start.size)
    return model, batch, start


def stepper(model, batch, start, dtype, gpu, lr=1e-3):
    from vinnp.cuda import make_cuda_stepper
    from vinnp.optim import Adam
    from vinnp.training.fused import make_stepper

    params = start.astype(dtype)
    opt = Adam(params.size, lr=lr, dtype=dtype)
    data = {k: v.astype(dtype) for k, v in batch.items()}
    step = (make_cuda_stepper if gpu else make_stepper)(model, data, opt)
    if step is None:
        raise SystemExit(f"{model.name}: not covered by the {'GPU' if gpu else 'CPU'} step")
    return step, params, opt


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


def check(args):
    """Three steps on each side from one start; returns the rows and whether all agree."""
    rows, ok = [], True
    for name in ("vin-sv", "vin-vv"):
        for d in (1, 2):
            for B in args.check_seqs:
                model, batch, start = setup(name, d, B, args.T, args.hidden, seed=100 * d + B)
                ref_step, ref_p, ref_opt = stepper(model, batch, start, np.float64, False)
                ref_loss = [ref_step(ref_p) for _ in range(3)]
                for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
                    step, p, opt = stepper(model, batch, start, dtype, True)
                    loss = [step(p) for _ in range(3)]
                    err = {"loss": rel(ref_loss, loss), "params": rel(ref_p, p),
                           "m": rel(ref_opt.m, opt.m), "v": rel(ref_opt.v, opt.v)}
                    good = all(e <= tol for e in err.values()) and opt.t == ref_opt.t == 3  # NaN fails
                    ok &= good
                    rows.append({"model": name, "d": d, "B": B, "dtype": np.dtype(dtype).name, "tol": tol,
                                 **err, "ok": good})
                    print(f"check {name} d={d} B={B:>4} {np.dtype(dtype).name}: "
                          + " ".join(f"{k} {v:.1e}" for k, v in err.items())
                          + ("  ok" if good else f"  FAIL (tol {tol:g})"), flush=True)
    return rows, ok


def time_one(args, B):
    dtype = np.dtype(args.dtype)
    model, batch, start = setup("vin-vv", 1, B, args.T, args.hidden, seed=B)
    sides = {"cpu": stepper(model, batch, start, dtype, False), "gpu": stepper(model, batch, start, dtype, True)}
    for step, p, _ in sides.values():
        for _ in range(args.warmup):
            step(p)
    times = {k: [] for k in sides}
    for r in range(args.repeats):
        for k in (("cpu", "gpu") if r % 2 == 0 else ("gpu", "cpu")):
            step, p, _ = sides[k]
            t0 = time.perf_counter()
            loss = step(p)
            times[k].append(time.perf_counter() - t0)
            if not np.isfinite(loss):
                raise SystemExit(f"B={B}: non-finite loss on the {k} side")
    row = {"B": B, "T": args.T, "hidden": args.hidden, "dtype": dtype.name}
    for k, ts in times.items():
        row[f"{k}_median_ms"] = 1e3 * statistics.median(ts)
        row[f"{k}_min_ms"] = 1e3 * min(ts)
    row["cpu_over_gpu"] = row["cpu_median_ms"] / row["gpu_median_ms"]
    return row


def main(argv=None):
    args = parse_args(argv)
    from numba import config

    from vinnp.cuda import available

    why = available()
    if why is not None:
        raise SystemExit(f"no CUDA step here: {why}")
    from numba import cuda

    device = "the CUDA simulator" if config.ENABLE_CUDASIM else cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else device
    print(f"GPU: {device}; CPU: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Numba threads {config.NUMBA_NUM_THREADS}", flush=True)
    out = {"device": device, "numba_threads": config.NUMBA_NUM_THREADS, "check": [], "timing": []}
    if not args.no_check:
        out["check"], ok = check(args)
        if not ok:
            print(json.dumps(out) if args.json else "the GPU step differs from the CPU step", file=sys.stderr)
            return 1
    print(f"{'B':>6} {'CPU ms (median/min)':>20} {'GPU ms (median/min)':>20} {'CPU/GPU':>8}", flush=True)
    for B in args.seqs:
        row = time_one(args, B)
        out["timing"].append(row)
        print(f"{B:>6} {row['cpu_median_ms']:>11.3f} / {row['cpu_min_ms']:<7.3f} "
              f"{row['gpu_median_ms']:>11.3f} / {row['gpu_min_ms']:<7.3f} {row['cpu_over_gpu']:>8.2f}", flush=True)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
