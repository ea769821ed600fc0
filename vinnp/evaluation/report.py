"""Forecast a trained model from noise-free held-out initial states and report (Section 4.1)."""

import os

import numpy as np

from vinnp.evaluation.metrics import forecast_metrics, ground_truth
from vinnp.plots.forecast import plot_forecasts


def forecast_rows(model, params, data, cfg):
    """Forecasts of the test initial states with ground truth; None without a known system."""
    if data["test"] is None or data["system"] is None:
        return None
    system = data["system"]
    h = model.h  # the model was built with the data's spacing; its own h is the one it steps by
    n_steps = int(round(cfg["forecast_seconds"] / h))
    q0, p0 = data["test"]
    q_pred, p_pred = model.forecast(params, q0, p0, n_steps)
    q_pred = q_pred.astype(np.float64)
    p_pred = p_pred.astype(np.float64)
    q_true, p_true = ground_truth(system, q0, p0, n_steps, h)
    m = forecast_metrics(q_pred, p_pred, q_true, p_true, system.energy, h)
    e_model = model.energy(params, q_pred, p_pred)
    row = {"label": cfg["model"], "q_pred": q_pred, "p_pred": p_pred, "q_true": q_true, "p_true": p_true,
           "rmse_t": np.array(m["rmse_over_time"]), "e_true": system.energy(q_pred[..., 0], p_pred[..., 0]),
           "e_model": None if e_model is None else np.asarray(e_model, np.float64)}
    return m, row, h * np.arange(n_steps + 1)


def evaluate_model(model, params, data, cfg, run_dir):
    """Metrics of the chosen parameters, and forecast.png in ``run_dir``."""
    out = forecast_rows(model, params, data, cfg)
    if out is None:
        return {}
    m, row, t = out
    plot_forecasts(os.path.join(run_dir, "forecast.png"), [row], t,
                   f"{cfg['model']} on {cfg['system']}, {cfg['n_traj']} training trajectories, seed {cfg['seed']}")
    return m
