"""PyTorch peer of ``vinnp.models.pixel_vae.PixelVIN("vin-vv", ...)``, for benchmarks only.

The same negative ELBO, written the way a PyTorch user would write it, with
autograd doing every gradient. It reads vinnp's flat parameter vector through
the model's own :class:`~vinnp.params.Layout` (one leaf tensor per named view),
so both implementations start from identical parameters and their gradients can
be compared entry by entry after concatenating the leaves' grads in layout order.

Conventions mirrored from vinnp (each one is a place where a silent mismatch
would make the two disagree):

* dense layers: z = a W^T + b with W of shape (n_out, n_in);
* LSTM: rows of Wx, Wh, b in gate order i, f, g, o, one bias (no b_hh), zero
  initial state, reading the window from the last frame to the first; the head
  reads the state that has just read frame 1;
* head output (B, 4d) = (mean, log_var) of x_1 = (q_1, p_1) flattened as
  x_1.reshape(2d), so x_1[:, 0] is q_1 and x_1[:, 1] is p_1;
* velocity Verlet, eqs. (9)-(10), with f = dU/dq (minus the physical force) and
  M^{-1} = L L^T, L lower-triangular with exp on its diagonal, when learned;
* the decoder sees q_t only; rows are ordered (window, time) like vinnp's
  reshape(B * T, ...); the loss is (sum of Bernoulli NLLs + KL) / B.

torch is an optional benchmark dependency: nothing under vinnp/ or cli/ imports
this module.
"""

import numpy as np
import torch
import torch.nn.functional as F

_ACTS = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda z: z}


def _mlp(P, prefix, net, x):
    """Forward of a vinnp MLP spec with the parameters P[f"{prefix}.W{l}"], P[f"{prefix}.b{l}"]."""
    for l, name in enumerate(net.activations, start=1):
        if name not in _ACTS:
            raise ValueError(f"torch peer: activation {name!r} is not mirrored here")
        # addmm fuses the bias into the product, as nn.Linear does.
        x = _ACTS[name](torch.addmm(P[f"{prefix}.b{l}"], x, P[f"{prefix}.W{l}"].t()))
    return x


class TorchPixelVIN:
    """The VIN-VV pixel VAE in PyTorch, parameters copied from a vinnp flat vector.

    model : the vinnp ``PixelVIN`` (kind "vin-vv") whose layout and widths to mirror.
    flat : its flat parameter vector (NumPy); copied, never shared.
    dtype : torch.float32 or torch.float64.
    """

    def __init__(self, model, flat, dtype=torch.float32):
        if model.kind != "vin-vv":
            raise ValueError(f"torch peer: only the vin-vv cell is mirrored, got {model.kind}")
        self.model = model
        self.dtype = dtype
        views = model.layout.views(np.asarray(flat, dtype=np.float64))
        # One leaf per named view, in layout order: that order is also the order in
        # which flat_grad() concatenates, so the result lines up with vinnp's vector.
        self.names = list(model.layout.names)
        self.P = {n: torch.tensor(views[n], dtype=dtype).requires_grad_() for n in self.names}
        self.params = [self.P[n] for n in self.names]
        d = model.d
        self._rows, self._cols = np.tril_indices(d)
        self._diag = torch.tensor(self._rows == self._cols)

    # -- the step's pieces ------------------------------------------------------
    def _minv(self):
        """M^{-1} (d, d): the identity, or L L^T from the learned ``cell.mass.L``."""
        d = self.model.d
        ell = self.P.get("cell.mass.L")
        if ell is None:
            return None  # identity: skip the product altogether, as vinnp's fixed mass costs nothing
        vals = torch.where(self._diag, torch.exp(ell), ell)
        L = torch.zeros((d, d), dtype=self.dtype).index_put((torch.tensor(self._rows), torch.tensor(self._cols)), vals)
        return L @ L.t()

    def _force(self, q):
        """dU/dq at q (B, d), kept in the graph (create_graph) so the loss can differentiate through it."""
        net = self.model.cell.net
        U = _mlp(self.P, "cell.net", net, q)
        (f,) = torch.autograd.grad(U.sum(), q, create_graph=True)
        return f

    def loss(self, y, eps):
        """Negative ELBO averaged over windows. y (B, T, 784) in [0, 1], eps (B, 2d); both tensors."""
        m = self.model
        B, T, npix = y.shape
        d, h = m.d, float(m.h)
        P = self.P
        e = _mlp(P, "enc", m.encoder, y.reshape(B * T, npix)).reshape(B, T, -1)

        # LSTM over the window in reverse; the input projection of all steps is one product.
        Wh, H = P["lstm.Wh"], P["lstm.Wh"].shape[1]
        ax = torch.addmm(P["lstm.b"], e.reshape(B * T, -1), P["lstm.Wx"].t()).reshape(B, T, 4 * H)
        hs = torch.zeros((B, H), dtype=self.dtype)
        cs = torch.zeros((B, H), dtype=self.dtype)
        for t in range(T - 1, -1, -1):
            a = ax[:, t] + hs @ Wh.t()
            i, f, g, o = a.chunk(4, dim=1)
            cs = torch.sigmoid(f) * cs + torch.sigmoid(i) * torch.tanh(g)
            hs = torch.sigmoid(o) * torch.tanh(cs)

        out = _mlp(P, "head", m.head, hs)
        mean, log_var = out[:, : 2 * d], out[:, 2 * d:]
        x1 = (mean + torch.exp(0.5 * log_var) * eps).reshape(B, 2, d)

        # Velocity Verlet, eqs. (9)-(10); the force at q_{t+1} is reused by the next step.
        minv = self._minv()
        q, p = x1[:, 0], x1[:, 1]
        f = self._force(q)
        qs = [q]
        for _ in range(1, T):
            step = h * p - 0.5 * h * h * f
            q = q + (step if minv is None else step @ minv.t())
            f_next = self._force(q)
            p = p - 0.5 * h * (f + f_next)
            f = f_next
            qs.append(q)
        q_all = torch.stack(qs, dim=1).reshape(B * T, d)  # (window, time) rows, like vinnp

        logits = _mlp(P, "dec", m.decoder, q_all)
        nll = F.binary_cross_entropy_with_logits(logits, y.reshape(B * T, npix), reduction="sum")
        kl = 0.5 * torch.sum(torch.exp(log_var) + mean * mean - 1.0 - log_var)
        return (nll + kl) / B

    # -- comparison helpers -----------------------------------------------------
    def flat_grad(self):
        """The leaves' .grad concatenated in layout order (zeros where autograd left none,
        e.g. the potential's output bias, which the force never sees)."""
        parts = [torch.zeros(p.numel(), dtype=self.dtype) if p.grad is None else p.grad.reshape(-1)
                 for p in self.params]
        return torch.cat(parts).detach().numpy().astype(np.float64)

    def flat_params(self):
        return torch.cat([p.detach().reshape(-1) for p in self.params]).numpy().astype(np.float64)
