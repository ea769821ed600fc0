"""FreeForm: the DVAE baseline's latent dynamics, a free-form feed-forward map.

    x_{t+1} = f_theta(x_t),   x = (q, p) in R^{2d}

f_theta is an MLP 2d -> hidden (tanh) -> ... -> 2d with an identity output
layer. This is the "DVAE: free-form feed-forward latent dynamics" baseline of
the paper's Figure 5. Unlike the ResRNN (vinnp.dynamics.euler:
x_{t+1} = x_t + h f(x_t)) there is no skip connection and no step size. The
network has to learn the whole next state, identity part included, so nothing
in its structure favours smooth or energy-preserving motion. That missing
structure is what the comparison measures.

:class:`FreeForm` can stand in for :class:`vinnp.dynamics.cells.Cell`: it has the
same constructor, attributes, JSON form, layout and the same
``rollout`` / ``backward`` contract. Observations are (q_t, p_t) for t = 1..T,
obs (B, T, 2, d), and obs[:, 0] is x_1 itself.

Each step is one batched call of the BLAS layers of :mod:`vinnp.layers.dense`.
With B ~ 50 and hidden layers up to 1000 wide, a step is two or three matrix
products. Those are far cheaper than B per-sample dot loops, which is why this
class has no fused Numba time loop as the other cells do.
"""

import numpy as np

from vinnp.checks import as_array, one_of, positive_float, positive_int
from vinnp.dynamics.cells import NetAndMass
from vinnp.dynamics.mass import Mass
from vinnp.layers.dense import dense_backward, dense_forward
from vinnp.layers.mlp import MLP
from vinnp.params import Layout

KIND = "dvae"


class FreeForm(NetAndMass):
    """x_{t+1} = f_theta(x_t) with f_theta an MLP [2d, *hidden, 2d] (identity output).

    Parameters (the same as :class:`~vinnp.dynamics.cells.Cell`'s, so a model
    can build either one from its settings)
    ----------
    kind : must be "dvae".
    dim : d, the configuration dimension; the state x = (q, p) has 2d numbers.
    h : the latent step size. It is validated and stored but **not used**: the
        free-form map has no step size. It is kept so that ``cell.h``,
        ``to_json`` and code written for the integrator cells still work.
    hidden : widths of the hidden layers (none gives a linear map).
    activation : activation of the hidden layers (tanh in the paper).
    learn_mass : must be False. There is no Hamiltonian structure, so there is
        no mass matrix to learn. ``mass`` is a fixed identity
        ``Mass(dim, False)`` with no parameters, kept so that code reading
        ``cell.mass.learned`` or ``cell.matrices`` works unchanged.
    """

    def __init__(self, kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False):
        self.kind = one_of(kind, "model", (KIND,))
        self.dim = positive_int(dim, "dim")
        self.h = positive_float(h, "h")
        hidden = tuple(positive_int(n, "hidden") for n in hidden)
        if learn_mass:
            raise ValueError("learn_mass: the free-form (DVAE) dynamics has no mass matrix")
        self.net = MLP([2 * self.dim, *hidden, 2 * self.dim], activation)
        self.mass = Mass(self.dim, False)

    def to_json(self):
        return {"kind": self.kind, "dim": self.dim, "h": self.h, "net": self.net.to_json(),
                "learn_mass": self.mass.learned}

    @classmethod
    def from_json(cls, obj):
        net = MLP.from_json(obj["net"])
        cell = cls(obj["kind"], obj["dim"], obj["h"], hidden=tuple(net.sizes[1:-1]),
                   learn_mass=obj["learn_mass"])
        if net.sizes[0] != 2 * cell.dim or net.sizes[-1] != 2 * cell.dim:
            raise ValueError(f"net: expected input and output width {2 * cell.dim} (2 * dim), "
                             f"got sizes {net.sizes}")
        # The stored network, not the rebuilt one, so non-default activations survive.
        cell.net = net
        return cell

    def matrices(self, params, layout, prefix):
        """(M^{-1}, M) = (I, I). Only for callers written for Cell, such as initial-state helpers."""
        minv, m = self.mass.matrices(None, params.dtype)
        return np.ascontiguousarray(minv, params.dtype), np.ascontiguousarray(m, params.dtype)

    def _net_slice(self, layout, prefix):
        """Where this network's W1, b1, ..., WL, bL sit in the flat vector.

        ``Layout.join`` places a sub-layout's entries next to each other in
        order, so the net is one contiguous range. Handing the dense layers
        that range with the net's own layout means their validation and
        gradient accumulation touch only these parameters. The rest of a large
        model's vector is left alone.
        """
        p = f"{prefix}.net"
        start = layout.slice(f"{p}.W1").start
        stop = layout.slice(f"{p}.b{self.net.depth}").stop
        if stop - start != self.net.layout().size:
            raise ValueError(f"layout: the entries of {p} are not contiguous")
        return slice(start, stop)

    def rollout(self, params, layout, x1, T, prefix="cell"):
        """x1 (B, 2, d) -> (obs (B, T, 2, d), cache for ``backward``); obs[:, 0] = x1."""
        x1 = np.ascontiguousarray(as_array(x1, "x1", shape=(None, 2, self.dim), dtype=params.dtype))
        T = positive_int(T, "n_steps")
        theta = params[self._net_slice(layout, prefix)]
        B = x1.shape[0]
        obs = np.empty((B, T, 2, self.dim), params.dtype)
        obs[:, 0] = x1
        # The state travels as a contiguous (B, 2d) matrix: the row layout the
        # dense layers want. The caches keep references to each step's input,
        # not copies, so nothing may write into them afterwards. That is why
        # x_1 is copied: x1 may be a view into the caller's vector (the gradient
        # checks perturb it in place), and the backward pass reads it for dW1.
        x = x1.reshape(B, 2 * self.dim).copy()
        steps = []
        for t in range(1, T):
            x, c = dense_forward(self.net, theta, x)
            steps.append(c)
            obs[:, t] = x.reshape(B, 2, self.dim)
        # Every step's activations are kept (T * B * sum(hidden) numbers, a few MB
        # at paper sizes), so the backward pass does not run the forward again.
        return obs, (obs, steps)

    def backward(self, params, layout, cache, g_obs, grad, prefix="cell"):
        """Accumulate (+=) the parameter gradient into ``grad``; return dLoss/dx1 (B, 2, d).

        g_obs (B, T, 2, d) is dLoss/dobs; ``grad`` has the layout of ``params``.
        """
        obs, steps = cache
        B, T = obs.shape[:2]
        D = 2 * self.dim
        g_obs = as_array(g_obs, "g_obs", shape=(B, T, 2, self.dim))
        # Cast as Cell.backward does, so a caller's g_obs of another float width works too.
        g_obs = np.ascontiguousarray(g_obs, params.dtype).reshape(B, T, D)
        sl = self._net_slice(layout, prefix)
        theta, g_theta = params[sl], grad[sl]  # a view: dense_backward's += lands in grad
        # Reverse-mode through x_t = f(x_{t-1}): x_t's total gradient is its own
        # observation term plus what flows back from x_{t+1}.
        g = g_obs[:, T - 1].copy()
        for t in range(T - 1, 0, -1):
            g = g_obs[:, t - 1] + dense_backward(self.net, theta, steps[t - 1], g, g_theta)
        return g.reshape(B, 2, self.dim)


__all__ = ["KIND", "FreeForm"]
