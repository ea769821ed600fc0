"""The driven pendulum: the damped pendulum pushed by a torque input u(t) (N·m).

    dq/dt = p/(ml²),    dp/dt = −mgl sin q − c·dq/dt + u,    |u| <= u_max

with m = l = 1, g = 9.81, c = 0.1 and u_max = 6.0 by default: holding the
pendulum at q = 0.5 rad takes mgl sin 0.5 ≈ 4.70 N·m, inside the bound, so a
planner that respects the data's torque bound can hold it there. Inputs are
zero-order hold on the time grid (vinnp/systems/base.py): u[:, k] acts on
[t_k, t_{k+1}).

Random inputs (``sample_inputs``) are smooth by default (a bias plus three
sinusoids of 0.1–1 Hz) or piecewise-constant levels. ``sample_trajectories``
draws initial states and inputs, integrates, and redraws every trajectory whose
energy leaves the oscillating range (see its docstring for the rule).
"""

import numpy as np

from vinnp.checks import one_of, positive_float, positive_int
from vinnp.systems.base import check_rng
from vinnp.systems.damped import DampedPendulum
from vinnp.systems.grid import time_grid, uniform_step

INPUT_KINDS = ("sines", "steps")
N_SINES = 3
FREQ_RANGE = (0.1, 1.0)  # Hz; the small-angle resonance sqrt(g/l)/2π ≈ 0.50 Hz lies inside
STEP_HOLD = 0.5  # s each level of a "steps" input is held
ENERGY_MARGIN = 0.9  # accepted trajectories stay below 0.9 · 2mgl
MAX_REDRAWS = 100


class DrivenPendulum(DampedPendulum):
    """Damped pendulum with one torque input u, |u| <= u_max (N·m)."""

    name = "driven-pendulum"
    n_inputs = 1

    def __init__(self, m=1.0, l=1.0, g=9.81, c=0.1, u_max=6.0):  # noqa: E741 - l is the paper's name
        super().__init__(m=m, l=l, g=g, c=c)
        self.params["u_max"] = positive_float(u_max, "u_max")

    @property
    def u_max(self):
        """Bound on the torque of every sampled input (N·m)."""
        return self.params["u_max"]

    @property
    def energy_limit(self):
        """ENERGY_MARGIN · 2mgl: sampled trajectories keep their energy H below this (J)."""
        return ENERGY_MARGIN * self.separatrix_energy

    def sample_inputs(self, n, n_steps, dt, rng, kind="sines"):
        """Draw n random zero-order-hold torque sequences on the grid t_k = k·dt.

        Returns u of shape (n, n_steps, 1) float64 with |u| <= u_max; u[:, k] acts on [t_k, t_{k+1}).

        kind "sines" (default, smooth): u(t) = s·(b + Σ_j a_j sin(2π f_j t + φ_j)) / (|b| + Σ_j a_j),
        j = 1..3, sampled at t_k, so |u| <= s <= u_max without clipping. Draws from
        ``rng`` in this order: s ~ U(0, u_max) (n,), b ~ U(−1, 1) (n,), a ~ U(0, 1)
        (n, 3), f ~ U(0.1, 1) Hz (n, 3), φ ~ U(0, 2π) (n, 3). The bias b lets the data
        cover sustained torques like the ≈ 4.7 N·m that holds q at 0.5 rad.

        kind "steps": levels ~ U(−u_max, u_max), one draw of shape (n, n_levels),
        each held for STEP_HOLD = 0.5 s (rounded to whole steps, at least one).
        """
        n = positive_int(n, "n")
        n_steps = positive_int(n_steps, "n_steps")
        dt = positive_float(dt, "dt")
        rng = check_rng(rng)
        kind = one_of(kind, "kind", INPUT_KINDS)
        if kind == "steps":
            hold = max(1, int(round(STEP_HOLD / dt)))
            n_levels = -(-n_steps // hold)
            levels = rng.uniform(-self.u_max, self.u_max, size=(n, n_levels))
            return np.repeat(levels, hold, axis=1)[:, :n_steps, None]
        scale = rng.uniform(0.0, self.u_max, size=n)
        bias = rng.uniform(-1.0, 1.0, size=n)
        amp = rng.uniform(0.0, 1.0, size=(n, N_SINES))
        freq = rng.uniform(*FREQ_RANGE, size=(n, N_SINES))
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, N_SINES))
        t = np.arange(n_steps) * dt
        waves = np.sin(2.0 * np.pi * freq[:, None, :] * t[None, :, None] + phase[:, None, :])  # (n, n_steps, 3)
        shape = bias[:, None] + np.sum(amp[:, None, :] * waves, axis=2)
        norm = np.abs(bias) + amp.sum(axis=1)
        return (scale / norm)[:, None, None] * shape[..., None]

    def sample_trajectories(self, n, t, rng, energy_range=None, kind="sines"):
        """Initial states, inputs and ground truth of n driven trajectories that stay oscillating.

        t: (n_steps,) uniform grid (s). Rule: draw n initial states (energies, then
        phases, as ``sample_initial_states``), then n inputs (``sample_inputs``),
        integrate, and keep the trajectories whose energy H stays below
        ``energy_limit`` = 0.9 · 2mgl at every grid point; for the others, in index
        order, draw new states (energies, phases) and inputs from the same ``rng``
        and integrate again, until all pass (at most MAX_REDRAWS rounds, else
        ValueError: the inputs or the grid are too strong for the bound).
        Deterministic for a given rng state.

        Returns (q0, p0, u, q, p, n_redrawn): q0, p0 (n,); u (n, n_steps, 1);
        q, p (n, n_steps); n_redrawn the number of trajectories drawn again.
        """
        n = positive_int(n, "n")
        rng = check_rng(rng)
        t = time_grid(t, "t", uniform=True)
        dt = uniform_step(t) or 1.0
        lo, hi = self.check_energy_range(energy_range)
        if hi >= self.energy_limit:
            raise ValueError(f"energy_range: the upper energy {hi:g} must lie below the driven pendulum's "
                             f"limit 0.9·2mgl = {self.energy_limit:g}")
        q0, p0 = self.sample_initial_states(n, rng, (lo, hi))
        u = self.sample_inputs(n, t.size, dt, rng, kind)
        q, p = self.trajectory(q0, p0, t, u)
        todo = np.arange(n)
        redrawn = 0
        for round_ in range(MAX_REDRAWS + 1):
            todo = todo[np.max(self.energy(q[todo], p[todo]), axis=1) >= self.energy_limit]
            if todo.size == 0:
                return q0, p0, u, q, p, redrawn
            if round_ == MAX_REDRAWS:
                break
            redrawn += todo.size
            q0[todo], p0[todo] = self.sample_initial_states(todo.size, rng, (lo, hi))
            u[todo] = self.sample_inputs(todo.size, t.size, dt, rng, kind)
            q[todo], p[todo] = self.trajectory(q0[todo], p0[todo], t, u[todo])
        raise ValueError(f"u: {todo.size} trajectories still exceed the energy limit {self.energy_limit:g} after "
                         f"{MAX_REDRAWS} redraws; use a shorter grid or a smaller u_max")
