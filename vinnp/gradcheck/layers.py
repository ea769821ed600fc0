"""Gradient-check blocks of the layers: MLPs, the potential's second-order path, the LSTM,
the losses and the BLAS dense layers (float64, registered with ``vinnp gradcheck``)."""

import numpy as np

from vinnp.checks import positive_int
from vinnp.gradcheck.core import Block
from vinnp.layers.activations import ACTIVATIONS
from vinnp.layers.dense import dense_backward, dense_forward
from vinnp.layers.losses import (
    bernoulli_nll_logits,
    bernoulli_nll_logits_backward,
    gaussian_nll,
    gaussian_nll_backward,
    kl_std_normal,
    kl_std_normal_backward,
    reparam_sample,
    reparam_sample_backward,
)
from vinnp.layers.lstm import _check_reverse, lstm_backward, lstm_forward, lstm_layout
from vinnp.layers.mlp import MLP, backward, forward
from vinnp.layers.reference import mlp_forward as R_mlp_forward
from vinnp.layers.potential import force, force_backward, potential_mlp
from vinnp.params import Layout


def _live_draw(net, layout, rng, name, margin=2e-2, live=0.5):
    """Parameters and inputs x of the 3-layer test net [name, tanh, name] at which a relu can
    be checked: every relu pre-activation at least ``margin`` from the kink (no derivative
    there), and at least a fraction ``live`` of every relu layer's outputs active, so that the
    block's gradient is not zero (a dead last relu makes the whole loss flat)."""
    k = layout.offsets["x"]
    for _ in range(1000):
        params = np.concatenate([net.init(rng), rng.standard_normal(layout.size - k)])
        if name != "relu":
            return params
        _, zs, _ = R_mlp_forward(net.weights(params[:k]), net.activations, layout.view(params, "x"))
        relu_z = [z for z, act in zip(zs[1:], net.activations) if act == "relu"]
        if min(np.abs(z).min() for z in relu_z) > margin and min(np.mean(z > 0) for z in relu_z) >= live:
            return params
    raise RuntimeError("gradcheck: no draw kept the relu layers alive and away from their kinks")


def mlp_blocks(rng):
    """One block per activation: parameters and inputs of a 3-layer MLP, loss sum(R * mlp(x))."""
    blocks = []
    for name in ACTIVATIONS:
        net = MLP([3, 5, 4, 2], [name, "tanh", name])
        layout = Layout.join([("", net.layout()), ("", Layout([("x", (6, 3))]))])
        params = _live_draw(net, layout, rng, name)
        R = rng.standard_normal((6, 2))

        def loss(p, net=net, layout=layout, R=R):
            return float(np.sum(R * forward(net, p[:layout.offsets["x"]], layout.view(p, "x"))))

        def loss_and_grad(p, net=net, layout=layout, R=R):
            k = layout.offsets["x"]
            x = layout.view(p, "x")
            y = forward(net, p[:k], x)
            g, dx = backward(net, p[:k], x, R)
            return float(np.sum(R * y)), np.concatenate([g, dx.ravel()])

        blocks.append(Block(f"mlp[{name}]", layout, params, loss, loss_and_grad))
    return blocks


def potential_blocks(rng):
    """Second-order path: loss sum(R * dU/dq) against parameters and q, several depths."""
    blocks = []
    for hidden, act in (((8,), "tanh"), ((6, 5), "softplus"), ((5, 4, 3), "sin")):
        net = potential_mlp(2, hidden, act)
        layout = Layout.join([("", net.layout()), ("", Layout([("q", (5, 2))]))])
        params = np.concatenate([net.init(rng), rng.standard_normal(10)])
        params[: net.layout().size] += 0.1 * rng.standard_normal(net.layout().size)
        R = rng.standard_normal((5, 2))
        k = net.layout().size

        def loss(p, net=net, layout=layout, R=R, k=k):
            return float(np.sum(R * force(net, p[:k], layout.view(p, "q"))))

        def loss_and_grad(p, net=net, layout=layout, R=R, k=k, loss=loss):
            q = layout.view(p, "q")
            g, hv = force_backward(net, p[:k], q, R)
            return loss(p), np.concatenate([g, hv.ravel()])

        blocks.append(Block(f"potential-force[depth {len(hidden) + 1}, {act}]", layout, params,
                            loss, loss_and_grad))
    return blocks


