"""Reference physical systems of Section 4 (the ideal mass-spring and the ideal pendulum),
and their damped and driven variants (viscous friction c, a torque input u).

    >>> from vinnp.systems import get_system
    >>> get_system("pendulum", m=1.0, l=1.0, g=9.81).separatrix_energy
    19.62
"""

from vinnp.systems.base import System, check_rng
from vinnp.systems.damped import DampedPendulum, DampedSpring
from vinnp.systems.driven import INPUT_KINDS, DrivenPendulum
from vinnp.systems.pendulum import Pendulum
from vinnp.systems.spring import Spring

SYSTEMS = ("spring", "pendulum", "damped-spring", "damped-pendulum", "driven-pendulum")
_CLASSES = {"spring": Spring, "pendulum": Pendulum, "damped-spring": DampedSpring,
            "damped-pendulum": DampedPendulum, "driven-pendulum": DrivenPendulum}
_PARAMS = {"spring": ("k", "m"), "pendulum": ("m", "l", "g"), "damped-spring": ("k", "m", "c"),
           "damped-pendulum": ("m", "l", "g", "c"), "driven-pendulum": ("m", "l", "g", "c", "u_max")}


def get_system(name, **params):
    """Build a system by name with its parameters (defaults from Appendix C.1).

    name: "spring" (params k, m), "pendulum" (params m, l, g), "damped-spring"
    (k, m, c), "damped-pendulum" (m, l, g, c) or "driven-pendulum" (m, l, g, c,
    u_max). Unknown names, unknown parameter names and non-positive values
    (c may be 0) raise ValueError.
    """
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"system: expected one of {', '.join(SYSTEMS)}; got {name!r}")
    unknown = sorted(set(params) - set(_PARAMS[name]))
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; expected {', '.join(_PARAMS[name])}")
    return _CLASSES[name](**params)


def as_system(system_or_name):
    """A System given either one or a name (with default parameters)."""
    if isinstance(system_or_name, System):
        return system_or_name
    return get_system(system_or_name)


__all__ = ["SYSTEMS", "INPUT_KINDS", "System", "Spring", "Pendulum", "DampedSpring", "DampedPendulum",
           "DrivenPendulum", "get_system", "as_system", "check_rng"]
