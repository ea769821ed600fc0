"""Dataset files (.npz without pickle), validation, windows and seeded minibatches.

A dataset is a dict of arrays plus ``meta`` (a JSON-ready dict that records how
it was made). On disk it is one .npz written atomically by ``vinnp.io.save_npz``;
``meta`` is stored as a 0-d unicode array holding JSON, so loading never
unpickles (np.load(..., allow_pickle=False)).

Layouts, with d the configuration dimension:

* noisy / imported: ``t`` (n_steps,); ``q, p, dqdt, dpdt`` (n_traj, n_steps, d);
  optional ``q_true, p_true, dqdt_true, dpdt_true`` of the same shape; optional
  ``u`` (n_traj, n_steps, m), the known control inputs, zero-order hold: u[:, k]
  acts on [t_k, t_{k+1}). A generated dataset of a driven system
  (meta["n_inputs"] = m > 0) must carry it.
* pixels: ``frames`` (n_traj, n_steps, 28, 28) in [0, 1]; ``t``; ``q_true, p_true``.
"""

import json
import os

import numpy as np

from vinnp.checks import as_array, positive_int
from vinnp.io import load_npz, save_npz
from vinnp.systems import check_rng
from vinnp.systems.grid import UNIFORM_RTOL, time_grid

PHASE_KEYS = ("q", "p", "dqdt", "dpdt")
TRUE_KEYS = ("q_true", "p_true", "dqdt_true", "dpdt_true")
REQUIRED = {
    "noisy": ("t",) + PHASE_KEYS + ("q_true", "p_true"),
    "pixels": ("t", "frames", "q_true", "p_true"),
    "imported": ("t",) + PHASE_KEYS,
}
INPUT_KEY = "u"
KNOWN = set(PHASE_KEYS) | set(TRUE_KEYS) | {"t", "frames", "meta", INPUT_KEY}


def validate_dataset(ds, name="dataset"):
    """Check keys, shapes, dtypes and finiteness of a dataset dict; raise ValueError naming ``name``.

    Returns ``ds`` unchanged. ``meta["obs"]`` ("noisy", "pixels", "imported")
    selects the required keys.
    """
    if not isinstance(ds, dict):
        raise ValueError(f"{name}: expected a dataset dict, got {type(ds).__name__}")
    meta = ds.get("meta")
    if not isinstance(meta, dict) or meta.get("obs") not in REQUIRED:
        raise ValueError(f"{name}: expected meta to be a dict with obs one of {', '.join(REQUIRED)}")
    missing = [k for k in REQUIRED[meta["obs"]] if k not in ds]
    if missing:
        raise ValueError(f"{name}: {meta['obs']} dataset lacks {', '.join(missing)}")
    unknown = sorted(set(ds) - KNOWN)
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {', '.join(unknown)}")
    # one fixed step h for the whole grid, as the integrators of eqs. (6), (9)-(10) need
    t = time_grid(ds["t"], f"{name}: t", uniform=True, rtol=UNIFORM_RTOL)
    phase = [k for k in PHASE_KEYS + TRUE_KEYS if k in ds]
    ref = as_array(ds[phase[0]], f"{name}: {phase[0]}", ndim=3)
    if ref.shape[1] != t.size:
        raise ValueError(f"{name}: {phase[0]} has {ref.shape[1]} steps but t has {t.size}")
    for key in phase:
        as_array(ds[key], f"{name}: {key}", shape=ref.shape)
    n_inputs = meta.get("n_inputs")  # absent (imported, conservative): any number of input columns
    if INPUT_KEY in ds:
        if n_inputs == 0:
            raise ValueError(f"{name}: {INPUT_KEY} given but meta says the system has no inputs")
        as_array(ds[INPUT_KEY], f"{name}: {INPUT_KEY}", shape=ref.shape[:2] + (n_inputs,))
    elif n_inputs:
        raise ValueError(f"{name}: meta says {n_inputs} input(s) but the dataset lacks {INPUT_KEY}")
    if "frames" in ds:
        frames = as_array(ds["frames"], f"{name}: frames", shape=ref.shape[:2] + (None, None))
        if frames.min(initial=0.0) < 0 or frames.max(initial=0.0) > 1:
            raise ValueError(f"{name}: frames must hold grey levels in [0, 1]")
    return ds


def save_dataset(path, ds, overwrite=False):
    """Write ``ds`` to ``path`` (.npz) atomically; refuse to replace a file unless overwrite=True."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"path: expected a file name ending in .npz, got {path!r}")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"path: {path!r} exists already; pass overwrite=True to replace it")
    validate_dataset(ds)
    arrays = {k: np.asarray(v) for k, v in ds.items() if k != "meta"}
    arrays["meta"] = np.array(json.dumps(ds["meta"]))
    save_npz(path, **arrays)


def load_dataset(path):
    """Read a dataset written by :func:`save_dataset`; ``meta`` comes back as a dict.

    Missing, truncated, corrupt or foreign files (no JSON meta, wrong keys or
    shapes, NaN/inf) raise ValueError naming the file.
    """
    path = os.fspath(path)
    data = load_npz(path, name="dataset")
    if "meta" not in data or data["meta"].dtype.kind != "U" or data["meta"].ndim != 0:
        raise ValueError(f"dataset: {path!r} is not a vinnp dataset (no JSON meta record)")
    try:
        data["meta"] = json.loads(str(data["meta"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"dataset: {path!r} has an unreadable meta record ({exc})") from None
    return validate_dataset(data, name=f"dataset {path!r}")


def windows(x, depth, stride=1):
    """Overlapping sub-sequences of every trajectory (Section 4.2: depth-10 windows of 60 frames).

    x: (n_traj, n_steps, ...), e.g. q (n_traj, n_steps, d) or the inputs u
    (n_traj, n_steps, m), whose windows then line up with q's; depth: window length in steps (<= n_steps);
    stride: steps between window starts. Returns a new contiguous array of shape
    (n_traj · n_windows, depth, ...), n_windows = (n_steps − depth) // stride + 1,
    trajectory-major: windows of trajectory 0 first, in time order.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x: expected shape (n_traj, n_steps, ...), got {x.shape}")
    depth = positive_int(depth, "depth")
    stride = positive_int(stride, "stride")
    n_steps = x.shape[1]
    if depth > n_steps:
        raise ValueError(f"depth: expected at most n_steps = {n_steps}, got {depth}")
    view = np.lib.stride_tricks.sliding_window_view(x, depth, axis=1)[:, ::stride]
    # sliding_window_view puts the window axis last; move it next to the window index.
    view = np.moveaxis(view, -1, 2)
    return np.ascontiguousarray(view.reshape((-1, depth) + x.shape[2:]))


def batch_indices(n, batch_size, rng, drop_last=False):
    """One epoch of shuffled minibatches: a list of int index arrays covering range(n) once.

    n: number of examples; batch_size: examples per batch (the last batch is
    smaller unless drop_last=True); rng: numpy.random.Generator (one permutation).
    """
    n = positive_int(n, "n")
    batch_size = positive_int(batch_size, "batch_size")
    order = check_rng(rng).permutation(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]
