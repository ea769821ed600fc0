"""The checkpoint file: one .npz of the flat parameters, their layout and the model's
description as JSON strings, plus optional extras (Adam state, step, ...).

NumPy only, so that the NumPy-only forecast (vinnp.evaluation.embedded) and training
(vinnp.training.checkpoint, which rebuilds the model) read checkpoints through this one
reader. Written atomically and read without pickle; a corrupt, truncated or foreign file
gives a ValueError naming it.
"""

import json

import numpy as np

from vinnp.io import load_npz, save_npz
from vinnp.params import Layout

FORMAT = "vinnp-checkpoint-1"
_CORE = ("format", "model", "layout", "params")


def write_checkpoint(path, description, layout, params, **extra):
    """extra: arrays (stored as they are) or JSON-able values (stored as JSON strings)."""
    arrays = {
        "format": np.array(FORMAT),
        "model": np.array(json.dumps(description)),
        "layout": np.array(json.dumps(layout.to_json())),
        "params": params,
    }
    for key, value in extra.items():
        arrays[key] = value if isinstance(value, np.ndarray) else np.array(json.dumps(value))
    save_npz(path, **arrays)


def read_checkpoint(path, name="checkpoint"):
    """-> (description dict, Layout, params, extra dict) of a vinnp checkpoint."""
    data = load_npz(path, name)
    if "format" not in data or str(data["format"]) != FORMAT:
        raise ValueError(f"{name}: {path!r} is not a vinnp checkpoint")
    try:
        description = json.loads(str(data["model"]))
        layout = Layout.from_json(json.loads(str(data["layout"])))
        extra = {k: json.loads(str(v)) if v.dtype.kind == "U" else v for k, v in data.items() if k not in _CORE}
    except (json.JSONDecodeError, KeyError) as exc:
        raise ValueError(f"{name}: {path!r} has a malformed description ({exc})") from None
    params = data["params"]
    if params.shape != (layout.size,) or params.dtype.kind != "f":
        raise ValueError(f"{name}: {path!r} parameters do not match the layout they come with")
    if not np.all(np.isfinite(params)):
        raise ValueError(f"{name}: {path!r} holds non-finite parameters")
    if not isinstance(description, dict):
        raise ValueError(f"{name}: {path!r} has a malformed description (not an object)")
    return description, layout, params, extra
