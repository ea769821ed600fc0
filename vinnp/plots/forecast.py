"""Figures in the manner of the paper's 3 and 4: paths, RMSE against time, energy against time."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vinnp.io import save_figure  # noqa: E402


def plot_forecasts(path, rows, t, title, n_paths=3):
    """rows: list of dicts {label, q_pred, p_pred, q_true, p_true, rmse_t, e_true, e_model}.

    One row of three panels per model: phase-space paths (predicted over true),
    RMSE of (q, p) against time, and energy against time (the true Hamiltonian
    of the forecast, and the model's own embedding energy where it has one).
    """
    fig, axes = plt.subplots(len(rows), 3, figsize=(13, 3.2 * len(rows)), squeeze=False)
    for ax, r in zip(axes, rows):
        for i in range(min(n_paths, r["q_true"].shape[0])):
            ax[0].plot(r["q_true"][i, :, 0], r["p_true"][i, :, 0], color="k", lw=1.5, alpha=0.6)
            ax[0].plot(r["q_pred"][i, :, 0], r["p_pred"][i, :, 0], lw=0.9, ls="--")
        ax[0].set_xlabel("q")
        ax[0].set_ylabel("p")
        ax[0].set_title(f"{r['label']}: paths (black: truth)", fontsize=9)
        ax[1].plot(t, r["rmse_t"], color="C3")
        ax[1].set_xlabel("t (s)")
        ax[1].set_ylabel("RMSE of (q, p)")
        ax[1].set_title("forecast error", fontsize=9)
        ax[2].plot(t, r["e_true"].mean(axis=0), label="true H of forecast", color="C0")
        if r.get("e_model") is not None:
            em = r["e_model"]
            ax[2].plot(t, (em - em[:, :1]).mean(axis=0) + r["e_true"][:, 0].mean(), label="model energy (shifted)",
                       color="C1", ls="--")
        ax[2].set_xlabel("t (s)")
        ax[2].set_ylabel("energy (mean over test paths)")
        ax[2].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