def lstm_gradcheck_block(rng, batch, steps, input_dim, hidden_dim, reverse):
    """A float64 :class:`~vinnp.gradcheck.core.Block` for the LSTM.

    The flat vector holds the weights (``lstm.Wx``, ``lstm.Wh``, ``lstm.b``) and
    the inputs (``x``, ``h0``, ``c0``), so the check covers every gradient the
    backward returns. The scalar loss is
    ``sum(R * hs) + sum(Rh * h_last) + sum(Rc * c_last)`` with fixed random R's,
    which also exercises ``dh_last`` and ``dc_last``.
    """
    reverse = _check_reverse(reverse)
    nb = positive_int(batch, "batch")
    nt = positive_int(steps, "steps")
    lay = lstm_layout(input_dim, hidden_dim)
    d, nh = lay.shapes["Wx"][1], lay.shapes["Wh"][1]
    full = Layout.join([("lstm", lay),
                        ("", Layout([("x", (nb, nt, d)), ("h0", (nb, nh)), ("c0", (nb, nh))]))])
    params = rng.normal(0.0, 0.5, size=full.size)
    r_hs = rng.normal(size=(nb, nt, nh))
    r_h = rng.normal(size=(nb, nh))
    r_c = rng.normal(size=(nb, nh))
    n_w = lay.size  # the LSTM weights are the first n_w entries of the flat vector

    def forward(p):
        return lstm_forward(p[:n_w], lay, full.view(p, "x"), full.view(p, "h0"),
                            full.view(p, "c0"), reverse=reverse)

    def loss(p):
        hs, cache = forward(p)
        return float(np.sum(r_hs * hs) + np.sum(r_h * cache.h_last) + np.sum(r_c * cache.c_last))

    def loss_and_grad(p):
        hs, cache = forward(p)
        value = float(np.sum(r_hs * hs) + np.sum(r_h * cache.h_last) + np.sum(r_c * cache.c_last))
        grad = np.zeros_like(p)
        dx, dh0, dc0 = lstm_backward(r_hs, cache, grad[:n_w], dh_last=r_h, dc_last=r_c)
        full.view(grad, "x")[...] = dx
        full.view(grad, "h0")[...] = dh0
        full.view(grad, "c0")[...] = dc0
        return value, grad

    direction = "reverse" if reverse else "forward"
    return Block(f"lstm[{direction}]", full, params, loss, loss_and_grad,
                 meta={"batch": nb, "steps": nt, "input_dim": d, "hidden_dim": nh})


def lstm_blocks(rng):
    """Blocks for `vinnp gradcheck`: the LSTM in both directions, small sizes, float64."""
    return [lstm_gradcheck_block(rng, 2, 3, 3, 2, reverse=False),
            lstm_gradcheck_block(rng, 2, 3, 3, 2, reverse=True)]


LOG_VAR_FORMS = ("scalar", "per-dim", "full")


def log_var_shape(form, shape):
    """Shape of log_var for a broadcast ``form`` in LOG_VAR_FORMS against data of ``shape``."""
    if form == "scalar":
        return ()
    if form == "per-dim":
        return (shape[-1],)
    if form == "full":
        return tuple(shape)
    raise ValueError(f"form: expected one of {', '.join(LOG_VAR_FORMS)}; got {form!r}")


def _block(name, values, loss_fn, grad_fn):
    """Block over the named arrays in ``values`` (scalars stored as one entry).

    ``loss_fn(**pieces) -> float``; ``grad_fn(**pieces) -> {name: gradient}``.
    """
    shapes = {n: np.shape(v) for n, v in values.items()}
    layout = Layout([(n, s or (1,)) for n, s in shapes.items()])
    params = np.concatenate([np.ravel(v) for v in values.values()]).astype(np.float64)

    def pieces(p):
        return {n: layout.view(p, n).reshape(shapes[n]) for n in layout.names}

    def loss(p):
        return float(loss_fn(**pieces(p)))

    def loss_and_grad(p):
        kw = pieces(p)
        grads = grad_fn(**kw)
        g = np.zeros_like(p)
        for n in layout.names:
            layout.view(g, n)[...] = np.reshape(grads[n], layout.shapes[n])
        return float(loss_fn(**kw)), g

    return Block(name, layout, params, loss, loss_and_grad, meta={"shapes": shapes})


def gaussian_nll_block(rng, batch, dim, form):
    """Block for :func:`gaussian_nll` with fixed data y (batch, dim); pieces mean, log_var."""
    y = rng.normal(size=(batch, dim))
    values = {"mean": y + rng.normal(size=(batch, dim)),
              "log_var": rng.normal(0.0, 0.5, size=log_var_shape(form, (batch, dim)))}

    def grad(mean, log_var):
        dm, dlv = gaussian_nll_backward(y, mean, log_var)
        return {"mean": dm, "log_var": dlv}

    return _block(f"gaussian_nll[log_var={form}]", values,
                  lambda mean, log_var: gaussian_nll(y, mean, log_var), grad)


