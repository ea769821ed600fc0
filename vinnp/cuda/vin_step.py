"""The fused VIN training step (vinnp.training.fused) on a CUDA GPU, through numba.cuda.

``make_cuda_stepper(model, batch, opt)`` has ``make_stepper``'s contract: it returns a step
whose ``__call__(params)`` does loss, gradient and Adam in place and returns the loss (NaN:
not finite, and nothing changed), or None for a model it does not cover. Covered: the VINs
whose integrator declares GPU kernels (its ``cuda`` module, vinnp/cuda/<integrator>.py: today
Stormer-Verlet and velocity Verlet) with a fixed mass, a potential with one hidden tanh layer
(any d, any width), float32 and float64, no gradient clipping. The shared kernels are in vinnp.cuda.kernels.

Parallelism is one GPU thread per trajectory (the rollout and its BPTT are sequential in
time), so the GPU pays off for many sequences (multiple-shooting windows by the thousand),
not for the paper's 25.

Host and device: every call copies params, Adam's m and v to the GPU and, after the step,
back into the same host arrays (a few contiguous copies of one flat vector, no allocation on
the device: every buffer is made once here). After ``__call__`` returns, params, opt.m, opt.v
and opt.t hold the new values exactly as the CPU step leaves them, so checkpoints, validation
and ``opt.load_state`` need no extra call; ``sync()`` exists for a later device-resident
variant and does nothing now.

numba.cuda comes from the ``numba-cuda`` package (the ``cuda`` extra; it replaces the
deprecated target built into numba) or, failing that, numba's built-in one. With
NUMBA_ENABLE_CUDASIM=1 it runs the same kernels in Numba's CUDA simulator, on the CPU, which
is how the tests check them without a GPU.
"""

import importlib
import math
import re
import warnings

import numpy as np

from vinnp.optim import Stepper

_MAX_TPB = 128       # threads per block of the per-trajectory and per-parameter kernels
_FINISH_TPB = 256    # threads of the one-block finish kernel


def available():
    """None if CUDA steps can run here (a usable GPU, or the simulator under
    NUMBA_ENABLE_CUDASIM=1), else one readable line saying why not."""
    try:
        from numba import cuda
    except Exception as exc:  # ImportError, or a broken numba-cuda install failing at import
        return (f"numba.cuda cannot be imported ({type(exc).__name__}: {exc}); "
                f"install the GPU extra: pip install 'vinnp[cuda]'")
    from numba.core import config

    if config.ENABLE_CUDASIM:
        return None
    try:
        if cuda.is_available():
            return None
        why = cuda.cuda_error()
    except Exception as exc:  # driver probing itself failed
        why = exc
    why = " ".join(str(why or "").split()) or "no CUDA-capable device was found"
    return f"no usable CUDA GPU ({why})"


def covers(model, opt):
    """Whether make_cuda_stepper has kernels for ``model`` trained by ``opt`` (no CUDA needed)."""
    if opt.clip_norm > 0 or opt.m.dtype not in (np.float32, np.float64):
        return False
    if model.family != "vin" or model.cell.spec.cuda is None or model.cell.mass.learned:
        return False
    net = model.cell.net
    return len(net.sizes) == 3 and net.sizes[-1] == 1 and list(net.activations) == ["tanh", "identity"]


def _pow2(n, cap):
    """The least power of two >= n, at most cap (block sizes: tiny batches get tiny blocks,
    which also keeps the simulator, one Python thread per CUDA thread, quick)."""
    p = 1
    while p < n and p < cap:
        p *= 2
    return p


class CudaStepper(Stepper):
    """fused.Stepper on a GPU: ``step(params)`` -> loss; ``device`` names where it runs."""

    def __init__(self, run, opt, device):
        super().__init__(run, opt)
        self.device = device

    def sync(self):
        """Host arrays are brought up to date inside every call: nothing to do."""


def make_cuda_stepper(model, batch, opt):
    """A CUDA step for ``model`` on ``batch`` with ``opt``, or None where not covered (see
    ``covers``). Raises RuntimeError, one line, where CUDA cannot run: ``available()``'s
    reason, or why allocating, compiling or launching the kernels failed."""
    if not covers(model, opt):
        return None
    why = available()
    if why is not None:
        raise RuntimeError(f"CUDA step unavailable: {why}")
    try:
        return _cuda_stepper(model, batch, opt)
    except ValueError:  # the batch does not fit the model: the caller's error, not the GPU's
        raise
    except Exception as exc:  # a driver or memory error, or a numba-cuda that cannot compile here
        msg = re.sub(r"\x1b\[[0-9;]*m", "", " ".join(str(exc).split()))  # numba bolds its errors
        if len(msg) > 300:
            msg = msg[:297] + "..."
        raise RuntimeError(f"CUDA step unavailable: numba.cuda could not allocate, compile or launch "
                           f"the kernels ({type(exc).__name__}: {msg})") from exc


