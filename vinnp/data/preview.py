"""PNG previews of datasets, readable at a glance.

* phase-space data: the phase portrait (q, p) with the observed points over the
  true curves, one colour per trajectory, and q(t) beside it;
* pixel data: a strip of frames per trajectory (up to 4), every few steps,
  shape dark on light.

Uses matplotlib's object API (no pyplot, no global backend switch).
"""

import numpy as np
from matplotlib.figure import Figure

from vinnp.io import save_figure

MAX_CURVES = 25
MAX_STRIPS = 4
STRIP_FRAMES = 12


def _title(meta):
    if meta.get("system"):
        params = ", ".join(f"{k}={v:g}" for k, v in meta.get("params", {}).items())
        head = f"{meta['system']} ({params})"
    else:
        head = f"imported from {meta.get('source', '?')}"
    extra = f", noise σ={meta['noise_std']:g}" if "noise_std" in meta else ""
    return f"{head}: {meta['n_traj']} trajectories × {meta['n_steps']} steps, dt={meta['dt']:g} s{extra}"


def phase_figure(ds):
    """Figure of a noisy or imported dataset: phase portrait and q(t) (first coordinate)."""
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax_pp, ax_qt = fig.subplots(1, 2, width_ratios=(1.1, 1))
    colours = [f"C{i % 10}" for i in range(MAX_CURVES)]
    t = ds["t"]
    n = min(ds["q"].shape[0], MAX_CURVES)
    for i in range(n):
        c = colours[i]
        if "q_true" in ds and "p_true" in ds:
            ax_pp.plot(ds["q_true"][i, :, 0], ds["p_true"][i, :, 0], color=c, lw=1.2, alpha=0.8)
            ax_qt.plot(t, ds["q_true"][i, :, 0], color=c, lw=1.2, alpha=0.8)
        ax_pp.plot(ds["q"][i, :, 0], ds["p"][i, :, 0], "o", color=c, ms=2.5, alpha=0.7)
        ax_qt.plot(t, ds["q"][i, :, 0], "o", color=c, ms=2.5, alpha=0.7)
    has_truth = "q_true" in ds and "p_true" in ds
    derived_p = "p" in ds["meta"].get("derived", {})
    ax_pp.set(
        xlabel="q",
        ylabel="p = dq/dt (finite differences)" if derived_p else "p",
        title="phase portrait: lines true, dots observed" if has_truth else "phase portrait (observed)",
    )
    ax_qt.set(xlabel="t (s)", ylabel="q", title="configuration over time")
    if n < ds["q"].shape[0]:
        ax_pp.text(0.01, 0.01, f"first {n} of {ds['q'].shape[0]} trajectories", transform=ax_pp.transAxes, fontsize=8)
    fig.suptitle(_title(ds["meta"]), fontsize=10)
    return fig


def frames_figure(ds):
    """Figure of a pixel dataset: rows of frames (one row per trajectory), time under each."""
    frames, t = ds["frames"], ds["t"]
    rows = min(frames.shape[0], MAX_STRIPS)
    every = max(1, int(np.ceil(frames.shape[1] / STRIP_FRAMES)))
    steps = np.arange(0, frames.shape[1], every)
    fig = Figure(figsize=(1.0 * len(steps) + 0.6, 1.15 * rows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, len(steps), squeeze=False))
    for r in range(rows):
        for c, k in enumerate(steps):
            ax = axes[r, c]
            ax.imshow(frames[r, k], cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == rows - 1:
                ax.set_xlabel(f"t={t[k]:.1f}s", fontsize=8)
        axes[r, 0].set_ylabel(f"traj {r}", fontsize=8)
    fig.suptitle(_title(ds["meta"]) + f" (every {every}th frame)", fontsize=10)
    return fig


def save_preview(path, ds):
    """Write the preview PNG of ``ds`` to ``path`` atomically."""
    fig = frames_figure(ds) if "frames" in ds else phase_figure(ds)
    save_figure(fig, path, dpi=110)
