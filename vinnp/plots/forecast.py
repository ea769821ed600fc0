"""Figures in the manner of the paper's 3 and 4: paths, q against time, RMSE and energy against time."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vinnp.io import save_figure  # noqa: E402

TRUTH = dict(lw=3.2, alpha=0.35, solid_capstyle="round", zorder=1)  # wide and pale, under the forecast
FORECAST = dict(lw=1.3, ls="--", zorder=2)


def _limits(*arrays, margin=0.6):
    """Axis limits around the truth with a margin: a forecast that diverges leaves the frame
    instead of squashing every other curve."""
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    pad = margin * max(hi - lo, 1e-9)
    return lo - pad, hi + pad


def plot_forecasts(path, rows, t, title, n_paths=3):
    """rows: list of dicts {label, q_pred, p_pred, q_true, p_true, rmse_t, e_true, e_model[, e_truth]}.

    One row of four panels per model: phase-space paths (each forecast dashed over its truth,
    drawn wide and pale in the same colour), q against time (the phase error: where the
    forecast runs ahead of or behind the truth), RMSE of (q, p) against time, and energy
    against time (the true Hamiltonian of the truth and of the forecast, and the model's own
    energy where it has one). Each column shares one y-scale across the rows, so models compare
    at a glance; paths and q are framed around the truth, so a diverging forecast leaves the
    frame instead of flattening the others.
    """
    n = len(rows)
    fig, axes = plt.subplots(n, 4, figsize=(17, 3.3 * n), squeeze=False, sharex="col", sharey="col")
    k = min(n_paths, rows[0]["q_true"].shape[0])
    ref = rows[0]
    for ax, r in zip(axes, rows):
        for i in range(k):
            color = f"C{i}"
            ax[0].plot(r["q_true"][i, :, 0], r["p_true"][i, :, 0], color=color, **TRUTH)
            ax[0].plot(r["q_pred"][i, :, 0], r["p_pred"][i, :, 0], color=color, **FORECAST)
            ax[1].plot(t, r["q_true"][i, :, 0], color=color, **TRUTH)
            ax[1].plot(t, r["q_pred"][i, :, 0], color=color, **FORECAST)
        ax[0].set_ylabel(f"{r['label']}\np")
        ax[0].set_title("paths (wide pale: truth, dashed: forecast)", fontsize=9)
        ax[1].set_ylabel("q")
        ax[1].set_title("q against time (phase error)", fontsize=9)
        ax[2].plot(t, r["rmse_t"], color="C3")
        ax[2].set_ylabel("RMSE of (q, p)")
        ax[2].set_title("forecast error", fontsize=9)
        if r.get("e_truth") is not None:
            ax[3].plot(t, r["e_truth"].mean(axis=0), label="true energy (truth)", color="k", **TRUTH)
        ax[3].plot(t, r["e_true"].mean(axis=0), label="true H of forecast", color="C0")
        if r.get("e_model") is not None:
            em = r["e_model"]
            ax[3].plot(t, (em - em[:, :1]).mean(axis=0) + r["e_true"][:, 0].mean(), label="model energy (shifted)",
                       color="C1", ls="--")
        ax[3].set_ylabel("energy (mean over test paths)")
        ax[3].legend(fontsize=7)
    ax0 = axes[0]
    ax0[0].set_xlim(*_limits(ref["q_true"][:k, :, 0]))
    ax0[0].set_ylim(*_limits(ref["p_true"][:k, :, 0]))
    ax0[1].set_ylim(*_limits(ref["q_true"][:k, :, 0]))
    for ax in axes[-1]:
        ax.set_xlabel("t (s)")
    axes[-1][0].set_xlabel("q")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def plot_fit(path, t, q_obs, p_obs, q_pred, p_pred, title):
    """Forecasts over observed trajectories, where no ground truth exists (the first coordinate).

    t: (T,) s; q_obs, p_obs: observations, q_pred, p_pred: forecasts from the first
    observation, each (B, T, d). Panels: phase space, q against time, p against time.
    """
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.6))
    for i in range(q_obs.shape[0]):
        color = f"C{i}"
        ax[0].plot(q_obs[i, :, 0], p_obs[i, :, 0], "o", color=color, ms=3.5, alpha=0.6)
        ax[0].plot(q_pred[i, :, 0], p_pred[i, :, 0], color=color, lw=1.5)
        ax[1].plot(t, q_obs[i, :, 0], "o", color=color, ms=3.5, alpha=0.6)
        ax[1].plot(t, q_pred[i, :, 0], color=color, lw=1.5)
        ax[2].plot(t, p_obs[i, :, 0], "o", color=color, ms=3.5, alpha=0.6)
        ax[2].plot(t, p_pred[i, :, 0], color=color, lw=1.5)
    coord = "" if q_obs.shape[2] == 1 else "0"
    ax[0].set_xlabel(f"q{coord}")
    ax[0].set_ylabel(f"p{coord}")
    ax[0].set_title("phase space (dots: observations, lines: forecast)", fontsize=9)
    for a, name in ((ax[1], "q"), (ax[2], "p")):
        a.set_xlabel("t (s)")
        a.set_ylabel(name + coord)
        a.set_title(f"{name}{coord} against time", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
