"""What every phase-space experiment does with one of its runs: reuse it, resume it, or train it."""

import json
import os

from vinnp.training.run import check_reuse, train_run


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
