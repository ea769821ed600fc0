"""Dynamics cells (VIN-SV, VIN-VV, VIN-SO(2), ResRNN): kernels against the NumPy
oracle, against textbook integrators, and the geometric properties that make
them variational integrators (symplecticity, reversibility, SO(2) manifold,
bounded energy), plus the mass parametrisation and input validation.

Paper: eqs. (6), (9)-(10), (11)-(12) and Appendix B.
"""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from vinnp.dynamics import so2
from vinnp.dynamics.cells import CELLS, make_cell
from vinnp.dynamics.registry import get
from vinnp.dynamics.mass import Mass
from vinnp.gradcheck.core import gradcheck
from vinnp.layers import reference as R
from vinnp.layers.potential import force as compiled_force
from vinnp.params import Layout

G = 9.81
OMEGA = np.array([[0.0, 1.0], [-1.0, 0.0]])


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def build(kind, d, h=0.1, hidden=(8,), activation="tanh", learn_mass=False, seed=0,
          net_noise=0.2, mass_scale=0.3):
    """A cell with random weights (nonzero biases) and, if learned, a random non-identity mass."""
    cell = make_cell(kind, d, h, hidden=hidden, activation=activation, learn_mass=learn_mass)
    layout = Layout.join([("cell", cell.layout())])
    rng = np.random.default_rng(seed)
    params = cell.init(rng)
    n_net = cell.net.layout().size
    params[:n_net] += net_noise * rng.standard_normal(n_net)
    if learn_mass:
        params[layout.slice("cell.mass.L")] = mass_scale * rng.standard_normal(cell.mass.n_params)
    return cell, layout, params, rng


def random_x1(kind, B, d, rng):
    x1 = rng.standard_normal((B, 2, d))
    if get(kind).lie_group:  # keep sin(th_1 - th_0) well inside the asin domain
        x1[:, 0] = x1[:, 1] - 0.1 * rng.standard_normal((B, 1))
    return x1


def oracle(cell, layout, params, x1, T):
    minv, m = cell.matrices(params, layout, "cell")
    weights = cell.net.weights(params, layout, "cell.net")
    # a forced cell (no inputs here): its learned dissipation, and no drive
    forces = () if not cell.spec.forced else (cell.dissipation(params, layout), np.zeros((x1.shape[0], T, cell.dim)))
    return cell.spec.reference(weights, cell.net.activations, minv, m, cell.h, x1, T, *forces)


def set_net(layout, params, **values):
    for name, v in values.items():
        layout.view(params, f"cell.net.{name}")[...] = v


def omega(d):
    I, Z = np.eye(d), np.zeros((d, d))
    return np.block([[Z, I], [-I, Z]])


def fd_jacobian(fn, z, eps=1e-6):
    """J[k, j] = d fn(z)_k / d z_j by central differences; fn maps a batch (B, n) -> (B, n)."""
    n = z.size
    E = eps * np.eye(n)
    out = fn(np.concatenate([z[None] + E, z[None] - E]))
    return ((out[:n] - out[n:]) / (2 * eps)).T


def symplectic_defect(J):
    d = J.shape[0] // 2
    W = omega(d)
    return float(np.max(np.abs(J.T @ W @ J - W)))


def one_step_qp(cell, layout, params):
    """(q_1, p_1) -> (q_2, p_2) as a batched function on flat (B, 2d) vectors, any kind."""
    d = cell.dim
    minv, _ = cell.matrices(params, layout, "cell")

    def fn(Z):
        q, p = Z[:, :d], Z[:, d:]
        x1 = cell.spec.initial_state(q, p, minv, cell.h)
        obs, _ = cell.rollout(params, layout, x1, 2)
        # the initial observed state is (q, p) itself
        np.testing.assert_allclose(obs[:, 0].reshape(len(Z), 2 * d), Z, rtol=1e-12, atol=1e-12)
        return obs[:, 1].reshape(len(Z), 2 * d)

    return fn


# ---------------------------------------------------------------------------
# 1. compiled kernels = NumPy reference
# ---------------------------------------------------------------------------

