"""VIN-Yoshida4: a fourth-order symplectic VIN, the triple-jump composition of velocity Verlet.

    Phi_h = VV_{w1 h} o VV_{w0 h} o VV_{w1 h},   w1 = 1 / (2 - 2^{1/3}),   w0 = 1 - 2 w1

(Yoshida 1990; Forest & Ruth 1990). Each substep is the velocity Verlet VIN of eqs. (9)-(10)
with step w h, so the map is a composition of variational integrators: symplectic, and time
reversible because the weights are palindromic. The symmetric composition cancels the
h^3 local error of velocity Verlet, leaving order four. Three force evaluations per step
(the force at a substep's end is the next one's start). w0 < 0: the middle substep runs
backwards in time.

State x_t = (q_t, p_t), observed directly, as VIN-VV. The kernels are velocity Verlet's
composition kernels (vinnp.dynamics.vv) with these weights.
"""

from typing import NamedTuple

from vinnp.dynamics import kernels, vv
from vinnp.dynamics.integrator import PHASE, Integrator
from vinnp.jit import njit
from vinnp.layers.potential import potential_mlp

W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
W0 = 1.0 - 2.0 * W1
WEIGHTS = (W1, W0, W1)


class Yoshida4Tag(NamedTuple):
    order: int = 4


@njit(cache=True)
def rollout_one(net, mass, h, x1, drive, obs, aux, buf, vec):
    vv.composition_rollout_one(WEIGHTS, net, mass, h, x1, obs, aux, buf)


@njit(cache=True)
def backward_one(net, mass, h, x1, drive, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1, g_drive):
    vv.composition_backward_one(WEIGHTS, net, mass, h, obs, aux, g_obs, buf, vec, grad, g_mass, g_x1)


def reference(weights, activations, minv, m, h, x1, T):
    """NumPy rollout of the triple jump. x1 (B, 2, d) = (q_1, p_1) -> obs (B, T, 2, d)."""
    return vv.composition_reference(WEIGHTS, weights, activations, minv, h, x1, T)


kernels.register(Yoshida4Tag, rollout_one, backward_one)

INTEGRATOR = Integrator(
    name="vin-yoshida4", summary="fourth-order symplectic VIN: Yoshida's triple jump of velocity Verlet",
    order=4, symplectic=True, reversible=True, lie_group=None, state=PHASE, make_net=potential_mlp,
    potential=True, mass=True, dim=None, aux=3 * len(WEIGHTS) - 2, tag=Yoshida4Tag(), reference=reference,
    initial_state=vv.initial_state)
