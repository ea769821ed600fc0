"""The Numba cache follows every vinnp source under any cache location, a user's NUMBA_CACHE_DIR included."""

import os
import shutil
import subprocess
import sys

import vinnp

CALLER = """from numba import njit

from vinnp._probe_callee import value


@njit(cache=True)
def kernel(x):
    return 2.0 * value(x)
"""
CALLEE = """from numba import njit


@njit(cache=True)
def value(x):
    return x + {}
"""


def _run(pkg, cache):
    env = {**os.environ, "PYTHONPATH": str(pkg), "NUMBA_CACHE_DIR": str(cache), "NUMBA_NUM_THREADS": "1"}
    script = ("import vinnp, vinnp._probe_caller as c\n"
              f"assert vinnp.__file__.startswith({str(pkg)!r}), vinnp.__file__\n"
              "print(c.kernel(1.0))\n")
    res = subprocess.run([sys.executable, "-c", script], env=env, cwd=str(pkg), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return float(res.stdout)


def test_a_user_set_numba_cache_dir_still_sees_an_edited_inlined_callee(tmp_path):
    """Numba revalidates the caller's file only: an edit to its callee must still reach it."""
    pkg = tmp_path / "pkg"
    root = pkg / "vinnp"
    shutil.copytree(vinnp.__path__[0], root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "_probe_caller.py").write_text(CALLER)
    (root / "_probe_callee.py").write_text(CALLEE.format("1.0"))
    cache = tmp_path / "my-cache"
    assert _run(pkg, cache) == 4.0
    assert _run(pkg, cache) == 4.0  # from the cache
    (root / "_probe_callee.py").write_text(CALLEE.format("2.0"))  # the caller's file is untouched
    assert _run(pkg, cache) == 6.0
    # the user's location is kept: every keyed folder lies inside it
    assert [p.name[:6] for p in cache.iterdir()] == ["numba-", "numba-"]


def test_the_keyed_folder_goes_inside_the_users_folder_and_is_not_nested():
    key = os.path.basename(vinnp._numba_cache_dir())
    assert vinnp._cache_base(None) is None
    assert vinnp._cache_base("/data/cache/") == "/data/cache"
    # a child process inherits its parent's keyed folder: it keys its own beside it, not inside
    assert vinnp._cache_base(f"/data/cache/{key}") == "/data/cache"
    assert os.environ["NUMBA_CACHE_DIR"].endswith(key)