CASES = [(kind, learn, d)
         for kind in CELLS
         for learn in ((False, True) if get(kind).mass else (False,))
         for d in ((get(kind).dim,) if get(kind).dim else (1, 3))]


@pytest.mark.parametrize("hidden", [(8,), (6, 5)])
@pytest.mark.parametrize("kind,learn,d", CASES)
def test_rollout_matches_numpy_reference(kind, learn, d, hidden):
    cell, layout, params, rng = build(kind, d, hidden=hidden, learn_mass=learn, seed=d + 7 * len(hidden))
    if learn:
        minv, _ = cell.matrices(params, layout, "cell")
        assert not np.allclose(minv, np.eye(d))  # the learned mass really is exercised
    x1 = random_x1(kind, 37, d, rng)  # > CHUNK rows: two parallel chunks
    T = 25
    obs, _ = cell.rollout(params, layout, x1, T)
    assert obs.shape == (37, T, 2, d) and obs.dtype == np.float64
    np.testing.assert_allclose(obs, oracle(cell, layout, params, x1, T), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind,learn,d", CASES)
def test_float32_rollout_tracks_float64(kind, learn, d):
    cell, layout, params, rng = build(kind, d, learn_mass=learn, seed=3)
    x1 = random_x1(kind, 5, d, rng)
    T = 20
    obs64, _ = cell.rollout(params, layout, x1, T)
    obs32, _ = cell.rollout(params.astype(np.float32), layout, x1.astype(np.float32), T)
    assert obs32.dtype == np.float32
    np.testing.assert_allclose(obs32, obs64, rtol=1e-3, atol=2e-3)
    assert np.max(np.abs(obs32 - obs64)) > 0  # it really ran in single precision


def test_so2_clipping_matches_reference():
    """A force strong enough to saturate the sine update: kernel and oracle clip alike."""
    cell, layout, params, rng = build("vin-so2", 1, h=0.3, hidden=(8,), learn_mass=True, seed=5)
    layout.view(params, "cell.net.W2")[...] *= 40.0
    x1 = random_x1("vin-so2", 8, 1, rng)
    obs, (_, _, S, *_) = cell.rollout(params, layout, x1, 30)
    assert np.any(np.abs(S) == so2.CLIP)
    np.testing.assert_allclose(obs, oracle(cell, layout, params, x1, 30), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", CELLS)
def test_initial_state_reproduces_the_observed_state(kind):
    d = get(kind).dim or 3
    cell, layout, params, rng = build(kind, d, learn_mass=get(kind).mass, seed=11)
    q, p = rng.standard_normal((4, d)), 0.5 * rng.standard_normal((4, d))
    obs, _ = cell.rollout(params, layout, cell.initial_state(params, layout, q, p), 3)
    np.testing.assert_allclose(obs[:, 0, 0], q, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(obs[:, 0, 1], p, rtol=1e-12, atol=1e-12)


def test_empty_batch():
    cell, layout, params, _ = build("vin-vv", 2)
    obs, _ = cell.rollout(params, layout, np.zeros((0, 2, 2)), 4)
    assert obs.shape == (0, 4, 2, 2)


# ---------------------------------------------------------------------------
# 2. textbook integrators with exactly represented potentials
# ---------------------------------------------------------------------------

def spring_cell(kind, h, d=1, learn_mass=False):
    """U(q) = |q|^2 / 2 exactly: MLP [d, d, 1], square then identity."""
    cell = make_cell(kind, d, h, hidden=(d,), activation="square", learn_mass=learn_mass)
    assert cell.net.activations == ["square", "identity"]
    layout = Layout.join([("cell", cell.layout())])
    params = layout.zeros()
    set_net(layout, params, W1=np.eye(d), b1=0.0, W2=0.5, b2=0.0)
    return cell, layout, params


def pendulum_cell(kind, h, g=G):
    """U(q) = g (1 - cos q) = g - g sin(q + pi/2) exactly: MLP [1, 1, 1], sin then identity."""
    cell = make_cell(kind, 1, h, hidden=(1,), activation="sin")
    assert cell.net.activations == ["sin", "identity"]
    layout = Layout.join([("cell", cell.layout())])
    params = layout.zeros()
    set_net(layout, params, W1=1.0, b1=np.pi / 2, W2=-g, b2=g)
    return cell, layout, params


def test_compiled_networks_represent_the_known_potentials():
    """The exact potentials below, through the compiled force: dU/dq = q and g sin q.

    If this fails while the NumPy reference passes, suspect a stale Numba on-disk
    cache (``cache=True`` does not notice edits to activations.py).
    """
    q = np.linspace(-3, 3, 13)[:, None]
    for cell, layout, params, want in ((*spring_cell("vin-vv", 0.1), q), (*pendulum_cell("vin-vv", 0.1), G * np.sin(q))):
        net_params = params[: cell.net.layout().size]
        np.testing.assert_allclose(compiled_force(cell.net, net_params, q), want, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(R.force(cell.net.weights(net_params), cell.net.activations, q), want,
                                   rtol=1e-13, atol=1e-13)


def spring_force(q):
    return -q


def pendulum_force(q):
    return -G * np.sin(q)


def textbook_sv(force, minv, h, q0, q1, T, sign=1.0):
    """q_{t+1} = 2 q_t - q_{t-1} + h^2 M^{-1} F(q_t); returns positions q_1..q_T (B, T, d)."""
    qs = [q0, q1]
    for _ in range(T - 1):
        qs.append(2 * qs[-1] - qs[-2] + sign * h * h * force(qs[-1]) @ minv.T)
    return np.stack(qs[1:], axis=1)


def textbook_vv(force, minv, h, q, p, T):
    """Velocity Verlet with p = M qdot; returns (q_t, p_t) (B, T, 2, d)."""
    out = [np.stack([q, p], axis=1)]
    for _ in range(T - 1):
        f = force(q)
        q = q + h * p @ minv.T + 0.5 * h * h * f @ minv.T
        p = p + 0.5 * h * (f + force(q))
        out.append(np.stack([q, p], axis=1))
    return np.stack(out, axis=1)


def hand_minv(ell, d):
    """M^{-1} = L L^T from the row-by-row lower-triangular entries, exp on the diagonal."""
    L = np.zeros((d, d))
    k = 0
    for i in range(d):
        for j in range(i + 1):
            L[i, j] = math.exp(ell[k]) if i == j else ell[k]
            k += 1
    return L @ L.T


def known_potential_cell(kind, system, h):
    """A cell carrying a known potential, with the force and M^-1 a textbook scheme uses:
    the pendulum, the unit spring, or a 2-d spring with a learned-form (set) mass."""
    if system == "pendulum":
        cell, layout, params = pendulum_cell(kind, h)
        return cell, layout, params, pendulum_force, np.eye(1)
    d = 2 if system == "spring-2d-mass" else 1
    cell, layout, params = spring_cell(kind, h, d=d, learn_mass=True)
    ell = np.array([0.3, -0.4, -0.2])[: d * (d + 1) // 2]
    layout.view(params, "cell.mass.L")[...] = ell
    return cell, layout, params, spring_force, hand_minv(ell, d)


@pytest.mark.parametrize("system", ["spring", "pendulum", "spring-2d-mass"])
def test_vin_sv_is_textbook_stormer_verlet(system):
    h, T = 0.1, 200
    cell, layout, params, force, minv = known_potential_cell("vin-sv", system, h)
    d = cell.dim
    q0 = np.array([[0.3] * d, [1.0] * d, [2.5] * d])[:, :d] * np.linspace(1, 0.8, d)
    q1 = q0 + 0.05
    obs, _ = cell.rollout(params, layout, np.stack([q0, q1], axis=1), T)
    qs = textbook_sv(force, minv, h, q0, q1, T)
    np.testing.assert_allclose(obs[:, :, 0], qs, rtol=0, atol=1e-12)
    # momenta p_t = M (q_t - q_{t-1}) / h
    prev = np.concatenate([q0[:, None], qs[:, :-1]], axis=1)
    np.testing.assert_allclose(obs[:, :, 1], (qs - prev) @ np.linalg.inv(minv).T / h, rtol=1e-10, atol=1e-10)
    # the comparison can fail: the wrong sign of the h^2 term is far off
    wrong = textbook_sv(force, minv, h, q0, q1, T, sign=-1.0)
    assert np.max(np.abs(obs[:, :, 0] - wrong)) > 1e-2


@pytest.mark.parametrize("system", ["spring", "pendulum", "spring-2d-mass"])
def test_vin_vv_is_textbook_velocity_verlet(system):
    h, T = 0.1, 200
    cell, layout, params, force, minv = known_potential_cell("vin-vv", system, h)
    d = cell.dim
    q = np.array([[0.3], [1.0], [2.5]]) * np.ones((1, d))
    p = np.array([[0.0], [0.5], [-1.0]]) * np.ones((1, d))
    obs, _ = cell.rollout(params, layout, np.stack([q, p], axis=1), T)
    ref = textbook_vv(force, minv, h, q, p, T)
    np.testing.assert_allclose(obs, ref, rtol=0, atol=1e-12)
    # the wrong sign of the h^2 M^-1 dU/dq term in eq. (9) is far off
    wrong = textbook_vv(lambda x: -force(x), minv, h, q, p, T)
    assert np.max(np.abs(obs - wrong)) > 1e-2


def test_vin_so2_is_textbook_lgvi_pendulum():
    h, T, g, ell = 0.1, 300, G, 2.0
    cell = make_cell("vin-so2", 1, h, hidden=(1,))
    assert cell.net.activations == ["sin", "identity"]
    layout = Layout.join([("cell", cell.layout())])
    params = layout.zeros()
    set_net(layout, params, W1=1.0, b1=0.0, W2=-g / ell, b2=0.0)  # r(th) = -(g/l) sin th
    th1 = np.array([0.3, 1.0, 2.0, -2.8])
    th0 = th1 - np.array([0.0, 0.05, -0.1, 0.02])
    obs, _ = cell.rollout(params, layout, np.stack([th0, th1], axis=1)[:, :, None], T)
    ths, ss = [th1], [np.sin(th1 - th0)]
    for _ in range(T - 1):
        s = ss[-1] - h * h * (g / ell) * np.sin(ths[-1])
        ths.append(ths[-1] + np.arcsin(s))
        ss.append(s)
    np.testing.assert_allclose(obs[:, :, 0, 0], np.stack(ths, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(obs[:, :, 1, 0], np.stack(ss, axis=1) / h, rtol=0, atol=1e-11)


def test_vin_vv_spring_energy_is_bounded_over_10000_steps():
    h, T = 0.1, 10_000
    cell, layout, params = spring_cell("vin-vv", h)
    x1 = np.array([[[1.0], [0.0]], [[0.3], [-0.7]]])
    obs, _ = cell.rollout(params, layout, x1, T)
    q, p = obs[:, :, 0, 0], obs[:, :, 1, 0]
    H = 0.5 * p * p + 0.5 * q * q
    dev = np.abs(H - H[:, :1])
    assert np.all(dev <= h * h * H[:, :1])  # O(h^2), uniformly over 10 000 steps
    assert np.all(dev.max(axis=1) > 1e-4)  # (not conserved trivially: it oscillates)
    half = T // 2
    assert np.all(dev[:, half:].max(axis=1) <= 1.05 * dev[:, :half].max(axis=1))  # no drift
    # velocity Verlet conserves the shadow energy p^2/2 + (1 - h^2/4) q^2/2 exactly
    shadow = 0.5 * p * p + 0.5 * (1 - h * h / 4) * q * q
    np.testing.assert_allclose(shadow, shadow[:, :1] * np.ones((1, T)), rtol=1e-11)


def test_resrnn_exact_field_grows_energy_like_explicit_euler():
    h, T = 0.1, 10_000
    cell = make_cell("resrnn", 1, h, hidden=())
    assert cell.net.sizes == [2, 2] and cell.net.activations == ["identity"]
    layout = Layout.join([("cell", cell.layout())])
    params = layout.zeros()
    set_net(layout, params, W1=[[0.0, 1.0], [-1.0, 0.0]], b1=0.0)  # f(q, p) = (p, -q)
    x1 = np.array([[[1.0], [0.0]], [[0.3], [-0.7]]])
    obs, _ = cell.rollout(params, layout, x1, T)
    H = 0.5 * obs[:, :, 0, 0] ** 2 + 0.5 * obs[:, :, 1, 0] ** 2
    growth = (1 + h * h) ** np.arange(T)
    np.testing.assert_allclose(H / H[:, :1], np.broadcast_to(growth, H.shape), rtol=1e-9)
    assert np.all(H[:, -1] / H[:, 0] > 1e40)


# ---------------------------------------------------------------------------
# 3. symplecticity
# ---------------------------------------------------------------------------

@st.composite
def random_cells(draw, kind):
    depth = draw(st.integers(1, 3))
    hidden = tuple(draw(st.integers(1, 16)) for _ in range(depth))
    activation = draw(st.sampled_from(("tanh", "softplus", "sin")))
    d = 1 if kind == "vin-so2" else draw(st.integers(1, 3))
    learn = draw(st.booleans())
    h = draw(st.sampled_from((0.05, 0.1, 0.2)))
    seed = draw(st.integers(0, 2**31))
    cell, layout, params, rng = build(kind, d, h=h, hidden=hidden, activation=activation,
                                      learn_mass=learn, seed=seed)
    return cell, layout, params, rng


@given(random_cells("vin-vv"))
def test_vin_vv_one_step_map_is_symplectic(case):
    cell, layout, params, rng = case
    d = cell.dim
    z = np.concatenate([rng.standard_normal(d), rng.standard_normal(d)])
    # exact Jacobian: row k from the backward with a one-hot gradient on (q_2, p_2)_k
    x1 = np.repeat(z.reshape(1, 2, d), 2 * d, axis=0)
    obs, cache = cell.rollout(params, layout, x1, 2)
    g_obs = np.zeros(obs.shape)
    for k in range(2 * d):
        g_obs[k, 1, k // d, k % d] = 1.0
    J = cell.backward(params, layout, cache, g_obs, np.zeros_like(params)).reshape(2 * d, 2 * d)
    J_fd = fd_jacobian(lambda Z: cell.rollout(params, layout, Z.reshape(-1, 2, d), 2)[0][:, 1].reshape(-1, 2 * d), z)
    assert symplectic_defect(J_fd) <= 1e-6
    np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-6)
    assert symplectic_defect(J) <= 1e-9
    if d == 1:
        assert abs(np.linalg.det(J) - 1) <= 1e-9


@given(random_cells("vin-sv"))
def test_vin_sv_one_step_map_is_symplectic(case):
    cell, layout, params, rng = case
    d = cell.dim
    # (q_{t-1}, q_t) -> (q_t, q_{t+1}): volume preserving
    z = rng.standard_normal(2 * d)

    def lagrangian_step(Z):
        obs, _ = cell.rollout(params, layout, Z.reshape(-1, 2, d), 2)
        return np.concatenate([obs[:, 0, 0], obs[:, 1, 0]], axis=1)

    J = fd_jacobian(lagrangian_step, z)
    assert abs(np.linalg.det(J) - 1) <= 1e-6
    # (q_t, p_t) -> (q_{t+1}, p_{t+1}) with p_t = M (q_t - q_{t-1}) / h preserves Omega
    Jqp = fd_jacobian(one_step_qp(cell, layout, params), z)
    assert symplectic_defect(Jqp) <= 1e-6


@given(random_cells("vin-so2"))
def test_vin_so2_one_step_map_preserves_area(case):
    cell, layout, params, rng = case
    minv, m = cell.matrices(params, layout, "cell")
    z = np.array([rng.standard_normal(), 0.5 * rng.standard_normal()])
    step = one_step_qp(cell, layout, params)
    s_next = step(z[None])[0, 1] * cell.h / m[0, 0]
    assert abs(s_next) < 0.9  # away from the clipping of the sine update
    J = fd_jacobian(step, z)
    assert abs(np.linalg.det(J) - 1) <= 1e-6
    assert symplectic_defect(J) <= 1e-6


def test_resrnn_is_not_symplectic():
    """The same check fails on the explicit Euler baseline with a generic field."""
    cell, layout, params, rng = build("resrnn", 1, h=0.1, hidden=(16,), seed=0)
    z = rng.standard_normal(2)
    J = fd_jacobian(one_step_qp(cell, layout, params), z)
    assert abs(np.linalg.det(J) - 1) > 1e-3
    assert symplectic_defect(J) > 1e-3
    # and for the exact linear field f = (p, -q): det = 1 + h^2, as explicit Euler predicts
    lin = make_cell("resrnn", 1, 0.1, hidden=())
    lay = Layout.join([("cell", lin.layout())])
    par = lay.zeros()
    set_net(lay, par, W1=[[0.0, 1.0], [-1.0, 0.0]], b1=0.0)
    J = fd_jacobian(one_step_qp(lin, lay, par), z)
    assert abs(np.linalg.det(J) - 1.01) <= 1e-8


# ---------------------------------------------------------------------------
# 4. time reversibility
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("d", [1, 3])
def test_vin_vv_is_time_reversible(d, learn, seed):
    cell, layout, params, rng = build("vin-vv", d, hidden=(16,), learn_mass=learn, seed=seed)
    N = 100
    x1 = rng.standard_normal((6, 2, d))
    fwd, _ = cell.rollout(params, layout, x1, N + 1)
    back_x1 = np.stack([fwd[:, N, 0], -fwd[:, N, 1]], axis=1)
    bwd, _ = cell.rollout(params, layout, back_x1, N + 1)
    np.testing.assert_allclose(bwd[:, N, 0], x1[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(bwd[:, N, 1], -x1[:, 1], rtol=0, atol=1e-10)
    flipped = fwd[:, ::-1].copy()
    flipped[:, :, 1] *= -1
    np.testing.assert_allclose(bwd, flipped, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("d", [1, 3])
def test_vin_sv_is_time_reversible(d, learn, seed):
    cell, layout, params, rng = build("vin-sv", d, hidden=(16,), learn_mass=learn, seed=seed)
    N = 100
    x1 = rng.standard_normal((6, 2, d))
    x1[:, 0] = x1[:, 1] - 0.1 * rng.standard_normal((6, d))
    fwd, _ = cell.rollout(params, layout, x1, N)
    Q = np.concatenate([x1[:, :1, :], fwd[:, :, 0]], axis=1)  # q_0 .. q_N
    bwd, _ = cell.rollout(params, layout, np.stack([Q[:, N], Q[:, N - 1]], axis=1), N)
    # positions q_{N-1}, ..., q_0; momenta -p_N, ..., -p_1
    np.testing.assert_allclose(bwd[:, :, 0], Q[:, N - 1::-1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(bwd[:, :, 1], -fwd[:, ::-1, 1], rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------
# 5. SO(2): on the manifold, sines in range, bounded energy
# ---------------------------------------------------------------------------

def test_vin_so2_long_rollouts_stay_on_so2():
    T = 5000
    cell, layout, params, rng = build("vin-so2", 1, hidden=(16,), learn_mass=True, seed=4)
    x1 = random_x1("vin-so2", 6, 1, rng)
    x1[-1, 0] = x1[-1, 1] - 1.5  # |sin dth| close to 1 from the start
    obs, (_, _, S, *_) = cell.rollout(params, layout, x1, T)
    # a constant force r = 1 that must saturate the sine update (s grows by h^2 M^-1 per step)
    push = make_cell("vin-so2", 1, 0.1, hidden=(1,))
    play = Layout.join([("cell", push.layout())])
    ppar = play.zeros()
    set_net(play, ppar, W1=0.0, b1=np.pi / 2, W2=1.0, b2=0.0)
    obs2, (_, _, S2, *_) = push.rollout(ppar, play, x1, T)
    assert np.any(np.abs(S2) == so2.CLIP)
    _, m = cell.matrices(params, layout, "cell")
    for c, o, s, mass in ((cell, obs, S[..., 0], m[0, 0]), (push, obs2, S2[..., 0], 1.0)):  # aux (B, T, 1)
        th = o[:, :, 0, 0]
        assert np.all(np.isfinite(th))
        # the stored sines never leave [-1, 1] and are what p_t reports
        assert np.all(np.abs(s) <= so2.CLIP)
        np.testing.assert_allclose(o[:, :, 1, 0], mass * s / c.h, rtol=1e-14, atol=0)
        # the angle increments are asin of the stored sines
        tol = 4 * np.finfo(float).eps * max(1.0, np.abs(th).max())
        np.testing.assert_allclose(np.diff(th, axis=1), np.arcsin(s[:, 1:]), rtol=0, atol=tol)
        # rotation matrices: orthogonal, det 1; the relative rotation's sine is the stored sine
        cth, sth = np.cos(th), np.sin(th)
        R = np.stack([np.stack([cth, -sth], -1), np.stack([sth, cth], -1)], -2)  # (B, T, 2, 2)
        RtR = np.swapaxes(R, -1, -2) @ R
        np.testing.assert_allclose(RtR, np.broadcast_to(np.eye(2), RtR.shape), rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(R), 1.0, rtol=0, atol=1e-12)
        F = np.swapaxes(R[:, :-1], -1, -2) @ R[:, 1:]  # R_t^T R_{t+1} = R(dth_t)
        np.testing.assert_allclose(F[..., 1, 0], s[:, 1:], rtol=0, atol=1e-9)


def test_vin_so2_true_pendulum_energy_is_bounded():
    h, T = 0.05, 5000
    cell = make_cell("vin-so2", 1, h, hidden=(1,))
    layout = Layout.join([("cell", cell.layout())])
    params = layout.zeros()
    set_net(layout, params, W1=1.0, b1=0.0, W2=-G, b2=0.0)
    th0 = np.array([0.5, 1.0, 2.0, 2.5])
    x1 = np.stack([th0, th0], axis=1)[:, :, None]  # released at rest
    obs, _ = cell.rollout(params, layout, x1, T)

    def drift(th, p):
        E = 0.5 * p * p + G * (1 - np.cos(th))
        dev = np.abs(E - E[:, :1])
        return E[:, 0], dev[:, : T // 2].max(axis=1), dev[:, T // 2:].max(axis=1)

    E0, first, second = drift(obs[:, :, 0, 0], obs[:, :, 1, 0])
    assert np.all(first <= 0.1 * E0)
    assert np.all(second <= 1.1 * first)  # no drift (the brief asks <= ~2x; it is ~1.00001x)
    # the criterion catches a drifting integrator: explicit Euler on the same pendulum
    th, p = th0.copy(), np.zeros(4)
    ths, ps = [th], [p]
    for _ in range(T - 1):
        th, p = th + h * p, p - h * G * np.sin(th)
        ths.append(th)
        ps.append(p)
    _, first, second = drift(np.stack(ths, 1), np.stack(ps, 1))
    assert np.all(second > 1.1 * first)


# ---------------------------------------------------------------------------
# 6. mass parametrisation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_mass_is_symmetric_positive_definite(d):
    rng = np.random.default_rng(d)
    mass = Mass(d, True)
    assert mass.n_params == d * (d + 1) // 2 and mass.entries() == [("L", (mass.n_params,))]
    np.testing.assert_array_equal(mass.init(), np.zeros(mass.n_params))
    minv0, m0 = mass.matrices(mass.init())
    np.testing.assert_allclose(minv0, np.eye(d), atol=0)
    for _ in range(20):
        ell = 1.5 * rng.standard_normal(mass.n_params)
        minv, m = mass.matrices(ell)
        np.testing.assert_allclose(minv, hand_minv(ell, d), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(minv, minv.T, rtol=0, atol=1e-13 * np.abs(minv).max())
        assert np.linalg.eigvalsh(minv).min() > 0
        np.testing.assert_allclose(m @ minv, np.eye(d), atol=1e-8)
    fixed = Mass(d, False)
    assert fixed.n_params == 0 and fixed.entries() == []
    minv, m = fixed.matrices()
    np.testing.assert_array_equal(minv, np.eye(d))
    np.testing.assert_array_equal(m, np.eye(d))


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_mass_backward_matches_central_differences(d):
    rng = np.random.default_rng(10 + d)
    mass = Mass(d, True)
    A, B = rng.standard_normal((d, d)), rng.standard_normal((d, d))  # not symmetric

    def loss(ell):
        minv, m = mass.matrices(ell)
        return float(np.sum(A * minv) + np.sum(B * m) + 0.25 * np.sum(minv * minv))

    def loss_and_grad(ell):
        minv, m = mass.matrices(ell)
        return loss(ell), mass.backward(ell, A + 0.5 * minv, B)

    ell = 0.5 * rng.standard_normal(mass.n_params)
    rows = gradcheck(loss, loss_and_grad, ell)
    assert all(r["ok"] for r in rows), rows


@pytest.mark.parametrize("kind", [k for k in CELLS if get(k).mass and get(k).dim is None])
def test_cell_learned_mass_gradient_d3(kind):
    """The mass gradient through a whole rollout (d = 3, non-identity mass)."""
    cell, layout, params, rng = build(kind, 3, hidden=(5,), learn_mass=True, seed=21)
    x1 = rng.standard_normal((3, 2, 3))
    Rw = rng.standard_normal((3, 6, 2, 3))

    def loss(p):
        return float(np.sum(Rw * cell.rollout(p, layout, x1, 6)[0]))

    def loss_and_grad(p):
        obs, cache = cell.rollout(p, layout, x1, 6)
        grad = np.zeros_like(p)
        cell.backward(p, layout, cache, Rw, grad)
        return float(np.sum(Rw * obs)), grad

    rows = gradcheck(loss, loss_and_grad, params, layout, max_entries=8)
    assert all(r["ok"] for r in rows), rows


# ---------------------------------------------------------------------------
# 7. bad input
# ---------------------------------------------------------------------------

def test_so2_needs_dim_1():
    with pytest.raises(ValueError, match="dim"):
        make_cell("vin-so2", 2, 0.1)


def test_unknown_kind_lists_the_choices():
    with pytest.raises(ValueError) as err:
        make_cell("vin-rk4", 1, 0.1)
    for kind in CELLS:
        assert kind in str(err.value)
    assert "vin-rk4" in str(err.value)


def test_resrnn_has_no_mass():
    with pytest.raises(ValueError, match="learn_mass"):
        make_cell("resrnn", 2, 0.1, learn_mass=True)


@pytest.mark.parametrize("h", [0.0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_step_size(h):
    with pytest.raises(ValueError, match="h"):
        make_cell("vin-vv", 1, h)


@pytest.mark.parametrize("dim", [0, -1, 1.5])
def test_bad_dim(dim):
    with pytest.raises(ValueError, match="dim"):
        make_cell("vin-vv", dim, 0.1)


@pytest.mark.parametrize("kind", CELLS)
def test_bad_x1(kind):
    d = get(kind).dim or 2
    cell, layout, params, _ = build(kind, d)
    good = np.zeros((3, 2, d))
    cell.rollout(params, layout, good, 2)
    nan = good.copy()
    nan[1, 0, 0] = np.nan
    inf = good.copy()
    inf[0, 1, -1] = np.inf
    for bad in (np.zeros((3, 2, d + 1)), np.zeros((3, 3, d)), np.zeros((2, d)), np.zeros((1, 3, 2, d)),
                nan, inf, good.astype(np.float32), [["a"]]):
        with pytest.raises(ValueError, match="x1"):
            cell.rollout(params, layout, bad, 2)
    for T in (0, -3, 2.0):
        with pytest.raises(ValueError, match="n_steps"):
            cell.rollout(params, layout, good, T)
