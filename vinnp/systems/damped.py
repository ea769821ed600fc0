"""Damped reference systems: the spring and the pendulum with viscous friction c.

    damped-spring:    dq/dt = p/m,     dp/dt = −k q − c·p/m             (k = m = 1, c = 0.1)
    damped-pendulum:  dq/dt = p/ml²,   dp/dt = −mgl sin q − c·p/(ml²)   (m = l = 1, g = 9.81, c = 0.1)

Both are the conservative parent's H with the friction term of ``System`` (see
vinnp/systems/base.py): energy(q, p) is still the conservative H, which now
decays as dH/dt = −c (dq/dt)². Initial states are sampled on the parent's
conservative orbits (energy uniform in the Appendix C.1 range, phase uniform in
time), so c = 0 reproduces the parent's trajectories.
"""

from vinnp.checks import positive_float
from vinnp.systems.pendulum import Pendulum
from vinnp.systems.spring import Spring


class Damped:
    """Mixin: a friction coefficient c >= 0 (N·s/m, or N·m·s/rad for an angle) in ``params["c"]``.

    The friction term itself lives in ``System.vector_field``/``_rhs``; this only
    checks and records c, so that every damped system reads it the same way.
    """

    def _set_friction(self, c):
        self.params["c"] = positive_float(c, "c", allow_zero=True)


class DampedSpring(Damped, Spring):
    """Mass-spring with viscous friction: dp/dt = −k q − c·p/m."""

    name = "damped-spring"

    def __init__(self, k=1.0, m=1.0, c=0.1):
        super().__init__(k=k, m=m)
        self._set_friction(c)


class DampedPendulum(Damped, Pendulum):
    """Pendulum with viscous friction at the pivot: dp/dt = −mgl sin q − c·p/(ml²)."""

    name = "damped-pendulum"

    def __init__(self, m=1.0, l=1.0, g=9.81, c=0.1):  # noqa: E741 - l is the paper's name
        super().__init__(m=m, l=l, g=g)
        self._set_friction(c)
