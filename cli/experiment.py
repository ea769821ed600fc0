"""``vinnp experiment``: the paper's experiments end to end."""

import click

from vinnp.checks import one_of, positive_int
from vinnp.experiments import forced as forced_experiment
from vinnp.experiments.noisy import run_noisy
from vinnp.experiments.pixels import run_pixels
from vinnp.scheduling import resolve_scheduler
from vinnp.cli.scheduling import scheduler_options


@click.group()
def experiment():
    """Run one of the paper's experiments and write its table and figures."""


@experiment.command()
@click.option("--seeds", type=int, default=3, show_default=True)
@click.option("--steps", type=int, default=10000, show_default=True,
              help="Largest step count; validation chooses among 2000/5000/10000 up to it.")
@click.option("--out", type=click.Path(file_okay=False), default="runs/experiment-noisy", show_default=True)
@click.option("--systems", default="spring,pendulum", show_default=True)
@click.option("--regimes", default="25,5", show_default=True, help="Training-trajectory counts.")
@click.option("--models", default="nn,hnn,vin-sv,vin-vv", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
              help="Training precision of every run (forecasts are evaluated in float64).")
@click.option("--first-seed", type=int, default=0, show_default=True,
              help="Seeds run from here (e.g. 100: development seeds kept apart from the reported 0, 1, ...).")
@click.option("--init", "init_scheme", type=click.Choice(["uniform", "normal"]), default=None,
              help="Network initialisation of every run (default uniform; see vinnp train --help).")
@click.option("--with-rows", type=click.Path(dir_okay=False), default=None,
              help="An earlier results.json of other seeds (e.g. docs/noisy-results.json) to table with these runs.")
@scheduler_options
def noisy(seeds, steps, out, systems, regimes, models, dtype, first_seed, init_scheme, with_rows, scheduler, workers):
    """Section 4.1: both systems x both regimes x {NN, HNN, VIN-SV, VIN-VV} x seeds.

    Finished runs inside --out are reused, and an interrupted one resumes, so
    the command can be re-run after an interruption.
    """
    scheduler, workers = resolve_scheduler(scheduler, workers)
    positive_int(seeds, "--seeds")
    positive_int(first_seed, "--first-seed", minimum=0)
    try:
        regimes = tuple(positive_int(int(r), "--regimes") for r in regimes.split(","))
    except ValueError:
        raise ValueError(f"--regimes: expected comma-separated trajectory counts, got {regimes!r}") from None
    rows, table, seconds = run_noisy(out, seeds=seeds, steps=steps, systems=tuple(systems.split(",")),
                                     regimes=regimes, models=tuple(models.split(",")), dtype=dtype,
                                     first_seed=first_seed, init=init_scheme, with_rows=with_rows,
                                     scheduler=scheduler, workers=workers, log=lambda m: click.echo(m, err=True))
    click.echo(table)
    click.echo(f"runtime: {seconds:.0f} s; results in {out}/results.json, figures {out}/*.png")


@experiment.command()
@click.option("--trials", type=int, default=3, show_default=True, help="Randomised trials (the paper: 10).")
@click.option("--steps", type=int, default=6000, show_default=True,
              help="Adam steps per run (batches of 50 windows: about one epoch each).")
@click.option("--out", type=click.Path(file_okay=False), default="runs/experiment-pixels", show_default=True)
@click.option("--systems", default="pendulum,spring", show_default=True)
@click.option("--embeddings/--no-embeddings", default=True, show_default=True,
              help="Also train Figure 5's VAE, DVAE, LG-VAE and learned-mass VIN-SO(2) on the pendulum.")
@click.option("--first-trial", type=int, default=0, show_default=True,
              help="Trials run from here (e.g. 6 with --trials 4: trials 6-9). Figures need trial 0.")
@click.option("--with-rows", type=click.Path(dir_okay=False), default=None,
              help="An earlier results.json of other trials (e.g. docs/pixel-results.json) to table with these runs.")
@scheduler_options
def pixels(trials, steps, out, systems, embeddings, first_trial, with_rows, scheduler, workers):
    """Section 4.2: Table 1 (5 s forecast RMSE and log-likelihood) and Figures 5-8.

    Finished runs inside --out are reused and an interrupted one resumes, so
    the command can be re-run after an interruption.
    """
    scheduler, workers = resolve_scheduler(scheduler, workers)
    positive_int(trials, "--trials")
    positive_int(first_trial, "--first-trial", minimum=0)
    positive_int(steps, "--steps")
    names = tuple(s for s in systems.split(",") if s)
    for name in names:
        one_of(name, "--systems", ("pendulum", "spring"))
    if not names:
        raise ValueError("--systems: expected pendulum, spring or both (comma-separated)")
    rows, table, seconds = run_pixels(out, trials=trials, steps=steps, systems=names, embeddings=embeddings,
                                      first_trial=first_trial, with_rows=with_rows, scheduler=scheduler,
                                      workers=workers, log=lambda m: click.echo(m, err=True))
    click.echo(table)
    click.echo(f"runtime: {seconds:.0f} s; results in {out}/results.json, figures {out}/figure*.png")


@experiment.command()
@click.option("--seeds", type=int, default=5, show_default=True)
@click.option("--steps", type=int, default=10000, show_default=True,
              help="Largest step count; validation chooses among 2000/5000/10000 up to it.")
@click.option("--out", type=click.Path(file_okay=False), default="runs/experiment-forced", show_default=True)
@click.option("--systems", default=",".join(forced_experiment.SYSTEMS), show_default=True)
@click.option("--models", default=",".join(forced_experiment.MODELS), show_default=True)
@click.option("--first-seed", type=int, default=0, show_default=True)
@scheduler_options
def forced(seeds, steps, out, systems, models, first_seed, scheduler, workers):
    """Friction and control: damped and driven systems x {NN, HNN, dissipative HNN, VIN-VV, forced
    VIN-SV, forced VIN-VV} x seeds; forecast RMSE, energy error and the recovered friction.

    Finished runs inside --out are reused, and an interrupted one resumes.
    """
    scheduler, workers = resolve_scheduler(scheduler, workers)
    positive_int(seeds, "--seeds")
    positive_int(steps, "--steps")
    positive_int(first_seed, "--first-seed", minimum=0)
    names = tuple(s for s in systems.split(",") if s)
    chosen = tuple(m for m in models.split(",") if m)
    for name in names:
        one_of(name, "--systems", forced_experiment.SYSTEMS)
    for name in chosen:
        one_of(name, "--models", forced_experiment.MODELS)
    if not names or not chosen:
        raise ValueError("--systems/--models: expected at least one name (comma-separated)")
    rows, table, seconds = forced_experiment.run_forced(out, seeds=seeds, steps=steps, systems=names, models=chosen,
                                                        first_seed=first_seed, scheduler=scheduler, workers=workers,
                                                        log=lambda m: click.echo(m, err=True))
    click.echo(table)
    click.echo(f"runtime: {seconds:.0f} s; results in {out}/results.json, figures {out}/*.png")
