"""Finite-difference gradient checking on flat parameter vectors.

A *block* is anything with a flat float64 parameter vector, a layout naming its
pieces, a scalar ``loss(params)`` and a ``loss_and_grad(params)``. The checker
compares the hand-written gradient with central differences, per named piece,
sampling entries of large tensors.

The difference quotient is the fourth-order central stencil
``(-f(x+2e) + 8 f(x+e) - 8 f(x-e) + f(x-2e)) / 12e``: its truncation error is
O(e^4) and its round-off O(delta_f / e), where delta_f is the rounding error
of evaluating the loss (a few ulps of |f| times the cancellation inside it).
Two consequences, both part of the check:

* An entry whose gradient is tiny next to the loss (1.4e-9 against |f| = 0.7
  in a saturated network) cannot be resolved relatively: the denominator of
  the relative error is floored at ``rel_floor * |f|`` (default 1e-5), i.e.
  such entries are judged on absolute error <= tol * rel_floor * |f|.
* The best step differs per entry, so an entry that fails at ``eps`` is
  retried at each step of ``retry_eps`` and the smallest error counts. A wrong
  gradient agrees with neither step; a right one agrees with at least one.

``eps_sweep`` uses the plain two-point stencil to show the classic V curve.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vinnp.params import Layout

DEFAULT_TOL = 1e-6
DEFAULT_EPS = 1e-4
RETRY_EPS = (1e-3,)
REL_FLOOR = 1e-5


@dataclass
class Block:
    """A gradient-checkable computation.

    name: label shown in reports (e.g. ``"mlp[tanh,relu]"``).
    layout: names the pieces of ``params``.
    params: flat float64 vector at which to check.
    loss: ``params -> float``.
    loss_and_grad: ``params -> (float, grad)`` with ``grad.shape == params.shape``.
    tol: pass threshold on the max relative error.
    """

    name: str
    layout: Layout
    params: np.ndarray
    loss: Callable
    loss_and_grad: Callable
    tol: float = DEFAULT_TOL
    meta: dict = field(default_factory=dict)


def relative_error(analytic, numeric, floor):
    """Entry-wise |a - n| / max(|a|, |n|, floor)."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return np.abs(analytic - numeric) / denom


def central_difference(loss, params, index, eps, order=4):
    """d loss / d params[index] by a central stencil of the given order (2 or 4)."""
    x = np.array(params, dtype=np.float64, copy=True)
    x0 = x[index]
    step = eps * max(1.0, abs(x0))

    def f(delta):
        x[index] = x0 + delta
        return float(loss(x))

    if order == 2:
        value = (f(step) - f(-step)) / (2 * step)
    else:
        # differences first: identical values then cancel exactly
        d1 = f(step) - f(-step)
        d2 = f(2 * step) - f(-2 * step)
        value = (8 * d1 - d2) / (12 * step)
    x[index] = x0
    return value


