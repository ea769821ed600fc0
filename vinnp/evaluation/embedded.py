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
from vinnp.dynamics.forcing import Forcing, check_inputs
from vinnp.dynamics.mass import Mass


class EmbeddedVIN:
    """A trained VIN, loaded with NumPy alone: ``rollout`` runs its cell's reference rollout.

    Attributes: kind, spec (its Integrator), dim, h, n_inputs, weights, activations,
    minv, m (its mass), and for a forced cell D (dissipation) and B (input map, (d, m)).
    """

    def __init__(self, kind, weights, activations, minv, m, h, dim, D=None, B=None):
        self.kind, self.spec = kind, registry.get(kind)
        self.weights, self.activations = weights, activations
        self.minv, self.m, self.h, self.dim = minv, m, float(h), int(dim)
        self.D = D if D is not None or not self.spec.forced else np.zeros((self.dim, self.dim))
        self.B = B
        self.n_inputs = 0 if B is None else int(B.shape[1])

    @classmethod
    def load(cls, path):
        """From a VIN checkpoint (``model.npz``); ValueError for another model or a malformed file."""
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
            dim = int(cell["dim"])
            mass = Mass(dim, cell["learn_mass"])
            minv, m = mass.matrices(layout.view(params, "cell.mass.L") if mass.learned else None)
            D = B = None
            if registry.get(cell["kind"]).forced:
                forcing = Forcing(dim, cell.get("n_inputs", 0))
                D = forcing.dissipation(layout.view(params, "cell.force.L"))
                B = layout.view(params, "cell.force.B") if forcing.n_inputs else None
            return cls(cell["kind"], weights, acts, minv, m, float(cell["h"]), dim, D, B)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"checkpoint: {path!r} does not describe a usable VIN ({exc!r})") from None

    def rollout(self, q0, p0, u=None, n_steps=None):
        """q, p (N, K + 1, d) from q0, p0 (N, d), index 0 the given state; K = n_steps, or the
        number of input steps u (N, K, m) of a model with inputs (u[:, k] held over step k)."""
        q0 = np.asarray(q0, np.float64).reshape(-1, self.dim)
        p0 = np.asarray(p0, np.float64).reshape(q0.shape)
        n = q0.shape[0]
        if n_steps is None:
            if u is None:
                raise ValueError("n_steps: give the number of steps (or the inputs u, one row per step)")
            n_steps = np.shape(u)[1]
        u = check_inputs(u, self.n_inputs, (n, n_steps, self.n_inputs), self.kind)
        if not self.spec.forced:
            x1 = self.spec.initial_state(q0, p0, self.minv, self.h)
            obs = self.spec.reference(self.weights, self.activations, self.minv, self.m, self.h, x1, n_steps + 1)
            return obs[:, :, 0], obs[:, :, 1]
        drive = np.zeros((n, n_steps + 1, self.dim))
        if u is not None:
            drive[:, :n_steps] = u @ self.B.T
            drive[:, n_steps] = drive[:, n_steps - 1]  # not used: the input after the last step
        x1 = self.spec.initial_state(q0, p0, self.minv, self.h, D=self.D, g0=drive[:, 0])
        obs = self.spec.reference(self.weights, self.activations, self.minv, self.m, self.h, x1, n_steps + 1,
                                  self.D, drive)
        return obs[:, :, 0], obs[:, :, 1]


def forecast(path, q0, p0, n_steps, u=None):
    """(t, q, p): n_steps + 1 states from (q0, p0) (each (d,)), t[0] = 0; u (n_steps, m) for a
    model with inputs."""
    vin = EmbeddedVIN.load(path)
    u = None if u is None else np.asarray(u, np.float64)[None]
    q, p = vin.rollout(q0, p0, u, n_steps)
    return vin.h * np.arange(n_steps + 1), q[0], p[0]
