"""Tests that run over the integrator registry: a new integrator is tested by adding it.

For every integrator of vinnp.dynamics.registry, from its declaration alone:
* the declaration is complete and unambiguous (names, tags, default roles);
* the BPTT of its compiled kernels against float64 central differences, fixed and learned
  mass (the same blocks ``vinnp gradcheck`` runs);
* symplecticity of the one-step map in (q, p) where declared (and its absence where not);
* time reversibility where declared;
* the **convergence order**: with a known force, the log-log slope of the global error at a
  fixed time against h matches the declared order (diffrax's habit) — for the compiled
  kernels and the NumPy reference alike; and a wrong coefficient breaks it.

(Agreement of the compiled kernels with the NumPy reference, float32 with float64 and the
fused training step with loss_and_grad + Adam run over the registry in test_dynamics.py
and test_fused.py.)
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp

from vinnp.dynamics import registry, vv, yoshida4
from vinnp.dynamics.cells import make_cell
from vinnp.dynamics.integrator import PHASE, POSITIONS
from vinnp.gradcheck.core import check_block
from vinnp.gradcheck.dynamics import cell_blocks
from vinnp.params import Layout

from test_dynamics import fd_jacobian, symplectic_defect  # the Jacobian helpers the per-cell tests use

NAMES = registry.NAMES
G = 9.81


def test_declarations_are_unique_and_complete():
    specs = list(registry.INTEGRATORS.values())
    assert len({type(s.tag).__name__ for s in specs}) == len(specs)
    for s in specs:
        assert s.order >= 1 and s.state in (POSITIONS, PHASE) and callable(s.reference)
        assert s.aux >= 0 and callable(s.make_net) and callable(s.initial_state)
    for role in ("default-phase", "default-pixels-pendulum", "default-pixels-spring", "embedding"):
        assert registry.default(role) in NAMES
    with pytest.raises(ValueError, match="vin-rk4"):
        registry.get("vin-rk4")


@pytest.mark.parametrize("block", cell_blocks(np.random.default_rng(0)), ids=lambda b: b.name)
def test_bptt_matches_central_differences(block):
    _, grad = block.loss_and_grad(block.params.copy())
    assert np.count_nonzero(grad) > 0.5 * grad.size  # a check of zeros would check nothing
    rows = check_block(block, max_entries=12)
    assert all(r["ok"] for r in rows), rows


def _random_cell(name, seed, learn, d=None, hidden=(12,), h=0.1):
    spec = registry.get(name)
    d = spec.dim or d or 2
    cell = make_cell(name, d, h, hidden=hidden, learn_mass=learn and spec.mass)
    layout = Layout.join([("cell", cell.layout())])
    rng = np.random.default_rng(seed)
    params = cell.init(rng)
    params[: cell.net.layout().size] += 0.2 * rng.standard_normal(cell.net.layout().size)
    if cell.mass.learned:
        params[layout.slice("cell.mass.L")] = 0.3 * rng.standard_normal(cell.mass.n_params)
    return cell, layout, params, rng


def _qp_step(cell, layout, params):
    """(q_1, p_1) -> (q_2, p_2) on flat (B, 2d) rows, through the cell's own state layout."""
    d = cell.dim
    minv, _ = cell.matrices(params, layout, "cell")

    def fn(Z):
        x1 = cell.initial_state(params, layout, Z[:, :d], Z[:, d:])
        return cell.rollout(params, layout, x1, 2)[0][:, 1].reshape(len(Z), 2 * d)

    return fn


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**31), learn=st.booleans(), d=st.integers(1, 3))
def test_one_step_map_is_symplectic_as_declared(name, seed, learn, d):
    """J^T Omega J = Omega in (q, p), for d up to 3 (det J = 1 alone is not enough for d > 1)."""
    cell, layout, params, rng = _random_cell(name, seed, learn, d)
    z = np.concatenate([rng.standard_normal(cell.dim), 0.3 * rng.standard_normal(cell.dim)])
    defect = symplectic_defect(fd_jacobian(_qp_step(cell, layout, params), z))
    if cell.spec.symplectic:
        assert defect <= 1e-6
    else:
        assert defect > 1e-4


