"""Model-predictive control by the cross-entropy method (CEM), on NumPy alone.

The planner searches over open-loop control sequences U of H steps (zero-order hold,
one value per model step h) for the one that minimises a cost of the predicted
trajectory. The model is any batched rollout

    rollout(q0, p0, U) -> (q, p)     q0, p0 (N, d); U (N, H, m) -> q, p (N, H + 1, d)

with index 0 the given state: a forced VIN loaded with
``vinnp.evaluation.embedded.EmbeddedVIN`` (``model.rollout``), or any stand-in.

One CEM plan (Rubinstein's cross-entropy method, as used for MPC by e.g. PETS):
  1. sample N sequences U ~ Normal(mean, std²), clip to |u| <= u_max;
     sample 0 is the mean itself, so an iteration never loses the best guess so far;
  2. roll each out on the model and score it with the cost;
  3. the n_elites cheapest give the new mean and std (per step and input);
  4. repeat for n_iters iterations; the plan is the final mean (clipped).
Between control steps the plan is warm-started: shifted by one step, its last control
repeated; the std starts again at init_std.

This module imports NumPy and vinnp.checks only (no Numba, no scipy), so it runs wherever
NumPy does; tests/test_control.py checks that in a process where neither can be imported.
"""

import numpy as np

from vinnp.checks import as_array, positive_float, positive_int


def tracking_cost(target, *, q_weight=1.0, p_weight=0.01, u_weight=1e-4):
    """A cost ``cost(q, p, U) -> (N,)`` that brings q to ``target`` and keeps it there.

        cost = Σ_{k=1..H} [ q_weight ‖q_k − target‖² + p_weight ‖p_k‖² + u_weight ‖u_{k−1}‖² ]

    q, p: (N, H + 1, d) predicted trajectories (index 0, the given state, is not charged);
    U: (N, H, m). The position term does the work; the small momentum term asks for
    arrival at rest (less overshoot), the effort term keeps |u| from chattering at the
    bound. The effort term biases a held angle away from the target: holding the
    driven pendulum at q* needs u = mgl sin q*, which shifts the minimum by about
    u_weight · u · ∂u/∂q / q_weight = 1e-4 · 4.7 · 8.6 ≈ 0.004 rad at the defaults (q* = 0.5).
    target: scalar or (d,) (rad for an angle).
    """
    target = as_array(target, "target")
    if target.ndim > 1:
        raise ValueError(f"target: expected a scalar or a (d,) array, got shape {target.shape}")
    w_q = positive_float(q_weight, "q_weight")
    w_p = positive_float(p_weight, "p_weight", allow_zero=True)
    w_u = positive_float(u_weight, "u_weight", allow_zero=True)

    def cost(q, p, U):
        dq = q[:, 1:] - target
        return (w_q * np.sum(dq * dq, axis=(1, 2)) + w_p * np.sum(p[:, 1:] ** 2, axis=(1, 2))
                + w_u * np.sum(U * U, axis=(1, 2)))

    return cost


def sample_controls(mean, std, n_samples, u_max, rng):
    """(n_samples, H, m) candidate sequences: Normal(mean, std²), clipped to |u| <= u_max.

    mean, std: (H, m). Row 0 is the (clipped) mean itself. All draws from ``rng``.
    """
    noise = rng.standard_normal((n_samples, *mean.shape))
    noise[0] = 0.0
    return np.clip(mean + std * noise, -u_max, u_max)


def elite_update(U, costs, n_elites):
    """(mean, std), each (H, m): the moments of the n_elites cheapest sequences of U (N, H, m).

    NaN costs (a rollout that blew up) rank last. Ties are broken by sample index
    (stable sort), so a seeded plan is reproducible.
    """
    costs = np.where(np.isnan(costs), np.inf, costs)
    elites = U[np.argsort(costs, kind="stable")[:n_elites]]
    return elites.mean(axis=0), elites.std(axis=0)


def shift_plan(plan):
    """Warm start: the plan (H, m) one step on, its last control repeated."""
    return np.concatenate([plan[1:], plan[-1:]], axis=0)


