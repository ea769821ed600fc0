"""vinnp: Variational Integrator Networks in NumPy/Numba with hand-written gradients.

Importing the package is cheap and compiles nothing: Numba kernels live in the
submodules and are imported where they are used, so that a trained model can be
forecast with NumPy alone (see ``vinnp.evaluation.embedded``).
"""

__version__ = "0.1.0"


def gradcheck(*args, **kwargs):
    """Finite-difference gradient check; see :func:`vinnp.gradcheck_core.gradcheck`."""
    from vinnp.gradcheck_core import gradcheck as _gradcheck

    return _gradcheck(*args, **kwargs)