@pytest.mark.parametrize("name", [n for n in NAMES if registry.get(n).reversible])
@pytest.mark.parametrize("learn", [False, True])
def test_time_reversible_as_declared(name, learn):
    """Run N steps, reverse (momenta flipped, or the two positions swapped), run N more:
    back to the start."""
    cell, layout, params, rng = _random_cell(name, 3, learn, d=2, hidden=(16,))
    d, N = cell.dim, 60
    x1 = rng.standard_normal((4, 2, d))
    if cell.spec.state == POSITIONS:
        x1[:, 0] = x1[:, 1] - 0.05 * rng.standard_normal((4, d))
    fwd, _ = cell.rollout(params, layout, x1, N + 1)
    if cell.spec.state == PHASE:
        back = np.stack([fwd[:, N, 0], -fwd[:, N, 1]], axis=1)
        start = np.stack([x1[:, 0], -x1[:, 1]], axis=1)
    else:
        back = np.stack([fwd[:, N, 0], fwd[:, N - 1, 0]], axis=1)  # (q_{N+1}, q_N)
        start = x1  # the reversed run ends at (q_0, q_1)
    bwd, _ = cell.rollout(params, layout, back, N + 1)
    end = np.stack([bwd[:, N, 0], bwd[:, N - 1, 0]], axis=1) if cell.spec.state == POSITIONS else bwd[:, N]
    np.testing.assert_allclose(end, start, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------
# convergence order
# ---------------------------------------------------------------------------

C = 0.3  # the friction coefficient the forced cells' order is measured with


def known_force_cell(name, h):
    """The cell with a force it can represent exactly, chosen from its declaration: the
    pendulum U = g (1 - cos q) for a potential network (with viscous friction C for a forced
    cell), r = -g sin th for a cell on SO(2); a free-form field (explicit Euler) carries the
    linear spring (p, -q). -> (cell, layout, params, rhs) with rhs(t, (q, p)) the true vector field."""
    spec = registry.get(name)
    if spec.forced:
        cell = make_cell(name, 1, h, hidden=(1,), activation="sin")
        values = {"W1": 1.0, "b1": np.pi / 2, "W2": -G, "b2": G}
        rhs = lambda t, y: [y[1], -G * np.sin(y[0]) - C * y[1]]  # noqa: E731
    elif spec.potential:
        cell = make_cell(name, 1, h, hidden=(1,), activation="sin")
        values = {"W1": 1.0, "b1": np.pi / 2, "W2": -G, "b2": G}
        rhs = lambda t, y: [y[1], -G * np.sin(y[0])]  # noqa: E731
    elif spec.lie_group:
        cell = make_cell(name, 1, h, hidden=(1,))
        values = {"W1": 1.0, "b1": 0.0, "W2": -G, "b2": 0.0}
        rhs = lambda t, y: [y[1], -G * np.sin(y[0])]  # noqa: E731
    else:
        cell = make_cell(name, 1, h, hidden=())
        values = {"W1": [[0.0, 1.0], [-1.0, 0.0]], "b1": 0.0}
        rhs = lambda t, y: [y[1], -y[0]]  # noqa: E731
    layout = Layout.join([("cell", cell.layout())])
    params = layout.zeros()
    for k, v in values.items():
        layout.view(params, f"cell.net.{k}")[...] = v
    if spec.forced:  # D = L L^T = C with L = exp(l)
        layout.view(params, "cell.force.L")[...] = 0.5 * np.log(C)
    return cell, layout, params, rhs


T_END = 2.0
HS = (0.1, 0.05, 0.025, 0.0125)


def global_errors(name, rollout=None):
    """|q(T_END) - q_exact(T_END)| for each h in HS, started from the exact state in the
    integrator's own layout (positions: q(-h) and q(0)), so that the one-step map's order is
    measured, not the accuracy of a starting formula."""
    q0, p0 = 1.0, 0.0
    errors = []
    for h in HS:
        cell, layout, params, rhs = known_force_cell(name, h)
        exact = solve_ivp(rhs, (0.0, T_END), [q0, p0], method="DOP853", rtol=1e-13, atol=1e-13).y[0, -1]
        if cell.spec.state == POSITIONS:
            back = solve_ivp(rhs, (0.0, -h), [q0, p0], method="DOP853", rtol=1e-13, atol=1e-13).y[0, -1]
            x1 = np.array([[[back], [q0]]])
        else:
            x1 = np.array([[[q0], [p0]]])
        n = int(round(T_END / h))
        if rollout is None:
            obs = cell.rollout(params, layout, x1, n + 1)[0]
        else:
            minv, m = cell.matrices(params, layout, "cell")
            forces = () if not cell.spec.forced else (cell.dissipation(params, layout), np.zeros((1, n + 1, 1)))
            obs = rollout(cell.net.weights(params, layout, "cell.net"), cell.net.activations, minv, m, h, x1, n + 1,
                          *forces)
        errors.append(abs(obs[0, n, 0, 0] - exact))
    return np.array(errors)


def observed_order(errors):
    return float(np.polyfit(np.log(HS), np.log(errors), 1)[0])


@pytest.mark.parametrize("name", NAMES)
def test_convergence_order_matches_declaration(name):
    spec = registry.get(name)
    compiled = observed_order(global_errors(name))
    reference = observed_order(global_errors(name, spec.reference))
    assert abs(compiled - spec.order) <= 0.2, (name, compiled)
    assert abs(reference - spec.order) <= 0.2, (name, reference)


def test_order_test_fails_for_a_wrong_coefficient():
    """Yoshida's weights with w1 off by 1 %: the composition is no longer fourth order, and
    the order test sees it (the check can fail)."""
    w1 = yoshida4.W1 * 1.01
    wrong = (w1, 1.0 - 2.0 * w1, w1)

    def rollout(weights, activations, minv, m, h, x1, T):
        return vv.composition_reference(wrong, weights, activations, minv, h, x1, T)

    assert abs(observed_order(global_errors("vin-yoshida4", rollout)) - yoshida4.INTEGRATOR.order) > 0.2
