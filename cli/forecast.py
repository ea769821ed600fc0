"""``vinnp forecast``: run a trained model forward. For VINs it needs NumPy alone."""

import csv
import os
import sys

import click
import numpy as np

from vinnp.checks import positive_int
from vinnp.evaluation.embedded import EmbeddedVIN, forecast as np_forecast


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--q0", type=float, multiple=True, required=True, help="Initial position (repeat for d > 1).")
@click.option("--p0", type=float, multiple=True, required=True, help="Initial momentum (repeat for d > 1).")
@click.option("--steps", type=int, required=True, help="Number of steps of the model's h.")
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False), default=None,
              help="CSV of the control inputs, one row per step (columns u, or u0..u{m-1}), for a model "
                   "trained with inputs: row k is held over step k.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print CSV: t,q,p (or t,q0..q{d-1},p0..p{d-1}), the columns `vinnp data --import` reads.")
def forecast(run_dir, q0, p0, steps, inputs_path, as_csv):
    """Forecast from (q0, p0) with the run's chosen model (RUN_DIR/model.npz)."""
    positive_int(steps, "--steps")
    path = os.path.join(run_dir, "model.npz")
    if len(q0) != len(p0):
        raise ValueError(f"--p0: expected {len(q0)} values to match --q0, got {len(p0)}")
    if not all(np.isfinite(q0)) or not all(np.isfinite(p0)):
        raise ValueError("--q0/--p0: must be finite numbers")
    u = None if inputs_path is None else read_inputs(inputs_path, steps)

    try:
        vin = EmbeddedVIN.load(path)
    except ValueError as exc:
        if "NumPy-only" not in str(exc):
            raise
        vin = None
    if vin is not None:
        _check_dim(vin.dim, q0)
        _check_inputs(vin.n_inputs, u, inputs_path)
        t, q, p = np_forecast(path, q0, p0, steps, u)
    else:  # NN / HNN: their vector field integrated by RK45 (needs the compiled engine and scipy)

        # NN / HNN need the compiled engine: imported only here, so that VIN forecasts run
        # where only NumPy is installed (the embedded use; tests/test_train.py checks it)
        from vinnp.training.checkpoint import load_checkpoint

        model, params, _ = load_checkpoint(path)
        if model.family == "pixel":
            raise ValueError(f"RUN_DIR: {run_dir!r} holds a pixel model, which forecasts from frames, not from "
                             f"(q0, p0); its run directory has the forecasts (vinnp evaluate {run_dir})")
        _check_dim(model.dim, q0)
        _check_inputs(getattr(model, "n_inputs", 0), u, inputs_path)
        kw = {} if u is None else {"u": u[None]}
        qq, pp = model.forecast(params, np.array([q0]), np.array([p0]), steps, **kw)
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


def read_inputs(path, steps):
    """(steps, m) inputs from a CSV with a header of u (m = 1) or u0..u{m-1}, one row per step."""
    if not os.path.isfile(path):
        raise ValueError(f"--inputs: no such file {path!r}")
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--inputs: cannot read {path!r} ({exc})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"--inputs: {path!r} is empty; expected a header u (or u0, u1, ...) and one row per step")
    header = [c.strip() for c in rows[0]]
    expected = ["u"] if len(header) == 1 else [f"u{i}" for i in range(len(header))]
    if header != expected and header != ["u0"]:
        raise ValueError(f"--inputs: {path!r} has columns {header}; expected u (one input) or u0, u1, ... in order")
    if len(rows) - 1 != steps:
        raise ValueError(f"--inputs: {path!r} has {len(rows) - 1} row(s) of inputs; expected one per step, {steps} "
                         f"(--steps)")
    try:
        u = np.array([[float(c) for c in r] for r in rows[1:]])
    except ValueError:
        raise ValueError(f"--inputs: {path!r} holds a value that is not a number") from None
    if u.shape[1] != len(header):
        raise ValueError(f"--inputs: {path!r} has rows of another width than its header ({len(header)} columns)")
    if not np.all(np.isfinite(u)):
        raise ValueError(f"--inputs: {path!r} holds NaN or inf; inputs must be finite")
    return u


def _check_inputs(n_inputs, u, path):
    """The inputs given must be those the model was trained with (before anything is computed)."""
    if n_inputs and u is None:
        raise ValueError(f"--inputs: the model was trained with {n_inputs} control input(s); give their values "
                         f"over the forecast with --inputs FILE.csv (columns u or u0..u{n_inputs - 1}, one row per step)")
    if not n_inputs and u is not None:
        raise ValueError("--inputs: the model was trained without control inputs; drop --inputs")
    if u is not None and u.shape[1] != n_inputs:
        raise ValueError(f"--inputs: {path!r} has {u.shape[1]} input column(s); the model takes {n_inputs}")


def _check_dim(d, q0):
    """The state given must have the model's dimension (before anything is computed)."""
    if len(q0) != d:
        raise ValueError(f"--q0/--p0: the model has {d} coordinate(s), so --q0 and --p0 take {d} value(s) each; "
                         f"got {len(q0)}")
