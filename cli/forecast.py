"""``vinnp forecast``: run a trained model forward. For VINs it needs NumPy alone."""

import os
import sys

import click

from vinnp.checks import positive_int
from vinnp.evaluation.embedded import forecast as np_forecast, load_vin


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--q0", type=float, multiple=True, required=True, help="Initial position (repeat for d > 1).")
@click.option("--p0", type=float, multiple=True, required=True, help="Initial momentum (repeat for d > 1).")
@click.option("--steps", type=int, required=True, help="Number of steps of the model's h.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print CSV: t,q,p (or t,q0..q{d-1},p0..p{d-1}), the columns `vinnp data --import` reads.")
def forecast(run_dir, q0, p0, steps, as_csv):
    """Forecast from (q0, p0) with the run's chosen model (RUN_DIR/model.npz)."""
    import numpy as np


    positive_int(steps, "--steps")
    path = os.path.join(run_dir, "model.npz")
    if len(q0) != len(p0):
        raise ValueError(f"--p0: expected {len(q0)} values to match --q0, got {len(p0)}")
    if not all(np.isfinite(q0)) or not all(np.isfinite(p0)):
        raise ValueError("--q0/--p0: must be finite numbers")

    try:
        vin = load_vin(path)
    except ValueError as exc:
        if "NumPy-only" not in str(exc):
            raise
        vin = None
    if vin is not None:
        _check_dim(vin[-1], q0)
        t, q, p = np_forecast(path, q0, p0, steps)
    else:  # NN / HNN: their vector field integrated by RK45 (needs the compiled engine and scipy)

        # NN / HNN need the compiled engine: imported only here, so that VIN forecasts run
        # where only NumPy is installed (the embedded use; tests/test_train.py checks it)
        from vinnp.training.checkpoint import load_checkpoint

        model, params, _ = load_checkpoint(path)
        if model.family == "pixel":
            raise ValueError(f"RUN_DIR: {run_dir!r} holds a pixel model, which forecasts from frames, not from "
                             f"(q0, p0); its run directory has the forecasts (vinnp evaluate {run_dir})")
        _check_dim(model.dim, q0)
        qq, pp = model.forecast(params, np.array([q0]), np.array([p0]), steps)
        q, p = qq[0], pp[0]
        t = model.h * np.arange(steps + 1)
    d = q.shape[1]
    # the importer's columns (vinnp.data.importers): what vinnp writes, it reads back
    names = ["q", "p"] if d == 1 else [f"q{i}" for i in range(d)] + [f"p{i}" for i in range(d)]
    out = sys.stdout
    if as_csv:
        out.write("t," + ",".join(names) + "\n")
    for i in range(steps + 1):
        vals = [t[i], *q[i], *p[i]]
        sep = "," if as_csv else "  "
        out.write(sep.join(f"{v:.10g}" for v in vals) + "\n")


def _check_dim(d, q0):
    """The state given must have the model's dimension (before anything is computed)."""
    if len(q0) != d:
        raise ValueError(f"--q0/--p0: the model has {d} coordinate(s), so --q0 and --p0 take {d} value(s) each; "
                         f"got {len(q0)}")
