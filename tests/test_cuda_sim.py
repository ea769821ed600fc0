"""The CUDA training step (vinnp.cuda) against the CPU fused step, in Numba's CUDA simulator.

NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported, and this pytest
process may already have imported it (or must not be switched into simulator mode for the
other tests), so the kernels run in a child process with the variable set in its
environment. One child does every simulated case: it compiles the CPU step once (float64)
and keeps sizes tiny, since the simulator runs each CUDA thread as a Python thread.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SIM_CHILD = r"""
import json, sys
try:
    from numba import cuda  # noqa: F401
except Exception as exc:
    print(json.dumps({"skip": f"numba.cuda cannot be imported ({type(exc).__name__}: {exc})"}))
    sys.exit(0)
import numpy as np
from vinnp.cuda import available, make_cuda_stepper
from vinnp.models.registry import make_model
from vinnp.optim import Adam
from vinnp.training.fused import make_stepper

B, T, H = 3, 6, 5
out = {"available": available(), "cases": {}}

def setup(name, d, seed):
    rng = np.random.default_rng(seed)
    batch = {"q": rng.standard_normal((B, T, d)), "p": 0.5 * rng.standard_normal((B, T, d))}
    model = make_model(name, d, 0.1, n_seq=B, hidden=(H,))
    start = model.init(rng, batch)
    start += 0.05 * rng.standard_normal(start.size)
    return model, batch, start

def run(model, batch, start, dtype, cuda_step):
    params = start.astype(dtype)
    opt = Adam(params.size, lr=1e-2, dtype=dtype)
    data = {k: v.astype(dtype) for k, v in batch.items()}
    step = (make_cuda_stepper if cuda_step else make_stepper)(model, data, opt)
    losses = [float(step(params)) for _ in range(3)]
    return losses, params.astype(np.float64), opt, step

def compare(ref, new):
    (la, a, oa, _), (lb, b, ob, _) = ref, new
    return {"loss": max(abs(x - y) / abs(x) for x, y in zip(la, lb)),
            "params": float(np.max(np.abs(a - b)) / np.abs(a).max()),
            "m": float(np.max(np.abs(oa.m - ob.m)) / np.abs(oa.m).max()),
            "v": float(np.max(np.abs(oa.v - ob.v)) / np.abs(oa.v).max()),
            "t": [oa.t, ob.t]}

for name in ("vin-sv", "vin-vv"):
    for d in (1, 2):
        model, batch, start = setup(name, d, 10 * d + len(name))
        ref = run(model, batch, start, np.float64, False)
        res = compare(ref, run(model, batch, start, np.float64, True))
        out["cases"][f"{name}-d{d}-float64"] = res
        if d == 2:  # float32 kernels against the float64 CPU step (no float32 CPU compile)
            out["cases"][f"{name}-d{d}-float32"] = compare(ref, run(model, batch, start, np.float32, True))

# a non-finite loss (exp(-log_var) overflows) changes nothing and returns NaN
model, batch, start = setup("vin-vv", 1, 0)
start[model.layout.slice("log_var")] = -1e6
params, opt = start.copy(), Adam(start.size)
step = make_cuda_stepper(model, batch, opt)
loss = step(params)
out["nonfinite"] = {"loss_is_nan": bool(np.isnan(loss)), "unchanged": bool(np.array_equal(params, start)),
                    "t": opt.t, "m_zero": not opt.m.any(), "device": step.device}

# kernels that cannot compile (numba-cuda 0.30 under NumPy 2.5 fails so at the first launch):
# make_cuda_stepper says so in one RuntimeError before any training step
import importlib, types
unit = importlib.import_module(model.cell.spec.cuda)  # the integrator's GPU kernels

class Uncompilable:
    def __getitem__(self, launch):
        def go(*args):  # numba's own errors come bolded, and can run to pages
            raise AttributeError("\x1b[1mmodule 'numpy' has no attribute 'row_stack'\x1b[0m" + " x" * 400)
        return go

real_build = unit.build
unit.build = lambda *args: (Uncompilable(), types.SimpleNamespace(reduce=Uncompilable(), finish=Uncompilable(),
                                                                  adam=Uncompilable()))
try:
    make_cuda_stepper(model, batch, Adam(start.size))
    out["uncompilable"] = None
