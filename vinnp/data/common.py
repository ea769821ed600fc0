"""Small helpers shared by the dataset generators."""

import numpy as np

from vinnp.checks import positive_float, positive_int


def check_seed(seed, name="seed"):
    """A seed is a non-negative int; it feeds numpy.random.default_rng and is recorded in meta."""
    return positive_int(seed, name, minimum=0)


def time_axis(n_steps, dt):
    """The uniform grid t = dt·(0, 1, ..., n_steps − 1) in seconds, and the checked values."""
    n_steps = positive_int(n_steps, "n_steps")
    dt = positive_float(dt, "dt")
    return np.arange(n_steps) * dt, n_steps, dt


def ground_truth(system, n_traj, rng, t, energy_range):
    """Sample n_traj initial states (Appendix C.1) and integrate them on t.

    Returns q_true, p_true of shape (n_traj, n_steps, 1) (the trailing axis is
    the configuration dimension d = system.dof = 1) and the energy range used.
    """
    n_traj = positive_int(n_traj, "n_traj")
    lo, hi = system.check_energy_range(energy_range)
    q0, p0 = system.sample_initial_states(n_traj, rng, (lo, hi))
    q, p = system.trajectory(q0, p0, t)
    return q[..., None], p[..., None], [lo, hi]


def generation_meta(obs, system, n_traj, seed, n_steps, dt, energy_range, **extra):
    """The record every generated dataset carries of what made it (JSON-ready)."""
    return {"obs": obs, "system": system.name, "params": dict(system.params), "n_traj": int(n_traj),
            "seed": seed, "n_steps": n_steps, "dt": dt, "energy_range": energy_range, **extra}
