"""Packaging-level behaviour: the CLI module's name, and the Numba cache keying."""

import importlib.util
import shutil

import vinnp


def test_cli_installs_inside_the_package_only():
    assert importlib.util.find_spec("vinnp.cli.main") is not None
    assert importlib.util.find_spec("cli") is None


def test_numba_cache_dir_changes_with_any_source(tmp_path):
    """Numba checks only the defining file's timestamp; the cache must follow every source."""
    root = tmp_path / "vinnp"
    shutil.copytree(vinnp.__path__[0], root, ignore=shutil.ignore_patterns("__pycache__"))
    before = vinnp._numba_cache_dir(str(root))
    assert vinnp._numba_cache_dir(str(root)) == before
    act = root / "layers" / "activations.py"
    act.write_text(act.read_text() + "\n# an edit to a callee only\n")
    assert vinnp._numba_cache_dir(str(root)) != before
