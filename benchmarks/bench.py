"""vinnp against PyTorch and JAX on the same work, side by side (issue 6).

    python benchmarks/bench.py [--threads 1] [--workloads W1,W2,W3] [--batch 25,250,2500]
                               [--d 1,4,16] [--dtype float32,float64] [--impls ...] [--json]

(`vinnp bench` runs this file with the same arguments.) For every case (workload, batch,
d, dtype) each implementation builds its step once (compile or trace time reported
apart), is checked against vinnp's loss and gradient in float64 at a small batch, and then
all of them are timed in the same process, interleaved round by round (the order rotates
each round), so that they see the same machine state. Reported: min and median of the
repeats, the ratio of each peer's median to vinnp's, and achieved GFLOP/s against this
machine's measured float32 GEMM rate.

Thread pinning happens here, before numpy, numba, torch or jax is imported: the *_NUM_THREADS
variables for BLAS, OpenMP and Numba, and XLA's single-thread flags (peers_jax). The runtime
gives what the VM gives: the number of CPUs this process may use is printed with the table.
"""

import argparse
import os
import sys

IMPLS = ("vinnp", "torch", "torch-compile", "jax", "jax-unrolled")
CHECK_TOL = 1e-6


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one readable line and exit 2, as every vinnp command
        print(f"vinnp bench: error: {message}", file=sys.stderr)
        sys.exit(2)


def _parse(argv):
    ap = _Parser(prog="vinnp bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--batch", default="25,250,2500", help="W1/W2 trajectories (W3 uses --pixel-batch)")
    ap.add_argument("--d", default="1,4,16", help="configuration dimensions (W1/W2)")
    ap.add_argument("--dtype", default="float32,float64")
    ap.add_argument("--pixel-batch", type=int, default=50)
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--cell", default="vin-sv",
                    help="W1's integrator (any --model of vinnp train; the peers implement vin-sv only)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of tables")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0 or args.pixel_batch < 1:
        ap.error("--threads, --repeats and --pixel-batch must be >= 1, --warmup >= 0")
    try:
        args.batch = [int(b) for b in args.batch.split(",")]
        args.d = [int(x) for x in args.d.split(",")]
    except ValueError:
        ap.error("--batch and --d take comma-separated integers")
    if min(args.batch) < 1 or min(args.d) < 1:
        ap.error("--batch and --d must be >= 1")
    args.workloads = args.workloads.split(",")
    args.dtype = args.dtype.split(",")
    args.impls = args.impls.split(",")
    for name, given, allowed in (("--workloads", args.workloads, ("W1", "W2", "W3")),
                                 ("--dtype", args.dtype, ("float32", "float64")),
                                 ("--impls", args.impls, IMPLS)):
        bad = [g for g in given if g not in allowed]
        if bad:
            ap.error(f"{name}: unknown {', '.join(bad)}; expected from {', '.join(allowed)}")
    if args.cell != "vin-sv" and set(args.impls) != {"vinnp"}:
        ap.error(f"--cell: the PyTorch and JAX peers implement vin-sv only; time {args.cell} with --impls vinnp")
    return args


def _pin_threads(n):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    _pin_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import json
    import time

    import numpy as np

    import workloads as W

    peers = _load_peers(args.impls)
    info = _machine(args.threads, peers)
    gemm = _gemm_rate(np)
    info["gemm_gflops_f32"] = round(gemm, 1)
    rows, checks = [], {}
    for case in _cases(args):
        workload, batch, d, dtype = case
        problem = W.make_problem(workload, batch, d, np.dtype(dtype), cell=args.cell)
        steps, compile_s = {}, {}
        for impl in args.impls:
            reason = _usable(impl, peers, workload)
            if reason:
                _note(args, f"{workload} b{batch} d{d} {dtype}: {impl} skipped: {reason}")
                continue
            key = (workload, d, impl)
            if impl != "vinnp" and key not in checks:
                checks[key] = _check(W, np, peers[impl], impl, workload, d)
                if not checks[key]["ok"]:
                    _note(args, f"{workload} d{d}: {impl} does not match vinnp ({checks[key]}); not timed")
            if impl != "vinnp" and not checks[key]["ok"]:
                continue
            try:
                t0 = time.perf_counter()
                step, c = _vinnp_step(W, problem) if impl == "vinnp" else peers[impl].make_step(impl, problem)
                compile_s[impl] = c if impl != "vinnp" else time.perf_counter() - t0
                steps[impl] = step
            except Exception as exc:  # a peer that cannot build this case is reported, not fatal
                _note(args, f"{workload} b{batch} d{d} {dtype}: {impl} failed to build: {exc}")
        times = _interleave(steps, args.warmup, args.repeats, time)
        flops = W.flops(problem)
        base = np.median(times["vinnp"]) if "vinnp" in times else None
        for impl, ts in times.items():
            med, best = float(np.median(ts)), float(np.min(ts))
            rows.append({"workload": workload, "impl": impl, "batch": batch, "d": d, "dtype": dtype,
                         "threads": args.threads, "median_ms": round(1e3 * med, 4), "min_ms": round(1e3 * best, 4),
                         "compile_s": round(compile_s[impl], 3),
                         "ratio_to_vinnp": round(med / base, 3) if base else None,
                         "gflops": round(flops / best / 1e9, 2), "gemm_fraction": round(flops / best / 1e9 / gemm, 3)})
        _note(args, f"{workload} b{batch} d{d} {dtype}: " + ", ".join(
            f"{r['impl']} {r['median_ms']:.3f} ms" for r in rows[-len(times):]))
    if args.json:
        keys = ("workload", "impl", "batch", "d", "dtype", "threads", "median_ms", "min_ms", "compile_s")
        print(json.dumps([{k: r[k] for k in keys} for r in rows], indent=1))
    else:
        print(_report(info, rows, checks, args))
    return 0


