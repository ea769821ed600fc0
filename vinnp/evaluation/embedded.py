"""Forecasting a trained VIN with NumPy alone: no Numba, no compilation.

A checkpoint (``model.npz``) holds the flat parameters, their layout and the
model description as JSON strings; this module reads them and runs the NumPy
reference integrator (``vinnp.dynamics.reference``). It imports nothing from
vinnp that needs Numba, so it runs wherever NumPy does. The NN and HNN
baselines integrate with scipy's RK45 instead and are not served here.
"""

import json

import numpy as np

from vinnp.dynamics import reference as dynref
from vinnp.dynamics.mass import Mass
from vinnp.io import load_npz
from vinnp.params import Layout


def load_vin(path):
    """-> (kind, weights, activations, minv, m, h, dim) from a VIN checkpoint."""
    data = load_npz(path, "checkpoint")
    if str(data.get("format", "")) != "vinnp-checkpoint-1":
        raise ValueError(f"checkpoint: {path!r} is not a vinnp checkpoint")
    try:
        desc = json.loads(str(data["model"]))
        family = desc.get("family")
    except (KeyError, AttributeError, ValueError) as exc:
        raise ValueError(f"checkpoint: {path!r} has a malformed model description ({exc!r})") from None
    if family != "vin":
        raise ValueError(f"checkpoint: {path!r} holds a {family} model; the NumPy-only "
                         f"forecast serves VINs (use `vinnp forecast` with scipy installed for NN/HNN)")
    try:
        layout = Layout.from_json(json.loads(str(data["layout"])))
        params = data["params"].astype(np.float64)
        cell = desc["cell"]
        acts = cell["net"]["activations"]
        depth = len(acts)
        weights = [(layout.view(params, f"cell.net.W{l}"), layout.view(params, f"cell.net.b{l}"))
                   for l in range(1, depth + 1)]
        mass = Mass(cell["dim"], cell["learn_mass"])
        ell = layout.view(params, "cell.mass.L") if mass.learned else None
        minv, m = mass.matrices(ell)
        return cell["kind"], weights, acts, minv, m, float(cell["h"]), int(cell["dim"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"checkpoint: {path!r} does not describe a usable VIN ({exc!r})") from None


def forecast(path, q0, p0, n_steps):
    """(t, q, p): n_steps + 1 states from (q0, p0) (each (d,)), t[0] = 0."""
    kind, weights, acts, minv, m, h, d = load_vin(path)
    q0 = np.asarray(q0, np.float64).reshape(1, d)
    p0 = np.asarray(p0, np.float64).reshape(1, d)
    x1 = dynref.initial_state(kind, q0, p0, minv, h)
    obs = dynref.rollout(kind, weights, acts, minv, m, h, x1, n_steps + 1)
    return h * np.arange(n_steps + 1), obs[0, :, 0], obs[0, :, 1]
