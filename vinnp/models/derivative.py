"""The NN and HNN baselines (Section 4.1), trained on noisy derivative observations.

* NN: an MLP (q, p) -> (dq/dt, dp/dt).
* HNN (Greydanus et al. 2019): an MLP (q, p) -> H_theta, with vector field
  (dH/dp, -dH/dq); its loss gradient needs d^2 H/(dx dtheta), the engine's
  second-order path (``vinnp.layers.potential``).

Both maximise a Gaussian log-likelihood with a learned noise variance (not
plain MSE), as the paper does to account for noise on every observation, and
forecast by integrating their vector field with scipy's RK45 at rtol 1e-9
(Appendix C.1).
"""

import numpy as np
from scipy.integrate import solve_ivp

from vinnp.checks import as_array, one_of, positive_int
from vinnp.layers import mlp as mlp_ops
from vinnp.layers import potential as pot_ops
from vinnp.layers.losses import mean_gaussian_nll
from vinnp.layers.mlp import MLP
from vinnp.params import Layout

RTOL = 1e-9
BASELINES = ("nn", "hnn")


class DerivativeModel:
    family = "derivative"

    def __init__(self, kind, dim, h, hidden=(200,), activation="tanh"):
        self.name = one_of(kind, "model", BASELINES)
        self.dim = positive_int(dim, "dim")
        self.h = float(h)  # the forecast's output spacing (s)
        out = 2 * self.dim if kind == "nn" else 1
        self.net = MLP([2 * self.dim, *hidden, out], activation)
        self.layout = Layout.join([("net", self.net.layout()), ("", Layout([("log_var", (1,))]))])

    def to_json(self):
        return {"family": self.family, "kind": self.name, "dim": self.dim, "h": self.h, "net": self.net.to_json()}

    def init(self, rng, batch, dtype=np.float64, scheme="normal"):
        params = self.layout.zeros(dtype)
        params[: self.layout.slice("log_var").start] = self.net.init(rng, dtype, scheme=scheme)
        self.layout.view(params, "log_var")[...] = np.log(0.1)
        return params

    def _inputs(self, batch, dtype):
        x = np.concatenate([batch["q"], batch["p"]], axis=-1).reshape(-1, 2 * self.dim)
        y = np.concatenate([batch["dqdt"], batch["dpdt"]], axis=-1).reshape(-1, 2 * self.dim)
        return np.ascontiguousarray(x, dtype), np.ascontiguousarray(y, dtype)

    def vector_field(self, params, x):
        """x (B, 2d) -> (dq/dt, dp/dt) (B, 2d)."""
        if self.name == "nn":
            return mlp_ops.forward(self.net, params, x, self.layout, "net")
        g = pot_ops.force(self.net, params, x, self.layout, "net")  # dH/dx = (dH/dq, dH/dp)
        d = self.dim
        return np.concatenate([g[:, d:], -g[:, :d]], axis=1)

    def loss(self, params, batch):
        return self.loss_and_grad(params, batch, want_grad=False)[0]

    def loss_and_grad(self, params, batch, want_grad=True):
        x, y = self._inputs(batch, params.dtype)
        log_var = self.layout.view(params, "log_var")
        pred = self.vector_field(params, x)
        value, d_pred, d_lv = mean_gaussian_nll(y, pred, log_var, want_grad)
        if not want_grad:
            return value, None
        grad = np.zeros_like(params)
        if self.name == "nn":
            mlp_ops.backward(self.net, params, x, d_pred, grad, self.layout, "net")
        else:
            # pred = (dH/dp, -dH/dq): the upstream on dH/dx = (dH/dq, dH/dp) is (-d_pdot, d_qdot)
            d = self.dim
            v = np.ascontiguousarray(np.concatenate([-d_pred[:, d:], d_pred[:, :d]], axis=1))
            pot_ops.force_backward(self.net, params, x, v, grad, self.layout, "net")
        grad[self.layout.slice("log_var")] += d_lv
        return value, grad

    def forecast(self, params, q0, p0, n_steps):
        """Integrate the learned field with RK45 (rtol 1e-9), sampled every h; (B, n_steps+1, d) each."""
        q0 = as_array(q0, "q0", shape=(None, self.dim)).astype(np.float64)
        p0 = as_array(p0, "p0", shape=q0.shape).astype(np.float64)
        n_steps = positive_int(n_steps, "n_steps")
        t_eval = self.h * np.arange(n_steps + 1)
        p64 = params.astype(np.float64)
        B, d = q0.shape

        def rhs(_t, y):
            return self.vector_field(p64, y.reshape(B, 2 * d)).ravel()

        y0 = np.concatenate([q0, p0], axis=1).ravel()
        sol = solve_ivp(rhs, (0.0, t_eval[-1]), y0, method="RK45", t_eval=t_eval, rtol=RTOL, atol=RTOL)
        if not sol.success:
            raise RuntimeError(f"forecast: RK45 failed ({sol.message})")
        traj = sol.y.T.reshape(n_steps + 1, B, 2 * d).transpose(1, 0, 2)
        return traj[..., :d], traj[..., d:]

    def noise_std(self, params):
        return float(np.exp(0.5 * self.layout.view(params, "log_var")[0]))

    def energy(self, params, q, p):
        """H_theta for the HNN; the NN has no energy of its own (None)."""
        if self.name != "hnn":
            return None
        shape = q.shape[:-1]
        x = np.concatenate([q.reshape(-1, self.dim), p.reshape(-1, self.dim)], axis=1).astype(params.dtype)
        return mlp_ops.forward(self.net, params, x, self.layout, "net")[:, 0].reshape(shape)
