"""Ideal mass-spring: H(q, p) = p²/2m + k q²/2 (Section 4; k = m = 1 as in Appendix C.1)."""

import numpy as np

from vinnp.checks import as_array, positive_float
from vinnp.systems.base import System
from vinnp.systems.grid import time_grid


class Spring(System):
    """Ideal mass-spring with spring constant k (N/m) and mass m (kg); q in m, p in kg·m/s."""

    name = "spring"
    is_angle = False
    default_energy_range = (0.2, 1.0)  # Appendix C.1

    def __init__(self, k=1.0, m=1.0):
        super().__init__(k=positive_float(k, "k"), m=positive_float(m, "m"))

    @property
    def mass(self):
        return self.params["m"]

    @property
    def omega(self):
        """Angular frequency sqrt(k/m) (rad/s)."""
        return float(np.sqrt(self.params["k"] / self.params["m"]))

    def potential(self, q):
        q = np.asarray(q, dtype=float)
        return 0.5 * self.params["k"] * q * q

    def grad_potential(self, q):
        return self.params["k"] * np.asarray(q, dtype=float)

    def period(self, energy):
        return np.full(np.shape(energy), 2.0 * np.pi / self.omega)

    def _state_on_orbit(self, energies, phases):
        # q = A cos(φ), p = −m A ω sin(φ) with A = sqrt(2E/k): a uniform phase φ is
        # a uniform time along the orbit since φ advances at the constant rate ω.
        phi = 2.0 * np.pi * phases
        q = np.sqrt(2.0 * energies / self.params["k"]) * np.cos(phi)
        p = -np.sqrt(2.0 * energies * self.params["m"]) * np.sin(phi)
        return q, p

    def closed_form(self, q0, p0, t):
        """Exact solution from (q0, p0) at t[0]: q(t) = q0 cos ωτ + p0/(mω) sin ωτ, τ = t − t[0].

        q0, p0: scalars or arrays of one shape S; t: (n_steps,) increasing.
        Returns (q, p), each of shape S + (n_steps,).
        """
        t = time_grid(t, "t")
        q0 = as_array(q0, "q0")[..., None]
        p0 = as_array(p0, "p0")[..., None]
        w, m = self.omega, self.params["m"]
        c, s = np.cos(w * (t - t[0])), np.sin(w * (t - t[0]))
        return q0 * c + p0 / (m * w) * s, p0 * c - m * w * q0 * s
