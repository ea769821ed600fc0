"""Reference physical systems of Section 4: the ideal mass-spring and the ideal pendulum.

    >>> from vinnp.systems import get_system
    >>> get_system("pendulum", m=1.0, l=1.0, g=9.81).separatrix_energy
    19.62
"""

from vinnp.systems.base import System, check_rng
from vinnp.systems.pendulum import Pendulum
from vinnp.systems.spring import Spring

SYSTEMS = ("spring", "pendulum")
_CLASSES = {"spring": Spring, "pendulum": Pendulum}
_PARAMS = {"spring": ("k", "m"), "pendulum": ("m", "l", "g")}


def get_system(name, **params):
    """Build a system by name with its parameters (defaults from Appendix C.1).

    name: "spring" (params k, m) or "pendulum" (params m, l, g). Unknown names,
    unknown parameter names and non-positive values raise ValueError.
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


__all__ = ["SYSTEMS", "System", "Spring", "Pendulum", "get_system", "as_system", "check_rng"]
