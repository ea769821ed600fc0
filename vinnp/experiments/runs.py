"""What every phase-space experiment does with one of its runs: reuse it, resume it, or train it."""

import json
import os

from vinnp.evaluation.report import forecast_rows
from vinnp.training.checkpoint import load_checkpoint
from vinnp.training.run import check_reuse, train_run
from vinnp.training.setup import prepare_data


def train_or_reuse(cfg, run_dir, log, progress=False):
    """The metrics of the run ``cfg`` in ``run_dir``: read back when it finished, else trained (an
    interrupted run resumes). A folder holding a run of other settings is refused (check_reuse)."""
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
