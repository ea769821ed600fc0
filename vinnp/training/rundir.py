"""Run directories: made whole or not at all, and read back only when valid.

A run starts in a folder that does not exist yet or is empty (unless the caller
asks to overwrite): the configuration, the folder's writability, the data and
the run's size are all checked before the folder is made, so a start that fails
leaves nothing behind and the corrected command with the same --out just works.

``config.json`` is read back (to resume or evaluate) through the validation a
new configuration gets, so a hand-edited file is refused in one line that names
the file and the field. It also records a content hash of the training data
(``data_sha256``): the --data file's bytes, or the generated arrays. Resuming on
data that changed since the run started is refused; runs that predate the field
resume as before.
"""

import fnmatch
import hashlib
import os
import shutil

import numpy as np

from vinnp.io import check_out_dir, load_json, save_json

CONFIG = "config.json"
DATA_HASH = "data_sha256"
RECORDS = (DATA_HASH,)  # fields a run writes about itself, beside the ones it is configured by
RUN_FILES = ("config.json", "checkpoint.npz", "model.npz", "metrics.json", "milestone-*.npz", "*.png")


def check_loaded(raw, defaults, legacy, nullable, make):
    """Validate a configuration read back from disk; ValueError names the field.

    raw: the JSON object. defaults: the fields of a configuration. legacy: {field:
    value} for fields that runs made before they existed lack (kept absent, the
    code reads them with that value). nullable: fields that may be null. make:
    the constructor that validates values (make_config or make_pixel_config).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"expected a JSON object of settings, got {type(raw).__name__}")
    missing = sorted(set(defaults) - set(raw) - set(legacy))
    if missing:
        raise ValueError(f"field(s) {', '.join(missing)} missing")
    nulls = sorted(k for k, v in raw.items() if v is None and k not in nullable)
    if nulls:
        raise ValueError(f"field(s) {', '.join(nulls)} are null")
    digest = raw.get(DATA_HASH)
    if DATA_HASH in raw and not (isinstance(digest, str) and len(digest) == 64
                                 and all(c in "0123456789abcdef" for c in digest)):
        raise ValueError(f"{DATA_HASH}: expected 64 hexadecimal digits, got {digest!r}")
    absent = [k for k in legacy if k not in raw]
    cfg = make(**{**{k: legacy[k] for k in absent}, **{k: v for k, v in raw.items() if k not in RECORDS}})
    for k in absent:
        del cfg[k]
    return {**cfg, **{k: raw[k] for k in RECORDS if k in raw}}


# The config checker of each kind of run ("phase", "pixels"), registered by the module that
# defines it (vinnp.training.setup, vinnp.training.pixels) when it is imported: this module
# sits below both and imports neither.
CHECKS = {}


def check_run_config(cfg):
    """``cfg`` validated by the checker of its kind of run (its "obs" field, "phase" if absent)."""
    obs = cfg.get("obs", "phase") if isinstance(cfg, dict) else "phase"
    if obs not in CHECKS:
        raise ValueError(f"obs: expected one of {', '.join(sorted(CHECKS))}; got {obs!r}")
    return CHECKS[obs](cfg)


def load_run_config(run_dir):
    """The validated config.json of the run in ``run_dir`` (phase-space or pixels)."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(path):
        raise ValueError(f"{CONFIG}: {run_dir!r} is not a run directory (no {CONFIG})")
    raw = load_json(path, CONFIG)
    try:
        return check_run_config(raw)
    except ValueError as exc:
        raise ValueError(f"{CONFIG}: {path} is not a valid run configuration ({exc}); it may have been edited "
                         f"by hand: restore it, or start a new run") from None


def refuse_existing(run_dir, overwrite=False, hint="resume=True continues it, overwrite=True replaces it",
                    name="run_dir"):
    """A new run needs a folder that is absent or empty, unless ``overwrite``."""
    if os.path.isdir(run_dir) and os.listdir(run_dir) and not overwrite:
        raise ValueError(f"{name}: {run_dir!r} already exists; {hint}")


def _make_dirs(path):
    """os.makedirs, returning the folders it made (outermost first)."""
    made, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    os.makedirs(path, exist_ok=True)
    return made[::-1]


def create_run_dir(run_dir, cfg, overwrite=False):
    """Make ``run_dir`` and write its config.json; with ``overwrite``, remove an earlier run's files first.

    If writing fails, the folders made here are removed again.
    """
    made = _make_dirs(run_dir)
    try:
        if overwrite:
            for name in os.listdir(run_dir):
                if any(fnmatch.fnmatch(name, pattern) for pattern in RUN_FILES):
                    os.unlink(os.path.join(run_dir, name))
        save_json(os.path.join(run_dir, CONFIG), cfg)
    except BaseException:
        if made:
            shutil.rmtree(made[0], ignore_errors=True)
        raise


def start_checks(run_dir, overwrite=False):
    """Before a new run does any work: the folder can be made and written, and holds no run."""
    check_out_dir(run_dir, "run_dir")
    refuse_existing(run_dir, overwrite)


def file_digest(path):
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def arrays_digest(arrays):
    """sha256 of named arrays (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def check_same_data(saved, digest, what):
    """Resume only on the data the run started with (``saved`` is None for runs that predate the record)."""
    if saved is not None and saved != digest:
        raise ValueError(f"data: {what} changed since the run started (its content hash differs from the "
                         f"one in {CONFIG}); resuming would mix two datasets in one run: restore the data, "
                         f"or start a new run")
