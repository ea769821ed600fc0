"""Forced VINs (vinnp.dynamics.sv_forced, vv_forced): the discrete Lagrange-d'Alembert cells.

Their gradients are checked with every cell's in tests/test_integrators.py (the registry's
gradcheck blocks give them a dissipation and two inputs); here: the exact reduction to the
unforced cells, the discrete energy balance, monotone energy under dissipation, the
one-step map's symplecticity at D = 0 and its contraction at D > 0, and the fused step with
inputs.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from test_dynamics import fd_jacobian, symplectic_defect
from test_fused import fused_matches_loss_and_grad
from vinnp.dynamics import kernels, registry
from vinnp.dynamics.cells import make_cell
from vinnp.dynamics.integrator import POSITIONS
from vinnp.layers import reference as R
from vinnp.models.registry import make_model
from vinnp.params import Layout

FORCED = [n for n, s in registry.INTEGRATORS.items() if s.forced]
# the unforced cell each forced cell must equal at D = 0 with no input
UNFORCED = {"vin-sv-forced": "vin-sv", "vin-vv-forced": "vin-vv"}


def test_every_forced_cell_names_its_unforced_twin():
    assert sorted(FORCED) == sorted(UNFORCED)


def _cells(name, d, seed, hidden=(8,), h=0.1, n_inputs=0, dtype=np.float64):
    cell = make_cell(name, d, h, hidden=hidden, n_inputs=n_inputs)
    layout = Layout.join([("cell", cell.layout())])
    rng = np.random.default_rng(seed)
    params = cell.init(rng, dtype)
    params[: cell.net.layout().size] += (0.3 * rng.standard_normal(cell.net.layout().size)).astype(dtype)
    return cell, layout, params, rng


def _run(cell, layout, params, x1, T, D, drive):
    """The forced kernels with an explicit dissipation D and drive (B, T, d): obs (B, T, 2, d)."""
    dt = params.dtype
    minv, m = cell.matrices(params, layout, "cell")
    mass = cell.forcing.kernel_mass(minv, m, np.asarray(D, dt), cell.h)
    obs = np.empty((x1.shape[0], T, 2, cell.dim), dt)
    aux = np.empty((x1.shape[0], T, cell.spec.aux * cell.dim), dt)
    net = cell.kernel_net(params, layout)
    kernels.rollout(cell.spec.tag, net, mass, dt.type(cell.h), np.ascontiguousarray(x1, dt),
                    np.ascontiguousarray(drive, dt), obs, aux, kernels.workspace(net, x1.shape[0], T, cell.dim, 4))
    return obs


@pytest.mark.parametrize("name", FORCED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forced_cell_with_no_force_is_its_unforced_twin_exactly(name, dtype):
    """D = 0 and no input: the forced kernels reproduce the unforced cell bit for bit."""
    cell, layout, params, rng = _cells(name, 2, 0, dtype=dtype)
    twin = make_cell(UNFORCED[name], 2, cell.h, hidden=(8,))
    twin_layout = Layout.join([("cell", twin.layout())])
    twin_params = params[: twin_layout.size].copy()
    B, T = 5, 40
    x1 = rng.standard_normal((B, 2, 2)).astype(dtype)
    if cell.spec.state == POSITIONS:
        x1[:, 0] = x1[:, 1] - 0.1 * x1[:, 0]
    forced = _run(cell, layout, params, x1, T, np.zeros((2, 2)), np.zeros((B, T, 2)))
    plain, _ = twin.rollout(twin_params, twin_layout, x1, T)
    assert np.array_equal(forced, plain)
    assert np.ptp(plain[:, :, 0]) > 0.1  # the trajectories move: an equality of constants proves nothing


def _energy(cell, layout, params, q, p):
    minv, _ = cell.matrices(params, layout, "cell")
    weights = cell.net.weights(params, layout, "cell.net")
    u = R.mlp_forward(weights, cell.net.activations, q.reshape(-1, cell.dim))[0][:, 0].reshape(q.shape[:-1])
    return 0.5 * np.einsum("...i,ij,...j->...", p, minv, p), u


def _balance_residual(name, d, seed, h, work_scale=1.0):
    """max over steps of |Delta E - W|: the discrete energy's change against the forces' discrete work.

    VV: E_t = K(p_t) + U(q_t), W_t = (q_{t+1} - q_t) . (f^-_t + f^+_t) / h.
    SV: its velocities live at half steps, so E_{t-1/2} = K(M (q_t - q_{t-1}) / h) + (U(q_{t-1}) +
    U(q_t)) / 2, and the work over the dual cell (t - 1/2, t + 1/2) is
    (q_{t+1} - q_{t-1}) / 2 . (f^+_{t-1} + f^-_t) / h. ``work_scale`` scales D in the work
    only: a deliberately wrong balance, to see the test fail.
    """
    cell, layout, params, rng = _cells(name, d, seed, h=h)
    L = 0.7 * np.tril(rng.standard_normal((d, d))) + np.eye(d)
    D = L @ L.T
    g = rng.standard_normal(d)
    x = rng.standard_normal((1, 2, d)) * 0.5
    steps = int(round(0.2 / h))
    T = steps + 2
    drive = np.broadcast_to(g, (1, T, d))
    minv, _ = cell.matrices(params, layout, "cell")
    x1 = cell.spec.initial_state(x[:, 0], x[:, 1], minv, h, D=D, g0=drive[:, 0])
    obs = _run(cell, layout, params, x1, T, D, drive)[0]
    q, p = obs[:, 0], obs[:, 1]
    K, U = _energy(cell, layout, params, q, p)
    if cell.spec.state == POSITIONS:
        q_prev = np.concatenate([x1[:, 0], q[:-1]])
        m = np.linalg.inv(minv)
        K, U_prev = _energy(cell, layout, params, q_prev, (q - q_prev) @ m.T / h)
        E = K + 0.5 * (U + U_prev)
        dq_next, dq_prev = q[2:] - q[1:-1], q[1:-1] - q[:-2]
        impulse = 0.5 * h * (-(dq_next + dq_prev) @ (work_scale * D).T / h + 2 * g)   # f^+_{t-1} + f^-_t
        W = np.sum(0.5 * (q[2:] - q[:-2]) * impulse, axis=1) / h
        dE = E[2:] - E[1:-1]
    else:
        E = K + U
        dq = q[1:] - q[:-1]
        W = np.sum(dq * (-dq @ (work_scale * D).T / h + g), axis=1)
        dE = E[1:] - E[:-1]
    return np.max(np.abs(dE[:steps] - W[:steps])) / h   # per unit time: the local error over 1/h steps


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(FORCED), d=st.integers(1, 2), seed=st.integers(0, 2**31))
def test_energy_changes_by_the_work_of_the_forces(name, d, seed):
    """Delta E = W + O(h^3) per step: halving h divides the per-unit-time residual by ~4 (order 2)."""
    coarse, fine = _balance_residual(name, d, seed, 0.02), _balance_residual(name, d, seed, 0.01)
    assert coarse > 1e-9  # the residual is above round-off, so the ratio measures the scheme
    assert coarse / fine > 3.0, (coarse, fine)


@pytest.mark.parametrize("name", FORCED)
def test_energy_balance_test_can_fail(name):
    """A work term with half the dissipation leaves a residual of lower order: the ratio test sees it."""
    assert _balance_residual(name, 1, 3, 0.02, 0.5) / _balance_residual(name, 1, 3, 0.01, 0.5) < 3.0


@pytest.mark.parametrize("name", FORCED)
def test_energy_never_grows_beyond_the_conservative_oscillation(name):
    """u = 0, D > 0, 2000 steps: the learned energy ends lower, and never rises between two
    times by more than twice the bounded oscillation the conservative scheme (D = 0) shows."""
    d = 2
    cell, layout, params, rng = _cells(name, d, 5, hidden=(16,), h=0.05)
    x = 0.5 * rng.standard_normal((3, 2, d))
    minv, _ = cell.matrices(params, layout, "cell")
    T = 2000
    drive = np.zeros((3, T, d))

    def energies(D):
        x1 = cell.spec.initial_state(x[:, 0], x[:, 1], minv, cell.h, D=D, g0=drive[:, 0])
        obs = _run(cell, layout, params, x1, T, D, drive)
        K, U = _energy(cell, layout, params, obs[:, :, 0], obs[:, :, 1])
        return K + U

    E0 = energies(np.zeros((d, d)))
    swing = np.max(np.abs(E0 - E0[:, :1]))
    E = energies(0.3 * np.eye(d))
    rise = rise_pairs(E)
    assert np.all(E[:, -1] < E[:, 0] - 0.1 * np.abs(E[:, 0] - E[:, -1]).max())
    assert rise <= 2 * swing + 1e-12, (rise, swing)


def rise_pairs(E):
    """max over trajectories and i < j of E_j - E_i."""
    running_min = np.minimum.accumulate(E, axis=1)
    return float(np.max(E[:, 1:] - running_min[:, :-1]))


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(FORCED), d=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_symplectic_at_zero_dissipation_and_contracting_above(name, d, seed):
    """J^T Omega J = Omega for D = 0; with D > 0 and d = 1, det J < 1 (phase volume shrinks)."""
    cell, layout, params, rng = _cells(name, d, seed)
    minv, _ = cell.matrices(params, layout, "cell")
    z = np.concatenate([rng.standard_normal(d), 0.3 * rng.standard_normal(d)])

    def step(D):
        def fn(Z):
            drive = np.zeros((len(Z), 2, d))
            x1 = cell.spec.initial_state(Z[:, :d], Z[:, d:], minv, cell.h, D=D, g0=drive[:, 0])
            return _run(cell, layout, params, x1, 2, D, drive)[:, 1].reshape(len(Z), 2 * d)
        return fn

    assert symplectic_defect(fd_jacobian(step(np.zeros((d, d))), z)) <= 1e-6
    J = fd_jacobian(step(0.5 * np.eye(d)), z)
    assert symplectic_defect(J) > 1e-4
    assert np.linalg.det(J) < 1.0 - 1e-3


@pytest.mark.parametrize("name", FORCED)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_fused_step_with_inputs_is_loss_and_grad_then_adam(name, dtype, tol):
    rng = np.random.default_rng(7)
    n, T, d, m = 4, 10, 2, 2
    batch = {"q": rng.standard_normal((n, T, d)), "p": rng.standard_normal((n, T, d)),
             "dqdt": np.zeros((n, T, d)), "dpdt": np.zeros((n, T, d)), "u": rng.standard_normal((n, T, m))}
    batch = {k: v.astype(dtype) for k, v in batch.items()}
    model = make_model(name, d, 0.1, n_seq=n, hidden=(7,), n_inputs=m)

    def forces_alive(grad):  # the dissipation and input map gradients are not zero
        assert np.any(grad[model.layout.slice("cell.force.B")]) and np.any(grad[model.layout.slice("cell.force.L")])

    fused_matches_loss_and_grad(model, batch, rng, dtype, tol, forces_alive)


def test_inputs_are_required_checked_and_refused():
    model = make_model("vin-vv-forced", 1, 0.1, n_seq=2, hidden=(4,), n_inputs=1)
    params = model.init(np.random.default_rng(0), {"q": np.zeros((2, 3, 1)), "p": np.ones((2, 3, 1)),
                                                    "u": np.zeros((2, 3, 1))})
    with pytest.raises(ValueError, match="trained with 1 input"):
        model.forecast(params, np.zeros((1, 1)), np.zeros((1, 1)), 5)
    with pytest.raises(ValueError, match="u"):
        model.forecast(params, np.zeros((1, 1)), np.zeros((1, 1)), 5, u=np.zeros((1, 4, 1)))
    with pytest.raises(ValueError, match="NaN or inf"):
        model.forecast(params, np.zeros((1, 1)), np.zeros((1, 1)), 2, u=np.array([[[0.0], [np.nan]]]))
    with pytest.raises(ValueError, match="n_inputs"):
        make_model("vin-vv", 1, 0.1, n_seq=2, n_inputs=1)
    plain = make_model("vin-vv-forced", 1, 0.1, n_seq=2, hidden=(4,))
    with pytest.raises(ValueError, match="without inputs"):
        plain.forecast(plain.layout.zeros(), np.zeros((1, 1)), np.zeros((1, 1)), 2, u=np.zeros((1, 2, 1)))
