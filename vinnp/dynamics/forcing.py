"""The generalised forces of a forced cell: f(q, qdot, u) = -D qdot + B u.

* D, a Rayleigh dissipation matrix, learned as D = L L^T with L lower-triangular and
  L_ii = exp(l_ii): symmetric positive definite for every parameter value, so the learned
  energy can only be dissipated, never pumped in, when u = 0. Its d(d+1)/2 entries start at
  D = D0 I with D0 = 0.01 (L = 0.1 I): small against the friction of the systems we fit, and
  with a live gradient (at L = 0 the gradient of L L^T vanishes).
* B, a constant (d, m) input map for m known inputs u_t (zero-order hold over step t);
  starts at 0 (no input effect assumed). m = 0: no inputs, no B.

The kernels take D and A^{-1} = (M + (h/2) D)^{-1} (vinnp.dynamics.sv_forced, vv_forced) and
the per-step force drive_t = B u_t; this module builds them from the parameters and maps
their gradients back. NumPy only (the embedded forecast uses it).
"""

import numpy as np

from vinnp.checks import as_array

D0 = 0.01


def check_inputs(u, n_inputs, shape, kind, dtype=np.float64):
    """u checked against a model with ``n_inputs`` inputs: (n, T, m) = ``shape`` as ``dtype``, or
    None for a model without inputs. ValueError naming ``u`` and the expected form otherwise."""
    if not n_inputs:
        if u is not None and np.size(u):
            raise ValueError(f"u: the {kind} model was trained without inputs; give none")
        return None
    if u is None:
        raise ValueError(f"u: the {kind} model was trained with {n_inputs} input(s); give u of shape "
                         f"(trajectories, steps, {n_inputs}), one row per step")
    u = as_array(u, "u", shape=shape)  # refuses NaN and inf too
    return np.ascontiguousarray(u, dtype)


class Forcing:
    def __init__(self, dim, n_inputs):
        self.dim = int(dim)
        self.n_inputs = int(n_inputs)
        if self.n_inputs < 0:
            raise ValueError(f"n_inputs: expected an integer >= 0, got {n_inputs!r}")
        self.n_l = self.dim * (self.dim + 1) // 2
        self.rows, self.cols = np.tril_indices(self.dim)
        self.diag = self.rows == self.cols

    def entries(self):
        """Layout entries: L (dissipation factor), then B (d, m) when there are inputs."""
        out = [("L", (self.n_l,))]
        if self.n_inputs:
            out.append(("B", (self.dim, self.n_inputs)))
        return out

    def init(self, dtype=np.float64):
        ell = np.where(self.diag, np.log(np.sqrt(D0)), 0.0)
        return np.concatenate([ell, np.zeros(self.dim * self.n_inputs)]).astype(dtype)

    def factor(self, ell):
        L = np.zeros((self.dim, self.dim), dtype=ell.dtype)
        L[self.rows, self.cols] = np.where(self.diag, np.exp(ell), ell)
        return L

    def dissipation(self, ell):
        L = self.factor(ell)
        return L @ L.T

    def kernel_mass(self, minv, m, D, h):
        """(4, d, d): (M^{-1}, M, D, A^{-1}) with A = M + (h/2) D, the forced kernels' ``mass``.
        D = 0 gives A^{-1} = M^{-1} itself, so the forced cell then equals the unforced one bit for bit."""
        ainv = minv.copy() if not np.any(D) else np.linalg.inv(m + 0.5 * h * D)
        return np.ascontiguousarray(np.stack([minv, m, D, ainv]).astype(minv.dtype))

    def drive(self, B, u, shape, dtype):
        """(n, T, d) forces B u_t, zero without inputs. u (n, T, m)."""
        if not self.n_inputs:
            return np.zeros(shape, dtype)
        return np.ascontiguousarray(np.einsum("ntm,dm->ntd", u, B), dtype)

    def backward(self, ell, g_D, g_ainv, ainv, h):
        """(dLoss/d ell, dLoss/dM from A^{-1}) given dLoss/dD and dLoss/dA^{-1}.

        A^{-1} = (M + (h/2) D)^{-1}: d(A^{-1}) = -A^{-1} dA A^{-1}, so dLoss/dA =
        -A^{-T} G A^{-T}, which reaches M as it is and D times h/2. Then D = L L^T gives
        dL = (G_D + G_D^T) L on the lower triangle, times L_ii on the exp-diagonal.
        """
        g_A = -ainv.T @ g_ainv @ ainv.T
        G = g_D + 0.5 * h * g_A
        L = self.factor(ell)
        gL = ((G + G.T) @ L)[self.rows, self.cols]
        return np.where(self.diag, gL * L[self.rows, self.cols], gL), g_A

    @staticmethod
    def input_grad(g_drive, u):
        """dLoss/dB from dLoss/d(drive) (n, T, d) and u (n, T, m)."""
        return np.einsum("ntd,ntm->dm", g_drive, u)
