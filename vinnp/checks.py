"""Input validation shared by every public entry point.

Every failure is a ``ValueError`` whose message names the argument and the
expected form, so that the CLI can print it as one line (exit status 2).
"""

import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def as_array(x, name, *, ndim=None, shape=None, dtype=None, finite=True, floating=True):
    """Return ``x`` as a NumPy array after checking it.

    shape: tuple with ``None`` for free axes. dtype: required dtype (no silent cast
    from another float width); ``None`` accepts float32/float64 as given and casts
    integers and Python lists to float64.
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__} ({exc})") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if floating:
        if dtype is not None:
            dtype = np.dtype(dtype)
            if arr.dtype != dtype:
                if isinstance(x, np.ndarray) and np.issubdtype(arr.dtype, np.floating):
                    raise ValueError(f"{name}: expected dtype {dtype}, got {arr.dtype}")
                arr = arr.astype(dtype)
        elif arr.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
                raise ValueError(f"{name}: expected dtype float32 or float64, got {arr.dtype}")
            arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


def positive_int(x, name, *, minimum=1):
    """Check that ``x`` is an integer >= ``minimum`` and return it as ``int``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {x!r}")
    if x < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {x}")
    return int(x)


def positive_float(x, name, *, allow_zero=False):
    """Check that ``x`` is a finite real number > 0 (or >= 0) and return it as ``float``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x):
        raise ValueError(f"{name}: expected a finite number, got {x!r}")
    if x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name}: expected a number {'>=' if allow_zero else '>'} 0, got {x}")
    return float(x)


def one_of(x, name, choices):
    """Check that ``x`` is one of ``choices`` (strings) and return it."""
    if x not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}; got {x!r}")
    return x


def float_dtype(x, name="dtype"):
    """Normalise 'float32'/'float64' or a NumPy float dtype."""
    try:
        dt = np.dtype(x)
    except (TypeError, ValueError, KeyError):
        raise ValueError(f"{name}: expected float32 or float64, got {x!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name}: expected float32 or float64, got {x!r}")
    return dt
