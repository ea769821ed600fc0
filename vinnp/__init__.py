"""vinnp: Variational Integrator Networks in NumPy/Numba with hand-written gradients.

Importing the package is cheap and compiles nothing: Numba kernels live in the
submodules and are imported where they are used, so that a trained model can be
forecast with NumPy alone (see ``vinnp.evaluation.embedded``).
"""

import hashlib
import os
import re
import sys

__version__ = "0.1.0"


def _numba_cache_dir(root=None, base=None):
    """A Numba cache folder keyed on the hash of every vinnp source file.

    Numba revalidates a cached kernel against the timestamp of the file that
    defines it, not of the kernels it calls: after editing
    ``layers/activations.py``, ``layers/mlp.py`` would keep running the old,
    inlined activation. Keying the cache on all sources makes any edit start a
    fresh cache. ``base`` is the folder that holds the keyed folders: a
    user-set NUMBA_CACHE_DIR, else ``~/.cache/vinnp`` (``$XDG_CACHE_HOME``).
    """
    root = root or os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha1(__version__.encode())
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as fh:
                    digest.update(name.encode() + fh.read())
    if base is None:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "vinnp")
    return os.path.join(base, "numba-" + digest.hexdigest()[:16])


def _cache_base(setting):
    """The folder under which to key the cache, from the NUMBA_CACHE_DIR in force (or None).

    A user's NUMBA_CACHE_DIR is honoured as the place, not as the key: the keyed folder goes
    inside it. A value that is already a keyed folder (a child process inherits its parent's)
    is replaced by this copy's own key beside it.
    """
    if not setting:
        return None
    setting = os.path.normpath(setting)
    if re.fullmatch(r"numba-[0-9a-f]{16}", os.path.basename(setting)):
        return os.path.dirname(setting)
    return setting


_dir = _numba_cache_dir(base=_cache_base(os.environ.get("NUMBA_CACHE_DIR")))
os.environ["NUMBA_CACHE_DIR"] = _dir  # read by numba when it loads, and by child processes
if "numba" in sys.modules and sys.modules["numba"] is not None:
    sys.modules["numba"].config.CACHE_DIR = _dir  # numba read its config already


# Numba's OpenMP layer spin-waits between parallel regions by default. On a VM
# whose two cores are not both free, a step then stalls until the spinning thread
# is descheduled: measured here with another job on the second core, a VIN
# training step took 150-200 ms with spinning and 13-20 ms with passive waits.
# Must be set before the OpenMP runtime loads; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def gradcheck(*args, **kwargs):
    """Finite-difference gradient check; see :func:`vinnp.gradcheck_core.gradcheck`."""
    from vinnp.gradcheck_core import gradcheck as _gradcheck

    return _gradcheck(*args, **kwargs)
