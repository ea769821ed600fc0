"""Numba's compiler, or, where Numba is not installed, stand-ins that keep modules importable.

The integrator units (vinnp/dynamics/<integrator>.py) hold a NumPy reference step beside
their compiled kernels, and the NumPy-only forecast (vinnp.evaluation.embedded) needs only
the former. Modules on that path import ``njit``, ``prange`` and ``overload`` from here, so
that they import without Numba: a kernel is then defined but not compiled, and calling it
raises a RuntimeError that says Numba is needed. With Numba installed these are Numba's own.
"""

try:
    from numba import njit, prange
    from numba.extending import overload

    HAVE_NUMBA = True
except ImportError:  # the NumPy-only forecast path
    HAVE_NUMBA = False
    prange = range

    def _needs_numba(fn):
        def kernel(*args, **kwargs):
            raise RuntimeError(f"{fn.__module__}.{fn.__name__} is a compiled kernel and needs Numba "
                               f"(pip install numba); only the NumPy reference paths run without it")

        kernel.__name__ = fn.__name__
        kernel.py_func = fn
        return kernel

    def njit(*args, **kwargs):
        """@njit and @njit(...) alike."""
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return _needs_numba(args[0])
        return _needs_numba

    def overload(func, *args, **kwargs):
        return lambda typer: typer


__all__ = ["HAVE_NUMBA", "njit", "overload", "prange"]
