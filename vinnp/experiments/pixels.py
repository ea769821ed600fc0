"""The pixel experiment of Section 4.2: Table 1 and Figures 5-8.

Table 1: per system, its models x N randomised trials. Trial k is the run
with seed k: every model of a trial sees the same 6 s training trajectory
(the data stream of the seed is independent of the model). Each run is
scored on the 5 s forecast of Table 1 (vinnp.evaluation.pixels).

Figures, from trial 0: 5 (pendulum embeddings of the VAE, DVAE, LG-VAE and
VIN-SO(2) with learned and fixed mass, beside the truth), 6 (20 s latent
forecasts), 7 (pendulum) and 8 (mass-spring) (decoded 20 s forecasts).
"""

import os
import time

import numpy as np

from vinnp.dynamics import registry as integrators
from vinnp.experiments.runs import earlier_rows
from vinnp.evaluation.pixels import axis_names, embed, forecast_frames, latent_path
from vinnp.io import load_json, save_json, save_text
from vinnp.plots.pixels import plot_embeddings, plot_latent_forecasts, plot_strips
from vinnp.scheduling import RunSpec, execute
from vinnp.training.checkpoint import load_checkpoint
from vinnp.training.pixels import check_pixel_model, check_same_model, make_pixel_config, prepare_pixel_data, train_pixels
from vinnp.training.run import check_reuse

# Table 1's models per system, as the integrators declare them (vinnp.dynamics.registry)
TABLE_MODELS = {system: integrators.with_role(f"table-pixels-{system}") for system in ("pendulum", "spring")}
# Figure 5's embedding cell (the VIN on SO(2)), and its extra runs on the pendulum, trial 0:
# (model, learn_mass); the cell with a fixed mass is its Table 1 run
EMBEDDING_CELL = integrators.default("embedding")
EMBEDDING_RUNS = (("vae", False), ("dvae", False), ("lg-vae", False), (EMBEDDING_CELL, True))


# a row of results.json; the first three fields name its run
ROW_FIELDS = ("system", "model", "trial", "rmse", "loglik", "best_elbo", "best_step", "steps")


def run_path(system, model, trial, learn_mass=False):
    """A run's folder inside the experiment's --out."""
    return os.path.join("runs", f"{system}-{model}{'-mass' if learn_mass else ''}-t{trial}")


def train_or_reuse_pixels(cfg, run_dir, log):
    """The metrics of the pixel run ``cfg`` in ``run_dir``: read back when it finished (its
    checkpoint must hold the model the config names), else trained; an interrupted run resumes.
    The train function of every pixel RunSpec (vinnp.scheduling)."""
    check_reuse(cfg, run_dir)
    metrics_path = os.path.join(run_dir, "metrics.json")
    if os.path.exists(metrics_path):
        model_path = os.path.join(run_dir, "model.npz")
        check_same_model(cfg, load_checkpoint(model_path)[0], model_path)
        return load_json(metrics_path, "metrics.json")
    resume = os.path.exists(os.path.join(run_dir, "config.json"))  # checked by check_reuse above
    return train_pixels(cfg, run_dir, resume=resume, progress=False, log=log)


def _spec(system, model, trial, steps, learn_mass, overrides):
    cfg = make_pixel_config(system=system, model=model, seed=trial, steps=steps, learn_mass=learn_mass, **overrides)
    return RunSpec(run_path(system, model, trial, learn_mass), train_or_reuse_pixels, cfg)


def _load(run_dir):
    path = os.path.join(run_dir, "model.npz")
    model, params, _ = load_checkpoint(path)
    cfg = load_json(os.path.join(run_dir, "config.json"), "config.json")
    return check_pixel_model(model, path), params, cfg, prepare_pixel_data(cfg)


