"""Adam (Kingma & Ba, 2015) over one flat parameter vector, as one fused kernel.

    m_t = b1 m_{t-1} + (1 - b1) g_t
    v_t = b2 v_{t-1} + (1 - b2) g_t^2
    theta_t = theta_{t-1} - lr * (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps)

Optional clipping rescales g by min(1, clip_norm / ||g||_2) first (global norm
over the whole vector, i.e. over every network of the model at once).
"""

import math

import numpy as np
from numba import njit

from vinnp.checks import as_array, positive_float


@njit(cache=True)
def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, clip_norm):
    """In-place Adam step number t (1-based); returns the gradient's global norm."""
    n = theta.shape[0]
    sq = 0.0
    for i in range(n):
        sq += grad[i] * grad[i]
    norm = math.sqrt(sq)
    scale = 1.0
    if clip_norm > 0.0 and norm > clip_norm:
        scale = clip_norm / norm
    bc1 = 1.0 - beta1 ** t
    bc2 = 1.0 - beta2 ** t
    for i in range(n):
        g = grad[i] * scale
        m[i] = beta1 * m[i] + (1.0 - beta1) * g
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
        theta[i] -= lr * (m[i] / bc1) / (math.sqrt(v[i] / bc2) + eps)
    return norm


class Adam:
    """Bias-corrected Adam on a flat vector; its state (m, v, t) saves with checkpoints."""

    def __init__(self, size, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=None,
                 dtype=np.float64):
        self.lr = positive_float(lr, "lr")
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not (0.0 <= b < 1.0):
                raise ValueError(f"{name}: expected a number in [0, 1), got {b}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = positive_float(eps, "eps")
        self.clip_norm = 0.0 if clip_norm is None else positive_float(clip_norm, "clip_norm")
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)
        self.t = 0

    def step(self, theta, grad):
        """Update ``theta`` in place from ``grad``; returns the gradient norm (before clipping)."""
        if theta.shape != self.m.shape or grad.shape != self.m.shape:
            raise ValueError(f"grad: expected {self.m.size} entries, got {grad.shape}")
        if theta.dtype != self.m.dtype or grad.dtype != self.m.dtype:
            raise ValueError(f"grad: expected dtype {self.m.dtype}, got {grad.dtype}")
        self.t += 1
        return adam_update(theta, grad, self.m, self.v, self.lr, self.beta1, self.beta2,
                           self.eps, self.t, self.clip_norm)

    def state(self):
        return {"adam_m": self.m, "adam_v": self.v, "adam_t": np.array(self.t)}

    def load_state(self, state):
        m = as_array(state["adam_m"], "adam_m", shape=self.m.shape)
        v = as_array(state["adam_v"], "adam_v", shape=self.v.shape)
        self.m[...] = m
        self.v[...] = v
        self.t = int(state["adam_t"])
