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
from vinnp.experiments.runs import earlier_rows, figure_row, train_or_reuse
from vinnp.scheduling import RunSpec, execute
from vinnp.training.setup import make_config

SYSTEMS = ("spring", "pendulum")
REGIMES = (25, 5)
# the paper's Section 4.1 models: its two baselines, then the integrators of its table
MODELS = ("nn", "hnn") + integrators.with_role("table-noisy")


def run_noisy(out, seeds=3, steps=10000, systems=SYSTEMS, regimes=REGIMES, models=MODELS, log=print,
              dtype="float32", first_seed=0, scheduler="none", workers=None, with_rows=None, **overrides):
    """Train (or reuse) every run, then results.json, results.md and a figure per system/regime.

    Seeds run from ``first_seed`` (a block of development seeds can be kept apart from the
    reported ones); ``overrides`` are further make_config fields (init, hidden, ...). The runs
    execute on ``scheduler`` (vinnp.scheduling.execute: none, local or tcp://HOST:PORT);
    with_rows: an earlier results.json of other seeds, tabled with these (earlier_rows).
    """
    fixed = sorted(set(overrides) & {"system", "model", "n_traj", "steps", "seed", "dtype"})
    if fixed:
        raise ValueError(f"run_noisy: {', '.join(fixed)} are set by the experiment's own arguments")
    t0 = time.time()
    grid = [(system, n_traj, model, seed) for system in systems for n_traj in regimes for model in models
            for seed in range(first_seed, first_seed + seeds)]
    specs = [RunSpec(run_path(*key), train_or_reuse,
                     make_config(system=key[0], model=key[2], n_traj=key[1], steps=steps, seed=key[3], dtype=dtype,
                                 **overrides)) for key in grid]
    earlier = [] if with_rows is None else earlier_rows(with_rows, ROW_FIELDS, set(grid))
    metrics = execute(specs, out, scheduler, workers, log)
    rows = []
    for key, spec in zip(grid, specs):
        system, n_traj, model, seed = key
        m = metrics[spec.path]
        rows.append({"system": system, "n_traj": n_traj, "model": model, "seed": seed,
                     "rmse_3s": m["rmse_3s"], "rmse_10s": m["rmse_10s"], "rmse_20s": m["rmse_20s"],
                     "rmse_mean": rmse_mean(m),
                     "energy_drift": m["energy_drift"], "chosen_steps": m["chosen_steps"],
                     "stuck": m["stuck"]})
        log(f"{system:8s} n={n_traj:2d} {model:7s} seed {seed}: rmse_mean {rows[-1]['rmse_mean']:.4f} "
            f"rmse_20s {m['rmse_20s']:.4f} drift {m['energy_drift']:.4f}")
    by_path = {spec.path: spec for spec in specs}
    for system in systems:
        for n_traj in regimes:
            # the first seed's forecasts, a row per model, for the figure
            fig_rows = []
            for model in models:
                path = run_path(system, n_traj, model, first_seed)
                row, t = figure_row(by_path[path].cfg, os.path.join(out, path))
                fig_rows.append(row)
            plot_forecasts(os.path.join(out, f"{system}-n{n_traj}.png"), fig_rows, t,
                           f"{system}, {n_traj} training trajectories (seed {first_seed})")
    rows = earlier + rows
    seconds = time.time() - t0
    save_json(os.path.join(out, "results.json"), rows)
    table = markdown_table(rows, models)
    save_text(os.path.join(out, "results.md"), table + f"\nruntime: {seconds:.0f} s\n")
    return rows, table, seconds


TABLE_METRICS = ("rmse_mean", "rmse_20s", "energy_drift")
# a row of results.json; the first four fields name its run
ROW_FIELDS = ("system", "n_traj", "model", "seed", "rmse_3s", "rmse_10s", "rmse_20s", "rmse_mean", "energy_drift",
              "chosen_steps", "stuck")


def run_path(system, n_traj, model, seed):
    """A run's folder inside the experiment's --out."""
    return os.path.join("runs", f"{system}-n{n_traj}-{model}-s{seed}")


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
