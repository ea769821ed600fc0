"""Forecast metrics against ground truth (Section 4.1, Figures 3-4).

``forecast_rmse``: root of the mean squared error over all time points t > 0,
trajectories and coordinates of q and p. ``energy_drift``: mean over
trajectories and time points t > 0 of |E(x_t) - E(x_0)| / |E(x_0)|, with E the
*true* Hamiltonian evaluated on the forecast. A system with friction or inputs does
not keep its energy, so there the forecast's energy is compared with the true
trajectory's at the same time: |E(x_t) - E(x*_t)| / |E(x*_0)| (the same thing when the
truth conserves energy). ``friction``: the learned dissipation against the true
friction coefficient c.
"""

import numpy as np


def ground_truth(system, q0, p0, n_steps, h, u=None):
    """True (q, p), each (B, n_steps + 1, 1), from initial states (B, 1) (under inputs u (B, n_steps, m),
    held over each step, for a driven system)."""
    t = h * np.arange(n_steps + 1)
    kw = {}
    if u is not None:  # the system's grid carries one input per point; the last is not used
        kw["u"] = np.concatenate([u, u[:, -1:]], axis=1)
    q, p = system.trajectory(q0[:, 0], p0[:, 0], t, **kw)
    return np.asarray(q)[..., None], np.asarray(p)[..., None]


def friction_metrics(D, system):
    """The recovered friction coefficient: the learned D (1 x 1 here: the systems' one coordinate)
    against the true c, both in the units of dp/dt = ... - c dq/dt with the unit mass the
    VIN fixes (M = 1, as the systems' m l^2 = 1 and m = 1)."""
    c_hat = float(np.asarray(D)[0, 0])
    c = float(system.friction)
    return {"friction": c_hat, "friction_true": c, "friction_rel_error": abs(c_hat - c) / c}


def forecast_metrics(q_pred, p_pred, q_true, p_true, energy_fn, h, horizons=(3.0, 10.0, 20.0),
                     against_truth=False):
    """Dict of rmse_<h>s for each horizon, forecast_rmse (whole span) and energy_drift."""
    sq = np.concatenate([(q_pred - q_true) ** 2, (p_pred - p_true) ** 2], axis=-1)  # (B, T+1, 2d)
    t = h * np.arange(sq.shape[1])
    out = {}
    for tau in horizons:
        mask = (t > 0) & (t <= tau + 1e-9)
        if mask.any():
            out[f"rmse_{tau:g}s"] = float(np.sqrt(np.mean(sq[:, mask])))
    out["forecast_rmse"] = float(np.sqrt(np.mean(sq[:, 1:])))
    e = energy_fn(q_pred[..., 0], p_pred[..., 0])
    if against_truth:
        e_true = energy_fn(q_true[..., 0], p_true[..., 0])
        out["energy_drift"] = float(np.mean(np.abs(e[:, 1:] - e_true[:, 1:]) / np.abs(e_true[:, :1])))
    else:
        out["energy_drift"] = float(np.mean(np.abs(e[:, 1:] - e[:, :1]) / np.abs(e[:, :1])))
    out["rmse_over_time"] = np.sqrt(np.mean(sq, axis=(0, 2))).tolist()
    return out
