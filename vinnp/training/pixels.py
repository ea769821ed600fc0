"""Training a pixel model (Section 4.2, Appendix C.2) in a run directory.

One trial's data (Table 1 protocol): a trajectory of 6 s at 10 Hz (60 frames)
cut into overlapping windows of T = 10 frames (1 s; the static models use
single frames). Each Adam step (lr 3e-4) draws a batch of windows and one
reparameterisation noise per window from the run's generator; every
``eval_every`` steps the ELBO of *all* training windows under a fixed noise
draw (common random numbers, so scores are comparable across steps) decides
which parameters are kept: Appendix C.2 evaluates "the parameters with the
highest ELBO".

Run directory, as for the phase-space models (vinnp.training.run):
  config.json      everything needed to repeat the run (obs = "pixels", seed included)
  checkpoint.npz   latest parameters, best parameters, Adam moments, step and the
                   generator's state: ``resume`` ends where the uninterrupted run would
  model.npz        the kept (best-ELBO) parameters
  metrics.json     Table 1's forecast RMSE and log-likelihood (vinnp.evaluation.pixels)
  *.png            figures
"""

import math
import os
import sys

import numpy as np

from vinnp.checks import float_dtype, one_of, positive_float, positive_int
from vinnp.data.dataset import windows
from vinnp.data.pixels import PIXEL_SYSTEMS, make_pixel_dataset
from vinnp.dynamics import registry as integrators
from vinnp.evaluation.pixels import evaluate_pixels
from vinnp.io import save_json
from vinnp.models.pixel_vae import CIRCLE, PIXEL_MODELS, PIXELS, PixelVIN, STATIC
from vinnp.optim import Adam
from vinnp.training import rundir
from vinnp.training.checkpoint import load_checkpoint, save_checkpoint
from vinnp.training.run import _DeferredInterrupt, open_run, TrainingDiverged
from vinnp.training.setup import MAX_HOURS, physical_memory
from vinnp.training.rundir import arrays_digest, check_loaded, check_same_data, DATA_HASH

PIXEL_DEFAULTS = {
    "obs": "pixels",
    "system": "pendulum",
    "model": integrators.default("default-pixels-pendulum"),
    "seed": 0,
    "steps": 6000,            # Appendix C.2: "up to 6000 epochs"; one step is about one epoch (50 of 51 windows)
    "lr": 3e-4,
    "batch": 50,
    "window": 10,
    "n_frames": 60,
    "latent_dim": None,      # 1; 2 for the static "vae", whose plane embedding Figure 5 plots
    "h": None,               # PixelVIN's default: 0.1 for vin-sv and vin-so2, else 1.0 (see vinnp.models.pixel_vae)
    "learn_mass": False,
    "x1_coords": None,       # PixelVIN's default: "velocity" for vin-sv, else "state" (see vinnp.models.pixel_vae)
    "enc_hidden": 1000,
    "lstm_hidden": 50,
    "dec_hidden": 1000,
    "dyn_hidden": [1000],
    "dtype": "float32",
    "eval_every": 50,
    "checkpoint_every": 250,
    "forecast_frames": 50,   # Table 1: 5 s forecasts
    "figure_frames": 200,    # Figures 6-8: 20 s
}


