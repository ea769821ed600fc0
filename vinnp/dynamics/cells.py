"""The dynamics cells behind one interface: layout, rollout, backpropagation through time.

``make_cell(kind, dim, ...)`` returns a :class:`Cell` for any integrator in
vinnp.dynamics.registry (``CELLS``). The Cell reads the integrator's declaration (its
network, mass, state layout, aux size) and runs its kernels through the shared batched
kernels of vinnp.dynamics.kernels; it never compares names.

A cell's parameters are the network ``net.*`` and, when the mass is learned, ``mass.L``
(M^{-1} = L L^T); a model embeds them in its own flat vector under a prefix. Observations
are (q_t, p_t) for t = 1..T: obs (B, T, 2, d).
"""

import numpy as np

from vinnp.checks import as_array, positive_float, positive_int
from vinnp.dynamics import kernels, registry
from vinnp.dynamics.mass import Mass
from vinnp.layers.mlp import MLP
from vinnp.params import Layout

CELLS = registry.NAMES


class NetAndMass:
    """Parameters of a latent dynamics cell: its network's, then its mass's (``self.net``,
    ``self.mass``), in one flat layout. Shared by the VIN cells and the DVAE's free-form cell."""

    def layout(self):
        return Layout.join([("net", self.net.layout()), ("mass", Layout(self.mass.entries()))])

    def init(self, rng, dtype=np.float64, scheme="normal"):
        return np.concatenate([self.net.init(rng, dtype, scheme=scheme), self.mass.init(dtype)])


class Cell(NetAndMass):
    def __init__(self, kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False):
        self.spec = registry.get(kind)
        self.kind = kind
        self.dim = positive_int(dim, "dim")
        self.h = positive_float(h, "h")
        if self.spec.dim is not None and self.dim != self.spec.dim:
            raise ValueError(f"dim: {kind} evolves dimension {self.spec.dim} only, got dim {self.dim}")
        hidden = tuple(positive_int(n, "hidden") for n in hidden)
        self.net = self.spec.make_net(self.dim, hidden, activation)
        if learn_mass and not self.spec.mass:
            raise ValueError(f"learn_mass: the {kind} cell has no mass matrix")
        self.mass = Mass(dim, learn_mass)

    def to_json(self):
        return {"kind": self.kind, "dim": self.dim, "h": self.h, "net": self.net.to_json(),
                "learn_mass": self.mass.learned}

    @classmethod
    def from_json(cls, obj):
        net = MLP.from_json(obj["net"])
        cell = cls(obj["kind"], obj["dim"], obj["h"], hidden=tuple(net.sizes[1:-1]), learn_mass=obj["learn_mass"])
        cell.net = net
        return cell

    def matrices(self, params, layout, prefix):
        ell = layout.view(params, f"{prefix}.mass.L") if self.mass.learned else None
        minv, m = self.mass.matrices(ell, params.dtype)
        return np.ascontiguousarray(minv, params.dtype), np.ascontiguousarray(m, params.dtype)

    def kernel_net(self, params, layout, prefix="cell"):
        """The :data:`vinnp.dynamics.kernels.Net` of this cell's network inside ``params``."""
        return kernels.Net(params, *self.net.kernel_args(layout, f"{prefix}.net"))

    def mass_pair(self, params, layout, prefix="cell"):
        """(2, d, d): M^{-1} and M, the kernels' ``mass`` argument."""
        return np.ascontiguousarray(np.stack(self.matrices(params, layout, prefix)))

    def initial_state(self, params, layout, q, p, prefix="cell"):
        """The state x_1 (B, 2, d) whose observed (q_1, p_1) equals the given (q, p)."""
        minv, _ = self.matrices(params, layout, prefix)
        return self.spec.initial_state(q, p, minv, self.h)

    def rollout(self, params, layout, x1, T, prefix="cell"):
        """x1 (B, 2, d) -> (obs (B, T, 2, d), cache for ``backward``)."""
        x1 = np.ascontiguousarray(as_array(x1, "x1", shape=(None, 2, self.dim), dtype=params.dtype))
        T = positive_int(T, "n_steps")
        net = self.kernel_net(params, layout, prefix)
        mass = self.mass_pair(params, layout, prefix)
        h = params.dtype.type(self.h)
        B = x1.shape[0]
        obs = np.empty((B, T, 2, self.dim), params.dtype)
        aux = np.empty((B, T, self.spec.aux * self.dim), params.dtype)
        kernels.rollout(self.spec.tag, net, mass, h, x1, obs, aux)
        return obs, (x1, obs, aux, net, mass, h)

    def backward(self, params, layout, cache, g_obs, grad, prefix="cell"):
        """Accumulate (+=) the parameter gradient into ``grad``; return dLoss/dx1 (B, 2, d)."""
        x1, obs, aux, net, mass, h = cache
        g_obs = np.ascontiguousarray(g_obs, params.dtype)
        g_x1 = np.zeros_like(x1)
        g_mass = np.zeros_like(mass)
        kernels.rollout_backward(self.spec.tag, net, mass, h, x1, obs, aux, g_obs, grad, g_mass, g_x1)
        if self.mass.learned:
            ell = layout.view(params, f"{prefix}.mass.L")
            grad[layout.slice(f"{prefix}.mass.L")] += self.mass.backward(ell, g_mass[0], g_mass[1])
        return g_x1


def make_cell(kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False):
    return Cell(kind, dim, h, hidden, activation, learn_mass)
