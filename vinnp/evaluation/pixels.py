"""Scoring a pixel model: Table 1's forecast RMSE and log-likelihood, latent paths and embeddings.

Table 1 protocol (Section 4.2): q(x_1) is inferred from the first T = 10 frames
of the training trajectory, its *mean* is rolled forward, and the decoded
pixel means are compared with the true frames over 5 s (50 frames, the first
being t = 1, the frame the encoder's state describes):

* ``rmse``   sqrt( mean_t sum_pixels (yhat_t - y_t)^2 ): the root mean squared
  per-frame error norm. The paper does not define its RMSE; per pixel it would
  be below 1 for any picture, so its values of 3-6 are read as per-frame norms
  (two disjoint 3 px balls give sqrt(2 * 28) = 7.5).
* ``loglik`` sum_{t, pixels} log Bernoulli(y | yhat): the log-likelihood of
  the whole 5 s, which the paper reports in units of 10^2.
"""

import numpy as np

from vinnp.data.dataset import windows
from vinnp.dynamics.integrator import POSITIONS
from vinnp.models.pixel_vae import PIXELS
from vinnp.plots.pixels import FPS, plot_embeddings, plot_latent_forecasts, plot_strips

PROB_FLOOR = 1e-7  # float32 pixel means can round to exactly 0 or 1; log(0) is not a score


def frame_rmse(pred, truth):
    """sqrt(mean_t sum_pixels (pred - truth)^2) over frames (..., 28, 28)."""
    err = (np.asarray(pred, np.float64) - truth).reshape(-1, PIXELS)
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1))))


def bernoulli_loglik(pred, truth):
    """sum over frames and pixels of y log yhat + (1 - y) log(1 - yhat)."""
    mu = np.clip(np.asarray(pred, np.float64), PROB_FLOOR, 1.0 - PROB_FLOOR)
    return float(np.sum(truth * np.log(mu) + (1.0 - truth) * np.log1p(-mu)))


def forecast_frames(model, params, frames, n_frames):
    """Infer x_1 from the first T frames of each sequence and roll its mean forward.

    frames (B, >= T, 28, 28) -> (q, p (B, n, d), pixel means (B, n, 28, 28)).
    """
    q, p = model.forecast_latent(params, frames, n_frames)
    return q, p, model.decode(params, q)


def phase_point(model, mean):
    """Posterior means of x_1 (N, x_dim) -> points (N, 2) of the plane Figures 5-6 draw.

    Cells whose state is (q, p) and the DVAE: (q_1, p_1) as they are. Cells whose state is two
    positions (q_0, q_1) (``model.initial_state`` of the encoder's coordinates):
    (q_1, (q_1 - q_0) / h), the finite-difference velocity of eq. (6) (wrapped to
    (-pi, pi] for the angle); in velocity coordinates that is (q_1, v_1) itself. vae: its plane z. lg-vae:
    the point (sin th, cos th) of the circle its decoder reads.
    """
    d = model.d
    if model.kind == "vae":
        return mean[:, :2] if d >= 2 else np.concatenate([mean, np.zeros_like(mean)], axis=1)
    if model.kind == "lg-vae":
        return np.concatenate([np.sin(mean), np.cos(mean)], axis=1)
    if _two_positions(model):
        x = model.initial_state(mean)
        return _velocity_plane(model, x[:, 1, 0], x[:, 1, 0] - x[:, 0, 0])
    return np.stack([mean[:, 0], mean[:, d]], axis=1)


def _two_positions(model):
    return model.cell is not None and getattr(model.cell, "spec", None) is not None \
        and model.cell.spec.state == POSITIONS


def _velocity_plane(model, q, dq):
    """(q, dq / h), with dq wrapped to (-pi, pi] for a cell on a Lie group of angles."""
    if model.cell.spec.lie_group:
        dq = np.angle(np.exp(1j * dq))
    return np.stack([q, dq / model.h], axis=1)


def axis_names(model):
    """Names of the two axes phase_point maps a model's latent state to."""
    if model.kind == "vae":
        return ("z1", "z2")
    if model.kind == "lg-vae":
        return ("sin th", "cos th")
    if _two_positions(model):
        return ("q", "(q_t - q_t-1) / h")
    return ("q", "p")


def latent_path(model, q, p):
    """A forecast's latent states (n, d) each -> points (n, 2) in the axes of ``axis_names``."""
    if _two_positions(model):
        return _velocity_plane(model, q[:, 0], np.diff(q[:, 0], prepend=np.nan))[1:]
    return np.stack([q[:, 0], p[:, 0]], axis=1)


def embed(model, params, frames):
    """Embedding of one frame sequence (n, 28, 28) in time order -> (n - T + 1, 2).

    The dynamic models embed the window starting at each frame (their state
    needs T frames); the static ones embed every frame on its own.
    """
    win = windows(np.asarray(frames)[None], model.T)
    mean, _ = model.encode(params, win.astype(params.dtype))
    return phase_point(model, mean)


def evaluate_pixels(model, params, data, cfg, run_dir=None):
    """Table 1 metrics (dynamic models) or the reconstruction score (static ones); writes the run's figure."""
    long = data["long"]["frames"]
    n = cfg["forecast_frames"]
    out = {}
    if model.static:
        # No dynamics to forecast with: score how well each training frame is reconstructed.
        y = data["train"][0]
        mean, _ = model.encode(params, y[:, None].astype(params.dtype))
        recon = model.decode(params, mean[:, : model.d])
        out.update(recon_rmse=frame_rmse(recon, y), recon_loglik=bernoulli_loglik(recon, y))
    else:
        q, p, pix = forecast_frames(model, params, long[:, : model.T].astype(params.dtype), n)
        truth = long[0, :n]
        out.update(rmse=frame_rmse(pix[0], truth), loglik=bernoulli_loglik(pix[0], truth),
                   forecast_seconds=n * float(data["long"]["t"][1]))
    if run_dir is not None:
        plot_run(f"{run_dir}/forecast.png", model, params, data, cfg)
    return out


def plot_run(path, model, params, data, cfg):
    """One run's figure: the 20 s forecast strip and latent path, or a static model's embedding."""
    label = cfg["model"] + (" (learned mass)" if cfg["learn_mass"] else "")
    if model.static:
        rows = [(label, embed(model, params, data["train"][0]), embed(model, params, data["test"]["frames"][0]),
                 axis_names(model))]
        plot_embeddings(path, rows, f"{cfg['system']} pixels, seed {cfg['seed']}")
        return
    long = data["long"]["frames"]
    n = long.shape[1]
    q, p, pix = forecast_frames(model, params, long[:, : model.T].astype(params.dtype), n)
    plot_strips(path, long[0], [(label, pix[0])],
                f"{cfg['system']} pixels, seed {cfg['seed']}: {n / FPS:g} s forecast (grey: truth)")
    pts = latent_path(model, q[0], p[0])
    plot_latent_forecasts(path.replace(".png", "-latent.png"), [(label, pts, axis_names(model))],
                          f"{cfg['system']}: latent forecast")
