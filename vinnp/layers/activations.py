"""Activations with their first and second derivatives.

The second derivative is needed because a VIN's loss depends on the force
dU/dq (eq. 6, 9-10): its parameter gradient contains d^2U/(dq dtheta), whose
backward pass runs through sigma''.

Each activation has an integer code so that compiled kernels can take a whole
network's activations as one int array.
"""

import math

import numpy as np

from vinnp.jit import njit

ACTIVATIONS = ("identity", "tanh", "relu", "softplus", "sin", "square")
CODES = {name: i for i, name in enumerate(ACTIVATIONS)}
IDENTITY, TANH, RELU, SOFTPLUS, SIN, SQUARE = range(6)
# "square" (x^2) lets a network represent quadratic potentials such as the spring's
# U = q^2/2 exactly; the tests use it to compare VIN cells with textbook integrators.
# Activations whose second derivative exists everywhere; relu's is 0 almost
# everywhere, so second-order checks use it only away from its kink.
SMOOTH = ("identity", "tanh", "softplus", "sin", "square")


def code_of(name, argname="activation"):
    if name not in CODES:
        raise ValueError(f"{argname}: unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return CODES[name]


@njit(cache=True)
def fast_tanh(x):
    """tanh through one exp: 2.6x faster than libm's here, absolute error ~1e-16.

    (1 - e)/(1 + e) with e = exp(-2|x|) never overflows; its relative error grows
    only where tanh itself is tiny, and the absolute error is what the forward
    value and the gradient 1 - tanh^2 see.
    """
    e = math.exp(-2.0 * abs(x))
    t = (1.0 - e) / (1.0 + e)
    return t if x >= 0 else -t


# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 9 (beyond, tanh rounds to +-1 in float32): a
# rational fit of our own (Lawson-weighted least squares of the relative error, P(0) =
# Q(0) = 1 so that tanh'(0) = 1 exactly), 2.1e-8 relative in exact arithmetic and 3.5e-7
# (3 ulp) evaluated in float32. Branch-free, no libm call: LLVM can vectorise it, which a
# call to tanh or exp prevents (no SVML here). The constants are float32 so that a float32
# loop stays in float32 lanes; float64 paths keep fast_tanh, accurate to 1e-16.
_P32 = tuple(np.float32(v) for v in (1.0, 0.1338399975302358, 0.003499019240772035, 2.0661644844812365e-05,
                                     1.3420352696757315e-08))
_Q32 = tuple(np.float32(v) for v in (1.0, 0.4671732123835843, 0.025890294430337545, 0.00032910763041584,
                                     7.804946468641886e-07))
_CLAMP32 = np.float32(9.0)
ONE32 = np.float32(1.0)


@njit(cache=True, inline="always")
def tanh32(x):
    """tanh of a float32 for vectorised loops (see above); |result| <= 1."""
    xc = min(max(x, -_CLAMP32), _CLAMP32)
    u = xc * xc
    num = xc * (_P32[0] + u * (_P32[1] + u * (_P32[2] + u * (_P32[3] + u * _P32[4]))))
    den = _Q32[0] + u * (_Q32[1] + u * (_Q32[2] + u * (_Q32[3] + u * _Q32[4])))
    return min(max(num / den, -ONE32), ONE32)


@njit(cache=True)
def act(c, x):
    """sigma(x) for activation code c."""
    if c == TANH:
        return fast_tanh(x)
    if c == RELU:
        return x if x > 0 else 0.0 * x
    if c == SOFTPLUS:
        # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)
        return max(x, 0.0 * x) + math.log1p(math.exp(-abs(x)))
    if c == SIN:
        return math.sin(x)
    if c == SQUARE:
        return x * x
    return x


@njit(cache=True)
def sech2(x):
    """1 - tanh(x)^2 as 4e/(1+e)^2, e = exp(-2|x|): accurate relative to its value.

    1 - y*y cancels catastrophically where tanh saturates (relative error
    ~1e-16/sech^2), which float64 gradient checks of saturated units expose.
    """
    e = math.exp(-2.0 * abs(x))
    d = 1.0 + e
    return 4.0 * e / (d * d)


@njit(cache=True)
def tanh_d1(x, y):
    """tanh'(x) given y = tanh(x): 1 - y^2 (exact to ~1e-13 relative) unless saturated."""
    if abs(x) < 4.0:  # sech^2 >= 1.3e-3: the subtraction loses at most 3 digits
        return 1.0 - y * y
    return sech2(x)


@njit(cache=True)
def act_d1(c, x, y):
    """sigma'(x), given y = sigma(x)."""
    if c == TANH:
        return tanh_d1(x, y)
    if c == RELU:
        return 1.0 if x > 0 else 0.0
    if c == SOFTPLUS:
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    if c == SIN:
        return math.cos(x)
    if c == SQUARE:
        return 2.0 * x
    return 1.0


@njit(cache=True)
def act_d2(c, x, y):
    """sigma''(x), given y = sigma(x)."""
    if c == TANH:
        return -2.0 * y * tanh_d1(x, y)
    if c == SOFTPLUS:
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return s * (1.0 - s)
    if c == SIN:
        return -math.sin(x)
    if c == SQUARE:
        return 2.0
    return 0.0  # identity, relu (almost everywhere)
