"""The Dask side of ``execute``: a LocalCluster or a running scheduler, one task per run.

Imported only when a Dask scheduler is asked for (the distributed extra). Each task trains one
run with one Numba thread (and one BLAS thread, the nanny's default), so N single-threaded
workers keep N cores busy. The scheduler retries a task whose worker died (kill -9, a lost
node); run folders that the worker shares with the client resume from their last checkpoint.
"""

import logging
import os
from contextlib import contextmanager

import numba
from distributed import Client, LocalCluster, as_completed, get_worker

from vinnp.io import save_bytes
from vinnp.scheduling.task import read_run_files, run_task

TOPIC = "vinnp-runs"
CONNECT_TIMEOUT = 5  # seconds before an address that does not answer is refused
RETRIES = 3  # a run whose worker dies is retried this often before the experiment stops
# one thread per worker process for every library that would otherwise take all cores
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


def remote_run(spec, out, token, seed_files):
    """The task: one run on this worker (see vinnp.scheduling.task.run_task)."""
    numba.set_num_threads(1)  # also on workers started by hand with more threads
    worker = get_worker()

    def log(msg):
        worker.log_event(TOPIC, f"{spec.path}: {msg}")

    log(f"started on {worker.name}")
    return run_task(spec, out, token, seed_files, log, save_bytes)


@contextmanager
def connect(scheduler, workers):
    """A Client of a fresh LocalCluster (``local``) or of the scheduler at ``tcp://HOST:PORT``."""
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, env=WORKER_ENV)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler: no Dask scheduler answered at {scheduler} within {CONNECT_TIMEOUT} s "
                         f"({type(exc).__name__})") from None
    with client:
        yield client


def run_all(specs, out, token, scheduler, workers, opened, finished, log):
    """Connect, call opened(), submit one task per spec and call finished(spec, metrics, files,
    n_done) as each ends."""
    with connect(scheduler, workers) as client:
        opened()
        client.subscribe_topic(TOPIC, lambda event: log(event[1]))
        if not client.scheduler_info().get("workers"):
            log(f"the scheduler at {scheduler} has no workers yet: the runs wait for some to join")
        by_key = {}
        for spec in specs:
            run_dir = os.path.join(out, spec.path)
            # an interrupted run travels to workers that cannot see --out (they resume from it)
            seed = read_run_files(run_dir) if os.path.isdir(run_dir) else None
            fut = client.submit(remote_run, spec, out, token, seed, key=f"vinnp-run-{spec.path}-{token[:8]}",
                                retries=RETRIES, pure=False)
            by_key[fut.key] = (spec, fut)
        done = 0
        try:
            for fut in as_completed([f for _, f in by_key.values()]):
                metrics, files = fut.result()  # a run's own error (ValueError, ...) is raised here
                done += 1
                finished(by_key[fut.key][0], metrics, files, done)
        finally:
            client.cancel([f for _, f in by_key.values()])