def gradcheck(loss, loss_and_grad, params, layout=None, *, eps=DEFAULT_EPS, max_entries=24,
              rng=None, floor=1e-8, tol=DEFAULT_TOL, rel_floor=REL_FLOOR, retry_eps=RETRY_EPS):
    """Compare ``loss_and_grad`` with central differences of ``loss``.

    Parameters
    ----------
    loss, loss_and_grad : callables on a flat float64 vector.
    params : 1-d float64 array at which to check.
    layout : :class:`~vinnp.params.Layout`; ``None`` treats params as one piece "params".
    max_entries : per named piece, check at most this many entries (sampled with ``rng``).
    floor : absolute floor in the relative-error denominator (entries whose true
        gradient is ~0 are judged on absolute error below it).
    rel_floor : the floor is at least ``rel_floor * |loss|`` (see the module docstring).
    retry_eps : steps tried for entries that fail at ``eps``; the smallest error counts.

    Returns
    -------
    list of dicts ``{"param", "max_rel_err", "tol", "ok", "n_checked", "nonzero"}``, one per
    piece (``nonzero``: the fraction of the piece's gradient entries that are not zero). Every
    row fails, with a ``"why"``, when the check could not have failed: a gradient that is zero
    everywhere, or a loss that no checked difference step moves.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 1:
        raise ValueError(f"params: expected a 1-d vector, got shape {params.shape}")
    if layout is None:
        layout = Layout([("params", (params.size,))])
    if layout.size != params.size:
        raise ValueError(f"layout: describes {layout.size} entries but params has {params.size}")
    rng = np.random.default_rng(0) if rng is None else rng
    value, grad = loss_and_grad(params.copy())
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != params.shape:
        raise ValueError(f"loss_and_grad: gradient shape {grad.shape} != params shape {params.shape}")
    value_again = float(loss(params.copy()))
    if not np.isclose(value, value_again, rtol=1e-10, atol=1e-12):
        raise ValueError(f"loss_and_grad: its loss {value!r} differs from loss() = {value_again!r}")
    floor = max(floor, rel_floor * abs(value))
    # A check that cannot fail is a failure: an all-zero gradient agrees with any loss that is
    # flat at this point (a dead relu, a saturated unit), whatever the backward pass does.
    vacuous = None
    if not np.any(grad):
        vacuous = "the hand-written gradient is all zero: the check could not fail"
    rows = []
    changed = False  # did the loss move over any checked stencil?
    for name in layout.names:
        sl = layout.slice(name)
        idx = np.arange(sl.start, sl.stop)
        if idx.size > max_entries:
            idx = np.sort(rng.choice(idx, size=max_entries, replace=False))
        numeric = np.array([central_difference(loss, params, i, eps) for i in idx])
        changed = changed or bool(np.any(numeric))
        err = relative_error(grad[idx], numeric, floor)
        for step in retry_eps:
            for j in np.flatnonzero(err > tol):
                again = central_difference(loss, params, idx[j], step)
                err[j] = min(err[j], float(relative_error(grad[idx[j]], again, floor)))
        worst = float(err.max()) if err.size else 0.0
        rows.append({"param": name, "max_rel_err": worst, "tol": tol, "ok": bool(worst <= tol),
                     "n_checked": int(idx.size), "nonzero": float(np.count_nonzero(grad[sl]) / max(1, grad[sl].size))})
    if vacuous is None and not changed:
        vacuous = "the loss is constant over every stencil: the check could not fail"
    if vacuous is not None:
        for r in rows:
            r.update(ok=False, why=vacuous)
    return rows


def check_block(block, **kwargs):
    """Run :func:`gradcheck` on a :class:`Block`; rows gain a ``"block"`` key.

    A block may carry ``meta["floor"]``: losses that sum many terms (a pixel
    likelihood of ~10^3) have a difference round-off proportional to |loss|, so
    their floor is scaled to it.
    """
    kwargs.setdefault("tol", block.tol)
    kwargs.setdefault("floor", block.meta.get("floor", 1e-8))
    rows = gradcheck(block.loss, block.loss_and_grad, block.params, block.layout, **kwargs)
    for r in rows:
        r["block"] = block.name
    return rows


def eps_sweep(block, eps_values, *, max_entries=8, rng=None, floor=1e-8):
    """Max relative error of the two-point central difference against the step.

    Returns an array of shape (len(eps_values),): the V curve where truncation
    error (falling as eps^2) meets round-off (rising as 1/eps).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    params = np.asarray(block.params, dtype=np.float64)
    _, grad = block.loss_and_grad(params.copy())
    idx = np.arange(params.size)
    if idx.size > max_entries:
        idx = np.sort(rng.choice(idx, size=max_entries, replace=False))
    out = []
    for eps in eps_values:
        numeric = np.array([central_difference(block.loss, params, i, eps, order=2) for i in idx])
        out.append(float(relative_error(grad[idx], numeric, floor).max()))
    return np.array(out)
