"""The dynamics cells behind one interface: layout, rollout, backpropagation through time.

``make_cell(kind, dim, ...)`` returns a :class:`Cell` for any integrator in
vinnp.dynamics.registry (``CELLS``). The Cell reads the integrator's declaration (its
network, mass, state layout, aux size) and runs its kernels through the shared batched
kernels of vinnp.dynamics.kernels; it never compares names.

A cell's parameters are the network ``net.*``, when the mass is learned ``mass.L``
(M^{-1} = L L^T), and for a forced cell its dissipation and input map ``force.L``,
``force.B`` (vinnp.dynamics.forcing); a model embeds them in its own flat vector under a
prefix. Observations are (q_t, p_t) for t = 1..T: obs (B, T, 2, d). A forced cell with
inputs takes u (B, T, m), u_t held over step t.
"""

import numpy as np

from vinnp.checks import as_array, positive_float, positive_int
from vinnp.dynamics import kernels, registry
from vinnp.dynamics.forcing import Forcing, check_inputs
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
    def __init__(self, kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False, n_inputs=0):
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
        n_inputs = positive_int(n_inputs, "n_inputs", minimum=0)
        if n_inputs and not self.spec.forced:
            forced = ", ".join(n for n, s in registry.INTEGRATORS.items() if s.forced)
            raise ValueError(f"n_inputs: the {kind} cell takes no inputs; a forced cell does ({forced})")
        self.forcing = Forcing(dim, n_inputs) if self.spec.forced else None
        self.n_inputs = n_inputs

    def layout(self):
        parts = [("net", self.net.layout()), ("mass", Layout(self.mass.entries()))]
        if self.forcing is not None:
            parts.append(("force", Layout(self.forcing.entries())))
        return Layout.join(parts)

    def init(self, rng, dtype=np.float64, scheme="normal"):
        extra = [self.forcing.init(dtype)] if self.forcing is not None else []
        return np.concatenate([super().init(rng, dtype, scheme=scheme), *extra])

    def to_json(self):
        out = {"kind": self.kind, "dim": self.dim, "h": self.h, "net": self.net.to_json(),
               "learn_mass": self.mass.learned}
        if self.forcing is not None:
            out["n_inputs"] = self.n_inputs
        return out

    @classmethod
    def from_json(cls, obj):
        net = MLP.from_json(obj["net"])
        cell = cls(obj["kind"], obj["dim"], obj["h"], hidden=tuple(net.sizes[1:-1]), learn_mass=obj["learn_mass"],
                   n_inputs=obj.get("n_inputs", 0))
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
        """(2, d, d): M^{-1} and M; a forced cell's (4, d, d) adds D and (M + hD/2)^{-1}. The
        kernels' ``mass`` argument."""
        minv, m = self.matrices(params, layout, prefix)
        if self.forcing is None:
            return np.ascontiguousarray(np.stack([minv, m]))
        return self.forcing.kernel_mass(minv, m, self.dissipation(params, layout, prefix), self.h)

    def dissipation(self, params, layout, prefix="cell"):
        """The learned D (d, d) of a forced cell; None for the others."""
        if self.forcing is None:
            return None
        return self.forcing.dissipation(layout.view(params, f"{prefix}.force.L"))

    def inputs(self, u, B, T, dtype):
        """u checked against this cell: (B, T, m) as ``dtype``, or None for a cell without inputs."""
        return check_inputs(u, self.n_inputs, (B, T, self.n_inputs), self.kind, dtype)

    def drive(self, params, layout, u, B, T, prefix="cell"):
        """The kernels' drive: B u_t (B, T, d) for a forced cell, (B, 0, d) for the others."""
        if self.forcing is None:
            return np.zeros((B, 0, self.dim), params.dtype)
        Bmap = layout.view(params, f"{prefix}.force.B") if self.n_inputs else None
        return self.forcing.drive(Bmap, u, (B, T, self.dim), params.dtype)

    def initial_state(self, params, layout, q, p, prefix="cell", u=None):
        """The state x_1 (B, 2, d) whose observed (q_1, p_1) equals the given (q, p); a forced cell
        with inputs needs the first input u (B, m) too."""
        minv, _ = self.matrices(params, layout, prefix)
        if self.forcing is None:
            return self.spec.initial_state(q, p, minv, self.h)
        n = np.shape(q)[0]
        u1 = None if u is None else np.asarray(u).reshape(n, 1, -1)
        g0 = self.drive(params, layout, self.inputs(u1, n, 1, params.dtype), n, 1, prefix)[:, 0]
        return self.spec.initial_state(q, p, minv, self.h, D=self.dissipation(params, layout, prefix), g0=g0)

    def rollout(self, params, layout, x1, T, prefix="cell", u=None):
        """x1 (B, 2, d) (and for a forced cell with inputs u (B, T, m); u_{T-1} is not used) ->
        (obs (B, T, 2, d), cache for ``backward``)."""
        x1 = np.ascontiguousarray(as_array(x1, "x1", shape=(None, 2, self.dim), dtype=params.dtype))
        T = positive_int(T, "n_steps")
        B = x1.shape[0]
        u = self.inputs(u, B, T, params.dtype)
        net = self.kernel_net(params, layout, prefix)
        mass = self.mass_pair(params, layout, prefix)
        drive = self.drive(params, layout, u, B, T, prefix)
        h = params.dtype.type(self.h)
        obs = np.empty((B, T, 2, self.dim), params.dtype)
        aux = np.empty((B, T, self.spec.aux * self.dim), params.dtype)
        ws = kernels.workspace(net, B, T, self.dim, mass.shape[0])
        kernels.rollout(self.spec.tag, net, mass, h, x1, drive, obs, aux, ws)
        return obs, (x1, obs, aux, net, mass, h, drive, u, ws)

    def backward(self, params, layout, cache, g_obs, grad, prefix="cell"):
        """Accumulate (+=) the parameter gradient into ``grad``; return dLoss/dx1 (B, 2, d)."""
        x1, obs, aux, net, mass, h, drive, u, ws = cache
        g_obs = np.ascontiguousarray(g_obs, params.dtype)
        g_x1 = np.zeros_like(x1)
        g_mass = np.zeros_like(mass)
        g_drive = np.zeros_like(drive)
        kernels.rollout_backward(self.spec.tag, net, mass, h, x1, drive, obs, aux, g_obs, grad, g_mass, g_x1, g_drive,
                                 ws)
        self.fold_gradients(params, layout, mass, g_mass, g_drive, u, grad, prefix)
        return g_x1

    def fold_gradients(self, params, layout, mass, g_mass, g_drive, u, grad, prefix="cell"):
        """Add to ``grad`` what the kernels' matrices and drive gradients mean for the parameters:
        the mass factor (when learned), the dissipation factor and the input map."""
        g_m = g_mass[1]
        if self.forcing is not None:
            g_ell, g_A = self.forcing.backward(layout.view(params, f"{prefix}.force.L"), g_mass[2], g_mass[3],
                                               mass[3], self.h)
            grad[layout.slice(f"{prefix}.force.L")] += g_ell
            g_m = g_m + g_A
            if self.n_inputs:
                grad[layout.slice(f"{prefix}.force.B")] += self.forcing.input_grad(g_drive, u).ravel()
        if self.mass.learned:
            ell = layout.view(params, f"{prefix}.mass.L")
            grad[layout.slice(f"{prefix}.mass.L")] += self.mass.backward(ell, g_mass[0], g_m)


def make_cell(kind, dim, h, hidden=(200,), activation="tanh", learn_mass=False, n_inputs=0):
    return Cell(kind, dim, h, hidden, activation, learn_mass, n_inputs)
