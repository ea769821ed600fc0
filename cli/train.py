"""``vinnp train`` and ``vinnp evaluate``: the phase-space main job."""

import datetime
import os
import time

import click

from vinnp.dynamics import registry as integrators
from vinnp.io import check_out_dir
from vinnp.models.registry import MODELS
from vinnp.systems import SYSTEMS, get_system
from vinnp.training.pixels import finish_pixels, make_pixel_config, train_pixels
from vinnp.training.run import finish_run, train_run, TrainingDiverged
from vinnp.training.rundir import load_run_config, refuse_existing
from vinnp.training.setup import make_config

# Pixel models beside the phase-space ones
PIXEL_ONLY = ("dvae", "vae", "lg-vae")
# the integrators that declare themselves the default (vinnp.dynamics.registry)
DEFAULT_MODEL = {"phase": integrators.default("default-phase"), "forced": integrators.default("default-forced"),
                 "pixels": {s: integrators.default(f"default-pixels-{s}") for s in ("pendulum", "spring")}}


@click.command()
@click.option("--system", type=click.Choice(list(SYSTEMS)), default="spring", show_default=True)
@click.option("--obs", type=click.Choice(["phase", "pixels"]), default="phase", show_default=True,
              help="Noisy phase-space observations (Sec. 4.1) or 28x28 frames (Sec. 4.2).")
@click.option("--model", type=click.Choice(list(MODELS) + list(PIXEL_ONLY)), default=None,
              help="Default: vin-vv (vin-vv-forced on a damped or driven system); with --obs pixels, vin-so2 "
                   "(pendulum) or vin-sv (spring). "
                   "dvae, vae and lg-vae are pixel baselines.")
@click.option("--n-traj", type=int, default=25, show_default=True,
              help="Training trajectories (25: moderate regime, 5: low-data regime).")
@click.option("--steps", type=int, default=None,
              help="Adam steps (default 10000; validation picks the best of 2000/5000/10000 up to this). "
                   "Pixels: default 6000 (Appendix C.2), the best training ELBO is kept.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default=None,
              help="Training precision (default float32; forecasts are evaluated in float64).")
@click.option("--learn-mass", is_flag=True, help="Learn M^-1 = L L^T instead of the identity.")
@click.option("--hidden", type=int, multiple=True, help="Hidden layer width (repeat for depth); default 200.")
@click.option("--init", "init_scheme", type=click.Choice(["uniform", "normal"]), default=None,
              help="Phase-space network initialisation (default uniform, +-1/sqrt(fan_in); "
                   "normal: N(0, 1/fan_in) weights, N(0, 1) hidden biases).")
@click.option("--warmup-steps", type=int, default=1000, show_default=True,
              help="Multiple-shooting warm-up steps for VINs (at most a quarter of --steps).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), default=None,
              help="Train on a dataset from `vinnp data` or a CSV/NPZ of your own trajectories.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="cuda: numba.cuda training steps (pip install -e '.[cuda]'); falls back to the CPU, "
                   "saying why, where no GPU is usable or the model has no CUDA kernels.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory (default runs/...).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(system, obs, model, n_traj, steps, seed, dtype, learn_mass, hidden, init_scheme, warmup_steps, data_path,
          device, out, resume, quiet):
    """Train a VIN (or a baseline) on noisy phase-space data or pixels and report its forecast."""
    t0 = time.time()
    given = _given_flags(click.get_current_context())
    claimed = []  # the default run folder (and runs/) made here, removed again if the run does not start
    if resume:
        if out is None:
            raise ValueError("--resume: name the run directory with --out")
        ignored = [flag for flag in given if flag not in ("--resume", "--out", "--quiet")]
        if ignored:
            raise ValueError(f"--resume: continues the run in {out} as its config.json describes it, so "
                             f"{', '.join(ignored)} would be ignored; drop {'it' if len(ignored) == 1 else 'them'}, "
                             f"or start a new run with another --out")
        if not os.path.exists(os.path.join(out, "config.json")):
            raise ValueError(f"--out: {out!r} is not a run directory (no config.json)")

        obs = load_run_config(out).get("obs", "phase")
        check_out_dir(out, "--out")
        cfg = None
    else:
        if obs == "pixels":
            default = DEFAULT_MODEL[obs].get(system)
        else:  # a system with friction or inputs defaults to the forced VIN
            default = DEFAULT_MODEL["forced" if get_system(system).forced and data_path is None else "phase"]
        model = model or default
        if obs == "pixels":

            if device != "cpu":
                raise ValueError("--device: pixel models train on the CPU (their wide layers are BLAS products)")
            if n_traj != 25 or data_path is not None or init_scheme is not None:
                raise ValueError("--obs pixels: each run trains on one generated 6 s trajectory; "
                                 "--n-traj, --data and --init apply to phase-space runs")
            cfg = make_pixel_config(system=system, model=model, steps=steps, seed=seed, dtype=dtype,
                                    learn_mass=learn_mass, dyn_hidden=list(hidden) or None)
        else:

            if model in PIXEL_ONLY:
                raise ValueError(f"--model: {model} is a pixel model; add --obs pixels")
            cfg = make_config(system=system, model=model, n_traj=n_traj, steps=steps, seed=seed, dtype=dtype,
                              learn_mass=learn_mass, hidden=list(hidden) or None, warmup_steps=warmup_steps,
                              data=data_path, device=device, init=init_scheme)
            unused = [flag for flag in ("--system", "--n-traj") if flag in given]
            if data_path is not None and unused:
                click.echo(f"vinnp: {' and '.join(unused)} ignored: the run trains on the trajectories in "
                           f"{data_path}", err=True)

        if out is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            tag = "pixels" if obs == "pixels" else f"n{n_traj}"
            name = f"{system}-{model}-{tag}"
            if data_path is not None:
                name = f"{os.path.splitext(os.path.basename(data_path))[0]}-{model}"
            claimed = _claim(os.path.join("runs", f"{name}-s{seed}-{stamp}"))
            out = claimed[0]
        else:
            check_out_dir(out, "--out")
            refuse_existing(out, hint="use --resume to continue it or choose another folder", name="--out")
    runner = train_pixels if obs == "pixels" else train_run
    try:
        metrics = runner(cfg, out, resume=resume, progress=not quiet, log=lambda msg: click.echo(msg, err=True))
    except TrainingDiverged as exc:
        click.echo(f"vinnp: training stopped: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        if not os.path.exists(os.path.join(out, "config.json")):
            raise  # before the run started: nothing to continue
        click.echo(f"vinnp: interrupted; continue with: vinnp train --resume --out {out}", err=True)
        return 130
    finally:
        for folder in claimed:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)  # the run did not start: no empty folder left behind
    _report(metrics, out, time.time() - t0)
    return 0