def _cuda_stepper(model, batch, opt):
    from numba import cuda
    from numba.core import config

    unit = importlib.import_module(model.cell.spec.cuda)  # the integrator's traj kernel (vinnp/cuda/<name>.py)
    dtype = opt.m.dtype
    cell, layout = model.cell, model.layout
    y = np.stack([batch["q"], batch["p"]], axis=2).astype(dtype)
    B, T, _, d = y.shape
    if B != model.n_seq:
        raise ValueError(f"batch: expected {model.n_seq} sequences, got {B}")
    w_off, b_off, sizes, _, _ = cell.net.kernel_args(layout, "cell.net")
    w1, b1, w2, H = int(w_off[0]), int(b_off[0]), int(w_off[1]), int(sizes[1])
    x1_off, lv_off = layout.slice("x1").start, layout.slice("log_var").start
    n = layout.size
    # the layout is [network (from 0), x1, log_var]: the kernels write every gradient entry
    # (network by ``reduce``, x1 by ``traj``, log_var by ``finish``) and zero nothing
    if w1 != 0 or int(b_off[1]) + 1 != x1_off or lv_off != x1_off + B * 2 * d or lv_off + 1 != n:
        raise ValueError("model: unexpected VIN parameter layout for the CUDA step")
    minv, m = cell.matrices(layout.zeros(dtype), layout, "cell")
    tpb = _pow2(B, _MAX_TPB)
    tpb_reduce = _pow2(B, _MAX_TPB)
    tpb_finish = _pow2(n, _FINISH_TPB)
    tpb_adam = _pow2(n, _MAX_TPB)
    traj, shared = unit.build(dtype.name, d, tpb_reduce, tpb_finish)
    reduce, finish, adam = shared.reduce, shared.finish, shared.adam

    # device buffers, once; scratch has the trajectory index last (coalesced, see kernels)
    dev = {
        "theta": cuda.device_array(n, dtype), "m": cuda.device_array(n, dtype),
        "v": cuda.device_array(n, dtype), "k": cuda.device_array(7, dtype),
        "grad": cuda.device_array(n, dtype), "pg": cuda.device_array((x1_off, B), dtype),
        "ssb": cuda.device_array(B, np.float64), "out": cuda.device_array(1, np.float64),
        "y": cuda.to_device(np.ascontiguousarray(y.transpose(1, 2, 3, 0))),   # (T, 2, d, B)
        "minv": cuda.to_device(minv), "mm": cuda.to_device(m),
    }
    scratch = [cuda.device_array(shape, dtype) for shape in unit.scratch_shapes(T, d, B)]
    out = np.empty(1, np.float64)
    h = dtype.type(cell.h)
    N = dtype.type(B * T * 2 * d)
    head = (dev["theta"], dev["minv"], dev["mm"], h, dev["y"], x1_off, lv_off, w1, b1, w2, H, N)
    tail = (dev["pg"], dev["ssb"], dev["grad"])
    grid_b = (B + tpb - 1) // tpb
    grid_n = (n + tpb_adam - 1) // tpb_adam

    def run(params, am, av, k):
        for name, a in (("params", params), ("opt.m", am), ("opt.v", av)):
            if a.shape != (n,) or a.dtype != dtype or not a.flags.c_contiguous:
                raise ValueError(f"{name}: expected a contiguous {dtype} vector of {n} entries")
        dev["theta"].copy_to_device(params)
        dev["m"].copy_to_device(am)
        dev["v"].copy_to_device(av)
        dev["k"].copy_to_device(k)
        with warnings.catch_warnings():
            # small grids (a few dozen trajectories) are expected here: no occupancy lecture.
            # Matched by text: numba-cuda raises its own NumbaPerformanceWarning class, not
            # numba.core.errors' (seen on an H200 with numba-cuda 0.30), and bolds the message.
            warnings.filterwarnings("ignore", message=r".*Grid size \d+ will likely result in GPU under-utilization")
            traj[grid_b, tpb](*head, *scratch, *tail)
            reduce[x1_off, tpb_reduce](dev["pg"], dev["grad"])
            finish[1, tpb_finish](dev["theta"], dev["grad"], dev["ssb"], lv_off, N, dev["out"])
            adam[grid_n, tpb_adam](dev["theta"], dev["grad"], dev["m"], dev["v"], dev["k"], dev["out"])
        dev["out"].copy_to_host(out)
        loss = float(out[0])
        if math.isfinite(loss):
            dev["theta"].copy_to_host(params)
            dev["m"].copy_to_host(am)
            dev["v"].copy_to_host(av)
        return loss

    # compile and launch once now, on scratch vectors: numba.cuda compiles at the first launch,
    # and a numba-cuda that cannot compile here (one built for an older NumPy, say) must be a
    # readable reason before training starts, not a traceback at its first step. Adam's
    # constants (beta1 0, beta2 0, lr 0, eps 1) keep the scratch update finite.
    scratch_k = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0], dtype)
    run(np.zeros(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype), scratch_k)
    where = "the CUDA simulator" if config.ENABLE_CUDASIM else cuda.get_current_device().name
    if isinstance(where, bytes):
        where = where.decode()
    return CudaStepper(run, opt, where)
