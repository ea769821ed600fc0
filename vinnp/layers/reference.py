"""Slow, obviously-correct NumPy references (matrix form, any float dtype).

They serve two purposes: the tests compare every compiled kernel against them,
and the NumPy-only forecasting path (``vinnp.evaluation.embedded``) runs a
trained model with them, where Numba is not installed. This module must import
NumPy alone.

Conventions: an MLP with sizes [n0, ..., nL] has W_l of shape (n_l, n_{l-1})
and b_l of shape (n_l,); z_l = a_{l-1} W_l^T + b_l, a_l = sigma_l(z_l), batched
over rows.
"""

import numpy as np

ACTIVATIONS = ("identity", "tanh", "relu", "softplus", "sin", "square")


def act(name, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0)
    if name == "softplus":
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    if name == "sin":
        return np.sin(x)
    if name == "square":
        return x * x
    return x


def act_d1(name, x):
    if name == "tanh":
        e = np.exp(-2 * np.abs(x))  # sech^2 without the cancellation of 1 - tanh^2
        return 4 * e / (1 + e) ** 2
    if name == "relu":
        return (x > 0).astype(x.dtype)
    if name == "softplus":
        return 0.5 * (1 + np.tanh(0.5 * x))  # the logistic function, overflow-free
    if name == "sin":
        return np.cos(x)
    if name == "square":
        return 2 * x
    return np.ones_like(x)


def act_d2(name, x):
    if name == "tanh":
        return -2 * np.tanh(x) * act_d1("tanh", x)
    if name == "softplus":
        s = 0.5 * (1 + np.tanh(0.5 * x))
        return s * (1 - s)
    if name == "sin":
        return -np.sin(x)
    if name == "square":
        return np.full_like(x, 2.0)
    return np.zeros_like(x)


def mlp_forward(weights, activations, x):
    """weights: list of (W, b); returns (output, zs, as) with as[0] = x."""
    a = [x]
    z = [None]
    for (W, b), name in zip(weights, activations):
        z.append(a[-1] @ W.T + b)
        a.append(act(name, z[-1]))
    return a[-1], z, a


def mlp_backward(weights, activations, x, g_out):
    """Reverse mode: returns ([(dW, db)], dx) for the scalar sum(g_out * mlp(x))."""
    _, z, a = mlp_forward(weights, activations, x)
    grads = [None] * len(weights)
    g = g_out
    for l in range(len(weights), 0, -1):
        W, _ = weights[l - 1]
        gz = g * act_d1(activations[l - 1], z[l])
        grads[l - 1] = (gz.T @ a[l - 1], gz.sum(axis=0))
        g = gz @ W
    return grads, g


def force(weights, activations, q):
    """dU/dq for a scalar-output MLP U (batched rows): the backprop of U to its input."""
    ones = np.ones((q.shape[0], 1), dtype=q.dtype)
    return mlp_backward(weights, activations, q, ones)[1]


def force_backward(weights, activations, q, v):
    """Second-order path: (sum_b v_b^T d f_b / d theta, H_b v_b) for f = dU/dq.

    Forward-mode (tangent v along q) over the reverse pass that computes dU/dq
    and dU/dtheta: the tangent of dU/dq is the Hessian-vector product, the
    tangent of dU/dtheta is v^T d^2U/(dq dtheta) by symmetry of mixed partials.
    """
    L = len(weights)
    _, z, a = mlp_forward(weights, activations, q)
    # tangents of the forward pass
    dz = [None] * (L + 1)
    da = [v]
    for l in range(1, L + 1):
        W, _ = weights[l - 1]
        dz[l] = da[-1] @ W.T
        da.append(act_d1(activations[l - 1], z[l]) * dz[l])
    # reverse pass and its tangent, together
    g = np.ones((q.shape[0], 1), dtype=q.dtype)
    dg = np.zeros_like(g)
    grads = [None] * L
    for l in range(L, 0, -1):
        W, _ = weights[l - 1]
        name = activations[l - 1]
        s1 = act_d1(name, z[l])
        gz = s1 * g
        dgz = act_d2(name, z[l]) * dz[l] * g + s1 * dg
        grads[l - 1] = (dgz.T @ a[l - 1] + gz.T @ da[l - 1], dgz.sum(axis=0))
        g = gz @ W
        dg = dgz @ W
    return grads, dg
