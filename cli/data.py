"""``vinnp data``: generate (or import) one dataset into a folder, with a PNG preview."""

import os

import click
from vinnp.data.dataset import save_dataset
from vinnp.data.importers import import_trajectories
from vinnp.data.noisy import make_noisy_dataset
from vinnp.data.pixels import make_pixel_dataset
from vinnp.data.preview import save_preview
from vinnp.io import check_out_dir
from vinnp.systems import INPUT_KINDS, SYSTEMS, get_system

DATASET_FILE = "dataset.npz"
PREVIEW_FILE = "preview.png"


@click.command("data")
@click.option("--system", "system_name", type=click.Choice(list(SYSTEMS)),
              help="System to simulate (damped-* lose energy to friction; driven-pendulum also records its torque u).")
@click.option("--obs", type=click.Choice(["noisy", "pixels"]), default="noisy", show_default=True,
              help="Noisy phase-space observations (Section 4.1) or 28x28 frames (Section 4.2).")
@click.option("--n-traj", type=int, default=None,
              help="Trajectories [default: 25 noisy (the moderate regime), 1 pixels (one 6 s trajectory, Section 4.2)].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of every random draw; use another seed for held-out test data.")
@click.option("--n-steps", type=int, default=None, help="Points per trajectory [default: 30 noisy, 60 pixels].")
@click.option("--dt", type=float, default=0.1, show_default=True, help="Time step in seconds.")
@click.option("--noise-std", type=float, default=0.1, show_default=True,
              help="Noise σ on q, p, dq/dt, dp/dt (noisy only).")
@click.option("--energy-range", type=float, nargs=2, default=None,
              help="LO HI energies [default: the system's Appendix C.1 range].")
@click.option("--inputs", "input_kind", type=click.Choice(list(INPUT_KINDS)), default="sines", show_default=True,
              help="Random torques of driven-pendulum: smooth sums of sinusoids, or piecewise-constant steps.")
@click.option("--import", "import_path", type=click.Path(dir_okay=False), default=None,
              help="Import your own trajectories from a .csv or .npz instead of simulating.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--force", is_flag=True, help="Replace a dataset already in --out.")
def data(system_name, obs, n_traj, seed, n_steps, dt, noise_std, energy_range, input_kind, import_path, out_dir,
         force):
    """Write DIR/dataset.npz and DIR/preview.png (phase portrait or strip of frames)."""
    dataset_path = os.path.join(out_dir, DATASET_FILE)
    preview_path = os.path.join(out_dir, PREVIEW_FILE)

    check_out_dir(out_dir, "--out")  # a folder that can be made and written, before any work
    if os.path.exists(dataset_path) and not force:
        raise ValueError(f"--out: {out_dir!r} already holds a dataset ({DATASET_FILE}); pass --force to replace it")
    ds = _build(system_name, obs, n_traj, seed, n_steps, dt, noise_std, energy_range, input_kind, import_path)


    save_dataset(dataset_path, ds, overwrite=force)
    try:
        save_preview(preview_path, ds)
    except BaseException:
        os.unlink(dataset_path)  # no dataset without its preview
        raise
    meta = ds["meta"]
    what = meta["system"] or f"from {meta['source']}"
    size = f"{meta['n_traj']} trajectories x {meta['n_steps']} steps"
    click.echo(f"wrote {dataset_path} ({meta['obs']} {what}: {size}) and {preview_path}")


def _build(system_name, obs, n_traj, seed, n_steps, dt, noise_std, energy_range, input_kind, import_path):
    if import_path is not None:
        if system_name is not None:
            raise ValueError("--import: give either --import or --system, not both")

        return import_trajectories(import_path, n_steps=n_steps)
    if system_name is None:
        raise ValueError(f"--system: required ({', '.join(SYSTEMS)}) unless --import is given")
    kwargs = {"n_steps": n_steps} if n_steps is not None else {}
    if obs == "noisy":

        n_traj = 25 if n_traj is None else n_traj
        return make_noisy_dataset(system_name, n_traj, seed, dt=dt, noise_std=noise_std, energy_range=energy_range,
                                  input_kind=input_kind, **kwargs)

    if get_system(system_name).forced:  # the pictures and pixel models of Section 4.2 are of the ideal systems
        raise ValueError(f"--obs: pixels are rendered for spring and pendulum only, not {system_name}")
    n_traj = 1 if n_traj is None else n_traj
    return make_pixel_dataset(system_name, n_traj, seed, dt=dt, energy_range=energy_range, **kwargs)
