"""Where an experiment's runs execute: in this process, or one run per task on a Dask cluster.

An experiment lists its runs as RunSpecs and hands them to ``execute``; the tables and figures
are then made from the run folders in ``--out``, whichever scheduler trained them. Dask is an
optional extra (``pip install -e '.[distributed]'``): it is imported only when a scheduler asks
for it, so the core install stays as small as NumPy, Numba, SciPy, matplotlib and click.
"""

from vinnp.scheduling.runs import RunSpec, execute, resolve_scheduler

__all__ = ["RunSpec", "execute", "resolve_scheduler"]
