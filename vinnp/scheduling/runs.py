"""RunSpec, the scheduler choice, and ``execute``: every run of an experiment, wherever it runs."""

import importlib
import importlib.util
import os
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from vinnp.checks import positive_int
from vinnp.io import check_out_dir, save_bytes
from vinnp.scheduling.task import token_path, write_run_files
from vinnp.training.run import check_reuse

INSTALL_HINT = "pip install -e '.[distributed]' (or pip install 'dask[distributed]')"


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment.

    path: its folder relative to the experiment's ``--out``; train(cfg, run_dir, log) -> metrics
    trains it there (a module-level function, so that a worker process can import it), reusing a
    finished run and resuming an interrupted one; cfg: its configuration (plain JSON data).
    """
    path: str
    train: Callable
    cfg: dict


def distributed_installed():
    return importlib.util.find_spec("distributed") is not None


def resolve_scheduler(scheduler="auto", workers=None):
    """("none" | "local" | "tcp://...", workers) from the user's choice, validated before any work.

    auto is local when the distributed extra is installed, else none. workers applies to
    local only: a count of single-threaded worker processes, by default the usable cores.
    """
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(f"--scheduler: expected none, local or tcp://HOST:PORT, got {scheduler!r}")
    if scheduler == "auto":
        scheduler = "local" if distributed_installed() else "none"
    if scheduler not in ("none", "local") and not scheduler.startswith("tcp://"):
        raise ValueError(f"--scheduler: expected none, local or tcp://HOST:PORT (an existing Dask scheduler), "
                         f"got {scheduler!r}")
    if scheduler.startswith("tcp://"):
        host, _, port = scheduler[len("tcp://"):].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--scheduler: {scheduler!r} is not an address of the form tcp://HOST:PORT")
    if workers is not None:
        workers = positive_int(workers, "--workers")
        if scheduler != "local":
            raise ValueError(f"--workers: sets the size of a local cluster (--scheduler local); with --scheduler "
                             f"{scheduler} the workers are "
                             f"{'this process' if scheduler == 'none' else 'those of the running scheduler'}")
    if scheduler != "none" and not distributed_installed():
        raise ValueError(f"--scheduler {scheduler}: needs the distributed extra, which is not installed; "
                         f"install it with {INSTALL_HINT}, or use --scheduler none")
    if scheduler == "local" and workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return scheduler, workers


def execute(specs, out, scheduler="none", workers=None, log=print):
    """Train every run of ``specs`` under ``out`` -> {path: metrics}, in the order of ``specs``.

    Finished runs are read back here; the others are trained in this process (scheduler none)
    or one per task on Dask (local: a LocalCluster of ``workers`` single-threaded processes;
    tcp://HOST:PORT: a running scheduler). Every run's settings are checked against what
    ``out`` already holds before anything is trained. Results are the same whatever the
    scheduler: kernels reduce in an order fixed by the batch alone, never by the thread count.
    """
    scheduler, workers = resolve_scheduler(scheduler, workers)
    paths = [s.path for s in specs]
    if len(set(paths)) != len(paths):
        raise ValueError("execute: two runs share a folder")
    check_out_dir(out)
    for spec in specs:
        check_reuse(spec.cfg, os.path.join(out, spec.path))
    results, todo = {}, []
    for spec in specs:
        if os.path.exists(os.path.join(out, spec.path, "metrics.json")):
            results[spec.path] = spec.train(spec.cfg, os.path.join(out, spec.path), log)  # read back
        else:
            todo.append(spec)
    if todo:
        log(f"{len(todo)} of {len(specs)} runs to train ({len(specs) - len(todo)} finished already); "
            f"scheduler {scheduler}{f', {workers} workers' if workers else ''}")
    t0 = time.time()
    if scheduler == "none" or not todo:
        for i, spec in enumerate(todo):
            results[spec.path] = spec.train(spec.cfg, os.path.join(out, spec.path), log)
            log(f"[{i + 1}/{len(todo)}] {spec.path} ({time.time() - t0:.0f} s)")
    else:
        # the Dask backend is an optional extra: imported only once a Dask scheduler is asked for
        backend = importlib.import_module("vinnp.scheduling.dask_backend")
        token = uuid.uuid4().hex

        def opened():  # called once connected: an address that does not answer leaves nothing behind
            save_bytes(token_path(out, token), b"vinnp scheduler token\n")

        def finished(spec, metrics, files, done):
            if files is not None:
                write_run_files(os.path.join(out, spec.path), files, save_bytes)
            results[spec.path] = metrics
            log(f"[{done}/{len(todo)}] {spec.path} ({time.time() - t0:.0f} s)")

        try:
            backend.run_all(todo, out, token, scheduler, workers, opened, finished, log)
        finally:
            try:
                os.unlink(token_path(out, token))
            except FileNotFoundError:
                pass
    return {spec.path: results[spec.path] for spec in specs}
