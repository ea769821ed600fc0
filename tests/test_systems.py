"""Systems: parameters, energies, vector fields and ground truth (issue 3, item 1)."""

import numpy as np
import pytest

from vinnp.systems import SYSTEMS, Pendulum, Spring, get_system

T6 = np.arange(60) * 0.1  # 6 s at 10 Hz, the longest grid of Section 4


def test_registry_and_defaults():
    assert SYSTEMS == ("spring", "pendulum")
    spring, pend = get_system("spring"), get_system("pendulum", m=1.0, l=1.0, g=9.81)
    assert isinstance(spring, Spring) and isinstance(pend, Pendulum)
    assert spring.params == {"k": 1.0, "m": 1.0} and pend.params == {"m": 1.0, "l": 1.0, "g": 9.81}
    assert (spring.name, spring.dof, spring.is_angle, spring.mass) == ("spring", 1, False, 1.0)
    assert (pend.name, pend.dof, pend.is_angle) == ("pendulum", 1, True)
    assert pend.mass == pytest.approx(1.0) and get_system("pendulum", m=2.0, l=3.0).mass == pytest.approx(18.0)
    assert spring.default_energy_range == (0.2, 1.0) and pend.default_energy_range == (1.3, 2.3)
    assert pend.separatrix_energy == pytest.approx(2 * 9.81)


@pytest.mark.parametrize(
    "name, params, fragment",
    [
        ("spirng", {}, "system: expected one of spring, pendulum"),
        ("pendulum", {"k": 1.0}, "unknown parameter"),
        ("spring", {"m": -1.0}, "m:"),
        ("pendulum", {"g": float("nan")}, "g:"),
        ("spring", {"k": 0.0}, "k:"),
    ],
)
def test_bad_system_raises(name, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        get_system(name, **params)


def test_energies_by_hand():
    spring = get_system("spring", k=2.0, m=0.5)
    assert spring.energy(0.3, 0.4) == pytest.approx(0.4**2 / 1.0 + 0.3**2)
    pend = get_system("pendulum", m=2.0, l=0.5, g=9.81)
    q, p = 0.7, 0.2
    assert pend.energy(q, p) == pytest.approx(p**2 / (2 * 2.0 * 0.25) + 2.0 * 9.81 * 0.5 * (1 - np.cos(q)))
    # broadcasting: (3, 1) with (4,) -> (3, 4)
    assert pend.energy(np.zeros((3, 1)), np.ones(4)).shape == (3, 4)


@pytest.mark.parametrize("name", SYSTEMS)
def test_vector_field_is_hamiltons_equations(name):
    """(dq/dt, dp/dt) = (∂H/∂p, −∂H/∂q), checked by central differences of H."""
    system = get_system(name)
    rng = np.random.default_rng(0)
    q, p = rng.uniform(-1, 1, 20), rng.uniform(-1, 1, 20)
    h = 1e-6
    dHdq = (system.energy(q + h, p) - system.energy(q - h, p)) / (2 * h)
    dHdp = (system.energy(q, p + h) - system.energy(q, p - h)) / (2 * h)
    dqdt, dpdt = system.vector_field(q, p)
    np.testing.assert_allclose(dqdt, dHdp, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dpdt, -dHdq, rtol=1e-7, atol=1e-9)


def test_spring_solver_matches_closed_form():
    spring = get_system("spring", k=1.7, m=0.6)
    q0, p0 = spring.sample_initial_states(10, np.random.default_rng(1))
    t = 0.25 + T6  # a grid that does not start at 0
    q, p = spring.trajectory(q0, p0, t)
    qc, pc = spring.closed_form(q0, p0, t)
    assert q.shape == (10, 60)
    np.testing.assert_allclose(q, qc, rtol=0, atol=1e-8)
    np.testing.assert_allclose(p, pc, rtol=0, atol=1e-8)


def test_pendulum_solver_matches_elliptic_closed_form():
    pend = get_system("pendulum")
    q0, p0 = pend.sample_initial_states(10, np.random.default_rng(2), (1.3, 15.0))
    q, p = pend.trajectory(q0, p0, T6)
    qc, pc = pend.closed_form(q0, p0, T6)
    np.testing.assert_allclose(q, qc, rtol=0, atol=1e-8)
    np.testing.assert_allclose(p, pc, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", SYSTEMS)
def test_energy_constant_along_ground_truth(name):
    system = get_system(name)
    q0, p0 = system.sample_initial_states(20, np.random.default_rng(3))
    q, p = system.trajectory(q0, p0, T6)
    energy = system.energy(q, p)
    assert np.max(np.abs(energy / energy[:, :1] - 1)) < 1e-8


def test_trajectory_shapes_and_start():
    pend = get_system("pendulum")
    q, p = pend.trajectory(0.4, -0.1, T6[:30])
    assert q.shape == p.shape == (30,)
    assert (q[0], p[0]) == (0.4, -0.1)
    q1, p1 = pend.trajectory(0.4, -0.1, [2.0])
    assert q1.tolist() == [0.4] and p1.tolist() == [-0.1]


@pytest.mark.parametrize(
    "t, fragment",
    [
        ([0.0, 0.2, 0.1], "strictly increasing"),
        ([0.0, 0.1, 0.1], "strictly increasing"),
        ([0.0, np.nan, 0.2], "NaN or inf"),
        ([], "at least one"),
        (np.zeros((2, 2)), "1-d"),
    ],
)
def test_trajectory_rejects_bad_time_grids(t, fragment):
    with pytest.raises(ValueError, match=fragment):
        get_system("spring").trajectory(0.1, 0.2, t)


def test_trajectory_rejects_bad_initial_states():
    spring = get_system("spring")
    with pytest.raises(ValueError, match="q0"):
        spring.trajectory(np.inf, 0.0, T6)
    with pytest.raises(ValueError, match="shapes"):
        spring.trajectory([0.1, 0.2], [0.1], T6)


def test_pendulum_period_matches_small_angle_limit_and_solver():
    pend = get_system("pendulum")
    assert pend.period(1e-10) == pytest.approx(2 * np.pi / np.sqrt(9.81), rel=1e-8)
    # at E = 2.0 the trajectory returns to its start after one period
    q0, p0 = pend.sample_initial_states(1, np.random.default_rng(4), (2.0, 2.0))
    period = float(pend.period(2.0))
    q, p = pend.trajectory(q0[0], p0[0], [0.0, period])
    assert q[-1] == pytest.approx(q0[0], abs=1e-8) and p[-1] == pytest.approx(p0[0], abs=1e-8)
