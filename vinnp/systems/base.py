"""The common shape of a reference system: a separable Hamiltonian H(q, p) = p²/2M + U(q).

Both systems of Section 4 (ideal mass-spring, ideal pendulum) have one degree of
freedom, a constant scalar mass M and a potential U. The ground truth is the
exact flow of Hamilton's equations, integrated by ``scipy.integrate.solve_ivp``
with the eighth-order Dormand–Prince method (DOP853) at rtol 1e-10, atol 1e-12:
much tighter than the tolerance 1e-9 of the RK45 baseline in Appendix C.1, so
that the ground truth is not the limiting error of any experiment.

Sampling follows Appendix C.1 (after Greydanus et al., 2019): the energy is
uniform in a range, and the phase is uniform *in time* along the closed orbit of
that energy, i.e. the initial state is the state at a uniformly random time of
one period. Each system implements ``_state_on_orbit`` in closed form.
"""

import numpy as np
from scipy.integrate import solve_ivp

from vinnp.checks import as_array, positive_int
from vinnp.systems.grid import time_grid

RTOL = 1e-10
ATOL = 1e-12


class System:
    """A one-degree-of-freedom separable Hamiltonian system.

    Attributes: ``name`` (str), ``dof`` (1), ``params`` (dict of floats),
    ``is_angle`` (True when q is an angle on the circle), ``mass`` (M, scalar),
    ``default_energy_range`` ((lo, hi), same units as H).
    """

    name = "system"
    dof = 1
    is_angle = False
    default_energy_range = (0.0, 0.0)

    def __init__(self, **params):
        self.params = dict(params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def to_meta(self):
        """JSON-ready description: {"name": ..., "params": {...}}."""
        return {"name": self.name, "params": dict(self.params)}

    # -- the Hamiltonian ---------------------------------------------------------
    @property
    def mass(self):
        """Scalar mass M in H = p²/2M + U(q)."""
        raise NotImplementedError

    def potential(self, q):
        """U(q); q any shape, returns the same shape."""
        raise NotImplementedError

    def grad_potential(self, q):
        """∂U/∂q; q any shape, returns the same shape."""
        raise NotImplementedError

    def energy(self, q, p):
        """H(q, p) = p²/2M + U(q), broadcasting q and p."""
        q, p = np.asarray(q, dtype=float), np.asarray(p, dtype=float)
        return 0.5 * p * p / self.mass + self.potential(q)

    def vector_field(self, q, p):
        """Hamilton's equations: (dq/dt, dp/dt) = (∂H/∂p, −∂H/∂q) = (p/M, −∂U/∂q)."""
        q, p = np.asarray(q, dtype=float), np.asarray(p, dtype=float)
        dqdt = np.broadcast_to(p / self.mass, np.broadcast_shapes(q.shape, p.shape))
        dpdt = np.broadcast_to(-self.grad_potential(q), dqdt.shape)
        return np.array(dqdt), np.array(dpdt)

    def _rhs(self, _t, y):
        return np.array([y[1] / self.mass, -self.grad_potential(y[0])])

    # -- ground truth ------------------------------------------------------------
    def trajectory(self, q0, p0, t):
        """Ground-truth states on the time grid ``t``.

        q0, p0: scalars (the state at t[0]) or (n,) arrays of initial states.
        t: (n_steps,) seconds, strictly increasing. Returns (q, p), each of shape
        (n_steps,) for scalar initial states or (n, n_steps) for arrays; q[..., 0]
        is q0 exactly. DOP853, rtol 1e-10, atol 1e-12; each initial state is
        integrated on its own so the error control is per trajectory.
        """
        t = time_grid(t, "t")
        q0 = as_array(q0, "q0").astype(np.float64, copy=False)
        p0 = as_array(p0, "p0").astype(np.float64, copy=False)
        if q0.shape != p0.shape or q0.ndim > 1:
            raise ValueError(f"q0, p0: expected two scalars or two (n,) arrays, got shapes {q0.shape} and {p0.shape}")
        flat_q, flat_p = np.atleast_1d(q0), np.atleast_1d(p0)
        q = np.empty((flat_q.size, t.size))
        p = np.empty((flat_q.size, t.size))
        for i in range(flat_q.size):
            q[i], p[i] = self._solve(flat_q[i], flat_p[i], t)
        if q0.ndim == 0:
            return q[0], p[0]
        return q, p

    def _solve(self, q0, p0, t):
        if t.size == 1:
            return np.array([q0]), np.array([p0])
        sol = solve_ivp(self._rhs, (t[0], t[-1]), [q0, p0], method="DOP853", t_eval=t, rtol=RTOL, atol=ATOL)
        if not sol.success:  # pragma: no cover - DOP853 does not fail on these smooth fields
            raise RuntimeError(f"{self.name}: solve_ivp failed from (q0, p0)=({q0}, {p0}): {sol.message}")
        return sol.y[0], sol.y[1]

    # -- sampling (Appendix C.1) -------------------------------------------------
    def check_energy_range(self, energy_range=None):
        """Return (lo, hi) as floats, checking 0 < lo <= hi inside the oscillating range."""
        if energy_range is None:
            energy_range = self.default_energy_range
        try:
            lo, hi = (float(e) for e in energy_range)
        except (TypeError, ValueError):
            raise ValueError(f"energy_range: expected two numbers (lo, hi), got {energy_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi)) or not 0 < lo <= hi:
            raise ValueError(f"energy_range: expected finite 0 < lo <= hi, got ({lo!r}, {hi!r})")
        return lo, hi

    def sample_initial_states(self, n, rng, energy_range=None):
        """Draw n initial states, energy ~ U(energy_range), phase uniform in time on the orbit.

        n: int >= 1. rng: numpy.random.Generator (two draws of n uniforms: energies,
        then phases). energy_range: (lo, hi) or None for ``default_energy_range``.
        Returns (q0, p0), each (n,) float64, with energy(q0, p0) in [lo, hi].
        """
        n = positive_int(n, "n")
        rng = check_rng(rng)
        lo, hi = self.check_energy_range(energy_range)
        energies = rng.uniform(lo, hi, size=n)
        phases = rng.uniform(0.0, 1.0, size=n)
        return self._state_on_orbit(energies, phases)

    def _state_on_orbit(self, energies, phases):
        """State of energy E at time phase·period along the orbit (phase in [0, 1))."""
        raise NotImplementedError

    def period(self, energy):
        """Period (s) of the closed orbit of the given energy (any shape)."""
        raise NotImplementedError


def check_rng(rng, name="rng"):
    """Require an explicit numpy.random.Generator: every random draw is seeded by the caller."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{name}: expected a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng
