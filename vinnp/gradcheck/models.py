"""Gradient-check blocks of the models: every phase-space model's loss_and_grad and the
whole negative ELBO of every pixel model (float64)."""

import numpy as np

from vinnp.dynamics import registry as integrators
from vinnp.gradcheck.core import Block
from vinnp.models.pixel_vae import CIRCLE, FD_FLOOR, IMAGE_SIZE, PIXEL_MODELS, STATIC, PixelVIN, _relu_margin
from vinnp.models.registry import BASELINES, MODELS, make_model


def _spec(name):
    return integrators.INTEGRATORS.get(name)  # None for the baselines


def _toy_batch(rng, n_seq, T, dim):
    q = rng.standard_normal((n_seq, T, dim))
    p = rng.standard_normal((n_seq, T, dim))
    return {"q": q, "p": 0.3 * p, "dqdt": p, "dpdt": -q}


def _forced_batch(rng, n_seq, T, dim, m):
    """_toy_batch plus a control input u (n_seq, T, m), the friction and forcing in dp/dt."""
    batch = _toy_batch(rng, n_seq, T, dim)
    batch["u"] = rng.standard_normal((n_seq, T, m))
    batch["dpdt"] = batch["dpdt"] - 0.3 * batch["dqdt"] + batch["u"][..., :1]
    return batch


def forced_model_blocks(rng):
    """The derivative baselines with control inputs (m = 2) at d = 1 and 2, and the DHNN's
    learned dissipation L and input matrix B, which start at values (L = 0.1 I, B = 0) that the
    perturbation below moves off so every entry is checked at a generic point."""
    blocks = []
    for name in BASELINES:
        for dim in (1, 2):
            model = make_model(name, dim, 0.1, n_seq=3, hidden=(7,), n_inputs=2)
            batch = _forced_batch(rng, 3, 6, dim, 2)
            params = model.init(rng, batch)
            params += 0.05 * rng.standard_normal(params.size)
            blocks.append(Block(f"model[{name}, d={dim}, inputs=2]", model.layout, params,
                                lambda p, m=model, b=batch: m.loss(p, b),
                                lambda p, m=model, b=batch: m.loss_and_grad(p, b)))
    return blocks


def model_blocks(rng):
    """loss_and_grad of every model on a small random batch, all parameters at once; then the
    derivative baselines with control inputs."""
    blocks = []
    for name in MODELS:
        spec = _spec(name)
        dim = (spec.dim if spec else None) or 2
        learn = bool(spec and spec.mass)
        model = make_model(name, dim, 0.1, n_seq=3, hidden=(7,), learn_mass=learn)
        batch = _toy_batch(rng, 3, 6, dim)
        params = model.init(rng, batch)
        params += 0.05 * rng.standard_normal(params.size)
        blocks.append(Block(f"model[{name}{', learned mass' if learn else ''}]", model.layout, params,
                            lambda p, m=model, b=batch: m.loss(p, b),
                            lambda p, m=model, b=batch: m.loss_and_grad(p, b)))
    return blocks + forced_model_blocks(rng)


def gradcheck_model(kind, rng, window=4, batch=2, enc_hidden=6, lstm_hidden=4, dec_hidden=5,
                    dyn_hidden=5, learn_mass=None, margin=1e-2, noise=0.1, x1_coords=None):
    """A small model with (params, frames, eps) at which central differences are valid.

    Random grey frames, parameters = init + N(0, noise^2); redraws until every
    ReLU pre-activation is at least ``margin`` from its kink and, for a cell on SO(2),
    |sin dth| <= 0.9 (well inside asin's domain, nothing clipped).
    Returns (model, params, frames, eps).
    """
    spec = _spec(kind)
    learn = bool(spec and spec.mass) if learn_mass is None else learn_mass
    d = 1 if kind in CIRCLE else 2
    window = 1 if kind in STATIC else window
    model = PixelVIN(kind, window, d, enc_hidden=enc_hidden, lstm_hidden=lstm_hidden,
                     dec_hidden=dec_hidden, dyn_hidden=dyn_hidden, learn_mass=learn, x1_coords=x1_coords)
    for _ in range(200):
        params = model.init(rng) + noise * rng.standard_normal(model.layout.size)
        frames = rng.uniform(size=(batch, window, IMAGE_SIZE, IMAGE_SIZE))
        eps = rng.standard_normal((batch, model.x_dim))
        _, cache = model._forward(params, frames, eps)
        ok = _relu_margin(cache) >= margin
        if spec and spec.lie_group:  # nothing clipped in the asin
            ok = ok and np.abs(cache["cell"][2]).max() <= 0.9
        if ok:
            return model, params, frames, eps
    raise RuntimeError("gradcheck_model: no draw kept every ReLU away from its kink")


def pixel_vae_blocks(rng):
    """The whole negative ELBO of each cell kind, every parameter, float64.

    784 -> 6 -> 6 encoder, H = 4, decoder 5 -> 5 -> 784, dynamics 5, T = 4, B = 2.
    Each block's ``meta["floor"]`` is the relative-error floor its check needs
    (see FD_FLOOR); with the default floor of 1e-8 a few entries per block read
    1e-6 to 1e-4 from round-off alone.
    """
    blocks = []
    for kind in PIXEL_MODELS:
        model, params, frames, eps = gradcheck_model(kind, rng)
        floor = FD_FLOOR * max(1.0, model.loss(params, frames, eps))  # pass as check_block(floor=...)
        blocks.append(Block(f"pixel-vae[{kind}]", model.layout, params,
                            lambda p, m=model, f=frames, e=eps: m.loss(p, f, e),
                            lambda p, m=model, f=frames, e=eps: m.loss_and_grad(p, f, e),
                            meta={"floor": floor}))
    return blocks
