"""The NN, HNN and dissipative HNN baselines (Section 4.1), trained on noisy derivative observations.

* NN: an MLP (q, p[, u]) -> (dq/dt, dp/dt).
* HNN (Greydanus et al. 2019): an MLP (q, p[, u]) -> H_theta, with vector field
  (dH/dp, -dH/dq); its loss gradient needs d^2 H/(dx dtheta), the engine's
  second-order path (``vinnp.layers.potential``). With inputs, H also reads u
  and the u-part of dH/dx is not used.
* DHNN (a dissipative HNN in the spirit of Sosanya & Greydanus 2022: H_theta plus a
  learned Rayleigh dissipation): an MLP (q, p) -> H_theta and

      dq/dt = dH/dp,   dp/dt = -dH/dq - D dH/dp + B u,

  with D = L L^T (L lower-triangular, diagonal exp(l_ii), so D is positive definite)
  and B a learned constant (d, m) input matrix when there are inputs. The energy
  H_theta then decays at rate dH/dt = -(dH/dp)^T D (dH/dp) <= 0 when u = 0.

Inputs u (``n_inputs`` = m > 0) are a zero-order hold: u[:, k] acts on
[t_k, t_{k+1}), so the derivative sample at time point k sees u[:, k].

All maximise a Gaussian log-likelihood with a learned noise variance (not
plain MSE), as the paper does to account for noise on every observation, and
forecast by integrating their vector field with scipy's RK45 at rtol 1e-9
(Appendix C.1), interval by interval when there are inputs.
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
BASELINES = ("nn", "hnn", "dhnn")
# D = L L^T starts at D0_SCALE * I: small, so the model starts close to the HNN (a conservative
# prior that the data must argue away from), but not zero, because dD/dL = 0 at L = 0 would leave
# the dissipation without a gradient; the exp-diagonal cannot reach zero anyway.
D0_SCALE = 0.01


class DerivativeModel:
    family = "derivative"

    def __init__(self, kind, dim, h, hidden=(200,), activation="tanh", n_inputs=0):
        self.name = one_of(kind, "model", BASELINES)
        self.dim = positive_int(dim, "dim")
        self.h = float(h)  # the forecast's output spacing (s)
        self.n_inputs = positive_int(n_inputs, "n_inputs", minimum=0)
        d, m = self.dim, self.n_inputs
        # the DHNN's H reads (q, p) only: inputs enter through B u, outside the energy
        width_in = 2 * d + (m if kind != "dhnn" else 0)
        out = 2 * d if kind == "nn" else 1
        self.net = MLP([width_in, *hidden, out], activation)
        parts = [("net", self.net.layout()), ("", Layout([("log_var", (1,))]))]
        if kind == "dhnn":
            parts.append(("dissipation", Layout([("L", (d * (d + 1) // 2,))])))
            if m:
                parts.append(("input", Layout([("B", (d, m))])))
        self.layout = Layout.join(parts)
        # packed lower triangle of L, row by row
        self._tril = np.tril_indices(d)
        self._diag = self._tril[0] == self._tril[1]

    def to_json(self):
        obj = {"family": self.family, "kind": self.name, "dim": self.dim, "h": self.h, "net": self.net.to_json()}
        if self.n_inputs:  # written only when set, so checkpoints without inputs read as before
            obj["n_inputs"] = self.n_inputs
        return obj

    def init(self, rng, batch, dtype=np.float64, scheme="normal"):
        params = self.layout.zeros(dtype)
        params[: self.layout.slice("log_var").start] = self.net.init(rng, dtype, scheme=scheme)
        self.layout.view(params, "log_var")[...] = np.log(0.1)
        if self.name == "dhnn":
            # L = sqrt(D0_SCALE) I (see D0_SCALE); B starts at 0: no input effect until the data show one
            self.layout.view(params, "dissipation.L")[self._diag] = 0.5 * np.log(D0_SCALE)
        return params

    # ------------------------------------------------------------------
    # pieces
    # ------------------------------------------------------------------

    def _L(self, params):
        """The (d, d) lower-triangular factor of D, diagonal exp(l_ii)."""
        d = self.dim
        packed = self.layout.view(params, "dissipation.L")
        vals = np.where(self._diag, np.exp(packed), packed)
        L = np.zeros((d, d), params.dtype)
        L[self._tril] = vals
        return L

    def dissipation(self, params):
        """D = L L^T (d, d) of the DHNN (units of 1/s for unit mass); None for the NN and HNN."""
        if self.name != "dhnn":
            return None
        L = self._L(params)
        return L @ L.T

    def input_matrix(self, params):
        """B (d, m) of the DHNN with inputs; None otherwise."""
        if self.name != "dhnn" or not self.n_inputs:
            return None
        return self.layout.view(params, "input.B")

    def _check_u(self, u, name, lead):
        """u of shape lead + (m,) for a model with inputs; refused for one without."""
        m = self.n_inputs
        want = "(" + ", ".join(str(s) for s in lead) + f", {m})"
        if m == 0:
            if u is not None:
                raise ValueError(f"{name}: this model was trained without inputs (n_inputs = 0); give no u")
            return None
        if u is None:
            raise ValueError(f"{name}: this model was trained with inputs; give u of shape {want}")
        return as_array(u, name, shape=(*lead, m))

    def _inputs(self, batch, dtype):
        """x (N, 2d), y (N, 2d) of a batch without inputs: the pair the fused HNN step
        (vinnp.training.fused) reads. A model with inputs refuses, so that no caller of the
        pair drops u and trains on the wrong field without a word."""
        if self.n_inputs:
            raise ValueError(f"batch: this {self.name} takes inputs (n_inputs = {self.n_inputs}); "
                             "the (x, y) pair has no room for u, use _flatten")
        return self._flatten(batch, dtype)[:2]

    def _flatten(self, batch, dtype):
        """Flatten a batch to x (N, 2d), y (N, 2d) and u (N, m) or None."""
        d, m = self.dim, self.n_inputs
        x = np.concatenate([batch["q"], batch["p"]], axis=-1)
        u = self._check_u(batch.get("u"), "batch['u']", x.shape[:-1])
        x = x.reshape(-1, 2 * d)
        y = np.concatenate([batch["dqdt"], batch["dpdt"]], axis=-1).reshape(-1, 2 * d)
        if u is not None:
            u = np.ascontiguousarray(u.reshape(-1, m), dtype)
        return np.ascontiguousarray(x, dtype), np.ascontiguousarray(y, dtype), u

    def _net_input(self, x, u):
        """What the network reads: (q, p) for the DHNN and models without inputs, else (q, p, u)."""
        if u is None or self.name == "dhnn":
            return x
        return np.ascontiguousarray(np.concatenate([x, u], axis=1))

    def _field(self, params, x, u):
        """(field (N, 2d), network input, dH/dx or None)."""
        d = self.dim
        xin = self._net_input(x, u)
        if self.name == "nn":
            return mlp_ops.forward(self.net, params, xin, self.layout, "net"), xin, None
        g = pot_ops.force(self.net, params, xin, self.layout, "net")  # dH/dx = (dH/dq, dH/dp[, dH/du])
        gq, gp = g[:, :d], g[:, d:2 * d]
        pdot = -gq
        if self.name == "dhnn":
            pdot = pdot - gp @ self.dissipation(params)  # D symmetric: (D gp_n)^T = gp_n^T D
            if u is not None:
                pdot = pdot + u @ self.input_matrix(params).T
        return np.concatenate([gp, pdot], axis=1), xin, g

    def vector_field(self, params, x, u=None):
        """x (B, 2d) = (q, p), u (B, m) for a model with inputs -> (dq/dt, dp/dt) (B, 2d)."""
        x = as_array(x, "x", shape=(None, 2 * self.dim))
        u = self._check_u(u, "u", (x.shape[0],))
        if u is not None:
            u = u.astype(params.dtype)
        return self._field(params, x.astype(params.dtype), u)[0]

    # ------------------------------------------------------------------
    # loss
    # ------------------------------------------------------------------

    def loss(self, params, batch):
        return self.loss_and_grad(params, batch, want_grad=False)[0]

    def loss_and_grad(self, params, batch, want_grad=True):
        x, y, u = self._flatten(batch, params.dtype)
        log_var = self.layout.view(params, "log_var")
        pred, xin, g = self._field(params, x, u)
        value, d_pred, d_lv = mean_gaussian_nll(y, pred, log_var, want_grad)
        if not want_grad:
            return value, None
        grad = np.zeros_like(params)
        if self.name == "nn":
            mlp_ops.backward(self.net, params, xin, d_pred, grad, self.layout, "net")
        else:
            self._hamiltonian_backward(params, xin, u, g, d_pred, grad)
        grad[self.layout.slice("log_var")] += d_lv
        return value, grad

    def _hamiltonian_backward(self, params, xin, u, g, d_pred, grad):
        """Accumulate the gradient of the HNN/DHNN field for upstream d_pred = (a, b) on (dq/dt, dp/dt).

        The field is linear in g = dH/dx: qdot = g_p, pdot = -g_q - D g_p + B u. So the upstream
        on g is that map's transpose applied to (a, b): (-b, a - D^T b, 0 for the u-part), which
        goes through the second-order force_backward; D and B see the outer products below.
        """
        d = self.dim
        a, b = d_pred[:, :d], d_pred[:, d:]
        v = np.zeros_like(xin)
        v[:, :d] = -b
        v[:, d:2 * d] = a
        if self.name == "dhnn":
            D = self.dissipation(params)
            v[:, d:2 * d] -= b @ D  # D^T b per row, D symmetric
            gp = g[:, d:2 * d]
            # pdot_n = -D gp_n  =>  dLoss/dD = -sum_n b_n gp_n^T; D = L L^T  =>  dL = (dD + dD^T) L
            dD = -(b.T @ gp)
            L = self._L(params)
            dL = ((dD + dD.T) @ L)[self._tril]
            packed = self.layout.view(params, "dissipation.L")
            dL = np.where(self._diag, dL * np.exp(packed), dL)  # L_ii = exp(l_ii)
            grad[self.layout.slice("dissipation.L")] += dL
            if u is not None:
                # pdot_n = B u_n  =>  dLoss/dB = sum_n b_n u_n^T
                grad[self.layout.slice("input.B")] += (b.T @ u).ravel()
        pot_ops.force_backward(self.net, params, xin, np.ascontiguousarray(v), grad, self.layout, "net")

    # ------------------------------------------------------------------
    # forecast and read-outs
    # ------------------------------------------------------------------

    def forecast(self, params, q0, p0, n_steps, u=None):
        """Integrate the learned field with RK45 (rtol 1e-9), sampled every h; (B, n_steps+1, d) each.

        u: (B, n_steps, m), required for a model with inputs and refused otherwise; u[:, k] is held
        on [k h, (k+1) h), so each interval is integrated on its own (the field jumps at the
        sample times, which one adaptive solve would step across with a large error).
        """
        q0 = as_array(q0, "q0", shape=(None, self.dim)).astype(np.float64)
        p0 = as_array(p0, "p0", shape=q0.shape).astype(np.float64)
        n_steps = positive_int(n_steps, "n_steps")
        u = self._check_u(u, "u", (q0.shape[0], n_steps))
        p64 = params.astype(np.float64)
        B, d = q0.shape
        y0 = np.concatenate([q0, p0], axis=1).ravel()

        def solve(t_eval, y_start, u_k):
            def rhs(_t, y):
                return self._field(p64, y.reshape(B, 2 * d), u_k)[0].ravel()

            sol = solve_ivp(rhs, (t_eval[0], t_eval[-1]), y_start, method="RK45", t_eval=t_eval,
                            rtol=RTOL, atol=RTOL)
            if not sol.success:
                raise RuntimeError(f"forecast: RK45 failed ({sol.message})")
            return sol.y.T  # (len(t_eval), B * 2d)

        if u is None:
            ys = solve(self.h * np.arange(n_steps + 1), y0, None)
        else:
            u = u.astype(np.float64)
            ys = np.empty((n_steps + 1, y0.size))
            ys[0] = y0
            for k in range(n_steps):
                ys[k + 1] = solve(np.array([k * self.h, (k + 1) * self.h]), ys[k],
                                  np.ascontiguousarray(u[:, k]))[-1]
        traj = ys.reshape(n_steps + 1, B, 2 * d).transpose(1, 0, 2)
        return traj[..., :d], traj[..., d:]

    def noise_std(self, params):
        return float(np.exp(0.5 * self.layout.view(params, "log_var")[0]))

    def energy(self, params, q, p, u=None):
        """H_theta for the HNN and DHNN (shape q.shape[:-1]); the NN has no energy of its own (None).

        u (q.shape[:-1] + (m,)): read by an HNN with inputs only (zeros when None); the DHNN's
        H does not depend on u.
        """
        if self.name == "nn":
            return None
        shape = q.shape[:-1]
        x = np.concatenate([q.reshape(-1, self.dim), p.reshape(-1, self.dim)], axis=1).astype(params.dtype)
        if self.name == "hnn" and self.n_inputs:
            u = np.zeros((*shape, self.n_inputs)) if u is None else as_array(u, "u", shape=(*shape, self.n_inputs))
            x = np.concatenate([x, u.reshape(-1, self.n_inputs).astype(params.dtype)], axis=1)
        return mlp_ops.forward(self.net, params, np.ascontiguousarray(x), self.layout, "net")[:, 0].reshape(shape)
