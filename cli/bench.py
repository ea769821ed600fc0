"""``vinnp bench``: vinnp against PyTorch and JAX, side by side (benchmarks/bench.py).

The benchmark and its peers live in the source checkout's benchmarks/ folder, not in the
installed package (vinnp never imports torch or jax); this command finds that folder next
to the package and runs the runner in a fresh interpreter, so that the thread counts it
pins take effect before any numerical library is loaded.
"""

import os
import subprocess
import sys

import click
import vinnp


def runner_path():
    root = os.path.dirname(os.path.dirname(os.path.abspath(vinnp.__file__)))
    return os.path.join(root, "benchmarks", "bench.py")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args):
    """Time vinnp, PyTorch and JAX on workloads W1-W3 (options: vinnp bench --help).

    Needs the source checkout and the bench extra: pip install -e '.[bench]'.
    """
    path = runner_path()
    if not os.path.isfile(path):
        raise ValueError(f"bench: {path} not found; `vinnp bench` runs from a source checkout "
                         f"(git clone, then pip install -e '.[bench]')")
    return subprocess.call([sys.executable, path, *args])
