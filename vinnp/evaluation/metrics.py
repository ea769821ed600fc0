"""Forecast metrics against ground truth (Section 4.1, Figures 3-4).

``forecast_rmse``: root of the mean squared error over all time points t > 0,
trajectories and coordinates of q and p. ``energy_drift``: mean over
trajectories and time points t > 0 of |E(x_t) - E(x_0)| / |E(x_0)|, with E the
*true* Hamiltonian evaluated on the forecast.
"""

import numpy as np


def ground_truth(system, q0, p0, n_steps, h):
    """True (q, p), each (B, n_steps + 1, 1), from initial states (B, 1)."""
    t = h * np.arange(n_steps + 1)
    q, p = system.trajectory(q0[:, 0], p0[:, 0], t)
    return np.asarray(q)[..., None], np.asarray(p)[..., None]


def forecast_metrics(q_pred, p_pred, q_true, p_true, energy_fn, h, horizons=(3.0, 10.0, 20.0)):
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
    out["energy_drift"] = float(np.mean(np.abs(e[:, 1:] - e[:, :1]) / np.abs(e[:, :1])))
    out["rmse_over_time"] = np.sqrt(np.mean(sq, axis=(0, 2))).tolist()
    return out
