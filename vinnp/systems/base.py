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

Friction and inputs live here, once, for every system. A system may carry a
viscous friction coefficient ``c`` (its ``params["c"]``; 0 for the conservative
systems) and ``n_inputs`` generalized-force inputs u (0, or 1 for the driven
pendulum), which turn Hamilton's equations into

    dq/dt = ∂H/∂p = p/M,    dp/dt = −∂H/∂q − c·dq/dt + u,

so that the energy H obeys the balance dH/dt = −c (dq/dt)² + u·dq/dt. Inputs
are zero-order hold on the time grid t: u[..., k, :] acts on [t_k, t_{k+1}).
A driven system is integrated interval by interval so that DOP853 never steps
over a jump of u; an unforced one (damped or not) in one solve.
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
    n_inputs = 0  # number of generalized-force inputs u (0: autonomous)

    def __init__(self, **params):
        self.params = dict(params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def to_meta(self):
        """JSON-ready description: {"name": ..., "params": {...}}, plus friction and n_inputs when forced."""
        meta = {"name": self.name, "params": dict(self.params)}
        if self.forced:  # the conservative systems' records stay as they were
            meta.update(friction=self.friction, n_inputs=self.n_inputs)
        return meta

    # -- friction and inputs -----------------------------------------------------
    @property
    def friction(self):
        """Viscous friction coefficient c of dp/dt = −∂U/∂q − c·dq/dt (+ u); 0.0 when conservative."""
        return float(self.params.get("c", 0.0))

    @property
    def forced(self):
        """True when the flow is not Hamiltonian: friction c > 0 or at least one input."""
        return self.friction > 0.0 or self.n_inputs > 0

    def check_inputs(self, u, shape, name="u"):
        """Check ``u`` against the system's inputs; returns float64 ``u`` of ``shape`` or None.

        shape: the expected shape (the caller's, e.g. (n, n_steps, n_inputs)).
        A system without inputs refuses any u; one with inputs requires it.
        """
        if self.n_inputs == 0:
            if u is not None:
                raise ValueError(f"{name}: {self.name} has no inputs; pass u=None")
            return None
        want = str(tuple(int(s) for s in shape))
        if u is None:
            raise ValueError(f"{name}: {self.name} is driven by {self.n_inputs} input(s); pass u of shape {want}")
        u = as_array(u, name).astype(np.float64, copy=False)
        if u.shape != tuple(shape):
            raise ValueError(f"{name}: expected shape {want} for {self.name}, got {u.shape}")
        return u

    def energy_rate(self, q, p, u=None):
        """dH/dt = −c (dq/dt)² + u·dq/dt along the flow (W); u None means no input."""
        dqdt = np.asarray(p, dtype=float) / self.mass
        rate = -self.friction * dqdt * dqdt
        return rate if u is None else rate + np.asarray(u, dtype=float) * dqdt

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

    def vector_field(self, q, p, u=None):
        """(dq/dt, dp/dt) = (p/M, −∂U/∂q − c·p/M + u): Hamilton's equations plus friction and input.

        q, p: broadcastable arrays (any shape S). u: None for a system without
        inputs; for a driven one (one input, one degree of freedom) the input
        force at those states, of shape S. Returns two arrays of shape S.
        """
        q, p = np.asarray(q, dtype=float), np.asarray(p, dtype=float)
        dqdt = np.broadcast_to(p / self.mass, np.broadcast_shapes(q.shape, p.shape))
        u = self.check_inputs(u, dqdt.shape)
        dpdt = -self.grad_potential(q)
        if self.friction:  # kept out of the conservative path so spring/pendulum stay bit-identical
            dpdt = dpdt - self.friction * dqdt
        if u is not None:
            dpdt = dpdt + u
        return np.array(dqdt), np.array(np.broadcast_to(dpdt, dqdt.shape))

    def _rhs(self, _t, y, u=None):
        dqdt = y[1] / self.mass
        dpdt = -self.grad_potential(y[0])
        if self.friction:  # the conservative right-hand side stays the exact expression it was
            dpdt = dpdt - self.friction * dqdt
        if u is not None:
            dpdt = dpdt + u
        return np.array([dqdt, dpdt])

    # -- ground truth ------------------------------------------------------------
    def trajectory(self, q0, p0, t, u=None):
        """Ground-truth states on the time grid ``t``.

        q0, p0: scalars (the state at t[0]) or (n,) arrays of initial states.
        t: (n_steps,) seconds, strictly increasing. u: None for a system without
        inputs, else zero-order-hold inputs of shape (n_steps, n_inputs) for
        scalar initial states or (n, n_steps, n_inputs): u[..., k, :] acts on
        [t_k, t_{k+1}), so the last sample is never used by the trajectory.
        Returns (q, p), each of shape (n_steps,) for scalar initial states or
        (n, n_steps) for arrays; q[..., 0] is q0 exactly. DOP853, rtol 1e-10,
        atol 1e-12; each initial state is integrated on its own so the error
        control is per trajectory.
        """
        t = time_grid(t, "t")
        q0 = as_array(q0, "q0").astype(np.float64, copy=False)
        p0 = as_array(p0, "p0").astype(np.float64, copy=False)
        if q0.shape != p0.shape or q0.ndim > 1:
            raise ValueError(f"q0, p0: expected two scalars or two (n,) arrays, got shapes {q0.shape} and {p0.shape}")
        flat_q, flat_p = np.atleast_1d(q0), np.atleast_1d(p0)
        u = self.check_inputs(u, q0.shape + (t.size, self.n_inputs))
        if u is not None:
            u = u.reshape(flat_q.shape + (t.size, self.n_inputs))
        q = np.empty((flat_q.size, t.size))
        p = np.empty((flat_q.size, t.size))
        for i in range(flat_q.size):
            if u is None:
                q[i], p[i] = self._solve(flat_q[i], flat_p[i], t)
            else:
                # one input, the generalized force on the one degree of freedom (dof = n_inputs = 1)
                q[i], p[i] = self._solve_held(flat_q[i], flat_p[i], t, u[i, :, 0])
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

    def _solve_held(self, q0, p0, t, u):
        """One interval [t_k, t_{k+1}] per solve: u jumps at the grid points, and a
        step across a jump would lose DOP853's order (the error estimate assumes a
        smooth right-hand side)."""
        q, p = np.empty(t.size), np.empty(t.size)
        q[0], p[0] = q0, p0
        for k in range(t.size - 1):
            sol = solve_ivp(self._rhs, (t[k], t[k + 1]), [q[k], p[k]], method="DOP853", rtol=RTOL, atol=ATOL,
                            args=(u[k],))
            if not sol.success:  # pragma: no cover - DOP853 does not fail on these smooth pieces
                raise RuntimeError(f"{self.name}: solve_ivp failed on [t_{k}, t_{k + 1}]: {sol.message}")
            q[k + 1], p[k + 1] = sol.y[0, -1], sol.y[1, -1]
        return q, p

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
