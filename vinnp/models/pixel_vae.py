"""The VIN variational autoencoder for pixel observations (Sections 3.2 and 4.2, Appendix C.2).

Generative model, eqs. (15)-(16)::

    x_1 ~ N(0, I)                                  prior on the initial state (2d numbers)
    x_t = cell rollout of x_1, t = 1..T            eq. (13): SV (6), VV (9)-(10), SO(2) (11)-(12), ResRNN
    y_t ~ Bernoulli(sigmoid(f_dec(q_t)))           per pixel; the decoder reads positions only

Variational family, eqs. (17)-(18): q(x_{1:T} | y_{1:T}) = N(x_1 | m_1, s_1^2) p(x_{2:T} | x_1),
with (m_1, log s_1^2) from the encoder of Appendix C.2: a per-frame MLP
784 -> E -> E (ReLU), an LSTM with H hidden units reading the embedded window
*in reverse*, and a linear head from its final hidden state. The objective is
the ELBO of Section 3.2 with one reparameterised sample x_1 = m_1 + s_1 * eps,

    ELBO = (1/B) sum_b [ sum_t log p(y_bt | q_bt) - KL(N(m_b, s_b^2) || N(0, I)) ],

and its gradient is written by hand end to end: decoder -> rollout BPTT ->
reparameterisation -> head -> LSTM BPTT -> encoder. Paper widths are E = D =
1000, H = 50, a 1000-unit tanh dynamics network, depth T = 10.

The cell's state (see :mod:`vinnp.dynamics.cells`) is (q_0, q_1) for vin-sv,
(th_0, th_1) for vin-so2, (q_1, p_1) for vin-vv and resrnn; x_1 is that state,
or (q_1, v_1) for vin-sv (see "Coordinates of q(x_1)" below). Its 2d numbers
are flattened as x_1.reshape(2d) in ``eps``, ``mean``, ``log_var``.
The decoder reads q_t (d numbers), or (sin th_t, cos th_t) for vin-so2, so
that it sees the angle as a point of the circle.

Step size. Appendix C.2 uses h = 1.0 in latent space, the default here for
vin-vv and resrnn. For vin-sv and vin-so2 the default is h = 0.1, the frame
interval in seconds (10 Hz, as in Figure 7). With a fixed mass h only rescales
the force term h^2 M^{-1} dU/dq of eqs. (6) and (11), so no model is lost by
the choice; what changes is where training starts:

* SO(2) adds h^2 M^{-1} r(th_t) to sin(dth) every step, and asin needs the
  running sum to stay inside [-1, 1] over the whole window:
  |s_1 + h^2 sum_t r(th_t)| < 1. A fresh r does not oscillate like the true
  force, so its increments add up: with |r| ~ 1-2 and T = 10 this asks for h^2
  well below 0.05-0.1. With h = 1 the sine saturates within a step or two and
  every clipped step passes no gradient; h = 0.1 leaves a wide margin, and the
  true pendulum lies in the family at a natural scale (r = -(g/l) sin th,
  g/l = 9.81, |h^2 r| <= 0.1 per step; the frames' |dth| per step is ~0.2 rad).
* SV: a fresh 1000-unit tanh potential has a curvature of order 1, so with
  h = 1 its latent oscillator turns in a few frames, while the spring of the
  frames (omega = 1 rad/s, 10 Hz) turns 0.1 rad per frame: training has to
  shrink the force a hundredfold first. With h = 0.1 the fresh network's scale
  is already the spring's. Measured on trial 0 of the mass-spring (1000 steps,
  x_1 in velocity coordinates): best training ELBO -102 with h = 0.1 against
  -179 with h = 1.

Coordinates of q(x_1). The state of vin-sv and vin-so2 is two positions
(q_0, q_1); a diagonal Gaussian over them draws q_0 and q_1 independently, so a
posterior spread s in position is a spread ~ sqrt(2) s / h in the velocity
(q_1 - q_0) / h, which the rollout turns into a different orbit. Matching the
frames then needs s << h, which the KL term to N(0, I) resists. With
``x1_coords="velocity"`` (the default for vin-sv) the encoder's Gaussian is over
(q_1, v_1) instead and the state is (q_1 - h v_1, q_1): position and velocity
get their own spreads, and the prior N(0, I) is over position and velocity, as
for VV's (q_1, p_1). On trial 0 of the mass-spring (h = 0.1, 1000 steps) the
best training ELBO went from -132 to -102. ``"state"`` keeps the cell's own
coordinates (vin-so2's default: its pendulum runs were measured that way).
"""

