"""Checkpoints: one .npz of the flat parameters, their layout and the model description.

Written atomically (temporary file, then rename) and read without pickle;
a corrupt, truncated or foreign file gives a ValueError naming it.
"""

import json

import numpy as np

from vinnp.io import load_npz, save_npz
from vinnp.params import Layout

FORMAT = "vinnp-checkpoint-1"


def save_checkpoint(path, model, params, **extra):
    """extra: arrays (Adam state, step, ...) or JSON-able values (stored as JSON strings)."""
    arrays = {
        "format": np.array(FORMAT),
        "model": np.array(json.dumps(model.to_json())),
        "layout": np.array(json.dumps(model.layout.to_json())),
        "params": params,
    }
    for key, value in extra.items():
        arrays[key] = value if isinstance(value, np.ndarray) else np.array(json.dumps(value))
    save_npz(path, **arrays)


def load_checkpoint(path, name="checkpoint"):
    """-> (model, params, extra dict). Rebuilds the model from its stored description."""
    from vinnp.models.registry import model_from_json

    data = load_npz(path, name)
    if "format" not in data or str(data["format"]) != FORMAT:
        raise ValueError(f"{name}: {path!r} is not a vinnp checkpoint")
    try:
        model = model_from_json(json.loads(str(data["model"])))
        layout = Layout.from_json(json.loads(str(data["layout"])))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: {path!r} has a malformed description ({exc})") from None
    params = data["params"]
    if layout != model.layout or params.shape != (layout.size,) or params.dtype.kind != "f":
        raise ValueError(f"{name}: {path!r} parameters do not match the model they describe")
    if not np.all(np.isfinite(params)):
        raise ValueError(f"{name}: {path!r} holds non-finite parameters")
    extra = {}
    for key, value in data.items():
        if key in ("format", "model", "layout", "params"):
            continue
        if value.dtype.kind == "U":
            extra[key] = json.loads(str(value))
        else:
            extra[key] = value
    return model, params, extra
