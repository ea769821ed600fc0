"""NumPy reference rollouts of every cell (no Numba).

Used by the tests as the obviously-correct oracle for the compiled kernels,
and by ``vinnp.evaluation.embedded`` to forecast a trained model where only
NumPy is installed. Batched over rows: x1 (B, 2, d) -> obs (B, T, 2, d).
"""

import numpy as np

from vinnp.layers import reference as R

CLIP = 1.0 - 1e-8  # as vinnp.dynamics.so2.CLIP (kept equal by a test)


def rollout(kind, weights, activations, minv, m, h, x1, T):
    """Positions and momenta (B, T, 2, d) of cell ``kind`` from x1 = its initial state."""
    x1 = np.asarray(x1)
    B, _, d = x1.shape
    obs = np.empty((B, T, 2, d), dtype=x1.dtype)

    def force(q):
        return R.force(weights, activations, q)

    if kind == "vin-sv":  # eq. (6); p_t = M (q_t - q_{t-1}) / h
        prev, cur = x1[:, 0], x1[:, 1]
        for t in range(T):
            if t > 0:
                prev, cur = cur, 2 * cur - prev - h * h * force(cur) @ minv.T
            obs[:, t, 0] = cur
            obs[:, t, 1] = (cur - prev) @ m.T / h
    elif kind == "vin-vv":  # eqs. (9)-(10)
        q, p = x1[:, 0], x1[:, 1]
        f = force(q)
        for t in range(T):
            if t > 0:
                q = q + h * p @ minv.T - 0.5 * h * h * f @ minv.T
                fn = force(q)
                p = p - 0.5 * h * (f + fn)
                f = fn
            obs[:, t, 0] = q
            obs[:, t, 1] = p
    elif kind == "vin-so2":  # eqs. (11)-(12)
        th = x1[:, 1, 0]
        s = np.sin(x1[:, 1, 0] - x1[:, 0, 0])
        for t in range(T):
            if t > 0:
                r = R.mlp_forward(weights, activations, th[:, None])[0][:, 0]
                s = np.clip(s + h * h * minv[0, 0] * r, -CLIP, CLIP)
                th = th + np.arcsin(s)
            obs[:, t, 0, 0] = th
            obs[:, t, 1, 0] = m[0, 0] * s / h
    elif kind == "resrnn":  # explicit Euler
        x = np.concatenate([x1[:, 0], x1[:, 1]], axis=1)
        for t in range(T):
            if t > 0:
                x = x + h * R.mlp_forward(weights, activations, x)[0]
            obs[:, t, 0] = x[:, :d]
            obs[:, t, 1] = x[:, d:]
    else:
        raise ValueError(f"kind: unknown cell {kind!r}")
    return obs


def initial_state(kind, q, p, minv, h):
    """The cell state x_1 (B, 2, d) whose observed (q_1, p_1) equals the given (q, p).

    SV: q_0 = q - h M^{-1} p inverts p_1 = M (q_1 - q_0) / h exactly.
    SO(2): th_0 = th - asin(h M^{-1} p) inverts p_1 = M sin(th_1 - th_0) / h.
    VV and ResRNN carry (q, p) as their state.
    """
    q = np.asarray(q)
    p = np.asarray(p)
    if kind == "vin-sv":
        return np.stack([q - h * p @ minv.T, q], axis=1)
    if kind == "vin-so2":
        s = np.clip(h * p * minv[0, 0], -CLIP, CLIP)
        return np.stack([q - np.arcsin(s), q], axis=1)
    return np.stack([q, p], axis=1)
