"""The dynamics cells behind one interface: layout, rollout, backpropagation through time.

``make_cell(kind, dim, ...)`` returns a :class:`Cell` for kind in CELLS:

* ``vin-sv``  Stormer-Verlet VIN, eq. (6)               (vinnp.dynamics.sv)
* ``vin-vv``  velocity Verlet VIN, eqs. (9)-(10)         (vinnp.dynamics.vv)
* ``vin-so2`` Lie group VIN on SO(2), eqs. (11)-(12)      (vinnp.dynamics.so2)
* ``resrnn``  explicit Euler residual network (baseline) (vinnp.dynamics.euler)

A cell's parameters are the network ``net.*`` and, when the mass is learned,
``mass.L`` (M^{-1} = L L^T); a model embeds them in its own flat vector under a
prefix. Observations are (q_t, p_t) for t = 1..T: obs (B, T, 2, d).
"""

import numpy as np

from vinnp.checks import as_array, one_of, positive_float, positive_int
from vinnp.dynamics import euler, so2, sv, vv
from vinnp.dynamics.mass import Mass
from vinnp.layers.mlp import MLP
from vinnp.layers.potential import potential_mlp
from vinnp.params import Layout

CELLS = ("vin-sv", "vin-vv", "vin-so2", "resrnn")
VINS = ("vin-sv", "vin-vv", "vin-so2")


class NetAndMass:
    """Parameters of a latent dynamics cell: its network's, then its mass's (``self.net``,
    ``self.mass``), in one flat layout. Shared by the VIN cells and the DVAE's free-form cell."""

    def layout(self):
        return Layout.join([("net", self.net.layout()), ("mass", Layout(self.mass.entries()))])

    def init(self, rng, dtype=np.float64, scheme="normal"):
        return np.concatenate([self.net.init(rng, dtype, scheme=scheme), self.mass.init(dtype)])


class Cell(NetAndMass):
    def __init__(self, kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False):
        self.kind = one_of(kind, "model", CELLS)
        self.dim = positive_int(dim, "dim")
        self.h = positive_float(h, "h")
        hidden = tuple(positive_int(n, "hidden") for n in hidden)
        if kind == "vin-so2":
            if not hidden:
                raise ValueError("hidden: vin-so2 needs at least one hidden layer (its last one is sin)")
            if self.dim != 1:
                raise ValueError(f"dim: vin-so2 evolves one angle (dim 1), got dim {self.dim}")
            # sin at the last hidden layer (Section 3, eq. 11): r(th) = -(g/l) sin th is in the family
            self.net = MLP([1, *hidden, 1], [activation] * (len(hidden) - 1) + ["sin", "identity"])
        elif kind == "resrnn":
            self.net = MLP([2 * dim, *hidden, 2 * dim], activation)
        else:
            self.net = potential_mlp(dim, hidden, activation)
        if learn_mass and kind == "resrnn":
            raise ValueError("learn_mass: the ResRNN has no mass matrix")
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

    def rollout(self, params, layout, x1, T, prefix="cell"):
        """x1 (B, 2, d) -> (obs (B, T, 2, d), cache for ``backward``)."""
        x1 = np.ascontiguousarray(as_array(x1, "x1", shape=(None, 2, self.dim), dtype=params.dtype))
        T = positive_int(T, "n_steps")
        args = self.net.kernel_args(layout, f"{prefix}.net")
        minv, m = self.matrices(params, layout, prefix)
        h = params.dtype.type(self.h)
        B = x1.shape[0]
        obs = np.empty((B, T, 2, self.dim), params.dtype)
        aux = None
        if self.kind == "vin-sv":
            sv.rollout(params, *args, minv, m, h, x1, obs)
        elif self.kind == "vin-vv":
            aux = np.empty((B, T, self.dim), params.dtype)
            vv.rollout(params, *args, minv, h, x1, obs, aux)
        elif self.kind == "vin-so2":
            aux = np.empty((B, T), params.dtype)
            so2.rollout(params, *args, minv[0, 0], m[0, 0], h, x1, obs, aux)
        else:
            euler.rollout(params, *args, h, x1, obs)
        return obs, (x1, obs, aux, args, minv, m, h)

    def backward(self, params, layout, cache, g_obs, grad, prefix="cell"):
        """Accumulate (+=) the parameter gradient into ``grad``; return dLoss/dx1 (B, 2, d)."""
        x1, obs, aux, args, minv, m, h = cache
        g_obs = np.ascontiguousarray(g_obs, params.dtype)
        g_x1 = np.zeros_like(x1)
        g_minv = np.zeros_like(minv)
        g_m = np.zeros_like(m)
        if self.kind == "vin-sv":
            sv.rollout_backward(params, *args, minv, m, h, x1, obs, g_obs, grad, g_minv, g_m, g_x1)
        elif self.kind == "vin-vv":
            vv.rollout_backward(params, *args, minv, h, obs, aux, g_obs, grad, g_minv, g_x1)
        elif self.kind == "vin-so2":
            g_scal = np.zeros(2, params.dtype)
            so2.rollout_backward(params, *args, minv[0, 0], m[0, 0], h, x1, obs, aux, g_obs, grad, g_scal, g_x1)
            g_minv[0, 0], g_m[0, 0] = g_scal
        else:
            euler.rollout_backward(params, *args, h, obs, g_obs, grad, g_x1)
        if self.mass.learned:
            ell = layout.view(params, f"{prefix}.mass.L")
            grad[layout.slice(f"{prefix}.mass.L")] += self.mass.backward(ell, g_minv, g_m)
        return g_x1


def make_cell(kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False):
    return Cell(kind, dim, h, hidden, activation, learn_mass)


def gradcheck_blocks(rng):
    """BPTT of every cell, fixed and learned mass: loss sum(R * obs) against params and x1."""
    from vinnp.gradcheck_core import Block

    blocks = []
    for kind in CELLS:
        for learn in ((False,) if kind == "resrnn" else (False, True)):
            dim = 1 if kind == "vin-so2" else 2
            cell = Cell(kind, dim, 0.1, hidden=(6,), learn_mass=learn)
            B, T = 3, 7
            layout = Layout.join([("cell", cell.layout()), ("", Layout([("x1", (B, 2, dim))]))])
            params = np.concatenate([cell.init(rng), 0.5 * rng.standard_normal(B * 2 * dim)])
            if learn:
                params[layout.slice("cell.mass.L")] = 0.3 * rng.standard_normal(cell.mass.n_params)
            if kind == "vin-so2":  # keep |sin dth| well inside the asin domain
                x1 = layout.view(params, "x1")
                x1[:, 0] = x1[:, 1] - 0.1 * rng.standard_normal((B, 1))
            Rw = rng.standard_normal((B, T, 2, dim))

            def loss(p, cell=cell, layout=layout, Rw=Rw, T=T):
                obs, _ = cell.rollout(p, layout, layout.view(p, "x1"), T)
                return float(np.sum(Rw * obs))

            def loss_and_grad(p, cell=cell, layout=layout, Rw=Rw, T=T):
                obs, cache = cell.rollout(p, layout, layout.view(p, "x1"), T)
                grad = np.zeros_like(p)
                g_x1 = cell.backward(p, layout, cache, Rw, grad)
                grad[layout.slice("x1")] += g_x1.ravel()
                return float(np.sum(Rw * obs)), grad

            name = f"rollout[{kind}{', learned mass' if learn else ''}]"
            blocks.append(Block(name, layout, params, loss, loss_and_grad))
    return blocks