def make_pixel_config(**overrides):
    """PIXEL_DEFAULTS updated by ``overrides``, validated (ValueError names the field)."""
    unknown = set(overrides) - set(PIXEL_DEFAULTS)
    if unknown:
        raise ValueError(f"config: unknown field(s) {', '.join(sorted(unknown))}")
    cfg = {**PIXEL_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}

    one_of(cfg["system"], "system", PIXEL_SYSTEMS)
    one_of(cfg["model"], "model", PIXEL_MODELS)
    if cfg["model"] in CIRCLE and cfg["system"] != "pendulum":
        raise ValueError(f"model: {cfg['model']} embeds an angle; the {cfg['system']!r} system's "
                         f"configuration is not one")
    for key in ("steps", "batch", "window", "n_frames", "enc_hidden", "lstm_hidden", "dec_hidden",
                "eval_every", "checkpoint_every", "forecast_frames", "figure_frames"):
        cfg[key] = positive_int(cfg[key], key)
    cfg["seed"] = positive_int(cfg["seed"], "seed", minimum=0)
    cfg["lr"] = positive_float(cfg["lr"], "lr")
    cfg["dtype"] = str(float_dtype(cfg["dtype"]))
    if not isinstance(cfg["dyn_hidden"], (list, tuple)):
        raise ValueError(f"dyn_hidden: expected a list of layer widths, got {cfg['dyn_hidden']!r}")
    cfg["dyn_hidden"] = [positive_int(n, "dyn_hidden") for n in cfg["dyn_hidden"]]
    cfg["learn_mass"] = bool(cfg["learn_mass"])
    if cfg["model"] in STATIC:
        cfg["window"] = 1
    if cfg["latent_dim"] is None:
        cfg["latent_dim"] = 2 if cfg["model"] == "vae" else 1
    cfg["latent_dim"] = positive_int(cfg["latent_dim"], "latent_dim")
    if cfg["h"] is not None:
        cfg["h"] = positive_float(cfg["h"], "h")
    if cfg["window"] > cfg["n_frames"]:
        raise ValueError(f"window: {cfg['window']} frames do not fit in the {cfg['n_frames']} training frames")
    if cfg["model"] not in STATIC and cfg["window"] > cfg["forecast_frames"]:
        raise ValueError(f"forecast_frames: must be at least the window ({cfg['window']}), "
                         f"got {cfg['forecast_frames']}")
    make_pixel_model(cfg)  # every model-level check (e.g. learn_mass on a ResRNN) fails here, not later
    return cfg


def check_pixel_config(cfg):
    """A pixel configuration as train_pixels takes it or config.json holds it, validated (every field
    required but x1_coords, which runs made before it existed lack; h, x1_coords and latent_dim
    may be null)."""
    return check_loaded(cfg, PIXEL_DEFAULTS, {"x1_coords": None}, ("h", "x1_coords", "latent_dim"),
                        make_pixel_config)


# CPU seconds per frame, per network weight, per Adam step of the pixel VAE: about 9e-11
# measured (the W3 bench step: 50 windows of 10 frames, the paper's widths, 166 ms on one
# core; docs/benchmarks.md), rounded up. Rough: meant to catch impossible sizes.
PIXEL_SECONDS_PER_FRAME_WEIGHT = 2e-10


def check_pixel_budget(cfg):
    """Refuse, before any frame is generated, a pixel run too large for this machine's memory or
    for MAX_HOURS of CPU (the limits of vinnp.training.setup.check_budget)."""
    E, H, D, d = cfg["enc_hidden"], cfg["lstm_hidden"], cfg["dec_hidden"], cfg["latent_dim"] or 2
    dyn = [2 * d, *cfg["dyn_hidden"], 2 * d]
    weights = (PIXELS * E + E * E + 4 * H * (E + H) + 4 * H * d + 2 * d * D + D * D + D * PIXELS
               + sum(a * b for a, b in zip(dyn[:-1], dyn[1:])))
    n_long = max(cfg["n_frames"], cfg["forecast_frames"], cfg["figure_frames"])
    n_windows = max(1, cfg["n_frames"] - cfg["window"] + 1)
    frames = min(cfg["batch"], n_windows) * cfg["window"] + n_windows * cfg["window"] / cfg["eval_every"]
    item = np.dtype(cfg["dtype"]).itemsize
    # parameters, gradient and Adam's two moments; each frame's kept activations; the frames
    memory = 4 * item * weights + frames * item * 4 * (E + D + H) + 8 * PIXELS * (n_long + n_windows * cfg["window"])
    hours = cfg["steps"] * frames * weights * PIXEL_SECONDS_PER_FRAME_WEIGHT / 3600
    fields = "enc_hidden, dec_hidden, lstm_hidden, dyn_hidden, steps, batch, window, n_frames"
    size = f"widths {E}/{H}/{D}/{cfg['dyn_hidden']}, {cfg['steps']} steps of {frames:.0f} frames"
    if memory > physical_memory():
        raise ValueError(f"{fields}: {size} would need about {memory / 2**30:.3g} GiB of memory (estimate), more "
                         f"than this machine's {physical_memory() / 2**30:.3g} GiB; use smaller layers or fewer frames")
    if hours > MAX_HOURS:
        raise ValueError(f"{fields}: {size} would train for about {hours:.3g} h on the CPU (estimate), past the "
                         f"{MAX_HOURS:g} h limit; use fewer steps, frames or smaller layers")


