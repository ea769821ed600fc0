"""Friction and control: forced VINs against the baselines on damped and driven systems.

Three systems (damped-spring, damped-pendulum: viscous friction c = 0.1; driven-pendulum:
friction and a torque input u, random smooth sequences) x {NN and HNN (taking u as an extra
input where the data have one), the dissipative HNN (H_theta plus a learned Rayleigh
dissipation), the conservative VIN-VV, the forced VIN-SV and VIN-VV} x seeds, each trained
on 25 noisy 3 s trajectories as in Section 4.1 and scored on 20 s forecasts from
noise-free held-out states (under held-out input sequences on the driven pendulum). A model
that cannot take the data's inputs (the conservative VIN-VV on the driven pendulum) is not
run: its table cell says so.

Reported per run: forecast RMSE (3, 10, 20 s and the mean of the RMSE(t) curve), the energy
error against the true trajectory's energy, and for the models with a learned dissipation
the recovered friction coefficient and its relative error against the true c.
"""

import os
import time

import numpy as np

from vinnp.dynamics import registry as integrators
from vinnp.experiments.noisy import rmse_mean
from vinnp.experiments.runs import figure_row, train_or_reuse
from vinnp.io import save_json, save_text
from vinnp.plots.forecast import plot_forecasts
from vinnp.scheduling import RunSpec, execute
from vinnp.systems import get_system
from vinnp.training.setup import make_config

SYSTEMS = ("damped-spring", "damped-pendulum", "driven-pendulum")
MODELS = ("nn", "hnn", "dhnn", "vin-vv") + tuple(n for n, s in integrators.INTEGRATORS.items()
                                                 if s.forced)
TABLE_METRICS = ("rmse_mean", "rmse_20s", "energy_drift", "friction", "friction_rel_error")


def runnable(system, model):
    """Whether ``model`` can be trained on ``system``'s data (a cell without inputs cannot take u)."""
    spec = integrators.INTEGRATORS.get(model)
    return not (get_system(system).n_inputs and spec is not None and not spec.forced)


def run_forced(out, seeds=5, steps=10000, systems=SYSTEMS, models=MODELS, log=print, dtype="float32",
               first_seed=0, scheduler="none", workers=None):
    """Train (or reuse) every run, then results.json, results.md and a forecast figure per system.
    The runs execute on ``scheduler`` (vinnp.scheduling.execute)."""
    t0 = time.time()
    grid = [(system, model, seed) for system in systems for model in models if runnable(system, model)
            for seed in range(first_seed, first_seed + seeds)]
    specs = [RunSpec(run_path(*key), train_or_reuse,
                     make_config(system=key[0], model=key[1], steps=steps, seed=key[2], dtype=dtype)) for key in grid]
    metrics = execute(specs, out, scheduler, workers, log)
    rows = []
    for (system, model, seed), spec in zip(grid, specs):
        m = metrics[spec.path]
        row = {"system": system, "model": model, "seed": seed, "rmse_mean": rmse_mean(m),
               **{k: m[k] for k in ("rmse_3s", "rmse_10s", "rmse_20s", "energy_drift", "chosen_steps", "stuck")}}
        row.update({k: m[k] for k in ("friction", "friction_true", "friction_rel_error") if k in m})
        rows.append(row)
        friction = f" friction {m['friction']:.4f} ({m['friction_rel_error']:.1%})" if "friction" in m else ""
        log(f"{system:16s} {model:14s} seed {seed}: rmse_mean {row['rmse_mean']:.4f} rmse_20s "
            f"{m['rmse_20s']:.4f} energy {m['energy_drift']:.4f}{friction}")
    by_path = {spec.path: spec for spec in specs}
    for system in systems:
        fig_rows, t = [], None
        for model in models:
            if runnable(system, model):
                path = run_path(system, model, first_seed)
                fig_row, t = figure_row(by_path[path].cfg, os.path.join(out, path))
                fig_rows.append(fig_row)
        plot_forecasts(os.path.join(out, f"{system}.png"), fig_rows, t,
                       f"{system}: 20 s forecasts from held-out states (seed {first_seed})")
    seconds = time.time() - t0
    save_json(os.path.join(out, "results.json"), rows)
    table = markdown_table(rows, [m for m in models if any(r["model"] == m for r in rows)])
    save_text(os.path.join(out, "results.md"), table + f"\nruntime: {seconds:.0f} s\n")
    return rows, table, seconds


def run_path(system, model, seed):
    """A run's folder inside the experiment's --out."""
    return os.path.join("runs", f"{system}-{model}-s{seed}")


def markdown_table(rows, models, metrics=TABLE_METRICS):
    """Mean ± standard error over seeds of each metric, a line per system and metric, a column per
    model; "n/a" where the model was not run on the system or has no such metric."""
    lines = ["| system (metric) | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    systems = list(dict.fromkeys(r["system"] for r in rows))
    for metric in metrics:
        for system in systems:
            cells = []
            for model in models:
                v = np.array([r[metric] for r in rows if (r["system"], r["model"]) == (system, model) and metric in r])
                se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
                cells.append(f"{v.mean():.3f} ± {se:.3f}" if v.size else "n/a")
            lines.append(f"| {system} ({metric}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