def bernoulli_block(rng, batch, dim, logit_scale=2.0):
    """Block for :func:`bernoulli_nll_logits`, grey-level targets; piece logits."""
    y = rng.uniform(size=(batch, dim))
    values = {"logits": rng.normal(0.0, logit_scale, size=(batch, dim))}
    return _block("bernoulli_nll_logits", values,
                  lambda logits: bernoulli_nll_logits(y, logits),
                  lambda logits: {"logits": bernoulli_nll_logits_backward(y, logits)})


def kl_block(rng, batch, dim, form):
    """Block for :func:`kl_std_normal`; pieces mean, log_var."""
    values = {"mean": rng.normal(size=(batch, dim)),
              "log_var": rng.normal(0.0, 0.5, size=log_var_shape(form, (batch, dim)))}

    def grad(mean, log_var):
        dm, dlv = kl_std_normal_backward(mean, log_var)
        return {"mean": dm, "log_var": dlv}

    return _block(f"kl_std_normal[log_var={form}]", values,
                  kl_std_normal, grad)


def reparam_block(rng, batch, dim, form):
    """Block for :func:`reparam_sample` with fixed eps; loss sum(R * z); pieces mean, log_var."""
    eps = rng.normal(size=(batch, dim))
    r = rng.normal(size=(batch, dim))
    values = {"mean": rng.normal(size=(batch, dim)),
              "log_var": rng.normal(0.0, 0.5, size=log_var_shape(form, (batch, dim)))}

    def grad(mean, log_var):
        dm, dlv = reparam_sample_backward(mean, log_var, eps, r)
        return {"mean": dm, "log_var": dlv}

    return _block(f"reparam_sample[log_var={form}]", values,
                  lambda mean, log_var: np.sum(r * reparam_sample(mean, log_var, eps)), grad)


def elbo_block(rng, batch, dim):
    """The three pieces chained as in the ELBO (Section 3.2): a Gaussian NLL of a
    reparameterised sample plus the KL, so q's log_var gets gradient from two
    branches that must add up. Pieces: mean, log_var (of q), obs_log_var."""
    y = rng.normal(size=(batch, dim))
    eps = rng.normal(size=(batch, dim))
    values = {"mean": rng.normal(size=(batch, dim)),
              "log_var": rng.normal(0.0, 0.5, size=(dim,)),
              "obs_log_var": rng.normal(0.0, 0.5, size=())}

    def loss(mean, log_var, obs_log_var):
        z = reparam_sample(mean, log_var, eps)
        return gaussian_nll(y, z, obs_log_var) + kl_std_normal(mean, log_var)

    def grad(mean, log_var, obs_log_var):
        z = reparam_sample(mean, log_var, eps)
        dz, d_obs = gaussian_nll_backward(y, z, obs_log_var)
        dm, dlv = reparam_sample_backward(mean, log_var, eps, dz)
        dm_kl, dlv_kl = kl_std_normal_backward(mean, log_var)
        return {"mean": dm + dm_kl, "log_var": dlv + dlv_kl, "obs_log_var": d_obs}

    return _block("elbo[reparam+gaussian_nll+kl]", values, loss, grad)


def losses_blocks(rng):
    """Blocks for `vinnp gradcheck`: every loss backward, every log_var form, float64."""
    blocks = []
    for form in LOG_VAR_FORMS:
        blocks.append(gaussian_nll_block(rng, 3, 2, form))
    blocks.append(bernoulli_block(rng, 3, 4))
    for form in LOG_VAR_FORMS:
        blocks.append(kl_block(rng, 3, 2, form))
    for form in LOG_VAR_FORMS:
        blocks.append(reparam_block(rng, 3, 2, form))
    blocks.append(elbo_block(rng, 3, 2))
    return blocks


def dense_blocks(rng):
    """One block per activation: a 3-layer dense MLP and its inputs, loss sum(R * y), float64."""
    blocks = []
    for name in ACTIVATIONS:
        net = MLP([3, 5, 4, 2], [name, "tanh", name])
        layout = Layout.join([("", net.layout()), ("", Layout([("x", (6, 3))]))])
        k = layout.offsets["x"]
        params = _live_draw(net, layout, rng, name)
        R = rng.standard_normal((6, 2))

        def loss(p, net=net, layout=layout, R=R, k=k):
            return float(np.sum(R * dense_forward(net, p[:k], layout.view(p, "x"))[0]))

        def loss_and_grad(p, net=net, layout=layout, R=R, k=k):
            y, cache = dense_forward(net, p[:k], layout.view(p, "x"))
            g = np.zeros_like(p)
            dx = dense_backward(net, p[:k], cache, R, g[:k])
            g[k:] = dx.ravel()
            return float(np.sum(R * y)), g

        blocks.append(Block(f"dense[{name}]", layout, params, loss, loss_and_grad))
    return blocks
