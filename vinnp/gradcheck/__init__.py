"""Finite-difference gradient checks, kept apart from the production modules they check.

``core`` is the checker (:func:`gradcheck`, :class:`Block`, :func:`check_block`,
:func:`eps_sweep`); ``layers``, ``dynamics`` and ``models`` build the blocks that
``vinnp gradcheck`` runs (:func:`all_blocks`). The dynamics blocks run over the integrator
registry, so a new integrator is checked with no new code here.
"""

import numpy as np

from vinnp.gradcheck import dynamics, layers, models
from vinnp.gradcheck.core import Block, check_block, eps_sweep, gradcheck

BUILDERS = (
    layers.mlp_blocks,
    layers.potential_blocks,
    layers.lstm_blocks,
    layers.losses_blocks,
    layers.dense_blocks,
    dynamics.cell_blocks,
    dynamics.freeform_blocks,
    models.model_blocks,
    models.pixel_vae_blocks,
)


def all_blocks(seed=0):
    """Every block, built with one seeded Generator (the same seed gives the same blocks)."""
    rng = np.random.default_rng(seed)
    return [block for build in BUILDERS for block in build(rng)]


__all__ = ["Block", "all_blocks", "check_block", "eps_sweep", "gradcheck"]