def _given_flags(ctx):
    """The options given on the command line (not taken from their defaults), as --flag names."""
    from click.core import ParameterSource

    return [p.opts[0] for p in ctx.command.params
            if ctx.get_parameter_source(p.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]


def _claim(base):
    """Make the default run folder ``base`` (or ``base-2``, ``base-3``, ... if another run took it the
    same second): creating it is the claim, so two runs never share one. Returns the folders made,
    the run folder first (its parent too where that was made)."""
    check_out_dir(base, "--out")
    made = []
    parent = os.path.dirname(base)
    if not os.path.isdir(parent):
        os.makedirs(parent)
        made.append(parent)
    for i in range(1, 10000):
        path = base if i == 1 else f"{base}-{i}"
        try:
            os.mkdir(path)
            return [path, *made]
        except FileExistsError:
            continue
    raise ValueError(f"--out: could not find a free run folder next to {base!r}; name one with --out")


def _report(metrics, out, seconds):
    click.echo(f"run directory: {out}")
    if metrics.get("obs") == "pixels":
        click.echo(f"best training ELBO: {metrics['best_elbo']:.1f} (step {metrics['best_step']})")
        if "rmse" in metrics:
            click.echo(f"{metrics['forecast_seconds']:g} s forecast: RMSE {metrics['rmse']:.3f} per frame, "
                       f"log-likelihood {metrics['loglik'] / 100:.2f} x 10^2")
        else:
            click.echo(f"reconstruction: RMSE {metrics['recon_rmse']:.3f} per frame")
        click.echo(f"wall time: {seconds:.1f} s")
        return
    click.echo(f"chosen steps (validation): {metrics['chosen_steps']}, learned noise std: {metrics['noise_std']:.4f}")
    if "forecast_rmse" in metrics:
        click.echo(f"forecast RMSE over 20 s: {metrics['forecast_rmse']:.4f}   "
                   f"(3 s: {metrics['rmse_3s']:.4f}, 10 s: {metrics['rmse_10s']:.4f})")
        click.echo(f"energy drift (mean relative, true H): {metrics['energy_drift']:.4f}")
    if "friction" in metrics:
        click.echo(f"friction coefficient: learned {metrics['friction']:.4f}, true {metrics['friction_true']:g} "
                   f"(relative error {metrics['friction_rel_error']:.1%})")
    click.echo(f"wall time: {seconds:.1f} s")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def evaluate(run_dir):
    """Recompute metrics.json and the figures of a finished run."""
    cfg = load_run_config(run_dir)
    if not os.path.exists(os.path.join(run_dir, "checkpoint.npz")):
        raise ValueError(f"RUN_DIR: {run_dir!r} has no checkpoint.npz")
    check_out_dir(run_dir, "RUN_DIR")
    t0 = time.time()
    finish = finish_pixels if cfg.get("obs") == "pixels" else finish_run
    metrics = finish(run_dir, cfg, log=lambda msg: click.echo(msg, err=True))
    _report(metrics, run_dir, time.time() - t0)
