"""The eps-sweep figure of ``vinnp gradcheck --eps-sweep``: error against difference step."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vinnp.io import save_figure  # noqa: E402


def plot_eps_sweep(path, eps_values, errors, tol):
    """errors: {block name: max relative error per eps}. One colour per block family (the
    name before "["), the family's blocks in that colour with their own markers; the legend
    names families and sits beside the axes, off the data."""
    families = sorted({name.split("[")[0] for name in errors})
    colours = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    markers = "o^sDvP*Xh<>"
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for k, family in enumerate(families):
        names = [n for n in errors if n.split("[")[0] == family]
        for j, name in enumerate(names):
            ax.loglog(eps_values, np.maximum(errors[name], 1e-17), color=colours(k % colours.N),
                      marker=markers[j % len(markers)], ms=3, lw=0.8, alpha=0.8,
                      label=f"{family} ({len(names)} blocks)" if j == 0 else None)
    ax.axhline(tol, color="k", ls="--", lw=0.8, label=f"tolerance {tol:g}")
    ax.set_xlabel("difference step eps (two-point central difference)")
    ax.set_ylabel("max relative error vs hand-written gradient")
    ax.set_title("Truncation error (~eps^2) meets round-off (~1/eps)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path
