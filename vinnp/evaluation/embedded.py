"""Forecasting a trained VIN with NumPy alone: no Numba, no compilation.

A checkpoint (``model.npz``) holds the flat parameters, their layout and the model
description (vinnp.checkpoint); this module reads them and runs the cell's NumPy reference
rollout, found in the integrator registry (each integrator's unit file holds one). Its
imports need NumPy only (vinnp.jit stands in for Numba where it is missing), so it runs
wherever NumPy does. The NN and HNN baselines integrate with scipy's RK45 instead and are
not served here.
"""

import numpy as np

from vinnp.checkpoint import read_checkpoint
from vinnp.dynamics import registry
from vinnp.dynamics.mass import Mass


def load_vin(path):
    """-> (kind, weights, activations, minv, m, h, dim) from a VIN checkpoint."""
    desc, layout, params, _ = read_checkpoint(path)
    family = desc.get("family")
    if family != "vin":
        raise ValueError(f"checkpoint: {path!r} holds a {family} model; the NumPy-only "
                         f"forecast serves VINs (use `vinnp forecast` with scipy installed for NN/HNN)")
    try:
        params = params.astype(np.float64)
        cell = desc["cell"]
        acts = cell["net"]["activations"]
        weights = [(layout.view(params, f"cell.net.W{l}"), layout.view(params, f"cell.net.b{l}"))
                   for l in range(1, len(acts) + 1)]
        mass = Mass(cell["dim"], cell["learn_mass"])
        minv, m = mass.matrices(layout.view(params, "cell.mass.L") if mass.learned else None)
        return cell["kind"], weights, acts, minv, m, float(cell["h"]), int(cell["dim"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"checkpoint: {path!r} does not describe a usable VIN ({exc!r})") from None


def forecast(path, q0, p0, n_steps):
    """(t, q, p): n_steps + 1 states from (q0, p0) (each (d,)), t[0] = 0."""
    kind, weights, acts, minv, m, h, d = load_vin(path)
    spec = registry.get(kind)
    q0 = np.asarray(q0, np.float64).reshape(1, d)
    p0 = np.asarray(p0, np.float64).reshape(1, d)
    x1 = spec.initial_state(q0, p0, minv, h)
    obs = spec.reference(weights, acts, minv, m, h, x1, n_steps + 1)
    return h * np.arange(n_steps + 1), obs[0, :, 0], obs[0, :, 1]
