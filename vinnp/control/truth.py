"""The true system a closed-loop controller is scored against (uses scipy).

Kept apart from ``vinnp.control.planner`` and ``vinnp.control.loop``, which run on NumPy
alone: the closed loop takes the true step as a callable. The system is one of
vinnp.systems with control inputs (the driven pendulum: dq/dt = p/(ml^2), dp/dt =
-mgl sin q - c dq/dt + u, |u| <= u_max), each step integrated by its own ground truth
(DOP853, rtol 1e-10, atol 1e-12) over one zero-order-hold interval.
"""

import numpy as np

from vinnp.checks import as_array, positive_float
from vinnp.systems import SYSTEMS, get_system

# the systems with control inputs, by the name a run's config.json gives in "system"
CONTROLLED = tuple(name for name in SYSTEMS if get_system(name).n_inputs)


class TrueSystem:
    """A controlled system of vinnp.systems stepped one hold interval at a time.

    The input is a generalised force on q (the driven pendulum's torque), so holding the
    system at rest at q takes u = dU/dq(q).
    """

    def __init__(self, system):
        if not system.n_inputs:
            raise ValueError(f"system: {system.name} has no control inputs")
        self.system = system
        self.name = system.name
        self.dim = system.dof
        self.n_inputs = system.n_inputs
        self.u_max = float(system.u_max)

    @classmethod
    def named(cls, name):
        return cls(get_system(name))

    def holding_torque(self, target):
        """The input that holds the system at rest at ``target``: dU/dq(target)."""
        return float(self.system.grad_potential(target))

    def check_target(self, target, name="target"):
        """``target`` as a float if |u| <= u_max can hold it there, else ValueError."""
        target = float(as_array(target, name, shape=()))
        need = abs(self.holding_torque(target))
        if need >= self.u_max:
            raise ValueError(f"{name}: holding {target:g} rad needs an input |dU/dq| = {need:.3g}, at or above "
                             f"the bound u_max = {self.u_max:g} of the {self.name} data")
        return target

    def step(self, q, p, u, h):
        """(q, p), each (d,), after h s from q, p under u ((m,)) held constant."""
        h = positive_float(h, "h")
        u = np.asarray(u, np.float64).reshape(1, self.n_inputs)
        q1, p1 = self.system.trajectory(float(np.ravel(q)[0]), float(np.ravel(p)[0]), np.array([0.0, h]),
                                        u=np.repeat(u, 2, axis=0))
        return np.array([q1[-1]]), np.array([p1[-1]])