import numpy as np

from vinnp.checks import as_array, one_of, positive_float, positive_int
from vinnp.dynamics import registry as integrators
from vinnp.dynamics.cells import CELLS, Cell
from vinnp.dynamics.freeform import FreeForm
from vinnp.dynamics.integrator import POSITIONS
from vinnp.layers.dense import dense_backward, dense_forward
from vinnp.layers.losses import (
    bernoulli_nll_logits,
    bernoulli_nll_logits_and_grad,
    kl_std_normal,
    kl_std_normal_backward,
    reparam_sample,
    reparam_sample_backward,
)
from vinnp.layers.lstm import lstm_backward, lstm_forward, lstm_init, lstm_layout
from vinnp.layers.mlp import MLP
from vinnp.params import Layout

IMAGE_SIZE = 28
PIXELS = IMAGE_SIZE * IMAGE_SIZE
# A cell's latent step size (Appendix C.2's 1.0 unless it declares another), whether its
# state is two positions (q_0, q_1), and its default coordinates of q(x_1) (see the module
# notes, "Coordinates of q(x_1)") come from its declaration (vinnp.dynamics.integrator).
TWO_POSITIONS = tuple(n for n, spec in integrators.INTEGRATORS.items() if spec.state == POSITIONS)
# The embedding baselines of Figure 5 beside the dynamics cells: "dvae" rolls x_1 forward
# with a free-form network x_{t+1} = f(x_t) (vinnp.dynamics.freeform); "vae" and "lg-vae"
# are static, one frame per window and no dynamics: "vae" in R^d, "lg-vae" an angle whose
# decoder reads (sin th, cos th), i.e. a latent on SO(2).
STATIC = ("vae", "lg-vae")
# the cells without generalised forces: frames carry no inputs and the paper's systems no friction
PIXEL_MODELS = tuple(n for n in CELLS if not integrators.get(n).forced) + ("dvae",) + STATIC
# decoders that read a point of the circle: the cells on SO(2), and the LG-VAE
CIRCLE = tuple(n for n, spec in integrators.INTEGRATORS.items() if spec.lie_group == "SO(2)") + ("lg-vae",)
WRITTEN = ("enc", "head", "dec")  # parts whose gradient dense_backward overwrites (accumulate=False)
INIT_LOG_VAR = -4.0  # q(x_1) starts narrow (s_1 = 0.14): samples near the mean, see init()
# The loss sums B*T*784 Bernoulli terms, so its own rounding is ~1e-12 |loss| and the
# gradcheck stencil (step 1e-4) has an absolute noise of ~1.5e-12 |loss| (measured up to
# 2.5e-12; ten times more with step 1e-5, so round-off, not truncation). Gradient
# entries below FD_FLOOR * |loss| cannot be resolved to 1e-6 relative; the checks judge
# them on absolute error <= 1e-6 * FD_FLOOR * |loss| = 1e-11 |loss| instead.
FD_FLOOR = 1e-5


