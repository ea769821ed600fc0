"""What every phase-space experiment does with one of its runs: reuse it, resume it, or train it."""

import json
import os

from vinnp.evaluation.report import forecast_rows
from vinnp.io import load_json
from vinnp.training.checkpoint import load_checkpoint
from vinnp.training.run import check_reuse, train_run
from vinnp.training.setup import prepare_data


def train_or_reuse(cfg, run_dir, log, progress=False):
    """The metrics of the run ``cfg`` in ``run_dir``: read back when it finished, else trained (an
    interrupted run resumes). A folder holding a run of other settings is refused (check_reuse).
    The train function of every phase-space RunSpec (vinnp.scheduling)."""
    check_reuse(cfg, run_dir)
    path = os.path.join(run_dir, "metrics.json")
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return train_run(cfg, run_dir, resume=os.path.exists(os.path.join(run_dir, "config.json")), progress=progress,
                     log=log)


def figure_row(cfg, run_dir):
    """(forecast row, time axis) of the finished run ``cfg`` in ``run_dir``, for plot_forecasts."""
    model, params, _ = load_checkpoint(os.path.join(run_dir, "model.npz"))
    _, row, t = forecast_rows(model, params, prepare_data(cfg), cfg)
    return row, t


def earlier_rows(path, fields, keys, protocol=None, name="--with-rows"):
    """The rows of an earlier results.json at ``path`` (committed results of the same experiment),
    checked before any run starts: a table can grow by seeds or trials without re-running the
    ones it has.

    Refused (ValueError naming ``name``) unless every row has exactly ``fields``, the values of
    ``protocol`` ({field: value}, e.g. the step budget) and a key (the values of the first
    fields of ``keys``' tuples) that none of this command's runs, ``keys``, repeats.
    """
    earlier = load_json(path, name)
    if not isinstance(earlier, list) or not all(isinstance(r, dict) for r in earlier):
        raise ValueError(f"{name}: {path!r} is not a results.json (a list of rows)")
    n_key = len(next(iter(keys))) if keys else 0
    for i, r in enumerate(earlier):
        if set(r) != set(fields):
            raise ValueError(f"{name}: row {i} of {path!r} has the fields {sorted(r)}; this experiment's rows have "
                             f"{sorted(fields)}")
        for field, value in (protocol or {}).items():
            if r[field] != value:
                raise ValueError(f"{name}: row {i} of {path!r} was made with {field} {r[field]!r}, these runs with "
                                 f"{value!r}")
        key = tuple(r[f] for f in fields[:n_key])
        if key in keys:
            raise ValueError(f"{name}: row {i} of {path!r} ({', '.join(f'{f} {v}' for f, v in zip(fields, key))}) is "
                             f"also one of this command's runs; give the earlier rows of other runs only")
    return earlier
