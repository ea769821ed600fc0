"""vinnp: Variational Integrator Networks in NumPy/Numba with hand-written gradients.

Importing the package is cheap and compiles nothing; a trained VIN can be forecast
with NumPy alone (see ``vinnp.evaluation.embedded``).
"""

import hashlib
import os
import sys

__version__ = "0.1.0"


def _numba_cache_dir(root=None):
    """A Numba cache folder keyed on the hash of every vinnp source file.

    Numba revalidates a cached kernel against the timestamp of the file that
    defines it, not of the kernels it calls: after editing
    ``layers/activations.py``, ``layers/mlp.py`` would keep running the old,
    inlined activation. Keying the cache on all sources makes any edit start a
    fresh cache. An explicit NUMBA_CACHE_DIR is respected.
    """
    root = root or os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha1(__version__.encode())
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as fh:
                    digest.update(name.encode() + fh.read())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vinnp", "numba-" + digest.hexdigest()[:16])


if "NUMBA_CACHE_DIR" not in os.environ:
    _dir = _numba_cache_dir()
    if "numba" in sys.modules and sys.modules["numba"] is not None:
        sys.modules["numba"].config.CACHE_DIR = _dir  # numba read its config already
    else:
        os.environ["NUMBA_CACHE_DIR"] = _dir


# Numba's OpenMP layer spin-waits between parallel regions by default. On a VM
# whose two cores are not both free, a step then stalls until the spinning thread
# is descheduled: measured here with another job on the second core, a VIN
# training step took 150-200 ms with spinning and 13-20 ms with passive waits.
# Must be set before the OpenMP runtime loads; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