except RuntimeError as exc:
    out["uncompilable"] = str(exc)
unit.build = real_build
print(json.dumps(out))
"""

NO_GPU_CHILD = r"""
import json, sys
if sys.argv[1] == "blocked":
    sys.modules["numba.cuda"] = None  # as if numba.cuda (built-in or numba-cuda) were missing
else:
    try:
        from numba import cuda
        if cuda.is_available():
            print(json.dumps({"gpu": True}))
            sys.exit(0)
    except ImportError:
        pass
import numpy as np
from vinnp.cuda import available, make_cuda_stepper
from vinnp.models.registry import make_model
from vinnp.optim import Adam

why = available()
model = make_model("vin-sv", 1, 0.1, n_seq=2, hidden=(4,))
batch = {"q": np.zeros((2, 5, 1)), "p": np.zeros((2, 5, 1))}
try:
    make_cuda_stepper(model, batch, Adam(model.layout.size))
    raised = None
except RuntimeError as exc:
    raised = str(exc)
# not covered: no kernels for it, so None whether or not CUDA is there
deep = make_model("vin-sv", 1, 0.1, n_seq=2, hidden=(4, 3))
learned = make_model("vin-vv", 1, 0.1, n_seq=2, learn_mass=True)
uncovered = [make_cuda_stepper(m, batch, Adam(m.layout.size)) is None for m in (deep, learned)]
uncovered.append(make_cuda_stepper(model, batch, Adam(model.layout.size, clip_norm=1.0)) is None)
print(json.dumps({"gpu": False, "why": why, "raised": raised, "uncovered": uncovered}))
"""


def _child(code, sim, *args):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"child failed:\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sim():
    out = _child(SIM_CHILD, True)
    if "skip" in out:
        pytest.skip(out["skip"])
    return out


@pytest.mark.parametrize("case", ["vin-sv-d1", "vin-sv-d2", "vin-vv-d1", "vin-vv-d2"])
def test_cuda_step_is_the_cpu_fused_step(sim, case):
    """Three CUDA steps (simulated) equal three CPU fused steps: losses, parameters, Adam state."""
    res = sim["cases"][f"{case}-float64"]
    assert res["loss"] <= 1e-12
    assert res["params"] <= 1e-12
    assert res["m"] <= 1e-12 and res["v"] <= 1e-12
    assert res["t"] == [3, 3]


@pytest.mark.parametrize("case", ["vin-sv-d2", "vin-vv-d2"])
def test_float32_kernels_track_float64(sim, case):
    res = sim["cases"][f"{case}-float32"]
    assert res["loss"] <= 1e-5
    assert res["params"] <= 1e-5
    assert res["t"] == [3, 3]


def test_simulator_counts_as_available_and_a_nonfinite_step_changes_nothing(sim):
    assert sim["available"] is None
    nf = sim["nonfinite"]
    assert nf["loss_is_nan"] and nf["unchanged"] and nf["t"] == 0 and nf["m_zero"]
    assert nf["device"] == "the CUDA simulator"


def test_kernels_that_cannot_compile_are_one_readable_reason(sim):
    msg = sim["uncompilable"]
    assert msg is not None and "\n" not in msg
    assert msg.startswith("CUDA step unavailable: numba.cuda could not allocate, compile or launch the kernels")
    assert "AttributeError: module 'numpy' has no attribute 'row_stack' x x" in msg
    assert "\x1b" not in msg and len(msg) < 500


@pytest.mark.parametrize("how", ["no-gpu", "blocked"])
def test_without_cuda_available_says_why(how):
    """No GPU and no simulator (or no numba.cuda at all): a one-line reason, not an exception;
    make_cuda_stepper raises it for a covered model and returns None for the others."""
    out = _child(NO_GPU_CHILD, False, how)
    if out["gpu"] and how == "no-gpu":  # "blocked" hides numba.cuda itself, so it is testable anywhere
        pytest.skip("a CUDA GPU is usable here: the no-GPU message cannot be produced")
    why = out["why"]
    assert isinstance(why, str) and why and "\n" not in why
    assert ("cannot be imported" in why) if how == "blocked" else ("no usable CUDA GPU" in why)
    assert out["raised"] is not None and why in out["raised"]
    assert out["uncovered"] == [True, True, True]
