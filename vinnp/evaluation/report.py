"""Forecast a trained model from noise-free held-out initial states and report (Section 4.1)."""

import os

import numpy as np

from vinnp.evaluation.metrics import forecast_metrics, friction_metrics, ground_truth
from vinnp.plots.forecast import plot_fit, plot_forecasts


def forecast_rows(model, params, data, cfg):
    """Forecasts of the test initial states with ground truth; None without a known system."""
    if data["test"] is None or data["system"] is None:
        return None
    system = data["system"]
    h = model.h  # the model was built with the data's spacing; its own h is the one it steps by
    n_steps = int(round(cfg["forecast_seconds"] / h))
    q0, p0 = data["test"]
    u = data.get("test_u")
    kw = {} if u is None else {"u": u}
    q_pred, p_pred = model.forecast(params, q0, p0, n_steps, **kw)
    q_pred = q_pred.astype(np.float64)
    p_pred = p_pred.astype(np.float64)
    q_true, p_true = ground_truth(system, q0, p0, n_steps, h, u)
    m = forecast_metrics(q_pred, p_pred, q_true, p_true, system.energy, h,
                         against_truth=system.forced)
    D = model.dissipation(params) if hasattr(model, "dissipation") else None
    if D is not None and system.friction > 0:
        m.update(friction_metrics(D, system))
    e_model = model.energy(params, q_pred, p_pred)
    row = {"label": cfg["model"], "q_pred": q_pred, "p_pred": p_pred, "q_true": q_true, "p_true": p_true,
           "rmse_t": np.array(m["rmse_over_time"]), "e_true": system.energy(q_pred[..., 0], p_pred[..., 0]),
           "e_truth": system.energy(q_true[..., 0], p_true[..., 0]),
           "e_model": None if e_model is None else np.asarray(e_model, np.float64)}
    return m, row, h * np.arange(n_steps + 1)


def no_truth_reason(data):
    """Why the data give no forecast RMSE (None when they do)."""
    if data["system"] is None:
        return ("the data name no known system, so there is no true trajectory to score "
                "a forecast against; forecast.png shows the fit: forecasts of the validation trajectories "
                "from their first observation, over their observations")
    if data["test"] is None and data["system"].n_inputs:
        return ("the data's inputs cover only their own trajectories, not a forecast horizon beyond them; "
                "forecast.png shows the fit: forecasts of the validation trajectories over their observations")
    if data["test"] is None:
        return ("the validation trajectories carry no noise-free truth (q_true, p_true); forecast.png shows the "
                "fit: forecasts from their first observation, over their observations")
    return None


def fit_rows(model, params, data, n_paths=3):
    """Forecasts of (up to n_paths) validation trajectories from their first noisy observation, over
    their observed span: t (T,), observed q, p and forecast q, p, each (B, T, d)."""
    val = data["val"]
    q_obs, p_obs = val["q"][:n_paths], val["p"][:n_paths]
    n_steps = q_obs.shape[1] - 1
    u = val.get("u")
    kw = {} if u is None or not getattr(model, "n_inputs", 0) else {"u": u[:n_paths, :n_steps]}
    q_pred, p_pred = model.forecast(params, q_obs[:, 0], p_obs[:, 0], n_steps, **kw)
    return data["h"] * np.arange(n_steps + 1), q_obs, p_obs, np.asarray(q_pred, np.float64), \
        np.asarray(p_pred, np.float64)


def evaluate_model(model, params, data, cfg, run_dir):
    """Metrics of the chosen parameters, and forecast.png in ``run_dir``.

    Without ground truth (data of an unknown system) there is no RMSE: the metrics say why
    (``no_forecast_rmse``) and forecast.png shows the fit to held-out observations instead.
    """
    out = forecast_rows(model, params, data, cfg)
    if out is None:
        source = os.path.basename(cfg["data"]) if cfg.get("data") else cfg["system"]
        plot_fit(os.path.join(run_dir, "forecast.png"), *fit_rows(model, params, data),
                 f"{cfg['model']} on {source}: held-out trajectories (no ground truth)")
        return {"no_forecast_rmse": no_truth_reason(data)}
    m, row, t = out
    plot_forecasts(os.path.join(run_dir, "forecast.png"), [row], t,
                   f"{cfg['model']} on {data['system'].name}, {data['train']['q'].shape[0]} training trajectories, "
                   f"seed {cfg['seed']}")
    return m
