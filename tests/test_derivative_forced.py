"""The derivative baselines with control inputs and the dissipative HNN: gradients against float64
central differences, the unchanged no-input path, checkpoints, the forecast's inputs and physics."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import expm

from vinnp.gradcheck.core import gradcheck
from vinnp.layers import potential as pot_ops
from vinnp.layers.losses import mean_gaussian_nll
from vinnp.models.derivative import BASELINES, D0_SCALE, DerivativeModel
from vinnp.models.registry import MODELS, make_model, model_from_json


def forced_batch(rng, n_seq, T, dim, m):
    q = rng.standard_normal((n_seq, T, dim))
    p = 0.5 * rng.standard_normal((n_seq, T, dim))
    batch = {"q": q, "p": p, "dqdt": p + 0.1 * rng.standard_normal(p.shape), "dpdt": -q - 0.3 * p}
    if m:
        batch["u"] = rng.standard_normal((n_seq, T, m))
        batch["dpdt"] = batch["dpdt"] + batch["u"][..., :1]
    return batch


def check(name, dim, m, hidden=(7,), activation="tanh", seed=0, n_seq=3, T=5):
    rng = np.random.default_rng(seed)
    model = make_model(name, dim, 0.1, n_seq=n_seq, hidden=hidden, activation=activation, n_inputs=m)
    batch = forced_batch(rng, n_seq, T, dim, m)
    params = model.init(rng, batch)
    params += 0.05 * rng.standard_normal(params.size)
    rows = gradcheck(lambda x: model.loss(x, batch), lambda x: model.loss_and_grad(x, batch), params,
                     model.layout, rng=rng, max_entries=12)
    return model, rows


CASES = [(n, d, 2) for n in ("nn", "hnn") for d in (1, 2)] + [("dhnn", d, m) for d in (1, 2) for m in (0, 2)]


@pytest.mark.parametrize("name, dim, m", CASES)
def test_loss_and_grad_matches_central_differences(name, dim, m):
    model, rows = check(name, dim, m)
    assert all(r["ok"] for r in rows), rows
    assert all(r["max_rel_err"] <= 1e-6 for r in rows), rows
    if name == "dhnn":
        # a check of an all-zero gradient could not fail: D's and B's must be alive everywhere
        nonzero = {r["param"]: r["nonzero"] for r in rows}
        assert nonzero["dissipation.L"] == 1.0
        if m:
            assert nonzero["input.B"] == 1.0
            assert set(model.layout.names) >= {"dissipation.L", "input.B"}


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(BASELINES), dim=st.integers(1, 3), m=st.integers(0, 3),
       hidden=st.lists(st.integers(1, 9), min_size=1, max_size=2),
       activation=st.sampled_from(["tanh", "softplus", "sin", "square"]), seed=st.integers(0, 2**31))
def test_property_gradients_over_shapes_depths_activations(name, dim, m, hidden, activation, seed):
    _, rows = check(name, dim, m, tuple(hidden), activation, seed, n_seq=2, T=3)
    assert all(r["ok"] for r in rows), rows


def test_breaking_the_dissipation_backward_is_caught(monkeypatch):
    """The check can fail: drop the D term from the upstream on dH/dp and from dL."""
    model, rows = check("dhnn", 2, 2)
    assert all(r["ok"] for r in rows)
    real = DerivativeModel._hamiltonian_backward

    def broken(self, params, xin, u, g, d_pred, grad):
        real(self, params, xin, u, g, d_pred, grad)
        grad[self.layout.slice("dissipation.L")] *= 0.5
    monkeypatch.setattr(DerivativeModel, "_hamiltonian_backward", broken)
    _, rows = check("dhnn", 2, 2)
    bad = {r["param"] for r in rows if not r["ok"]}
    assert bad == {"dissipation.L"}


def test_registry_knows_dhnn_and_passes_inputs():
    assert "dhnn" in MODELS and "dhnn" in BASELINES
    model = make_model("dhnn", 2, 0.1, 1, n_inputs=3)
    assert model.n_inputs == 3 and model.layout.shapes["input.B"] == (2, 3)
    assert model.layout.shapes["dissipation.L"] == (3,)
    assert model.net.sizes[0] == 4  # H reads (q, p) only
    assert make_model("hnn", 2, 0.1, 1, n_inputs=3).net.sizes[0] == 7  # H reads (q, p, u)
    assert make_model("nn", 2, 0.1, 1, n_inputs=3).net.sizes[::2] == [7, 4]
    with pytest.raises(ValueError, match="learn_mass"):
        make_model("dhnn", 1, 0.1, 1, learn_mass=True)
    with pytest.raises(ValueError, match="n_inputs"):
        make_model("nn", 1, 0.1, 1, n_inputs=-1)


@pytest.mark.parametrize("name", ["nn", "hnn"])
def test_no_inputs_is_unchanged(name):
    """Same layout, same JSON, same loss as the (q, p) formulas without inputs."""
    rng = np.random.default_rng(3)
    model = make_model(name, 2, 0.1, 1, hidden=(5,))
    assert model.layout.names == ["net.W1", "net.b1", "net.W2", "net.b2", "log_var"]
    assert "n_inputs" not in model.to_json()
    batch = forced_batch(rng, 2, 4, 2, 0)
    params = model.init(rng, batch) + 0.1 * rng.standard_normal(model.layout.size)
    x = np.concatenate([batch["q"], batch["p"]], -1).reshape(-1, 4)
    y = np.concatenate([batch["dqdt"], batch["dpdt"]], -1).reshape(-1, 4)
    if name == "hnn":
        g = pot_ops.force(model.net, params, x, model.layout, "net")
        pred = np.concatenate([g[:, 2:], -g[:, :2]], 1)
    else:
        from vinnp.layers import mlp as mlp_ops
        pred = mlp_ops.forward(model.net, params, x, model.layout, "net")
    want = mean_gaussian_nll(y, pred, model.layout.view(params, "log_var"), False)[0]
    assert model.loss(params, batch) == want
    assert model.dissipation(params) is None


def test_dhnn_starts_near_hnn_with_d_positive():
    rng = np.random.default_rng(0)
    model = make_model("dhnn", 3, 0.1, 1, n_inputs=2)
    params = model.init(rng, {})
    np.testing.assert_allclose(model.dissipation(params), D0_SCALE * np.eye(3), rtol=1e-12)
    assert not np.any(model.layout.view(params, "input.B"))
    params += rng.standard_normal(params.size)
    assert np.all(np.linalg.eigvalsh(model.dissipation(params)) > 0)


@pytest.mark.parametrize("name, m", [("nn", 2), ("hnn", 1), ("dhnn", 0), ("dhnn", 2)])
def test_checkpoint_round_trip(name, m):
    rng = np.random.default_rng(1)
    model = make_model(name, 2, 0.1, 1, hidden=(4,), n_inputs=m)
    obj = model.to_json()
    assert ("n_inputs" in obj) == bool(m)
    back = model_from_json(obj)
    assert back.name == name and back.n_inputs == m and back.layout == model.layout
    params = model.init(rng, {}) + 0.1 * rng.standard_normal(model.layout.size)
    batch = forced_batch(rng, 2, 3, 2, m)
    assert back.loss(params, batch) == model.loss(params, batch)


def test_old_checkpoint_without_n_inputs_loads():
    obj = {"family": "derivative", "kind": "hnn", "dim": 1, "h": 0.1,
           "net": {"sizes": [2, 6, 1], "activations": ["tanh", "identity"]}}
    model = model_from_json(obj)
    assert model.n_inputs == 0 and model.to_json() == obj


def test_inputs_are_required_or_refused():
    rng = np.random.default_rng(2)
    forced = make_model("hnn", 1, 0.1, 1, n_inputs=2)
    free = make_model("hnn", 1, 0.1, 1)
    q0 = np.zeros((3, 1))
    with pytest.raises(ValueError, match=r"u: this model was trained with inputs; give u of shape \(3, 4, 2\)"):
        forced.forecast(forced.init(rng, {}), q0, q0, 4)
    with pytest.raises(ValueError, match=r"u: expected shape \(3, 4, 2\)"):
        forced.forecast(forced.init(rng, {}), q0, q0, 4, u=np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match="u: this model was trained without inputs"):
        free.forecast(free.init(rng, {}), q0, q0, 4, u=np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match=r"batch\['u'\]: this model was trained with inputs"):
        forced.loss(forced.init(rng, {}), forced_batch(rng, 2, 3, 1, 0))
    with pytest.raises(ValueError, match=r"batch\['u'\]: this model was trained without inputs"):
        free.loss(free.init(rng, {}), forced_batch(rng, 2, 3, 1, 2))


def test_hnn_energy_reads_u():
    rng = np.random.default_rng(4)
    model = make_model("hnn", 2, 0.1, 1, hidden=(5,), n_inputs=1)
    params = model.init(rng, {})
    q, p = rng.standard_normal((2, 3, 4, 2))
    u = rng.standard_normal((3, 4, 1))
    e0, e1 = model.energy(params, q, p), model.energy(params, q, p, u)
    assert e0.shape == e1.shape == (3, 4)
    np.testing.assert_array_equal(e0, model.energy(params, q, p, np.zeros((3, 4, 1))))
    assert not np.allclose(e0, e1)
    assert make_model("nn", 2, 0.1, 1).energy(params, q, p) is None


# --------------------------------------------------------------------------
# physics: a DHNN with H = (q^2 + p^2) / 2 is the damped, driven oscillator
# --------------------------------------------------------------------------


def oscillator(c, b=None):
    """A d = 1 DHNN with H = (q^2 + p^2)/2 exactly (one hidden "square" layer), D = c, B = b."""
    model = DerivativeModel("dhnn", 1, 0.1, hidden=(2,), activation="square", n_inputs=0 if b is None else 1)
    params = model.layout.zeros()
    model.layout.view(params, "net.W1")[...] = np.eye(2)
    model.layout.view(params, "net.W2")[...] = 0.5
    model.layout.view(params, "dissipation.L")[...] = 0.5 * np.log(c)
    if b is not None:
        model.layout.view(params, "input.B")[...] = b
    return model, params


def exact(c, b, q0, p0, u, h):
    """The zero-order-hold solution of x' = A x + (0, b) u_k, A = [[0, 1], [-1, -c]]: each interval in closed form."""
    A = np.array([[0.0, 1.0], [-1.0, -c]])
    E = expm(A * h)
    G = np.linalg.solve(A, E - np.eye(2)) @ np.array([0.0, b])
    x = np.array([q0, p0])
    out = [x]
    for uk in u:
        x = E @ x + G * uk
        out.append(x)
    return np.array(out)


