"""The true systems that closed-loop control is scored against (uses scipy).

Kept apart from ``vinnp.control.planner`` and ``vinnp.control.loop``, which run on NumPy
alone: the closed loop takes the true step as a callable.

driven-pendulum: H = p²/(2ml²) + mgl(1 − cos q) with viscous friction and a torque input,

    dq/dt = p / (ml²),    dp/dt = −mgl sin q − c dq/dt + u,    |u| <= u_max,

m = l = 1, g = 9.81, c = 0.1, u_max = 6.0, u held constant over each step of h = 0.1 s.
One step is integrated by DOP853 (rtol 1e-10, atol 1e-12) over the hold interval.
"""

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from vinnp.checks import as_array, positive_float


@dataclass(frozen=True)
class DrivenPendulum:
    """The driven, damped pendulum (module docstring); SI units, angle in rad."""
    m: float = 1.0
    l: float = 1.0
    g: float = 9.81
    c: float = 0.1
    u_max: float = 6.0
    h: float = 0.1
    dim: int = 1
    n_inputs: int = 1

    def vector_field(self, q, p, u):
        """(dq/dt, dp/dt) at state q, p under torque u (arrays broadcast)."""
        qdot = p / (self.m * self.l ** 2)
        return qdot, -self.m * self.g * self.l * np.sin(q) - self.c * qdot + u

    def holding_torque(self, target):
        """The torque that holds the pendulum at rest at angle ``target``: mgl sin(target)."""
        return self.m * self.g * self.l * np.sin(target)

    def check_target(self, target, name="target"):
        """``target`` as a float, if |u| <= u_max can hold it (mgl |sin target| < u_max); else ValueError."""
        target = float(as_array(target, name, shape=()))
        need = abs(self.holding_torque(target))
        if need >= self.u_max:
            raise ValueError(f"{name}: holding {target:g} rad needs a torque mgl|sin q| = {need:.3g} N·m, "
                             f"at or above the bound u_max = {self.u_max:g}; expected an angle with "
                             f"|sin q| < {self.u_max / (self.m * self.g * self.l):.4g}")
        return target

    def step(self, q, p, u, h=None):
        """(q, p) after h s (default self.h) from q, p ((d,) = (1,)) with u ((1,)) held constant."""
        h = self.h if h is None else positive_float(h, "h")
        y0 = np.concatenate([np.atleast_1d(q), np.atleast_1d(p)]).astype(np.float64)
        u = np.atleast_1d(np.asarray(u, np.float64))

        def rhs(_t, y):
            return np.concatenate(self.vector_field(y[:1], y[1:], u))

        sol = solve_ivp(rhs, (0.0, h), y0, method="DOP853", rtol=1e-10, atol=1e-12)
        if not sol.success:
            raise RuntimeError(f"driven-pendulum step: solve_ivp failed ({sol.message})")
        y = sol.y[:, -1]
        return y[:1], y[1:]


# the systems with control inputs, by the name a run's config.json gives in "system"
SYSTEMS = {"driven-pendulum": DrivenPendulum()}