def run_pixels(out, trials=3, steps=6000, systems=("pendulum", "spring"), embeddings=True, log=print,
               first_trial=0, scheduler="none", workers=None, with_rows=None, **overrides):
    """Every run, then results.json (rows system, model, trial, rmse, loglik), results.md and the figures.

    Trials run from ``first_trial`` (a later block of trials can run apart, then all are tabled
    by one command over the whole range); the runs execute on ``scheduler``
    (vinnp.scheduling.execute). overrides: further fields of every run's config
    (vinnp.training.pixels.PIXEL_DEFAULTS), e.g. narrower networks for a quick check.
    with_rows: an earlier results.json of other trials under the same protocol, tabled with
    these (vinnp.experiments.runs.earlier_rows). Figures need trial 0 among this command's
    runs.
    """
    t0 = time.time()
    grid = [(system, model, trial) for system in systems for trial in range(first_trial, first_trial + trials)
            for model in TABLE_MODELS[system]]
    specs = [_spec(system, model, trial, steps, False, overrides) for system, model, trial in grid]
    earlier = [] if with_rows is None else earlier_rows(with_rows, ROW_FIELDS, set(grid), {"steps": steps})
    extra = []
    if embeddings and "pendulum" in systems:
        extra = [_spec("pendulum", model, 0, steps, learn_mass, overrides) for model, learn_mass in EMBEDDING_RUNS]
        extra = [s for s in extra if s.path not in {t.path for t in specs}]
    metrics = execute(specs + extra, out, scheduler, workers, log)
    rows = []
    for (system, model, trial), spec in zip(grid, specs):
        m = metrics[spec.path]
        rows.append({"system": system, "model": model, "trial": trial, "rmse": m["rmse"],
                     "loglik": m["loglik"], "best_elbo": m["best_elbo"], "best_step": m["best_step"], "steps": steps})
        log(f"{system:8s} {model:8s} trial {trial}: rmse {m['rmse']:.3f} loglik {m['loglik'] / 100:.2f}e2")
    rows = earlier + rows
    seconds = time.time() - t0
    save_json(os.path.join(out, "results.json"), rows)
    table = markdown_table(rows)
    save_text(os.path.join(out, "results.md"), table + f"\nruntime: {seconds:.0f} s ({len(specs + extra)} runs of "
                                                       f"{steps} steps, trials {first_trial}-{first_trial + trials - 1} "
                                                       f"run by this command)\n")
    if first_trial == 0:
        make_figures(out, systems, embeddings and "pendulum" in systems)
    return rows, table, seconds


def markdown_table(rows):
    """Table 1: mean ± standard error over trials of the 5 s RMSE and of log p(y | x) / 10^2."""
    lines = ["| system | model | RMSE | log-likelihood (x 10^2) | trials |", "|---|---|---|---|---|"]
    for system in dict.fromkeys(r["system"] for r in rows):
        for model in dict.fromkeys(r["model"] for r in rows if r["system"] == system):
            sel = [r for r in rows if (r["system"], r["model"]) == (system, model)]
            cells = []
            for key, scale in (("rmse", 1.0), ("loglik", 0.01)):
                v = scale * np.array([r[key] for r in sel])
                se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
                cells.append(f"{v.mean():.2f} ± {se:.2f}")
            lines.append(f"| {system} | {model} | {cells[0]} | {cells[1]} | {len(sel)} |")
    return "\n".join(lines)


def make_figures(out, systems, embeddings):
    """Figures 5-8 from the trial-0 runs in ``out``."""
    latent_rows = []
    for system in systems:
        strips, truth = [], None
        for model_name in TABLE_MODELS[system]:
            model, params, cfg, data = _load(os.path.join(out, run_path(system, model_name, 0)))
            long = data["long"]["frames"]
            q, p, pix = forecast_frames(model, params, long[:, : model.T].astype(params.dtype), long.shape[1])
            truth = long[0]
            strips.append((model_name, pix[0]))
            latent_rows.append((f"{system}: {model_name}", latent_path(model, q[0], p[0]), axis_names(model)))
        number = 7 if system == "pendulum" else 8
        plot_strips(os.path.join(out, f"figure{number}-{system}-reconstructions.png"), truth, strips,
                    f"Figure {number}: {system}, 20 s decoded forecasts from the first 1 s (trial 0; grey: truth)")
    plot_latent_forecasts(os.path.join(out, "figure6-latent-forecasts.png"), latent_rows,
                          "Figure 6: 20 s latent forecasts (circle: inferred x_1, triangles: every 5 s)")
    if not embeddings:
        return
    rows = []
    for model_name, learn_mass in EMBEDDING_RUNS[:3] + ((EMBEDDING_CELL, True), (EMBEDDING_CELL, False)):
        model, params, cfg, data = _load(os.path.join(out, run_path("pendulum", model_name, 0, learn_mass)))
        label = model_name + ("" if model_name != EMBEDDING_CELL else " (learned mass)" if learn_mass else " (fixed mass)")
        rows.append((label, embed(model, params, data["train"][0]), embed(model, params, data["test"]["frames"][0]),
                     axis_names(model)))
    truth = [data["long"]["q_true"][0, : cfg["n_frames"]], data["long"]["p_true"][0, : cfg["n_frames"]]]
    test = [data["test"]["q_true"][0], data["test"]["p_true"][0]]
    rows.append(("truth", np.concatenate(truth, axis=1), np.concatenate(test, axis=1), ("q", "p")))
    plot_embeddings(os.path.join(out, "figure5-embeddings.png"), rows, "Figure 5: pendulum embeddings")