def cem_plan(rollout, cost, q, p, mean, rng, *, n_samples, n_elites, n_iters, u_max, init_std):
    """(plan, best_cost): the CEM's control sequence (H, m) from state q, p (each (d,)).

    mean: (H, m) the initial mean (the warm start). rollout and cost as in the module
    docstring and ``tracking_cost``. best_cost: the cost of the cheapest sequence seen in
    the last iteration (a diagnostic). Arguments are trusted: ``CEMPlanner`` checks them.
    """
    q0 = np.broadcast_to(q, (n_samples, q.shape[0]))
    p0 = np.broadcast_to(p, (n_samples, p.shape[0]))
    std = np.full_like(mean, init_std)
    best = np.inf
    for _ in range(n_iters):
        U = sample_controls(mean, std, n_samples, u_max, rng)
        qs, ps = rollout(q0, p0, U)
        want = (n_samples, mean.shape[0] + 1, q.shape[0])
        if np.shape(qs) != want or np.shape(ps) != want:
            raise ValueError(f"rollout: expected q, p of shape {want} (N, H + 1, d), "
                             f"got {np.shape(qs)} and {np.shape(ps)}")
        costs = np.asarray(cost(qs, ps, U), dtype=np.float64)
        if costs.shape != (n_samples,):
            raise ValueError(f"cost: expected an ({n_samples},) array of costs, got shape {costs.shape}")
        mean, std = elite_update(U, costs, n_elites)
        best = float(np.nanmin(costs)) if np.any(~np.isnan(costs)) else np.inf
    return np.clip(mean, -u_max, u_max), best


class CEMPlanner:
    """Receding-horizon CEM over a batched NumPy rollout; keeps its plan for the warm start.

    rollout: ``rollout(q0, p0, U) -> (q, p)`` (module docstring). n_inputs: m, the number
    of control inputs. u_max: the bound |u| <= u_max (N·m for a torque). horizon: H model
    steps. n_samples: N sequences per iteration; n_elites: how many of them set the next
    mean (default N // 10, at least 2); n_iters: iterations per plan. cost: a callable
    ``cost(q, p, U) -> (N,)``, or None with ``target`` given for ``tracking_cost(target)``.
    init_std: the sampling std at the start of each plan (default u_max / 2).
    """

    def __init__(self, rollout, *, n_inputs, u_max, horizon=15, n_samples=100, n_elites=None,
                 n_iters=4, cost=None, target=None, init_std=None):
        if not callable(rollout):
            raise ValueError(f"rollout: expected a callable rollout(q0, p0, U) -> (q, p), got {type(rollout).__name__}")
        self.rollout = rollout
        self.n_inputs = positive_int(n_inputs, "n_inputs")
        self.u_max = positive_float(u_max, "u_max")
        self.horizon = positive_int(horizon, "horizon")
        self.n_samples = positive_int(n_samples, "n_samples", minimum=2)
        if n_elites is None:
            n_elites = max(2, self.n_samples // 10)
        self.n_elites = positive_int(n_elites, "n_elites")
        if self.n_elites > self.n_samples:
            raise ValueError(f"n_elites: expected an integer <= n_samples ({self.n_samples}), got {self.n_elites}")
        self.n_iters = positive_int(n_iters, "n_iters")
        if cost is None:
            if target is None:
                raise ValueError("cost: expected a callable cost(q, p, U) -> (N,), or a target for the default "
                                 "tracking cost; got neither")
            cost = tracking_cost(target)
        elif target is not None:
            raise ValueError("target: expected a target (for the default tracking cost) or a cost, not both")
        if not callable(cost):
            raise ValueError(f"cost: expected a callable cost(q, p, U) -> (N,), got {type(cost).__name__}")
        self.cost = cost
        self.init_std = positive_float(self.u_max / 2 if init_std is None else init_std, "init_std")
        self.reset()

    def reset(self):
        """Forget the warm start: the next plan starts from all-zero controls."""
        self._mean = np.zeros((self.horizon, self.n_inputs))
        self.last_cost = None

    def plan(self, q, p, rng):
        """The control sequence (H, m) planned from state q, p (scalars or (d,) arrays).

        rng: a numpy.random.Generator (every random draw comes from it). Stores the plan,
        shifted by one step, as the next call's warm start.
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        q = np.atleast_1d(as_array(q, "q")).astype(np.float64)
        p = np.atleast_1d(as_array(p, "p")).astype(np.float64)
        if q.ndim != 1 or p.shape != q.shape:
            raise ValueError(f"q, p: expected two (d,) arrays of the same shape, got {q.shape} and {p.shape}")
        plan, self.last_cost = cem_plan(self.rollout, self.cost, q, p, self._mean, rng,
                                        n_samples=self.n_samples, n_elites=self.n_elites,
                                        n_iters=self.n_iters, u_max=self.u_max, init_std=self.init_std)
        self._mean = shift_plan(plan)
        return plan
