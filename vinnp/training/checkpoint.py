"""Checkpoints of a model: vinnp.checkpoint's file, with the model rebuilt from its description."""

from vinnp.checkpoint import read_checkpoint, write_checkpoint
from vinnp.models.registry import model_from_json


def save_checkpoint(path, model, params, **extra):
    """extra: arrays (Adam state, step, ...) or JSON-able values (stored as JSON strings)."""
    write_checkpoint(path, model.to_json(), model.layout, params, **extra)


def load_checkpoint(path, name="checkpoint"):
    """-> (model, params, extra dict). Rebuilds the model from its stored description."""
    description, layout, params, extra = read_checkpoint(path, name)
    model = model_from_json(description)
    if layout != model.layout:
        raise ValueError(f"{name}: {path!r} parameters do not match the model they describe")
    return model, params, extra