def prepare_pixel_run(cfg):
    """(cfg with the sha256 of its generated training frames, data), for vinnp.training.run.open_run.
    The size is checked first (check_pixel_budget)."""
    check_pixel_budget(cfg)
    data = prepare_pixel_data(cfg)
    return {**cfg, DATA_HASH: arrays_digest({"train": data["train"]})}, data


def make_pixel_model(cfg):
    return PixelVIN(cfg["model"], cfg["window"], cfg["latent_dim"], h=cfg["h"], enc_hidden=cfg["enc_hidden"],
                    lstm_hidden=cfg["lstm_hidden"], dec_hidden=cfg["dec_hidden"], dyn_hidden=cfg["dyn_hidden"],
                    learn_mass=cfg["learn_mass"], x1_coords=cfg.get("x1_coords"))


def pixel_seeds(seed):
    """Independent seeds for: the trial's trajectory, a held-out trajectory, initialisation and
    batches, and the fixed noise of the ELBO evaluations."""
    children = np.random.SeedSequence(seed).spawn(4)
    return [int(c.generate_state(1)[0]) for c in children]


def prepare_pixel_data(cfg):
    """-> dict: ``train`` (1, n_frames, 28, 28) frames of the trial's trajectory; ``long``, the same
    trajectory over figure_frames (ground truth of the forecasts); ``test``, a held-out trajectory
    (n_frames); ``windows`` the training windows (N, T, 28, 28)."""
    s_train, s_test, _, _ = pixel_seeds(cfg["seed"])
    n_long = max(cfg["n_frames"], cfg["forecast_frames"], cfg["figure_frames"])
    # One draw of the initial state, integrated over the longest horizon: the training frames
    # are its first n_frames, so forecasts are scored against the very same trajectory.
    long = make_pixel_dataset(cfg["system"], 1, s_train, n_steps=n_long)
    test = make_pixel_dataset(cfg["system"], 1, s_test, n_steps=cfg["n_frames"])
    train = long["frames"][:, : cfg["n_frames"]]
    return {"train": train, "long": long, "test": test, "windows": windows(train, cfg["window"])}


def check_pixel_model(model, path):
    if getattr(model, "family", None) != "pixel":
        raise ValueError(f"checkpoint: {path!r} holds a {model.family} (phase-space) model; pixel commands "
                         f"need a model trained with --obs pixels")
    return model


def check_same_model(cfg, saved, path):
    """The pixel model saved at ``path`` must be the one ``cfg`` builds now.

    config.json stores h and x1_coords as null where the code's default was taken, and
    defaults change (vin-sv's h and coordinates did): the checkpoint records the model
    itself, so a run started under other defaults is refused instead of being continued
    (or reused) as a different model with the same layout.
    """
    saved = check_pixel_model(saved, path)
    have, want = saved.to_json(), make_pixel_model(cfg).to_json()
    diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
    if diff:
        shown = ", ".join(f"{k} {have.get(k)!r} (now {want.get(k)!r})" for k in diff)
        raise ValueError(f"checkpoint: {path} holds a model built with other settings: {shown}; "
                         f"start a new run directory")
    return saved


