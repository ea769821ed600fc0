"""The inverse mass M^{-1} of a Newtonian network (eq. 4): identity, or learned as L L^T.

L is lower-triangular with a positive diagonal, L_ii = exp(l_ii), so M^{-1} is
symmetric positive definite for every parameter value. Parameters: the
d(d+1)/2 lower-triangular entries, row by row. NumPy only (the embedded
forecasting path uses it).
"""

import numpy as np


class Mass:
    def __init__(self, dim, learned):
        self.dim = int(dim)
        self.learned = bool(learned)
        self.n_params = self.dim * (self.dim + 1) // 2 if self.learned else 0
        self.rows, self.cols = np.tril_indices(self.dim)
        self.diag = self.rows == self.cols

    def entries(self):
        """Layout entries (empty when M^{-1} is fixed to the identity)."""
        return [("L", (self.n_params,))] if self.learned else []

    def init(self, dtype=np.float64):
        return np.zeros(self.n_params, dtype)  # L = I

    def factor(self, ell):
        L = np.zeros((self.dim, self.dim), dtype=ell.dtype)
        L[self.rows, self.cols] = np.where(self.diag, np.exp(ell), ell)
        return L

    def matrices(self, ell=None, dtype=np.float64):
        """(M^{-1}, M) as dense (d, d) arrays."""
        if not self.learned:
            eye = np.eye(self.dim, dtype=dtype)
            return eye, eye.copy()
        L = self.factor(ell)
        minv = L @ L.T
        return minv, np.linalg.inv(minv)

    def backward(self, ell, g_minv, g_m):
        """Gradient wrt the L parameters given dLoss/dM^{-1} and dLoss/dM (dense).

        M = (M^{-1})^{-1} gives dM = -M dM^{-1} M, so the total gradient on
        M^{-1} is G = g_minv - M^T g_m M^T; then M^{-1} = L L^T gives
        dL = (G + G^T) L, restricted to the lower triangle; exp on the diagonal.
        """
        L = self.factor(ell)
        minv = L @ L.T
        m = np.linalg.inv(minv)
        G = g_minv - m.T @ g_m @ m.T
        gL = (G + G.T) @ L
        g = gL[self.rows, self.cols]
        return np.where(self.diag, g * L[self.rows, self.cols], g)