def test_damped_oscillator_loses_energy_at_the_exact_rate():
    c, n = 0.3, 60
    model, params = oscillator(c)
    q, p = model.forecast(params, np.array([[1.0]]), np.array([[0.5]]), n)
    np.testing.assert_allclose(model.dissipation(params), [[c]], rtol=1e-12)
    H = model.energy(params, q, p)[0]
    np.testing.assert_allclose(H, 0.5 * (q[0, :, 0] ** 2 + p[0, :, 0] ** 2), rtol=1e-12)
    assert np.all(np.diff(H) < 0)  # dH/dt = -c p^2 <= 0, zero only at isolated instants
    assert H[-1] < 0.5 * H[0]
    want = exact(c, 0.0, 1.0, 0.5, np.zeros(n), 0.1)
    np.testing.assert_allclose(np.stack([q[0, :, 0], p[0, :, 0]], 1), want, atol=1e-7)


def test_without_dissipation_energy_is_conserved():
    model, params = oscillator(1e-14)  # D -> 0: the HNN's conservative oscillator
    q, p = model.forecast(params, np.array([[1.0]]), np.array([[0.5]]), 60)
    H = model.energy(params, q, p)[0]
    assert np.abs(H - H[0]).max() < 1e-7 * H[0]


def test_driven_forecast_holds_each_input_over_its_interval():
    """Piecewise-constant u: the interval-by-interval RK45 matches the exact ZOH solution."""
    c, b, n = 0.2, 0.7, 40
    rng = np.random.default_rng(5)
    u = rng.standard_normal(n)
    model, params = oscillator(c, b)
    q, p = model.forecast(params, np.array([[0.3]]), np.array([[-0.2]]), n, u=u.reshape(1, n, 1))
    want = exact(c, b, 0.3, -0.2, u, 0.1)
    np.testing.assert_allclose(np.stack([q[0, :, 0], p[0, :, 0]], 1), want, atol=1e-7)


def test_the_fused_steps_pair_refuses_a_model_with_inputs():
    """vinnp.training.fused reads model._inputs -> (x, y); with inputs that pair would drop u."""
    rng = np.random.default_rng(6)
    batch = forced_batch(rng, 2, 3, 1, 0)
    x, y = make_model("hnn", 1, 0.1, 1)._inputs(batch, np.float64)
    assert x.shape == y.shape == (6, 2)
    with pytest.raises(ValueError, match="n_inputs = 2"):
        make_model("hnn", 1, 0.1, 1, n_inputs=2)._inputs(forced_batch(rng, 2, 3, 1, 2), np.float64)
