"""VINs learned from noisy phase-space observations (Section 3.1).

Theta = (theta, x_1, sigma^2): the cell's network (and mass), one learned
initial state per training sequence, and the observation noise variance. The
loss is the Gaussian negative log-likelihood of eq. (14),

    -log p(y_{1:T} | x_{1:T}, sigma^2) = sum_t [ |y_t - x_t|^2 / (2 sigma^2) + (D/2) log(2 pi sigma^2) ],

averaged over every observed scalar so that one learning rate fits any data
size. Observations y_t are (q_t, p_t); the cells map their state to (q, p)
themselves (the discrete Legendre transform for SV and SO(2)).

The same class serves the multiple-shooting warm-up (many short windows, each
with its own x_1) and whole-trajectory training: only ``n_seq`` and the
sequences change.
"""

import numpy as np

from vinnp.checks import as_array, positive_int
from vinnp.dynamics.cells import Cell
from vinnp.layers.losses import mean_gaussian_nll
from vinnp.layers.mlp import forward
from vinnp.params import Layout


def observations(batch):
    """(n_seq, T, 2, d) array of observed (q, p) from a batch dict with "q", "p"."""
    return np.stack([batch["q"], batch["p"]], axis=2)


class VIN:
    """A VIN with learned initial conditions for ``n_seq`` observed sequences."""

    family = "vin"

    def __init__(self, cell, n_seq):
        if not isinstance(cell, Cell):
            raise ValueError("cell: expected a vinnp.dynamics.cells.Cell")
        self.cell = cell
        self.n_seq = positive_int(n_seq, "n_seq")
        self.name = cell.kind
        self.h = cell.h  # the step size: the model's one time spacing (forecasts, figures)
        self.layout = Layout.join([
            ("cell", cell.layout()),
            ("", Layout([("x1", (self.n_seq, 2, cell.dim)), ("log_var", (1,))])),
        ])

    def to_json(self):
        return {"family": self.family, "cell": self.cell.to_json(), "n_seq": self.n_seq}

    # -- parameters ---------------------------------------------------------
    def init(self, rng, batch, dtype=np.float64, scheme="normal"):
        """Network from ``rng`` (MLP.init's ``scheme``); x_1 from each sequence's first
        observation; sigma^2 = 0.1."""
        params = self.layout.zeros(dtype)
        params[self.layout.slice("cell.net.W1").start:self.layout.slice("x1").start] = self.cell.init(
            rng, dtype, scheme=scheme)
        x1 = self.cell.initial_state(params, self.layout, batch["q"][:, 0], batch["p"][:, 0],
                                     u=self.batch_inputs(batch, 1))
        self.layout.view(params, "x1")[...] = x1
        self.layout.view(params, "log_var")[...] = np.log(0.1)
        return params

    def cell_params(self, params):
        """The part of ``params`` shared by every VIN on the same cell (network and mass)."""
        return params[: self.layout.slice("x1").start]

    def batch_inputs(self, batch, T=None):
        """The batch's inputs u (n_seq, T, m) for a cell that takes them (the first T points), else None."""
        if not self.cell.n_inputs:
            return None
        if batch.get("u") is None:
            raise ValueError(f"batch: the {self.name} model takes {self.cell.n_inputs} input(s); the data carry no u")
        u = np.asarray(batch["u"])
        return u if T is None else u[:, :T]

    # -- the functional contract -------------------------------------------
    def loss(self, params, batch):
        return self.loss_and_grad(params, batch, want_grad=False)[0]

    def loss_and_grad(self, params, batch, want_grad=True):
        y = observations(batch).astype(params.dtype, copy=False)
        if y.shape[0] != self.n_seq:
            raise ValueError(f"batch: expected {self.n_seq} sequences, got {y.shape[0]}")
        T = y.shape[1]
        x1 = self.layout.view(params, "x1")
        log_var = self.layout.view(params, "log_var")
        pred, cache = self.cell.rollout(params, self.layout, x1, T, u=self.batch_inputs(batch))
        value, d_pred, d_lv = mean_gaussian_nll(y, pred, log_var, want_grad)
        if not want_grad:
            return value, None
        grad = np.zeros_like(params)
        g_x1 = self.cell.backward(params, self.layout, cache, d_pred, grad)
        grad[self.layout.slice("x1")] += g_x1.ravel()
        grad[self.layout.slice("log_var")] += d_lv
        return value, grad

    def forecast(self, params, q0, p0, n_steps, u=None):
        """(q, p) of shape (B, n_steps + 1, d) from initial states q0, p0 (B, d); index 0 is t = 0.
        A model with inputs takes u (B, n_steps, m): u[:, k] held over step k."""
        q0 = as_array(q0, "q0", shape=(None, self.cell.dim)).astype(params.dtype)
        p0 = as_array(p0, "p0", shape=q0.shape).astype(params.dtype)
        n_steps = positive_int(n_steps, "n_steps")
        if self.cell.n_inputs:
            u = self.cell.inputs(u, q0.shape[0], n_steps, np.float64)
            u = np.concatenate([u, u[:, -1:]], axis=1)  # the input after the last step is not used
        else:
            self.cell.inputs(u, q0.shape[0], n_steps, np.float64)
        x1 = self.cell.initial_state(params, self.layout, q0, p0, u=None if u is None else u[:, 0])
        obs, _ = self.cell.rollout(params, self.layout, x1, n_steps + 1, u=u)
        return obs[:, :, 0], obs[:, :, 1]

    def dissipation(self, params):
        """The learned dissipation matrix D (d, d) of a forced cell, None otherwise."""
        return self.cell.dissipation(params, self.layout)

    def noise_std(self, params):
        return float(np.exp(0.5 * self.layout.view(params, "log_var")[0]))

    def energy(self, params, q, p):
        """The embedding's own energy T + U_theta = p^T M^{-1} p / 2 + U_theta(q); None for a
        cell whose network is not a potential (SO(2), the ResRNN)."""
        if not self.cell.spec.potential:
            return None
        minv, _ = self.cell.matrices(params, self.layout, "cell")
        shape = q.shape[:-1]
        qf = q.reshape(-1, self.cell.dim).astype(params.dtype)
        pf = p.reshape(-1, self.cell.dim).astype(params.dtype)
        u = forward(self.cell.net, params, qf, self.layout, "cell.net")[:, 0]
        kinetic = 0.5 * np.einsum("bi,ij,bj->b", pf, minv, pf)
        return (kinetic + u).reshape(shape)
