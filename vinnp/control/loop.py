"""Closed-loop control and its score, on NumPy alone.

``run_closed_loop`` plans on the model from the current *true* state, applies the plan's
first control to the true system for one step h (zero-order hold), and repeats. The true
system is a callable given by the caller (``vinnp.control.truth`` has the driven pendulum,
integrated with scipy), so this module imports NumPy only.

``score_hold`` turns a recorded trajectory into the figures of the documented example:
when the hold of the target starts, whether it lasted, how far it strayed.
"""

import time
from dataclasses import dataclass

import numpy as np

from vinnp.checks import as_array, positive_float, positive_int


@dataclass
class ClosedLoop:
    """A closed-loop run: n control steps of h seconds.

    t: (n + 1,) s; q, p: (n + 1, d) the true states, index 0 the initial one;
    u: (n, m) the controls applied; plan_seconds: (n,) the planner's wall time per step.
    """
    t: np.ndarray
    q: np.ndarray
    p: np.ndarray
    u: np.ndarray
    plan_seconds: np.ndarray


def run_closed_loop(planner, true_step, q0, p0, n_steps, *, h, rng):
    """Run the planner against the true system for n_steps control steps.

    planner: an object with ``plan(q, p, rng) -> (H, m)`` (e.g. ``CEMPlanner``); its warm
    start carries over from the previous call. true_step: ``true_step(q, p, u) -> (q, p)``
    advancing the true system by one step of h seconds with u held constant (q, p (d,),
    u (m,)). q0, p0: the initial true state (scalars or (d,)). h: the control period in s
    (the model's step). rng: a numpy.random.Generator for the planner. -> ``ClosedLoop``.
    """
    if not hasattr(planner, "plan") or not callable(planner.plan):
        raise ValueError(f"planner: expected an object with plan(q, p, rng), got {type(planner).__name__}")
    if not callable(true_step):
        raise ValueError(f"true_step: expected a callable true_step(q, p, u) -> (q, p), got {type(true_step).__name__}")
    n_steps = positive_int(n_steps, "n_steps")
    h = positive_float(h, "h")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    q = np.atleast_1d(as_array(q0, "q0")).astype(np.float64)
    p = np.atleast_1d(as_array(p0, "p0")).astype(np.float64)
    if q.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"q0, p0: expected two (d,) arrays of the same shape, got {q.shape} and {p.shape}")

    qs, ps, us, secs = [q], [p], [], np.empty(n_steps)
    for k in range(n_steps):
        start = time.perf_counter()
        u = np.array(planner.plan(q, p, rng)[0], dtype=np.float64)
        secs[k] = time.perf_counter() - start
        q, p = (np.atleast_1d(np.asarray(x, np.float64)) for x in true_step(q, p, u))
        if q.shape != qs[0].shape or p.shape != qs[0].shape:
            raise ValueError(f"true_step: expected (q, p) of shape {qs[0].shape}, got {q.shape} and {p.shape}")
        qs.append(q)
        ps.append(p)
        us.append(u)
    return ClosedLoop(t=h * np.arange(n_steps + 1), q=np.array(qs), p=np.array(ps), u=np.array(us),
                      plan_seconds=secs)


def hold_start(t, q, target, *, tol, hold):
    """Index of the first recorded state from which |q − target| <= tol holds for ``hold`` s, or None.

    t: (n,) s; q: (n, d) or (n,); target: scalar or (d,). The condition is checked at the
    recorded states only (one per control step) and must cover [t_i, t_i + hold] within
    the record: a run that ends before the hold would have lasted does not count.
    """
    dev = deviation(q, target)
    ok = dev <= tol
    for i in range(len(t)):
        if t[-1] < t[i] + hold - 1e-9:
            return None
        window = (t >= t[i] - 1e-9) & (t <= t[i] + hold + 1e-9)
        if np.all(ok[window]):
            return i
    return None


def deviation(q, target):
    """|q − target| per recorded state ((n,)): the largest over coordinates when d > 1."""
    q = np.asarray(q, np.float64)
    q = q[:, None] if q.ndim == 1 else q
    return np.max(np.abs(q - np.asarray(target, np.float64)), axis=1)


def score_hold(run, target, *, tol=0.05, hold=5.0):
    """The score of a ``ClosedLoop`` run against "reach target and hold it within tol for hold s".

    -> dict: hold_start_s (time the hold starts, s, or None), success (bool),
    max_hold_deviation (max |q − target| over [start, start + hold], rad, or None),
    plan_mean_s, plan_max_s (the planner's wall time per control step, s).
    The hold window includes the state that enters the band, so after a fast approach
    max_hold_deviation is close to tol even when the held state stays much nearer.
    """
    tol = positive_float(tol, "tol")
    hold = positive_float(hold, "hold")
    i = hold_start(run.t, run.q, target, tol=tol, hold=hold)
    out = {"hold_start_s": None, "success": i is not None, "max_hold_deviation": None,
           "plan_mean_s": float(np.mean(run.plan_seconds)), "plan_max_s": float(np.max(run.plan_seconds))}
    if i is not None:
        window = (run.t >= run.t[i] - 1e-9) & (run.t <= run.t[i] + hold + 1e-9)
        out["hold_start_s"] = float(run.t[i])
        out["max_hold_deviation"] = float(np.max(deviation(run.q, target)[window]))
    return out
