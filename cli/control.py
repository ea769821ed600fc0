"""``vinnp control``: model-predictive control of the true system on a trained forced VIN."""

import json
import os
import sys

import click

import numpy as np

from vinnp.checks import positive_float, positive_int
from vinnp.control import CEMPlanner, run_closed_loop, score_hold
from vinnp.control.truth import CONTROLLED, TrueSystem
from vinnp.evaluation.embedded import EmbeddedVIN


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--target", type=float, default=0.5, show_default=True, help="Target angle q (rad).")
@click.option("--hold", type=float, default=5.0, show_default=True, help="Seconds the target must be held.")
@click.option("--tol", type=float, default=0.05, show_default=True, help="Hold tolerance |q - target| (rad).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the planner's random draws.")
@click.option("--horizon", type=int, default=15, show_default=True, help="Planning horizon H (model steps).")
@click.option("--samples", type=int, default=100, show_default=True, help="Control sequences N per CEM iteration.")
@click.option("--iters", type=int, default=4, show_default=True, help="CEM iterations per control step.")
@click.option("--seconds", type=float, default=None, help="Length of the closed-loop run (s); default hold + 5.")
def control(run_dir, target, hold, tol, seed, horizon, samples, iters, seconds):
    """Bring the true system of RUN_DIR from rest at q = 0 to --target and hold it, planning on RUN_DIR/model.npz.

    Plans by the cross-entropy method on the run's forced VIN (NumPy only), applies the
    first control to the true system (DOP853) for one model step, repeats; then prints the
    score, one line per figure. Exit status 0 whether or not the hold succeeded.
    """
    horizon = positive_int(horizon, "--horizon")
    samples = positive_int(samples, "--samples", minimum=2)
    iters = positive_int(iters, "--iters")
    hold = positive_float(hold, "--hold")
    tol = positive_float(tol, "--tol")
    seconds = hold + 5.0 if seconds is None else positive_float(seconds, "--seconds")
    if seconds < hold:
        raise ValueError(f"--seconds: expected at least --hold ({hold:g} s), got {seconds:g}")
    if not 0 <= seed < 2 ** 63:
        raise ValueError(f"--seed: expected an integer in [0, 2**63), got {seed}")
    system = _true_system(run_dir)
    target = system.check_target(target, "--target")

    model = _load_model(os.path.join(run_dir, "model.npz"), system)
    h = positive_float(float(model.h), "model.npz: h")
    planner = CEMPlanner(model.rollout, n_inputs=model.n_inputs, u_max=system.u_max, horizon=horizon,
                         n_samples=samples, n_iters=iters, target=target)
    n_steps = max(1, int(round(seconds / h)))
    run = run_closed_loop(planner, lambda q, p, u: system.step(q, p, u, h), np.zeros(system.dim),
                          np.zeros(system.dim), n_steps, h=h, rng=np.random.default_rng(seed))
    score = score_hold(run, target, tol=tol, hold=hold)

    out = sys.stdout
    out.write(f"control: target {target:g} rad, hold within {tol:g} rad for {hold:g} s; "
              f"{n_steps} steps of {h:g} s; H={horizon} N={samples} iters={iters} seed={seed}\n")
    start = score["hold_start_s"]
    out.write(f"hold start: {'-' if start is None else f'{start:.2f} s'}\n")
    out.write(f"success: {'yes' if score['success'] else 'no'}\n")
    dev = score["max_hold_deviation"]
    out.write(f"max deviation during hold: {'-' if dev is None else f'{dev:.4f} rad'}\n")
    out.write(f"planner time per step, mean: {1e3 * score['plan_mean_s']:.2f} ms\n")
    out.write(f"planner time per step, max: {1e3 * score['plan_max_s']:.2f} ms\n")


def _true_system(run_dir):
    """The true system of the run (config.json's "system"), if it has control inputs."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"RUN_DIR: {run_dir!r} is not a run directory (no such folder)")
    for name in ("config.json", "model.npz"):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise ValueError(f"RUN_DIR: {run_dir!r} has no {name}; expected a finished run of `vinnp train`")
    try:
        with open(os.path.join(run_dir, "config.json")) as fh:
            name = json.load(fh)["system"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"RUN_DIR: {run_dir!r} has an unreadable config.json ({exc!r})") from None
    if name not in CONTROLLED:
        raise ValueError(f"RUN_DIR: the run's system is {name!r}, which has no control inputs; "
                         f"expected a run of {', '.join(CONTROLLED)}")
    return TrueSystem.named(name)


def _load_model(path, system):
    """The run's forced VIN, loaded with NumPy alone; refused unless its inputs match the system's."""
    model = EmbeddedVIN.load(path)
    if model.n_inputs == 0:
        raise ValueError(f"model.npz: {path!r} is a model without control inputs; `vinnp control` needs a "
                         f"forced VIN trained on a system with inputs")
    if model.n_inputs != system.n_inputs or model.dim != system.dim:
        raise ValueError(f"model.npz: the model has {model.dim} coordinate(s) and {model.n_inputs} input(s); "
                         f"the run's system has {system.dim} and {system.n_inputs}")
    return model
