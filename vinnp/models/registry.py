"""Every trainable model by name.

The contract all of them share: ``layout`` (names in one flat vector),
``init(rng, batch, dtype, scheme)`` (MLP.init's scheme), ``loss(params, batch)``,
``loss_and_grad(params, batch)``, ``forecast(params, q0, p0, n_steps)``,
``energy(params, q, p)``, ``to_json()``. The derivative baselines also take
control inputs (``n_inputs`` > 0: a batch's ``u``, ``forecast(..., u=...)``).
"""


from vinnp.checks import one_of
from vinnp.dynamics import registry as integrators
from vinnp.dynamics.cells import Cell
from vinnp.layers.mlp import MLP
from vinnp.models.derivative import BASELINES, DerivativeModel
from vinnp.models.pixel_vae import PixelVIN
from vinnp.models.vin import VIN

# every integrator cell as a VIN, then the NN, HNN and dissipative HNN baselines
MODELS = integrators.NAMES + BASELINES


def make_model(name, dim, h, n_seq, hidden=(200,), learn_mass=False, activation="tanh", n_inputs=0):
    """A model by name. n_inputs: width m of the control input u (0: none): the derivative
    baselines and the forced VINs take it (Cell refuses it for the other cells)."""
    one_of(name, "model", MODELS)
    if name in BASELINES:
        if learn_mass:
            raise ValueError(f"learn_mass: the {name} baseline has no mass matrix")
        return DerivativeModel(name, dim, h, hidden, activation, n_inputs)
    return VIN(Cell(name, dim, h, hidden, activation, learn_mass, n_inputs), n_seq)


def model_from_json(obj):
    try:
        if obj["family"] == "vin":
            return VIN(Cell.from_json(obj["cell"]), obj["n_seq"])
        if obj["family"] == "derivative":
            net = MLP.from_json(obj["net"])
            # n_inputs is absent from checkpoints written before inputs existed: 0
            model = DerivativeModel(obj["kind"], obj["dim"], obj["h"], tuple(net.sizes[1:-1]),
                                    n_inputs=obj.get("n_inputs", 0))
            model.net = net
            return model
        if obj["family"] == "pixel":
            return PixelVIN.from_json(obj)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint: malformed model description ({exc})") from None
    raise ValueError(f"checkpoint: unknown model family {obj.get('family')!r}")