def train_pixels(cfg, run_dir, resume=False, progress=True, log=None, overwrite=False):
    """Train (or resume) the pixel run in ``run_dir``; returns the final metrics dict (see train_run
    for ``resume`` and ``overwrite``)."""
    cfg, data, ckpt_path, log = open_run(cfg, run_dir, resume, log, prepare_pixel_run, overwrite)
    dtype = np.dtype(cfg["dtype"])
    frames = data["windows"].astype(dtype)
    model = make_pixel_model(cfg)
    _, _, s_init, s_eval = pixel_seeds(cfg["seed"])
    rng = np.random.default_rng(s_init)
    eps_eval = np.random.default_rng(s_eval).standard_normal((frames.shape[0], model.x_dim)).astype(dtype)
    if resume and os.path.exists(ckpt_path):
        saved, params, extra = load_checkpoint(ckpt_path)
        check_same_model(cfg, saved, ckpt_path)
        params = params.astype(dtype)
        best = extra["best_params"].astype(dtype)
        state = extra["state"]
        rng.bit_generator.state = state.pop("rng")
        opt = Adam(params.size, lr=cfg["lr"], dtype=dtype)
        opt.load_state(extra)
        log(f"resuming at step {state['step']} of {cfg['steps']}")
    else:
        if resume:
            log("no checkpoint yet: starting the run from step 0")
        params = model.init(rng, dtype)
        best = params.copy()
        opt = Adam(params.size, lr=cfg["lr"], dtype=dtype)
        state = {"step": 0, "best_elbo": -model.loss(params, frames, eps_eval), "best_step": 0, "trace": []}
    _train_loop(cfg, model, params, best, opt, frames, eps_eval, rng, state, ckpt_path, progress, log)
    return finish_pixels(run_dir, cfg, data=data, log=log)


def _train_loop(cfg, model, params, best, opt, frames, eps_eval, rng, state, ckpt_path, progress, log):
    import click


    n = frames.shape[0]
    B = min(cfg["batch"], n)
    shown = {"elbo": state["best_elbo"]}
    sink = sys.stderr if progress else open(os.devnull, "w")

    def save():
        save_checkpoint(ckpt_path, model, params, best_params=best,
                        state={**state, "rng": rng.bit_generator.state}, **opt.state())

    with _DeferredInterrupt() as interrupt, click.progressbar(
            length=cfg["steps"], label=f"{cfg['model']} pixels", file=sink,
            item_show_func=lambda _: f"best ELBO {shown['elbo']:.1f}") as bar:
        bar.update(state["step"])
        while state["step"] < cfg["steps"]:
            idx = rng.permutation(n)[:B]
            eps = rng.standard_normal((B, model.x_dim)).astype(params.dtype)
            loss, grad = model.loss_and_grad(params, frames[idx], eps)
            if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                raise TrainingDiverged(f"non-finite ELBO at step {state['step']}; the last good checkpoint "
                                       f"is kept in {ckpt_path}")
            opt.step(params, grad)
            state["step"] += 1
            step = state["step"]
            if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
                elbo = -model.loss(params, frames, eps_eval)
                state["trace"].append([step, elbo])
                if math.isfinite(elbo) and elbo > state["best_elbo"]:
                    state["best_elbo"], state["best_step"] = elbo, step
                    best[...] = params
                shown["elbo"] = state["best_elbo"]
            bar.update(1)
            if step % cfg["checkpoint_every"] == 0 or step == cfg["steps"] or interrupt.requested:
                save()
            if interrupt.requested:
                raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint written")


def finish_pixels(run_dir, cfg, data=None, log=None):
    """Write model.npz (the best-ELBO parameters), metrics.json and the run's figures."""
    if data is None:  # evaluating a finished run again: on the frames it was trained on

        checked, data = prepare_pixel_run(cfg)
        check_same_data(cfg.get(DATA_HASH), checked[DATA_HASH], f"the generated frames (seed {cfg['seed']})")
    ckpt_path = os.path.join(run_dir, "checkpoint.npz")
    model, _, extra = load_checkpoint(ckpt_path)
    check_pixel_model(model, ckpt_path)
    params = extra["best_params"]
    state = extra["state"]
    save_checkpoint(os.path.join(run_dir, "model.npz"), model, params, best_step=state["best_step"])
    metrics = {"obs": "pixels", "model": cfg["model"], "system": cfg["system"], "seed": cfg["seed"],
               "learn_mass": cfg["learn_mass"], "steps": state["step"], "best_step": state["best_step"],
               "best_elbo": state["best_elbo"], "elbo_trace": state["trace"]}
    metrics.update(evaluate_pixels(model, params, data, cfg, run_dir))
    save_json(os.path.join(run_dir, "metrics.json"), metrics)
    return metrics


rundir.CHECKS["pixels"] = check_pixel_config  # how config.json of this kind of run is validated when read back
