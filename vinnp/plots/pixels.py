"""Figures of the pixel experiments, in the manner of the paper's 5-8. They take arrays and
draw; vinnp.evaluation.pixels runs the models and brings the arrays.

* ``plot_embeddings`` (Figure 5): posterior means of train and test frames in
  the latent plane, joined in time order, a panel per model plus the truth.
* ``plot_latent_forecasts`` (Figure 6): 20 s latent paths from the inferred
  initial condition, a circle at the start and a triangle every 5 s.
* ``plot_strips`` (Figures 7-8): decoded forecasts against the true frames.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vinnp.io import save_figure  # noqa: E402

FPS = 10  # frames per second of the pixel data (Section 4.2)
PRED_RGB = np.array([1.0, 0.55, 0.1])  # the forecast, drawn over the grey truth


def _overlay(pred, truth):
    """A frame pair -> RGB: truth in grey, the forecast in orange on top (paper: 'truth occluded')."""
    grey = 0.55 * truth[..., None] * np.ones(3)
    return np.clip(grey * (1.0 - pred[..., None]) + pred[..., None] * PRED_RGB, 0.0, 1.0)


def plot_strips(path, truth, rows, title, every=10):
    """truth (n, 28, 28); rows: [(label, pred (n, 28, 28))]. A column every ``every`` frames."""
    idx = np.arange(0, truth.shape[0], every)
    fig, axes = plt.subplots(len(rows) + 1, len(idx), figsize=(0.62 * len(idx) + 1.2, 0.7 * (len(rows) + 1) + 0.6),
                             squeeze=False)
    for j, k in enumerate(idx):
        axes[0, j].imshow(truth[k], cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"{k / FPS:g} s", fontsize=6)
        for i, (_, pred) in enumerate(rows, start=1):
            axes[i, j].imshow(_overlay(pred[k], truth[k]))
    for i, label in enumerate(["truth"] + [r[0] for r in rows]):
        axes[i, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _path(ax, pts, color, marker_every=5 * FPS):
    ax.plot(pts[:, 0], pts[:, 1], ".", color=color, ms=2)
    ax.plot(pts[0, 0], pts[0, 1], "o", mfc="none", mec="k", ms=8)
    marks = pts[marker_every::marker_every]
    ax.plot(marks[:, 0], marks[:, 1], "^", color="k", ms=6)


def plot_latent_forecasts(path, rows, title):
    """rows: [(label, points (n, 2), (xlabel, ylabel))], n frames at 10 Hz."""
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.2), squeeze=False)
    for ax, (label, pts, names) in zip(axes[0], rows):
        _path(ax, pts, "C1")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def plot_embeddings(path, rows, title):
    """rows: [(label, train points (n, 2), test points (m, 2), (xlabel, ylabel))]."""
    fig, axes = plt.subplots(1, len(rows), figsize=(3.0 * len(rows), 3.0), squeeze=False)
    for ax, (label, train, test, names) in zip(axes[0], rows):
        for pts, color in ((train, "k"), (test, "C0")):
            ax.plot(pts[:, 0], pts[:, 1], "-", color="0.75", lw=0.7, zorder=1)
            ax.plot(pts[:, 0], pts[:, 1], ".", color=color, ms=4, zorder=2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(names[0], fontsize=8)
        ax.set_ylabel(names[1], fontsize=8)
    fig.suptitle(title + " (black: train frames, blue: test frames)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
