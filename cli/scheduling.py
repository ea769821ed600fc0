"""The --scheduler and --workers options of every command that trains many runs."""

import click

SCHEDULER_HELP = ("Where the runs train, one run per task: none (one after another in this process), local (a Dask "
                  "LocalCluster of --workers single-threaded processes) or tcp://HOST:PORT (a running Dask scheduler, "
                  "e.g. one started by dask-jobqueue). auto: local when the distributed extra is installed, else none.")


def scheduler_options(command):
    """Add --scheduler and --workers (validated by vinnp.scheduling.resolve_scheduler)."""
    command = click.option("--workers", type=int, default=None,
                           help="Worker processes of --scheduler local [default: the usable cores].")(command)
    return click.option("--scheduler", default="auto", show_default=True, help=SCHEDULER_HELP)(command)
