"""Systems: parameters, energies, vector fields and ground truth (issue 3, item 1)."""

import numpy as np
import pytest

from vinnp.systems import SYSTEMS, DampedPendulum, DampedSpring, DrivenPendulum, Pendulum, Spring, get_system

T6 = np.arange(60) * 0.1  # 6 s at 10 Hz, the longest grid of Section 4
CONSERVATIVE = ("spring", "pendulum")


def test_registry_and_defaults():
    assert SYSTEMS == ("spring", "pendulum", "damped-spring", "damped-pendulum", "driven-pendulum")
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


@pytest.mark.parametrize("name", CONSERVATIVE)
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


@pytest.mark.parametrize("name", CONSERVATIVE)
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


# -- damped and driven systems ---------------------------------------------------------------------------

FORCED = ("damped-spring", "damped-pendulum", "driven-pendulum")
T_FINE = np.arange(801) * 0.0025  # 2 s at 400 Hz: a fine grid for the trapezoid rule of the energy balance


def test_forced_registry_and_defaults():
    ds, dp, dr = (get_system(n) for n in FORCED)
    assert isinstance(ds, DampedSpring) and isinstance(ds, Spring)
    assert isinstance(dp, DampedPendulum) and isinstance(dp, Pendulum)
    assert isinstance(dr, DrivenPendulum) and isinstance(dr, DampedPendulum)
    assert ds.params == {"k": 1.0, "m": 1.0, "c": 0.1}
    assert dp.params == {"m": 1.0, "l": 1.0, "g": 9.81, "c": 0.1}
    assert dr.params == {"m": 1.0, "l": 1.0, "g": 9.81, "c": 0.1, "u_max": 6.0}
    flags = [(s.friction, s.n_inputs, s.forced) for s in (ds, dp, dr)]
    assert flags == [(0.1, 0, True), (0.1, 0, True), (0.1, 1, True)]
    assert [(s.friction, s.n_inputs, s.forced) for s in map(get_system, CONSERVATIVE)] == [(0.0, 0, False)] * 2
    assert get_system("damped-spring", c=0.0).forced is False
    assert dr.u_max > 1.0 * 9.81 * 1.0 * np.sin(0.5)  # holding q = 0.5 rad takes mgl sin 0.5 ≈ 4.70 N·m
    assert dr.energy_limit == pytest.approx(0.9 * 2 * 9.81)
    assert dr.to_meta() == {"name": "driven-pendulum", "params": dr.params, "friction": 0.1, "n_inputs": 1}
    assert get_system("spring").to_meta() == {"name": "spring", "params": {"k": 1.0, "m": 1.0}}


