"""The three benchmark workloads of issue 6, defined once for vinnp and every peer.

* W1: one VIN-SV training step on noisy phase-space data: potential MLP d -> 200 tanh -> 1,
  h = 0.1, ``batch`` trajectories of 30 steps, Gaussian NLL with a learned variance (the mean
  over every observed scalar, vinnp.layers.losses.mean_gaussian_nll), the full gradient
  through dU/dq (second order), one Adam update (lr 1e-3).
* W2: one HNN training step on the same data: H_theta MLP 2d -> 200 tanh -> 1, vector field
  (dH/dp, -dH/dq) against the noisy derivative observations, same likelihood and Adam.
* W3: one step of the pendulum VIN-VV pixel autoencoder (Appendix C.2 widths), ``batch``
  windows of 10 frames, negative ELBO, Adam at lr 3e-4 (``d`` must be 1).

A *problem* is a dict: ``workload``, ``model`` (the vinnp model), ``params`` (the flat
starting vector, in vinnp's layout order), ``inputs`` (dict of NumPy arrays), ``lr``,
``dtype``, ``batch``, ``d``. Every implementation starts from ``params`` and must return
gradients as one flat vector in that same order, so that the checks compare entry by entry.

Only numpy and vinnp are imported here; peers live in peers_torch.py / peers_jax.py.
"""

import numpy as np

WORKLOADS = ("W1", "W2", "W3")
T_STEPS = 30          # points per noisy trajectory (Appendix C.1's 3 s at 10 Hz)
HIDDEN = 200          # Appendix C.1
H_STEP = 0.1
LR = {"W1": 1e-3, "W2": 1e-3, "W3": 3e-4}


def _noisy_batch(rng, batch, d, dtype):
    """Noisy observations of `batch` uncoupled unit springs in d dimensions (q, p, dq/dt, dp/dt)."""
    t = H_STEP * np.arange(T_STEPS)
    amp = rng.uniform(0.6, 1.4, size=(batch, 1, d))
    phase = rng.uniform(0, 2 * np.pi, size=(batch, 1, d))
    q = amp * np.sin(t[None, :, None] + phase)
    p = amp * np.cos(t[None, :, None] + phase)
    noise = lambda: 0.1 * rng.standard_normal((batch, T_STEPS, d))  # noqa: E731
    return {"q": (q + noise()).astype(dtype), "p": (p + noise()).astype(dtype),
            "dqdt": (p + noise()).astype(dtype), "dpdt": (-q + noise()).astype(dtype)}


def make_problem(workload, batch, d, dtype=np.float32, seed=0, hidden=HIDDEN, widths=None, cell="vin-sv"):
    """The problem dict for one workload and size (see the module docstring).

    cell (W1 only): the integrator of the VIN step (any of vinnp.dynamics.registry; the
    PyTorch and JAX peers implement vin-sv).

    widths (W3 only): dict of PixelVIN widths to shrink the model for quick checks.
    """
    from vinnp.models.registry import make_model

    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    if workload in ("W1", "W2"):
        inputs = _noisy_batch(rng, batch, d, dtype)
        model = make_model(cell if workload == "W1" else "hnn", d, H_STEP, n_seq=batch, hidden=(hidden,))
        params = model.init(rng, inputs, dtype)
        params += (0.01 * rng.standard_normal(params.size)).astype(dtype)  # nonzero output bias, etc.
    elif workload == "W3":
        from vinnp.models.pixel_vae import PixelVIN

        if d != 1:
            raise ValueError("d: the pixel workload W3 has one latent coordinate (d = 1)")
        model = PixelVIN("vin-vv", 10, 1, **(widths or {}))
        params = model.init(rng, dtype)
        inputs = {"frames": rng.uniform(size=(batch, 10, 28, 28)).astype(dtype),
                  "eps": rng.standard_normal((batch, 2)).astype(dtype)}
    else:
        raise ValueError(f"workload: expected one of {', '.join(WORKLOADS)}, got {workload!r}")
    return {"workload": workload, "model": model, "params": params, "inputs": inputs, "lr": LR[workload],
            "dtype": dtype, "batch": batch, "d": d}


def vinnp_loss_and_grad(problem, params=None):
    """(loss, flat gradient) of vinnp at ``params`` (the problem's by default)."""
    params = problem["params"] if params is None else params
    if problem["workload"] == "W3":
        return problem["model"].loss_and_grad(params, problem["inputs"]["frames"], problem["inputs"]["eps"])
    return problem["model"].loss_and_grad(params, problem["inputs"])


def vinnp_step(problem):
    """-> a callable doing one training step (loss, gradient, Adam) on vinnp's own parameter copy."""
    from vinnp.optim import Adam

    params = problem["params"].copy()
    opt = Adam(params.size, lr=problem["lr"], dtype=params.dtype)

    def step():
        loss, grad = vinnp_loss_and_grad(problem, params)
        opt.step(params, grad)
        return loss

    step.params = params
    return step


def flops(problem):
    """Floating-point operations of one step, counted as 2 per multiply-add of the dense maths.

    W1/W2 count the network evaluations: the force (forward and reverse, 4 d H per
    sample-step) and its second-order backward (forward, reverse and their tangents plus the
    parameter gradient, ~12 d H); elementwise work is left out. W3 counts its matrix
    products (encoder, LSTM input projection, decoder; forward and backward).
    """
    B, d = problem["batch"], problem["d"]
    if problem["workload"] == "W1":
        n = B * T_STEPS
        return n * (4 + 12) * d * HIDDEN * 1.0
    if problem["workload"] == "W2":
        n = B * T_STEPS
        return n * (4 + 12) * 2 * d * HIDDEN * 1.0
    m = problem["model"]
    rows = B * m.T
    E, H, D = m.config["enc_hidden"], m.config["lstm_hidden"], m.config["dec_hidden"]
    enc = 2 * rows * (784 * E + E * E) * 3 - 2 * rows * 784 * E   # no input gradient for the frames
    lstm = 2 * rows * E * 4 * H * 3
    dec = 2 * rows * (m.dec_in * D + D * D + D * 784) * 3
    return float(enc + lstm + dec)
