"""Checks for time grids shared by the systems, the data generators and the importers."""

import numpy as np

from vinnp.checks import as_array

# Tolerance of "uniform" for dataset time grids: measured timestamps are often rounded
# (0.1, 0.2, 0.30000000000000004, ... or a few printed digits).
UNIFORM_RTOL = 1e-3


def time_grid(t, name="t", *, uniform=False, rtol=1e-6):
    """Return ``t`` as a float64 1-d array after checking it is a usable time grid.

    t: (n_steps,) seconds, finite and strictly increasing. With ``uniform=True``
    the spacing must also be constant to relative tolerance ``rtol`` (the
    variational integrators step with one fixed h, eq. (6)).
    """
    t = as_array(t, name, ndim=1).astype(np.float64, copy=False)
    if t.size == 0:
        raise ValueError(f"{name}: expected at least one time point, got an empty array")
    steps = np.diff(t)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(f"{name}: expected strictly increasing times, but t[{i + 1}]={t[i + 1]!r} <= t[{i}]={t[i]!r}")
    if uniform and steps.size:
        dt = (t[-1] - t[0]) / steps.size
        worst = float(np.max(np.abs(steps - dt)))
        if worst > rtol * dt:
            raise ValueError(
                f"{name}: expected a uniform grid (constant step to relative tolerance {rtol:g}), "
                f"but steps deviate from the mean {dt:g} by up to {worst:g}"
            )
    return t


def uniform_step(t):
    """Mean step of a checked uniform grid ``t`` (seconds); 0.0 for a single point."""
    return float((t[-1] - t[0]) / (t.size - 1)) if t.size > 1 else 0.0
