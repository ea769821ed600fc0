"""Atomic, pickle-free file writing and reading.

Everything vinnp writes goes to a temporary file in the destination folder and
is then renamed over the target, so an interrupted write never leaves a
half-written checkpoint, dataset or report behind.
"""

import json
import os
import tempfile
import zipfile

import numpy as np


def _atomic(path, write):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a result file is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_npz(path, **arrays):
    """Write arrays to ``path`` (.npz) atomically. Object arrays are refused."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ValueError(f"{key}: object arrays cannot be saved without pickle")
    _atomic(path, lambda fh: np.savez(fh, **arrays))


def load_npz(path, name="file"):
    """Load an .npz file into a dict of arrays, never unpickling.

    Raises ValueError naming ``name`` when the file is missing, truncated or
    not an npz archive.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{name}: no such file {path!r}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # np.load would take anything else for a pickle
        raise ValueError(f"{name}: {path!r} is not a readable .npz archive (it is not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        if "Object arrays" in str(exc):
            exc = "it holds an object array, which vinnp does not unpickle"
        raise ValueError(f"{name}: {path!r} is not a readable .npz archive ({exc})") from None


def check_out_dir(path, name="--out"):
    """Refuse, before any work, a folder that cannot be created or written.

    The folder (and any missing parents) is created, a file is written in it and
    everything made is removed again, so a check leaves nothing behind. Raises
    ValueError naming ``name``: a path under a regular file (or a device such as
    /dev/null) cannot be a folder; a read-only place cannot be written.
    """
    path = os.path.abspath(os.fspath(path))
    existing, missing = path, []
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "" if existing == path else f" (it lies under {existing!r})"
        raise ValueError(f"{name}: {path!r} cannot be a folder{where}: {existing!r} is a file, not a folder")
    made = []
    try:
        for folder in reversed(missing):
            os.mkdir(folder)
            made.append(folder)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write in {path!r} ({exc.strerror or exc})") from None
    finally:
        for folder in reversed(made):
            os.rmdir(folder)
    return path


def save_json(path, obj):
    """Write ``obj`` as indented JSON atomically."""
    save_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_bytes(path, data):
    """Write raw bytes (a file a remote worker sent back) atomically."""
    _atomic(path, lambda fh: fh.write(data))


def save_text(path, text):
    """Write a text file (a report, a table) atomically."""
    _atomic(path, lambda fh: fh.write(text.encode()))


def load_json(path, name="file"):
    """Read a JSON file, raising ValueError naming ``name`` on any problem."""
    path = os.fspath(path)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file {path!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name}: {path!r} is not valid JSON ({exc})") from None


def save_figure(fig, path, **kwargs):
    """Save a matplotlib figure atomically (PNG by the path's suffix)."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    _atomic(path, lambda fh: fig.savefig(fh, format=fmt, **kwargs))