@pytest.mark.parametrize(
    "name, params, fragment",
    [
        ("damped-spring", {"u_max": 1.0}, "damped-spring: unknown parameter"),
        ("damped-pendulum", {"k": 1.0}, "unknown parameter.*expected m, l, g, c"),
        ("driven-pendulum", {"d": 1.0}, "unknown parameter"),
        ("damped-spring", {"c": -0.1}, "c:"),
        ("driven-pendulum", {"c": float("inf")}, "c:"),
        ("driven-pendulum", {"u_max": 0.0}, "u_max:"),
        ("spring", {"c": 0.1}, "unknown parameter"),
    ],
)
def test_bad_forced_system_raises(name, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        get_system(name, **params)


def test_forced_vector_fields_by_hand():
    q, p, u = np.array([0.3, -1.2]), np.array([0.7, 0.2]), np.array([1.5, -4.0])
    dqdt, dpdt = get_system("damped-spring", k=2.0, m=0.5, c=0.3).vector_field(q, p)
    np.testing.assert_allclose(dqdt, p / 0.5, rtol=1e-15)
    np.testing.assert_allclose(dpdt, -2.0 * q - 0.3 * p / 0.5, rtol=1e-15)
    dqdt, dpdt = get_system("damped-pendulum", m=2.0, l=0.5, c=0.3).vector_field(q, p)
    np.testing.assert_allclose(dpdt, -2.0 * 9.81 * 0.5 * np.sin(q) - 0.3 * p / 0.5, rtol=1e-15)
    dqdt, dpdt = get_system("driven-pendulum", m=2.0, l=0.5, c=0.3).vector_field(q, p, u)
    np.testing.assert_allclose(dqdt, p / 0.5, rtol=1e-15)
    np.testing.assert_allclose(dpdt, -2.0 * 9.81 * 0.5 * np.sin(q) - 0.3 * p / 0.5 + u, rtol=1e-15)


def inputs_for(system, n, t, seed=0, kind="sines"):
    return system.sample_inputs(n, t.size, t[1] - t[0], np.random.default_rng(seed), kind=kind)


@pytest.mark.parametrize("name, kind", [(n, "sines") for n in FORCED] + [("driven-pendulum", "steps")])
def test_energy_balance_of_forced_ground_truth(name, kind):
    """E(t_end) − E(0) = ∫ (−c q̇² + u q̇) dt: the work of friction and input (trapezoid, 400 Hz grid)."""
    system = get_system(name)
    q0, p0 = system.sample_initial_states(3, np.random.default_rng(5))
    u = inputs_for(system, 3, T_FINE, kind=kind) if system.n_inputs else None
    q, p = system.trajectory(q0, p0, T_FINE, u)
    energy = system.energy(q, p)
    dqdt = p / system.mass
    power = -system.friction * dqdt**2
    if u is not None:
        power = power + u[..., 0] * dqdt
    np.testing.assert_allclose(power, system.energy_rate(q, p, None if u is None else u[..., 0]), rtol=0, atol=1e-14)
    # Trapezoid per held interval [t_k, t_{k+1}], on which u[k] acts at both ends: the power jumps with a
    # "steps" input, and the jump must not be smeared over the interval before it.
    right = -system.friction * dqdt[:, 1:] ** 2
    if u is not None:
        right = right + u[:, :-1, 0] * dqdt[:, 1:]
    work = np.sum(0.5 * (power[:, :-1] + right) * np.diff(T_FINE), axis=1)
    lost = energy[:, -1] - energy[:, 0]
    np.testing.assert_allclose(lost, work, rtol=1e-4)
    assert np.all(np.abs(lost) > 1e-2)  # a real change of energy, not a vacuous balance
    if not system.n_inputs:
        assert np.all(np.diff(energy, axis=1) <= 1e-12), "friction alone never adds energy"
        assert np.all(lost < 0)


@pytest.mark.parametrize("name, parent", [("damped-spring", "spring"), ("damped-pendulum", "pendulum"),
                                          ("driven-pendulum", "pendulum")])
def test_no_friction_no_input_is_the_parent(name, parent):
    forced, conservative = get_system(name, c=0.0), get_system(parent)
    q0, p0 = conservative.sample_initial_states(4, np.random.default_rng(6))
    u = np.zeros((4, T6.size, 1)) if forced.n_inputs else None
    q, p = forced.trajectory(q0, p0, T6, u)
    qc, pc = conservative.trajectory(q0, p0, T6)
    # Unforced: the very same solve. Driven: one solve per interval, each error-controlled to rtol 1e-10
    # on its own, so the two agree to the solver's tolerance, not bit for bit.
    atol = 1e-9 if forced.n_inputs else 0.0
    np.testing.assert_allclose(q, qc, rtol=0, atol=atol)
    np.testing.assert_allclose(p, pc, rtol=0, atol=atol)
    # and the default sampler is the parent's: same draws, same states
    np.testing.assert_array_equal(forced.sample_initial_states(4, np.random.default_rng(6))[0], q0)


def test_zero_order_hold():
    """u[k] acts on [t_k, t_{k+1}): the last sample is unused; a change at k shows from t_{k+1} on."""
    system = get_system("driven-pendulum")
    t = T6[:20]
    q0, p0 = system.sample_initial_states(2, np.random.default_rng(7))
    u = inputs_for(system, 2, t)
    q, p = system.trajectory(q0, p0, t, u)
    last = u.copy()
    last[:, -1] += 3.0
    q1, p1 = system.trajectory(q0, p0, t, last)
    np.testing.assert_array_equal(q1, q)
    np.testing.assert_array_equal(p1, p)
    k = 8
    kicked = u.copy()
    kicked[:, k] += 2.0
    q2, p2 = system.trajectory(q0, p0, t, kicked)
    np.testing.assert_array_equal(q2[:, : k + 1], q[:, : k + 1])
    np.testing.assert_array_equal(p2[:, : k + 1], p[:, : k + 1])
    assert np.all(np.abs(p2[:, k + 1] - p[:, k + 1]) > 0.1)  # about 2 N·m over 0.1 s of impulse
    # a constant input held over one interval is one smooth solve: matches the scalar API
    qs, ps = system.trajectory(q0[0], p0[0], t, u[0])
    np.testing.assert_array_equal(qs, q[0])
    np.testing.assert_array_equal(ps, p[0])


def test_sampled_inputs_are_bounded_seeded_and_smooth():
    system = get_system("driven-pendulum", u_max=2.5)
    t = np.arange(300) * 0.01
    u = inputs_for(system, 50, t)
    assert u.shape == (50, 300, 1) and u.dtype == np.float64
    assert np.max(np.abs(u)) <= 2.5 and np.max(np.abs(u)) > 1.5
    np.testing.assert_array_equal(u, inputs_for(system, 50, t))
    assert np.max(np.abs(np.diff(u, axis=1))) < 2.5 * 2 * np.pi * 1.0 * 0.01 * 1.01  # slope <= u_max·2π·f_max
    steps = inputs_for(system, 4, t, kind="steps")
    assert steps.shape == (4, 300, 1) and np.max(np.abs(steps)) <= 2.5
    assert np.all(np.count_nonzero(np.diff(steps[..., 0], axis=1), axis=1) <= 5)  # a new level every 0.5 s
    with pytest.raises(ValueError, match="kind"):
        inputs_for(system, 2, t, kind="noise")
    with pytest.raises(ValueError, match="Generator"):
        system.sample_inputs(2, 3, 0.1, 0)


def test_sample_trajectories_stay_below_the_separatrix():
    system = get_system("driven-pendulum")
    t = np.arange(40) * 0.1
    q0, p0, u, q, p, n_redrawn = system.sample_trajectories(6, t, np.random.default_rng(3), kind="steps")
    assert n_redrawn > 0  # this seed does draw trajectories again, so the rule is exercised
    assert np.all(system.energy(q, p) < 0.9 * system.separatrix_energy)
    np.testing.assert_array_equal(q[:, 0], q0)
    qr, pr = system.trajectory(q0, p0, t, u)
    np.testing.assert_array_equal(qr, q)
    again = system.sample_trajectories(6, t, np.random.default_rng(3), kind="steps")
    for a, b in zip((q0, p0, u, q, p, n_redrawn), again):
        np.testing.assert_array_equal(a, b)
    # without the redraw the same first draws do leave the bound
    rng = np.random.default_rng(3)
    f0, g0 = system.sample_initial_states(6, rng)
    fu = system.sample_inputs(6, t.size, 0.1, rng, kind="steps")
    assert np.max(system.energy(*system.trajectory(f0, g0, t, fu))) >= 0.9 * system.separatrix_energy


@pytest.mark.parametrize(
    "name, u, fragment",
    [
        ("driven-pendulum", None, r"u: driven-pendulum is driven by 1 input\(s\); pass u of shape \(2, 20, 1\)"),
        ("driven-pendulum", np.zeros((2, 20)), r"u: expected shape \(2, 20, 1\)"),
        ("driven-pendulum", np.zeros((2, 19, 1)), r"u: expected shape \(2, 20, 1\)"),
        ("driven-pendulum", np.full((2, 20, 1), np.nan), "u: contains NaN or inf"),
        ("driven-pendulum", np.full((2, 20, 1), "a"), "u: expected a numeric array"),
        ("damped-pendulum", np.zeros((2, 20, 1)), "u: damped-pendulum has no inputs"),
        ("spring", np.zeros((2, 20, 1)), "u: spring has no inputs"),
    ],
)
def test_bad_inputs_raise(name, u, fragment):
    system = get_system(name)
    with pytest.raises(ValueError, match=fragment):
        system.trajectory(np.zeros(2), np.ones(2), T6[:20], u)


def test_vector_field_input_checks():
    system = get_system("driven-pendulum")
    with pytest.raises(ValueError, match=r"u: .*pass u of shape \(3,\)"):
        system.vector_field(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"u: expected shape \(3,\)"):
        system.vector_field(np.zeros(3), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="u: pendulum has no inputs"):
        get_system("pendulum").vector_field(0.1, 0.2, 0.3)
