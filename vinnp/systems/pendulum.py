"""Ideal pendulum: H(q, p) = p²/(2ml²) + mgl(1 − cos q) (Section 4; m = l = 1, g = 9.81, Appendix C.1).

q is the angle from the downward vertical (rad), p = ml² dq/dt the angular
momentum. Below the separatrix energy 2mgl the motion is an oscillation with
amplitude q_max, and has the closed form (Jacobi elliptic functions, parameter
k² = E / 2mgl = sin²(q_max/2), ω₀ = sqrt(g/l)):

    sin(q/2) = k sn(ω₀t + u₀ | k²),    dq/dt = 2kω₀ cn(ω₀t + u₀ | k²),

with period 4K(k²)/ω₀. Sampling uses it directly: a uniform u in [0, 4K) is a
uniform time along the orbit.
"""

import numpy as np
from scipy.special import ellipj, ellipk, ellipkinc

from vinnp.checks import as_array, positive_float
from vinnp.systems.base import System
from vinnp.systems.grid import time_grid


class Pendulum(System):
    """Ideal pendulum with bob mass m (kg), rod length l (m), gravity g (m/s²)."""

    name = "pendulum"
    is_angle = True
    default_energy_range = (1.3, 2.3)  # Appendix C.1; amplitudes 30.0° to 40.4° for m = l = 1, g = 9.81

    def __init__(self, m=1.0, l=1.0, g=9.81):  # noqa: E741 - l is the paper's name
        super().__init__(m=positive_float(m, "m"), l=positive_float(l, "l"), g=positive_float(g, "g"))

    @property
    def mass(self):
        """Moment of inertia ml² (the M of H = p²/2M + U)."""
        return self.params["m"] * self.params["l"] ** 2

    @property
    def separatrix_energy(self):
        """2mgl: the energy above which the pendulum rotates instead of oscillating."""
        return 2.0 * self.params["m"] * self.params["g"] * self.params["l"]

    @property
    def omega(self):
        """Small-angle angular frequency sqrt(g/l) (rad/s)."""
        return float(np.sqrt(self.params["g"] / self.params["l"]))

    def potential(self, q):
        m, l, g = self.params["m"], self.params["l"], self.params["g"]
        return m * g * l * (1.0 - np.cos(np.asarray(q, dtype=float)))

    def grad_potential(self, q):
        m, l, g = self.params["m"], self.params["l"], self.params["g"]
        return m * g * l * np.sin(np.asarray(q, dtype=float))

    def check_energy_range(self, energy_range=None):
        lo, hi = super().check_energy_range(energy_range)
        if hi >= self.separatrix_energy:
            raise ValueError(
                f"energy_range: the pendulum oscillates only below its separatrix energy 2mgl = "
                f"{self.separatrix_energy:g}; got an upper energy of {hi:g}"
            )
        return lo, hi

    def _modulus(self, energy):
        m2 = np.asarray(energy, dtype=float) / self.separatrix_energy
        if np.any(m2 >= 1.0) or np.any(m2 < 0.0):
            raise ValueError(f"energy: expected 0 <= E < 2mgl = {self.separatrix_energy:g} (an oscillation)")
        return m2

    def period(self, energy):
        return 4.0 * ellipk(self._modulus(energy)) / self.omega

    def _state_on_orbit(self, energies, phases):
        m2 = self._modulus(energies)
        u = 4.0 * ellipk(m2) * phases
        sn, cn, _dn, _ph = ellipj(u, m2)
        k = np.sqrt(m2)
        q = 2.0 * np.arcsin(k * sn)
        p = self.mass * 2.0 * k * self.omega * cn
        return q, p

    def closed_form(self, q0, p0, t):
        """Exact oscillating solution from (q0, p0) at t[0] (energy below 2mgl).

        q0 in (−π, π]; scalars or arrays of one shape S; t: (n_steps,) increasing.
        Returns (q, p), each of shape S + (n_steps,).
        """
        t = time_grid(t, "t")
        q0 = as_array(q0, "q0")
        p0 = as_array(p0, "p0")
        m2 = self._modulus(self.energy(q0, p0))
        k = np.sqrt(m2)
        # Amplitude φ₀ = am(u₀): sn u₀ = sin(q0/2)/k, cn u₀ = (dq/dt)/(2kω₀); F(φ₀|k²) = u₀.
        phi0 = np.arctan2(np.sin(q0 / 2.0), p0 / (self.mass * 2.0 * self.omega))
        u = ellipkinc(phi0, m2)[..., None] + self.omega * (t - t[0])
        sn, cn, _dn, _ph = ellipj(u, m2[..., None])
        q = 2.0 * np.arcsin(k[..., None] * sn)
        p = self.mass * 2.0 * k[..., None] * self.omega * cn
        return q, p
