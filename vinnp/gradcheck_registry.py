"""Every gradient-checkable block of vinnp, for ``vinnp gradcheck``.

Each listed module exposes ``gradcheck_blocks(rng) -> list[Block]``; a module
that is not present yet is skipped with a note, so the registry never hides a
failing block behind an import error of another.
"""

import importlib

import numpy as np

MODULES = (
    "vinnp.layers.mlp",
    "vinnp.layers.potential",
    "vinnp.layers.lstm",
    "vinnp.layers.losses",
    "vinnp.layers.dense",
    "vinnp.dynamics.cells",
    "vinnp.dynamics.freeform",
    "vinnp.models.registry",
    "vinnp.models.pixel_vae",
)


def all_blocks(seed=0):
    """Blocks of every registered module, built with one seeded Generator."""
    rng = np.random.default_rng(seed)
    blocks = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        blocks.extend(module.gradcheck_blocks(rng))
    return blocks