class PixelVIN:
    """A VIN-VAE on windows of T frames of 28x28 grey levels in [0, 1].

    Parameters
    ----------
    kind : an integrator of vinnp.dynamics.registry (the latent dynamics cell), or a
        baseline of Figure 5: "dvae" (free-form dynamics), "vae", "lg-vae" (static).
    window : T, the depth of the rollout and the number of frames per window (1 for
        the static models, which embed each frame on its own).
    latent_dim : d, the configuration dimension (must be 1 for vin-so2 and lg-vae).
    h : step size in latent space (default 1.0; 0.1 for vin-sv and vin-so2, see the module notes).
    x1_coords : "state" (q(x_1) over the cell's state) or "velocity" (over (q_1, v_1), vin-sv
        and vin-so2 only); default "velocity" for vin-sv, else "state" (module notes).
    enc_hidden, lstm_hidden, dec_hidden : E, H, D (paper: 1000, 50, 1000).
    dyn_hidden : hidden widths of the dynamics network (paper: 1000, tanh).
    learn_mass : learn M^{-1} = L L^T in the VIN cells.
    """

    def __init__(self, kind, window, latent_dim=1, h=None, enc_hidden=1000, lstm_hidden=50,
                 dec_hidden=1000, dyn_hidden=(1000,), learn_mass=False, x1_coords=None):
        self.kind = one_of(kind, "kind", PIXEL_MODELS)
        self.T = positive_int(window, "window")
        self.d = positive_int(latent_dim, "latent_dim")
        if kind in CIRCLE and self.d != 1:
            raise ValueError(f"latent_dim: {kind} evolves one angle, so latent_dim must be 1, got {self.d}")
        if kind in STATIC and self.T != 1:
            raise ValueError(f"window: the static {kind} embeds single frames, so window must be 1, got {self.T}")
        spec = integrators.INTEGRATORS.get(kind)  # None for the Figure 5 baselines
        h = (spec.pixel_h if spec else 1.0) if h is None else positive_float(h, "h")
        x1_coords = (spec.pixel_coords if spec else "state") if x1_coords is None else one_of(
            x1_coords, "x1_coords", ("state", "velocity"))
        if x1_coords != "state" and kind not in TWO_POSITIONS:
            raise ValueError(f"x1_coords: only {' and '.join(TWO_POSITIONS)} (whose state is two positions) "
                             f"take 'velocity'; {kind} takes 'state'")
        if isinstance(dyn_hidden, int):
            dyn_hidden = (dyn_hidden,)
        E = positive_int(enc_hidden, "enc_hidden")
        H = positive_int(lstm_hidden, "lstm_hidden")
        D = positive_int(dec_hidden, "dec_hidden")
        self.config = {"kind": kind, "window": self.T, "latent_dim": self.d, "h": h, "enc_hidden": E,
                       "lstm_hidden": H, "dec_hidden": D, "dyn_hidden": [int(n) for n in dyn_hidden],
                       "learn_mass": bool(learn_mass), "x1_coords": x1_coords}
        if kind in STATIC:
            if learn_mass:
                raise ValueError(f"learn_mass: the static {kind} has no dynamics and no mass")
            self.cell = None
        elif kind == "dvae":
            self.cell = FreeForm("dvae", self.d, h, hidden=tuple(dyn_hidden), learn_mass=learn_mass)
        else:
            self.cell = Cell(kind, self.d, h, hidden=tuple(dyn_hidden), activation="tanh", learn_mass=learn_mass)
        self.encoder = MLP([PIXELS, E, E], ["relu", "relu"])
        self.head = MLP([H, 2 * self.x_dim], "identity")  # -> (m_1, log s_1^2), eq. (18)
        self.dec_in = 2 if kind in CIRCLE else self.d
        self.decoder = MLP([self.dec_in, D, D, PIXELS], ["relu", "relu", "identity"])
        self._lstm = lstm_layout(E, H)
        parts = [("enc", self.encoder.layout()), ("lstm", self._lstm), ("head", self.head.layout())]
        if self.cell is not None:
            self._cell_layout = Layout.join([("cell", self.cell.layout())])
            parts.append(("cell", self.cell.layout()))
        parts.append(("dec", self.decoder.layout()))
        self.layout = Layout.join(parts)
        # Every component works on its own contiguous slice of the flat vector (and of the
        # gradient) with its own layout, so its kernels validate, touch and reduce over
        # their own parameters only, never over the whole model's millions.
        self.parts = {}
        for prefix, sub in parts:
            start = self.layout.offsets[f"{prefix}.{sub.names[0]}"]
            self.parts[prefix] = slice(start, start + sub.size)

    def split(self, flat):
        """Dict component -> view of ``flat`` (params or grad): enc, lstm, head, cell, dec."""
        return {name: flat[sl] for name, sl in self.parts.items()}

    family = "pixel"

    def to_json(self):
        return {"family": self.family, **self.config}

    @classmethod
    def from_json(cls, obj):
        cfg = {k: obj[k] for k in ("kind", "window", "latent_dim", "h", "enc_hidden", "lstm_hidden",
                                   "dec_hidden", "dyn_hidden", "learn_mass")}
        cfg["x1_coords"] = obj.get("x1_coords", "state")  # checkpoints written before the option
        return cls(**cfg)

    @property
    def h(self):
        return self.config["h"]

    @property
    def static(self):
        return self.kind in STATIC

    @property
    def x_dim(self):
        """Size of the initial state x_1 and of eps, mean, log_var per window: 2d (d for static models)."""
        return self.d if self.kind in STATIC else 2 * self.d

    # -- parameters ----------------------------------------------------------
    def init(self, rng, dtype=np.float64):
        """Initial flat parameters (layout.size,).

        ReLU layers: He weights N(0, 2/fan_in), zero biases; the decoder's
        output layer N(0, 1/fan_in). LSTM: :func:`lstm_init`. Cell: its own
        init. Head: the log-variance rows start at zero weight and bias
        INIT_LOG_VAR, so early samples stay near the mean; for vin-sv and
        vin-so2, whose state is two positions (q_0, q_1), every window starts at
        rest at the mean: the velocity rows are zero (x1_coords "velocity") or
        the q_0 rows copy the q_1 rows ("state"). A free draw of q_0 - q_1 would
        put sin(dth) near +-1 for SO(2) and give huge accelerations in SV.
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        params = self.layout.zeros(np.dtype(dtype))
        P = self.split(params)
        for name, net in (("enc", self.encoder), ("dec", self.decoder)):
            w = net.layout().views(P[name])
            for l in range(1, net.depth + 1):
                gain = 2.0 if net.activations[l - 1] == "relu" else 1.0
                w[f"W{l}"][...] = rng.standard_normal(w[f"W{l}"].shape) * np.sqrt(gain / net.sizes[l - 1])
        P["lstm"][:] = lstm_init(rng, self._lstm.shapes["Wx"][1], self._lstm.shapes["Wh"][1], params.dtype)
        head = self.head.layout().views(P["head"])
        d, W, n = self.d, head["W1"], self.x_dim
        W[:n] = rng.standard_normal((n, W.shape[1])) / np.sqrt(W.shape[1])
        if self.config["x1_coords"] == "velocity":
            W[d: 2 * d] = 0.0
        elif self.kind in TWO_POSITIONS:
            W[:d] = W[d: 2 * d]
        head["b1"][self.x_dim:] = INIT_LOG_VAR
        if self.cell is not None:
            P["cell"][:] = self.cell.init(rng, params.dtype)
        return params

    # -- validation ----------------------------------------------------------
    def _check_params(self, params):
        return self.layout.check(params, "params")

    def _check_frames(self, frames, dtype, exact):
        """frames (B, >= T, 28, 28) in [0, 1] -> (B, T, 784) in ``dtype`` (first T frames)."""
        y = as_array(frames, "frames", ndim=4)
        if y.shape[2:] != (IMAGE_SIZE, IMAGE_SIZE) or y.shape[0] < 1:
            raise ValueError(f"frames: expected shape (batch, {self.T}, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                             f"got {y.shape}")
        if y.shape[1] < self.T:
            raise ValueError(f"frames: windows of {y.shape[1]} frames are shorter than the model's depth "
                             f"T = {self.T}")
        if exact and y.shape[1] != self.T:
            raise ValueError(f"frames: expected windows of exactly T = {self.T} frames, got {y.shape[1]}")
        if y.min() < 0 or y.max() > 1:
            raise ValueError(f"frames: expected grey levels in [0, 1], got range [{y.min()}, {y.max()}]")
        y = y[:, : self.T].reshape(y.shape[0], self.T, PIXELS)
        return np.ascontiguousarray(y, dtype=dtype)

    def _check_eps(self, eps, batch, dtype):
        eps = as_array(eps, "eps", shape=(batch, self.x_dim))
        return eps.astype(dtype, copy=False)  # noise drawn by the caller, not a parameter

    # -- pieces of the forward pass -------------------------------------------
    def _encode(self, P, y):
        """y (B, T, 784) -> (mean, log_var (B, 2d), caches). Appendix C.2 encoder, eq. (18).

        P: the parameter views of :meth:`split`.
        """
        B, T, _ = y.shape
        e, enc_c = dense_forward(self.encoder, P["enc"], y.reshape(B * T, PIXELS), check=False)
        zeros = np.zeros((B, self._lstm.shapes["Wh"][1]), e.dtype)
        # Reverse: the final state has just read frame 1, having seen the whole window.
        _, lstm_c = lstm_forward(P["lstm"], self._lstm, e.reshape(B, T, -1), zeros, zeros, reverse=True)
        out, head_c = dense_forward(self.head, P["head"], lstm_c.h_last, check=False)
        n = self.x_dim
        return out[:, :n], out[:, n:], (enc_c, lstm_c, head_c)

    def _decoder_input(self, q):
        """q (N, d) -> decoder input (N, d_in): q itself, or (sin th, cos th) for SO(2)."""
        if self.kind in CIRCLE:
            return np.concatenate([np.sin(q), np.cos(q)], axis=1)
        return np.ascontiguousarray(q)

    def _forward(self, params, frames, eps, with_grad=False):
        """Negative ELBO (a float) and everything the backward needs (``with_grad``: the
        likelihood's gradient on the logits too, from the same pass)."""
        params = self._check_params(params)
        y = self._check_frames(frames, params.dtype, exact=True)
        B, T, _ = y.shape
        eps = self._check_eps(eps, B, params.dtype)
        # params, frames and eps are validated here, once; the networks below skip their own
        # checks (check=False), each of which would read its whole input again. What flows
        # between them is made here in params' dtype; a non-finite value there (a diverging
        # rollout) shows up in the loss's own checks or as a NaN loss or gradient, which
        # training stops on.
        P = self.split(params)
        mean, log_var, enc_caches = self._encode(P, y)
        x1 = reparam_sample(mean, log_var, eps)                    # x_1 ~ q(x_1), eq. (18)
        if self.cell is None:                                      # static: the sample is the position
            q, cell_c = x1, None
        else:
            obs, cell_c = self.cell.rollout(P["cell"], self._cell_layout, self.initial_state(x1), T)  # (13)
            q = obs[:, :, 0].reshape(B * T, self.d)                # the decoder sees q_t only (Sec. 3.2)
        logits, dec_c = dense_forward(self.decoder, P["dec"], self._decoder_input(q), check=False)
        target = y.reshape(B * T, PIXELS)
        g_logits = None
        if with_grad:                                              # -sum_t log p(y_t | q_t), its gradient
            nll, g_logits = bernoulli_nll_logits_and_grad(target, logits, 1.0 / B)
        else:
            nll = bernoulli_nll_logits(target, logits)
        kl = kl_std_normal(mean, log_var)                          # KL[q(x_1) || N(0, I)]
        cache = {"P": P, "target": target, "eps": eps, "mean": mean, "log_var": log_var,
                 "enc": enc_caches, "cell": cell_c, "q": q, "logits": logits, "g_logits": g_logits, "dec": dec_c,
                 "nll": nll / B, "kl": kl / B}
        return (nll + kl) / B, cache

    def _backward(self, cache):
        """Gradient of the negative ELBO, as a new flat vector (params' dtype)."""
        P, mean, log_var, q = cache["P"], cache["mean"], cache["log_var"], cache["q"]
        B = mean.shape[0]
        T = q.shape[0] // B
        # The dense networks overwrite their slices (accumulate=False below); only the LSTM's
        # and the cell's, which their backwards add into, need zeros first. That spares a
        # memset of the whole vector (3.8 M entries at the paper's sizes) per step.
        grad = np.empty(self.layout.size, mean.dtype)
        G = self.split(grad)                                       # views: backwards write into them
        for name, view in G.items():
            if name not in WRITTEN:
                view[...] = 0
        g_logits = cache["g_logits"]
        g_in = dense_backward(self.decoder, P["dec"], cache["dec"], g_logits, G["dec"], accumulate=False,
                              check=False)
        if self.kind in CIRCLE:  # u = (sin th, cos th)
            g_q = g_in[:, :1] * np.cos(q) - g_in[:, 1:] * np.sin(q)
        else:
            g_q = g_in
        if self.cell is None:
            g_x1 = g_q
        else:
            g_obs = np.zeros((B, T, 2, self.d), grad.dtype)
            g_obs[:, :, 0] = g_q.reshape(B, T, self.d)             # no gradient on p_t
            g_x1 = self._initial_state_backward(
                self.cell.backward(P["cell"], self._cell_layout, cache["cell"], g_obs, G["cell"]))  # BPTT
        g_m, g_lv = reparam_sample_backward(mean, log_var, cache["eps"], g_x1.reshape(B, self.x_dim))
        g_m_kl, g_lv_kl = kl_std_normal_backward(mean, log_var, 1.0 / B)
        g_head = np.concatenate([g_m + g_m_kl, g_lv + g_lv_kl], axis=1)
        enc_c, lstm_c, head_c = cache["enc"]
        g_h = dense_backward(self.head, P["head"], head_c, g_head, G["head"], accumulate=False, check=False)
        g_e, _, _ = lstm_backward(np.zeros_like(lstm_c.h.transpose(1, 0, 2)), lstm_c, G["lstm"], dh_last=g_h)
        dense_backward(self.encoder, P["enc"], enc_c, g_e.reshape(B * T, -1), G["enc"], need_dx=False,
                       accumulate=False, check=False)
        return grad

    # -- the functional contract ----------------------------------------------
    def loss(self, params, frames, eps):
        """Negative ELBO averaged over the batch (a float). frames (B, T, 28, 28), eps (B, 2d)."""
        return float(self._forward(params, frames, eps)[0])

    def loss_and_grad(self, params, frames, eps):
        """(negative ELBO, its gradient (layout.size,) in params' dtype)."""
        value, cache = self._forward(params, frames, eps, with_grad=True)
        return float(value), self._backward(cache)

    def elbo_and_grad(self, params, frames, eps):
        """(ELBO, gradient of the **negative** ELBO), i.e. the loss's gradient, ready for Adam."""
        value, grad = self.loss_and_grad(params, frames, eps)
        return -value, grad

    def elbo_terms(self, params, frames, eps):
        """Batch-averaged (sum_t log p(y_t | q_t), KL[q(x_1) || p(x_1)]) as floats."""
        _, cache = self._forward(params, frames, eps)
        return -float(cache["nll"]), float(cache["kl"])

    def initial_state(self, x1):
        """Encoder coordinates x_1 (B, 2d) -> the cell's initial state (B, 2, d).

        "state": x_1 is the state itself. "velocity" (vin-sv, vin-so2): x_1 = (q_1, v_1),
        and the state is (q_0, q_1) = (q_1 - h v_1, q_1), eq. (6)'s backward difference.
        """
        z = x1.reshape(-1, 2, self.d)
        if self.config["x1_coords"] == "state":
            return z
        return np.stack([z[:, 0] - self.h * z[:, 1], z[:, 0]], axis=1)

    def _initial_state_backward(self, g_state):
        """Gradient on the cell's state (B, 2, d) -> on the encoder coordinates (B, 2d)."""
        if self.config["x1_coords"] == "state":
            return g_state.reshape(g_state.shape[0], -1)
        g = np.stack([g_state[:, 0] + g_state[:, 1], -self.h * g_state[:, 0]], axis=1)
        return g.reshape(g.shape[0], -1)

    # -- using a trained model -------------------------------------------------
    def encode(self, params, frames):
        """q(x_1) from the first T frames of each window: (mean, log_var), each (B, 2d)."""
        params = self._check_params(params)
        y = self._check_frames(frames, params.dtype, exact=False)
        mean, log_var, _ = self._encode(self.split(params), y)
        return mean, log_var

    def forecast_latent(self, params, frames, n_steps):
        """Roll the posterior mean of x_1 forward: (q, p), each (B, n_steps, d).

        frames: (B, >= T, 28, 28); the encoder reads the first T. Index 0 is t = 1,
        the first frame of the window, so decode(params, q)[:, :T] reconstructs it.
        """
        params = self._check_params(params)
        n_steps = positive_int(n_steps, "n_steps")
        if self.cell is None:
            raise ValueError(f"model: the static {self.kind} has no dynamics to forecast with")
        mean, _ = self.encode(params, frames)
        obs, _ = self.cell.rollout(params[self.parts["cell"]], self._cell_layout, self.initial_state(mean), n_steps)
        return obs[:, :, 0], obs[:, :, 1]

    def decode(self, params, q):
        """Pixel means sigmoid(f_dec(q)): q (..., d) -> (..., 28, 28), params' dtype."""
        params = self._check_params(params)
        q = as_array(q, "q")
        if q.ndim < 1 or q.shape[-1] != self.d:
            raise ValueError(f"q: expected positions of shape (..., {self.d}) (latent_dim = {self.d}), "
                             f"got {q.shape}")
        flat = q.reshape(-1, self.d).astype(params.dtype)
        logits, _ = dense_forward(self.decoder, params[self.parts["dec"]], self._decoder_input(flat),
                                  check=False)  # params and q checked above
        return (0.5 * (1.0 + np.tanh(0.5 * logits))).reshape(q.shape[:-1] + (IMAGE_SIZE, IMAGE_SIZE))

    def relu_margin(self, params, frames, eps):
        """Smallest |pre-activation| of any ReLU unit (encoder and decoder) on this batch.

        Central differences are only valid if no step crosses a kink; the gradient
        checks keep this margin above what their largest step can move.
        """
        return _relu_margin(self._forward(params, frames, eps)[1])


def _relu_margin(cache):
    zs = cache["enc"][0].z + cache["dec"].z[:-1]  # the encoder's two layers, the decoder's hidden two
    return float(min(np.abs(z).min() for z in zs))
