"""Every integrator cell, by name: one line per unit file (vinnp/dynamics/<integrator>.py).

Adding an integrator is its unit file plus one entry in ``_UNITS``; the Cell, the models,
the training steps, the CLI and the registry-driven tests then pick it up from its
declaration (vinnp.dynamics.integrator.Integrator).
"""

from vinnp.checks import one_of
from vinnp.dynamics import euler, so2, sv, sv_forced, vv, vv_forced, yoshida4

_UNITS = (
    euler,
    sv,
    vv,
    so2,
    yoshida4,
    sv_forced,
    vv_forced,
)
INTEGRATORS = {unit.INTEGRATOR.name: unit.INTEGRATOR for unit in _UNITS}
NAMES = tuple(INTEGRATORS)

# Numba's dispatcher tells argument types apart by name: two tag classes of the same name
# would share one compiled kernel, and one integrator would silently run another's steps.
_tags = [type(spec.tag).__name__ for spec in INTEGRATORS.values()]
if len(set(_tags)) != len(_tags) or len(INTEGRATORS) != len(_UNITS):
    raise ImportError(f"registry: integrator names and tag class names must be unique, got "
                      f"{list(INTEGRATORS)} and {_tags}")


def get(name):
    """The Integrator called ``name`` (ValueError listing the choices otherwise)."""
    return INTEGRATORS[one_of(name, "model", NAMES)]


def with_role(role):
    """Names of the integrators that declare ``role`` (e.g. "table-noisy"), in registry order."""
    return tuple(n for n, spec in INTEGRATORS.items() if role in spec.roles)


def default(role):
    """The one integrator that declares the default role ``role`` (e.g. "default-phase")."""
    names = with_role(role)
    if len(names) != 1:
        raise LookupError(f"registry: {len(names)} integrators declare {role!r}, expected one")
    return names[0]
