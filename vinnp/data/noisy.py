"""Noisy phase-space observations (Section 4.1, Appendix C.1).

Setup of Greydanus et al. (2019) with the paper's one change: Gaussian noise of
standard deviation σ = 0.1 on *all four* observed quantities q, p, dq/dt, dp/dt,
not only on (q, p). Trajectories last 3 s at 10 Hz (30 points). The paper's two
regimes are 25 trajectories (750 points) and 5 trajectories (150 points); test
trajectories come from a different seed, whose stream is independent of the
training seed's (numpy's default_rng seeds through SeedSequence).

Damped and driven systems (vinnp/systems/damped.py, driven.py) use the same
generator: their dq/dt, dp/dt include friction and input, and a driven system's
dataset also carries its known, noise-free inputs ``u``.
"""

import numpy as np

from vinnp.checks import one_of, positive_float, positive_int
from vinnp.data.common import check_seed, generation_meta, ground_truth, time_axis
from vinnp.systems import INPUT_KINDS, as_system

# Number of training trajectories of the two regimes of Section 4.1.
REGIMES = {"moderate": 25, "low": 5}


def make_noisy_dataset(system_or_name, n_traj, seed, n_steps=30, dt=0.1, noise_std=0.1, energy_range=None,
                       input_kind="sines"):
    """Generate noisy observations of ground-truth trajectories.

    system_or_name: a System or a name of ``vinnp.systems.SYSTEMS`` (default
    parameters). n_traj: number of trajectories; seed: int >= 0; n_steps, dt (s):
    the grid t = dt·(0..n_steps−1); noise_std: σ of the additive Gaussian noise
    (>= 0); energy_range: (lo, hi) or None for the system's default (Appendix
    C.1); input_kind: "sines" or "steps", the random inputs of a driven system
    (``DrivenPendulum.sample_inputs``), ignored by the others.

    Random draws, all from ``numpy.random.default_rng(seed)`` in this order:
    energies, phases (both (n_traj,)), then — driven systems only — the inputs
    and any redraws of trajectories that leave the energy bound
    (``DrivenPendulum.sample_trajectories``: energy below 0.9·2mgl at every
    grid point), then the noise on q, p, dqdt, dpdt. Spring and pendulum draw
    exactly what they always drew, so their datasets are unchanged.

    Returns a dict: ``t`` (n_steps,); ``q, p, dqdt, dpdt`` observed and
    ``q_true, p_true, dqdt_true, dpdt_true`` exact, each (n_traj, n_steps, 1)
    float64, the derivatives from ``system.vector_field`` (with friction and
    input: dp/dt = −∂U/∂q − c·dq/dt + u, the input at t_k being u[:, k], which
    acts on [t_k, t_{k+1})); for a driven system ``u`` (n_traj, n_steps,
    n_inputs), known exactly, without noise; ``meta`` (dict: system, params,
    n_traj, seed, n_steps, dt, noise_std, energy_range, obs="noisy"; for a
    damped or driven system also friction, n_inputs and, when driven, inputs
    = {kind, u_max, energy_limit, n_redrawn}).
    """
    system = as_system(system_or_name)
    seed = check_seed(seed)
    noise_std = positive_float(noise_std, "noise_std", allow_zero=True)
    one_of(input_kind, "input_kind", INPUT_KINDS)  # checked for every system, so a typo never goes unseen
    t, n_steps, dt = time_axis(n_steps, dt)
    rng = np.random.default_rng(seed)
    extra = {}
    if system.n_inputs:
        n_traj = positive_int(n_traj, "n_traj")
        energy_range = list(system.check_energy_range(energy_range))
        _q0, _p0, u, q_true, p_true, n_redrawn = system.sample_trajectories(n_traj, t, rng, energy_range,
                                                                            kind=input_kind)
        q_true, p_true = q_true[..., None], p_true[..., None]
        extra["inputs"] = {"kind": input_kind, "u_max": system.u_max, "energy_limit": system.energy_limit,
                           "n_redrawn": int(n_redrawn)}
    else:
        q_true, p_true, energy_range = ground_truth(system, n_traj, rng, t, energy_range)
        u = None
    # u[:, k] is the generalized force acting from t_k on: the right-hand derivative at each grid point
    dqdt_true, dpdt_true = system.vector_field(q_true, p_true, u)
    ds = {"t": t, "q_true": q_true, "p_true": p_true, "dqdt_true": dqdt_true, "dpdt_true": dpdt_true}
    for key in ("q", "p", "dqdt", "dpdt"):
        clean = ds[key + "_true"]
        ds[key] = clean + noise_std * rng.standard_normal(clean.shape)
    if u is not None:
        ds["u"] = u
    if system.forced:  # conservative systems keep their old meta, key for key
        extra = {"friction": system.friction, "n_inputs": system.n_inputs, **extra}
    ds["meta"] = generation_meta("noisy", system, q_true.shape[0], seed, n_steps, dt, energy_range,
                                 noise_std=noise_std, **extra)
    return ds
