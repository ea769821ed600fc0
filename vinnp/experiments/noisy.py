"""The noisy phase-space experiment of Section 4.1 (Figures 3-4 and the issue's table).

Both systems x both regimes (25 and 5 training trajectories) x every model x
seeds. Each run chooses its step count on validation data and is scored on
20 s forecasts from noise-free held-out initial states.
"""

import os
import time

import numpy as np

from vinnp.dynamics import registry as integrators
from vinnp.io import save_json, save_text
from vinnp.plots.forecast import plot_forecasts
from vinnp.experiments.runs import figure_row, train_or_reuse
from vinnp.training.setup import make_config

SYSTEMS = ("spring", "pendulum")
REGIMES = (25, 5)
# the paper's Section 4.1 models: its two baselines, then the integrators of its table
MODELS = ("nn", "hnn") + integrators.with_role("table-noisy")


def run_noisy(out, seeds=3, steps=10000, systems=SYSTEMS, regimes=REGIMES, models=MODELS, log=print,
              progress=False, dtype="float32", first_seed=0, **overrides):
    """Train (or reuse) every run, then results.json, results.md and a figure per system/regime.

    Seeds run from ``first_seed`` (a block of development seeds can be kept apart from the
    reported ones); ``overrides`` are further make_config fields (init, hidden, ...).
    """
    fixed = sorted(set(overrides) & {"system", "model", "n_traj", "steps", "seed", "dtype"})
    if fixed:
        raise ValueError(f"run_noisy: {', '.join(fixed)} are set by the experiment's own arguments")
    t0 = time.time()
    rows = []
    for system in systems:
        for n_traj in regimes:
            fig_rows = []
            for model in models:
                for seed in range(first_seed, first_seed + seeds):
                    cfg = make_config(system=system, model=model, n_traj=n_traj, steps=steps, seed=seed, dtype=dtype,
                                      **overrides)
                    m = train_or_reuse(cfg, os.path.join(out, "runs", f"{system}-n{n_traj}-{model}-s{seed}"), log,
                                       progress)
                    rows.append({"system": system, "n_traj": n_traj, "model": model, "seed": seed,
                                 "rmse_3s": m["rmse_3s"], "rmse_10s": m["rmse_10s"], "rmse_20s": m["rmse_20s"],
                                 "rmse_mean": rmse_mean(m),
                                 "energy_drift": m["energy_drift"], "chosen_steps": m["chosen_steps"],
                                 "stuck": m["stuck"]})
                    log(f"{system:8s} n={n_traj:2d} {model:7s} seed {seed}: rmse_mean {rows[-1]['rmse_mean']:.4f} "
                        f"rmse_20s {m['rmse_20s']:.4f} "
                        f"drift {m['energy_drift']:.4f} ({time.time() - t0:.0f} s)")
                # the first seed's forecasts, a row per model, for the figure
                cfg0 = make_config(system=system, model=model, n_traj=n_traj, steps=steps, seed=first_seed,
                                   dtype=dtype, **overrides)
                row, t = figure_row(cfg0, os.path.join(out, "runs", f"{system}-n{n_traj}-{model}-s{first_seed}"))
                fig_rows.append(row)
            plot_forecasts(os.path.join(out, f"{system}-n{n_traj}.png"), fig_rows, t,
                           f"{system}, {n_traj} training trajectories (seed {first_seed})")
    seconds = time.time() - t0
    save_json(os.path.join(out, "results.json"), rows)
    table = markdown_table(rows, models)
    save_text(os.path.join(out, "results.md"), table + f"\nruntime: {seconds:.0f} s\n")
    return rows, table, seconds


TABLE_METRICS = ("rmse_mean", "rmse_20s", "energy_drift")


def rmse_mean(metrics):
    """The table's headline: the RMSE(t) curve averaged over the forecast's time points t > 0."""
    return float(np.mean(metrics["rmse_over_time"][1:]))


def markdown_table(rows, models=MODELS, metrics=TABLE_METRICS):
    """Mean (± standard error over seeds) of each metric per system/regime/model.

    rmse_mean, the RMSE(t) curve of Figures 3-4 averaged over the 20 s, is the issue's
    "mean RMSE over 20 s forecasts"; rmse_20s pools the squared errors of the whole span
    before the root, and so weighs the late, larger errors more.
    """
    lines = ["| system / regime | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    keys = sorted({(r["system"], r["n_traj"]) for r in rows}, key=lambda k: (k[0], -k[1]))
    for metric in metrics:
        for system, n in keys:
            cells = []
            for model in models:
                v = np.array([r[metric] for r in rows if (r["system"], r["n_traj"], r["model"]) == (system, n, model)])
                se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
                cells.append(f"{v.mean():.3f} ± {se:.3f}" if v.size else "–")
            lines.append(f"| {system} / {n} traj. ({metric}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
