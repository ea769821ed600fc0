"""Noisy phase-space observations (Section 4.1, Appendix C.1).

Setup of Greydanus et al. (2019) with the paper's one change: Gaussian noise of
standard deviation σ = 0.1 on *all four* observed quantities q, p, dq/dt, dp/dt,
not only on (q, p). Trajectories last 3 s at 10 Hz (30 points). The paper's two
regimes are 25 trajectories (750 points) and 5 trajectories (150 points); test
trajectories come from a different seed, whose stream is independent of the
training seed's (numpy's default_rng seeds through SeedSequence).
"""

import numpy as np

from vinnp.checks import positive_float
from vinnp.data.common import check_seed, generation_meta, ground_truth, time_axis
from vinnp.systems import as_system

# Number of training trajectories of the two regimes of Section 4.1.
REGIMES = {"moderate": 25, "low": 5}


def make_noisy_dataset(system_or_name, n_traj, seed, n_steps=30, dt=0.1, noise_std=0.1, energy_range=None):
    """Generate noisy observations of ground-truth trajectories.

    system_or_name: a System or "spring"/"pendulum" (default parameters).
    n_traj: number of trajectories; seed: int >= 0; n_steps, dt (s): the grid
    t = dt·(0..n_steps−1); noise_std: σ of the additive Gaussian noise (>= 0);
    energy_range: (lo, hi) or None for the system's default (Appendix C.1).

    Random draws, all from ``numpy.random.default_rng(seed)`` in this order:
    energies, phases (both (n_traj,)), then the noise on q, p, dqdt, dpdt.

    Returns a dict: ``t`` (n_steps,); ``q, p, dqdt, dpdt`` observed and
    ``q_true, p_true, dqdt_true, dpdt_true`` exact, each (n_traj, n_steps, 1)
    float64; ``meta`` (dict: system, params, n_traj, seed, n_steps, dt,
    noise_std, energy_range, obs="noisy").
    """
    system = as_system(system_or_name)
    seed = check_seed(seed)
    noise_std = positive_float(noise_std, "noise_std", allow_zero=True)
    t, n_steps, dt = time_axis(n_steps, dt)
    rng = np.random.default_rng(seed)
    q_true, p_true, energy_range = ground_truth(system, n_traj, rng, t, energy_range)
    dqdt_true, dpdt_true = system.vector_field(q_true, p_true)
    ds = {"t": t, "q_true": q_true, "p_true": p_true, "dqdt_true": dqdt_true, "dpdt_true": dpdt_true}
    for key in ("q", "p", "dqdt", "dpdt"):
        clean = ds[key + "_true"]
        ds[key] = clean + noise_std * rng.standard_normal(clean.shape)
    ds["meta"] = generation_meta("noisy", system, q_true.shape[0], seed, n_steps, dt, energy_range,
                                 noise_std=noise_std)
    return ds