def _load_peers(impls):
    mods = {}
    for impl in impls:
        if impl == "vinnp":
            continue
        name = "peers_torch" if impl.startswith("torch") else "peers_jax"
        try:
            mods[impl] = __import__(name)
        except Exception as exc:  # jax or torch missing: report it per implementation
            mods[impl] = exc
    return mods


def _usable(impl, peers, workload):
    if impl == "vinnp":
        return None
    mod = peers[impl]
    if isinstance(mod, Exception):
        return f"cannot import its module ({mod}); install the bench extra: pip install -e '.[bench]'"
    return mod.available(impl)


def _vinnp_step(W, problem):
    """vinnp's step as `vinnp train` runs it: the fused step where the model has one."""
    from vinnp.optim import Adam
    from vinnp.training.fused import make_stepper

    if problem["workload"] != "W3":
        params = problem["params"].copy()
        opt = Adam(params.size, lr=problem["lr"], dtype=params.dtype)
        fused = make_stepper(problem["model"], problem["inputs"], opt)
        if fused is not None:
            return (lambda: fused(params)), 0.0
    return W.vinnp_step(problem), 0.0


def _check(W, np, peer, impl, workload, d):
    """Loss and gradient of the peer against vinnp, float64, small batch."""
    widths = dict(enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=(5,)) if workload == "W3" else None
    problem = W.make_problem(workload, 2 if workload == "W3" else 3, d if workload != "W3" else 1, np.float64,
                             seed=7, widths=widths)
    want_l, want_g = W.vinnp_loss_and_grad(problem)
    try:
        got_l, got_g = peer.loss_and_grad(impl, problem)
    except Exception as exc:
        return {"ok": False, "error": str(exc)}
    rel_l = abs(got_l - want_l) / max(abs(want_l), 1e-300)
    rel_g = float(np.max(np.abs(np.asarray(got_g) - want_g)) / max(np.max(np.abs(want_g)), 1e-300))
    return {"ok": bool(rel_l <= CHECK_TOL and rel_g <= CHECK_TOL), "loss_rel": rel_l, "grad_rel": rel_g}


def _interleave(steps, warmup, repeats, time):
    order = list(steps)
    for impl in order:
        for _ in range(warmup):
            steps[impl]()
    times = {impl: [] for impl in order}
    for r in range(repeats):
        k = r % max(len(order), 1)
        for impl in order[k:] + order[:k]:  # rotate who goes first
            t0 = time.perf_counter()
            steps[impl]()
            times[impl].append(time.perf_counter() - t0)
    return times


def _cases(args):
    for workload in args.workloads:
        for dtype in args.dtype:
            if workload == "W3":
                yield workload, args.pixel_batch, 1, dtype
                continue
            for d in args.d:
                for batch in args.batch:
                    yield workload, batch, d, dtype


def _gemm_rate(np):
    """Best float32 GEMM rate of numpy's BLAS here, GFLOP/s (1000^3 products, min of 7)."""
    import time

    a = np.random.default_rng(0).standard_normal((1000, 1000)).astype(np.float32)
    a @ a
    best = min(_timed(time, lambda: a @ a) for _ in range(7))
    return 2e9 / best / 1e9


def _timed(time, fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _machine(threads, peers):
    import datetime
    import platform

    import numba
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__}
    for name in ("torch", "jax"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:
            versions[name] = "not installed"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"date": datetime.date.today().isoformat(), "cpu": cpu, "cpus_usable": usable,
            "threads": threads, "versions": versions}


def _note(args, msg):
    print(msg, file=sys.stderr, flush=True)


def _report(info, rows, checks, args):
    v = info["versions"]
    lines = [f"machine: {info['cpu']}, {info['cpus_usable']} CPUs usable; threads pinned: {info['threads']}; "
             f"{info['date']}",
             "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
             f"float32 GEMM (numpy, 1000^3): {info['gemm_gflops_f32']} GFLOP/s",
             "checks (float64, small batch, vs vinnp): " + ", ".join(
                 f"{w} d{d} {impl}: {'ok' if c['ok'] else 'FAILED'}"
                 + (f" ({max(c['loss_rel'], c['grad_rel']):.1e})" if "loss_rel" in c else "")
                 for (w, d, impl), c in sorted(checks.items())),
             "",
             "| workload | batch | d | dtype | impl | median ms | min ms | x vinnp (median) | GFLOP/s | of GEMM | compile s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "" if r["ratio_to_vinnp"] is None else f"{r['ratio_to_vinnp']:.2f}"
        lines.append(f"| {r['workload']} | {r['batch']} | {r['d']} | {r['dtype']} | {r['impl']} | {r['median_ms']:.3f} "
                     f"| {r['min_ms']:.3f} | {ratio} | {r['gflops']:.2f} | {r['gemm_fraction']:.0%} | "
                     f"{r['compile_s']:.1f} |")
    lines.append("")
    lines.append("x vinnp: the peer's median time over vinnp's (above 1: vinnp is faster).")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
