"""Every trainable model by name, and their gradient-check blocks.

The contract all of them share: ``layout`` (names in one flat vector),
``init(rng, batch, dtype, scheme)`` (MLP.init's scheme), ``loss(params, batch)``,
``loss_and_grad(params, batch)``, ``forecast(params, q0, p0, n_steps)``,
``energy(params, q, p)``, ``to_json()``.
"""


from vinnp.checks import one_of
from vinnp.dynamics.cells import Cell
from vinnp.models.derivative import DerivativeModel
from vinnp.models.vin import VIN

MODELS = ("vin-sv", "vin-vv", "vin-so2", "resrnn", "nn", "hnn")


def make_model(name, dim, h, n_seq, hidden=(200,), learn_mass=False, activation="tanh"):
    one_of(name, "model", MODELS)
    if name in ("nn", "hnn"):
        if learn_mass:
            raise ValueError(f"learn_mass: the {name} baseline has no mass matrix")
        return DerivativeModel(name, dim, h, hidden, activation)
    return VIN(Cell(name, dim, h, hidden, activation, learn_mass), n_seq)


def model_from_json(obj):
    try:
        if obj["family"] == "vin":
            return VIN(Cell.from_json(obj["cell"]), obj["n_seq"])
        if obj["family"] == "derivative":
            from vinnp.layers.mlp import MLP

            net = MLP.from_json(obj["net"])
            model = DerivativeModel(obj["kind"], obj["dim"], obj["h"], tuple(net.sizes[1:-1]))
            model.net = net
            return model
        if obj["family"] == "pixel":
            from vinnp.models.pixel_vae import PixelVIN

            return PixelVIN.from_json(obj)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint: malformed model description ({exc})") from None
    raise ValueError(f"checkpoint: unknown model family {obj.get('family')!r}")


def _toy_batch(rng, n_seq, T, dim):
    q = rng.standard_normal((n_seq, T, dim))
    p = rng.standard_normal((n_seq, T, dim))
    return {"q": q, "p": 0.3 * p, "dqdt": p, "dpdt": -q}


def gradcheck_blocks(rng):
    """loss_and_grad of every model on a small random batch, all parameters at once."""
    from vinnp.gradcheck_core import Block

    blocks = []
    for name in MODELS:
        dim = 1 if name == "vin-so2" else 2
        learn = name not in ("resrnn", "nn", "hnn")
        model = make_model(name, dim, 0.1, n_seq=3, hidden=(7,), learn_mass=learn)
        batch = _toy_batch(rng, 3, 6, dim)
        params = model.init(rng, batch)
        params += 0.05 * rng.standard_normal(params.size)
        blocks.append(Block(f"model[{name}{', learned mass' if learn else ''}]", model.layout, params,
                            lambda p, m=model, b=batch: m.loss(p, b),
                            lambda p, m=model, b=batch: m.loss_and_grad(p, b)))
    return blocks
