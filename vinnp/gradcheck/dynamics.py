"""Gradient-check blocks of the dynamics: the BPTT of every integrator in the registry
(fixed and learned mass) and of the DVAE's free-form dynamics."""

import numpy as np

from vinnp.dynamics.cells import CELLS, Cell
from vinnp.dynamics.freeform import KIND, FreeForm
from vinnp.dynamics.registry import get
from vinnp.gradcheck.core import Block
from vinnp.params import Layout


def rollout_block(name, cell, layout, params, Rw, u=None):
    """Loss sum(Rw * obs) of ``cell``'s rollout from the x1 stored in ``params`` (layout
    "cell.*", "x1"), against every parameter and x1; Rw (B, T, 2, d) fixes T; u (B, T, m)
    the inputs of a forced cell."""
    T = Rw.shape[1]
    kw = {} if u is None else {"u": u}

    def loss(p):
        obs, _ = cell.rollout(p, layout, layout.view(p, "x1"), T, **kw)
        return float(np.sum(Rw * obs))

    def loss_and_grad(p):
        obs, cache = cell.rollout(p, layout, layout.view(p, "x1"), T, **kw)
        grad = np.zeros_like(p)
        g_x1 = cell.backward(p, layout, cache, Rw, grad)
        grad[layout.slice("x1")] += g_x1.ravel()
        return float(np.sum(Rw * obs)), grad

    return Block(name, layout, params, loss, loss_and_grad)


def cell_blocks(rng):
    """BPTT of every cell, fixed and learned mass: loss sum(R * obs) against params and x1
    (and a forced cell's dissipation and input map, with two inputs)."""
    blocks = []
    for kind in CELLS:
        spec = get(kind)
        for learn in ((False, True) if spec.mass else (False,)):
            dim = spec.dim or 2
            n_inputs = 2 if spec.forced else 0
            cell = Cell(kind, dim, 0.1, hidden=(6,), learn_mass=learn, n_inputs=n_inputs)
            B, T = 3, 7
            layout = Layout.join([("cell", cell.layout()), ("", Layout([("x1", (B, 2, dim))]))])
            params = np.concatenate([cell.init(rng), 0.5 * rng.standard_normal(B * 2 * dim)])
            if learn:
                params[layout.slice("cell.mass.L")] = 0.3 * rng.standard_normal(cell.mass.n_params)
            u = None
            if spec.forced:  # a dissipation well away from D0 I, a random input map and inputs
                params[layout.slice("cell.force.L")] = 0.5 * rng.standard_normal(cell.forcing.n_l)
                params[layout.slice("cell.force.B")] = rng.standard_normal(dim * n_inputs)
                u = rng.standard_normal((B, T, n_inputs))
            if spec.lie_group:  # x1 = (th_0, th_1): keep |sin dth| well inside the asin domain
                x1 = layout.view(params, "x1")
                x1[:, 0] = x1[:, 1] - 0.1 * rng.standard_normal((B, dim))
            Rw = rng.standard_normal((B, T, 2, dim))
            blocks.append(rollout_block(f"rollout[{kind}{', learned mass' if learn else ''}]", cell, layout, params,
                                        Rw, u))
    return blocks


def freeform_rollout_block(rng, dim=2, hidden=(6,), batch=3, steps=7, activation="tanh"):
    """A float64 gradient-check block: loss sum(R * obs) against the net's parameters and x1."""
    cell = FreeForm(KIND, dim, 1.0, hidden=hidden, activation=activation)
    layout = Layout.join([("cell", cell.layout()), ("", Layout([("x1", (batch, 2, dim))]))])
    params = np.concatenate([cell.init(rng), 0.5 * rng.standard_normal(batch * 2 * dim)])
    Rw = rng.standard_normal((batch, steps, 2, dim))
    return rollout_block(f"rollout[dvae, d={dim}, hidden={list(hidden)}]", cell, layout, params, Rw)


def freeform_blocks(rng):
    """BPTT of the free-form dynamics, one and two hidden layers: sum(R * obs) against params and x1."""
    return [freeform_rollout_block(rng, 2, (6,)), freeform_rollout_block(rng, 2, (5, 4))]
