"""Model-predictive control: CEM finds known optima, the closed loop holds the driven pendulum,
seeded plans repeat, bounds hold, the planner runs on NumPy alone, bad input is refused."""

import json
import subprocess
import sys

import numpy as np
import pytest

from vinnp.cli import control as control_cli
from vinnp.cli.main import main
from vinnp.control import CEMPlanner, ClosedLoop, run_closed_loop, score_hold, tracking_cost
from vinnp.control.truth import TrueSystem

TRUE = TrueSystem.named("driven-pendulum")

# the driven pendulum, written out here independently of vinnp.control.truth
M, L, G, C, U_MAX, H = 1.0, 1.0, 9.81, 0.1, 6.0, 0.1


def pendulum_field(q, p, u):
    qdot = p / (M * L * L)
    return qdot, -M * G * L * np.sin(q) - C * qdot + u


def pendulum_rollout(q0, p0, U, h=H, sub=2):
    """A stand-in perfect model: RK4 with `sub` sub-steps per ZOH interval; (N, d), (N, K, 1) -> (N, K + 1, d)."""
    q, p = np.array(q0, float), np.array(p0, float)
    qs, ps, dt = [q], [p], h / sub
    for k in range(U.shape[1]):
        u = U[:, k]
        for _ in range(sub):
            a1, b1 = pendulum_field(q, p, u)
            a2, b2 = pendulum_field(q + dt / 2 * a1, p + dt / 2 * b1, u)
            a3, b3 = pendulum_field(q + dt / 2 * a2, p + dt / 2 * b2, u)
            a4, b4 = pendulum_field(q + dt * a3, p + dt * b3, u)
            q = q + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
            p = p + dt / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
        qs.append(q)
        ps.append(p)
    return np.stack(qs, 1), np.stack(ps, 1)


def integrator_rollout(q0, p0, U):
    """x_{k+1} = x_k + u_k (d = m = 1); p carries the control just applied."""
    q = q0[:, None, :] + np.concatenate([np.zeros_like(U[:, :1]), np.cumsum(U, axis=1)], axis=1)
    p = np.concatenate([p0[:, None, :], U], axis=1)
    return q, p


def integrator_optimum(q0, target, horizon, r):
    """The exact minimiser of Σ_k (x_k − target)² + r Σ u_k² for x_{k+1} = x_k + u_k: a linear solve."""
    A = np.tril(np.ones((horizon, horizon)))  # x_{1..H} = q0 + A U
    b = np.full(horizon, target - q0)
    return np.linalg.solve(A.T @ A + r * np.eye(horizon), A.T @ b)


def test_cem_finds_the_known_minimum_of_a_linear_quadratic_problem():
    r, horizon = 0.5, 5
    cost = lambda q, p, U: np.sum((q[:, 1:, 0] - 1.0) ** 2, axis=1) + r * np.sum(U[:, :, 0] ** 2, axis=1)
    best = integrator_optimum(0.0, 1.0, horizon, r)
    planner = CEMPlanner(integrator_rollout, n_inputs=1, u_max=2.0, horizon=horizon, n_samples=200,
                         n_elites=20, n_iters=10, cost=cost)
    plan = planner.plan(0.0, 0.0, np.random.default_rng(0))[:, 0]
    assert best[0] > 0.4  # the optimum's first control is large and positive ...
    np.testing.assert_allclose(plan, best, atol=0.03)  # ... and CEM finds the whole sequence


def test_cem_saturates_at_the_bound_and_never_samples_beyond_it():
    seen = []

    def recording_rollout(q0, p0, U):
        seen.append(np.max(np.abs(U)))
        return integrator_rollout(q0, p0, U)

    planner = CEMPlanner(recording_rollout, n_inputs=1, u_max=0.5, horizon=4, n_samples=50, n_iters=5,
                         target=10.0, init_std=3.0)  # far target, wide sampling: most draws hit the bound
    plan = planner.plan(0.0, 0.0, np.random.default_rng(1))
    assert max(seen) <= 0.5 and np.max(np.abs(plan)) <= 0.5
    assert plan[0, 0] > 0.45  # the optimal first control is the bound itself


def test_closed_loop_with_a_perfect_model_reaches_and_holds_the_target():
    target, tol, hold = 0.5, 0.05, 5.0
    true = TRUE
    planner = CEMPlanner(pendulum_rollout, n_inputs=1, u_max=U_MAX, horizon=12, n_samples=60, n_iters=3,
                         target=target)
    run = run_closed_loop(planner, lambda q, p, u: true.step(q, p, u, H), 0.0, 0.0, 80, h=H,
                          rng=np.random.default_rng(0))
    assert isinstance(run, ClosedLoop)
    assert run.q.shape == (81, 1) and run.u.shape == (80, 1) and run.plan_seconds.shape == (80,)
    assert np.max(np.abs(run.u)) <= U_MAX
    score = score_hold(run, target, tol=tol, hold=hold)
    assert score["success"], score
    assert score["hold_start_s"] <= 2.5 and score["max_hold_deviation"] <= tol
    assert 0 < score["plan_mean_s"] <= score["plan_max_s"]


def test_same_seed_same_controls():
    def controls(seed):
        planner = CEMPlanner(pendulum_rollout, n_inputs=1, u_max=U_MAX, horizon=8, n_samples=30, n_iters=2,
                             target=0.5)
        return run_closed_loop(planner, lambda q, p, u: TRUE.step(q, p, u, H), 0.0, 0.0, 10, h=H,
                               rng=np.random.default_rng(seed)).u

    a, b, c = controls(3), controls(3), controls(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_truth_step_agrees_with_an_independent_rk4():
    q, p = pendulum_rollout(np.array([[0.3]]), np.array([[-0.2]]), np.full((1, 1, 1), 2.5), sub=200)
    q1, p1 = TRUE.step(np.array([0.3]), np.array([-0.2]), np.array([2.5]), H)
    np.testing.assert_allclose([q1[0], p1[0]], [q[0, 1, 0], p[0, 1, 0]], atol=1e-10)


def test_score_hold_on_a_known_trajectory():
    t = 0.1 * np.arange(101)
    q = np.where(t < 2.0, 0.0, 0.5 + 0.01 * np.sin(t))  # at the target from t = 2 s on
    run = ClosedLoop(t=t, q=q[:, None], p=np.zeros((101, 1)), u=np.zeros((100, 1)), plan_seconds=np.ones(100))
    s = score_hold(run, 0.5, tol=0.05, hold=5.0)
    assert s["success"] and s["hold_start_s"] == pytest.approx(2.0)
    assert s["max_hold_deviation"] == pytest.approx(np.max(0.01 * np.abs(np.sin(t[20:71]))))
    assert not score_hold(run, 0.5, tol=0.05, hold=8.5)["success"]  # the record ends at 10 s


def test_planner_runs_without_numba_or_scipy():
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numba', 'scipy'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from vinnp.control.planner import CEMPlanner\n"
        "from vinnp.control import run_closed_loop, score_hold\n"
        "def rollout(q0, p0, U):\n"
        "    q = q0[:, None] + np.concatenate([0 * U[:, :1], np.cumsum(U, 1)], 1)\n"
        "    return q, 0 * q\n"
        "pl = CEMPlanner(rollout, n_inputs=1, u_max=1.0, horizon=5, n_samples=20, target=0.5)\n"
        "step = lambda q, p, u: (q + u, p)\n"
        "run = run_closed_loop(pl, step, 0.0, 0.0, 5, h=0.1, rng=np.random.default_rng(0))\n"
        "assert abs(run.q[-1, 0] - 0.5) < 0.1, run.q\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('numba', 'scipy')]\n"
        "assert not bad, bad\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("kwargs, field", [
    (dict(horizon=0), "horizon"),
    (dict(n_samples=-3), "n_samples"),
    (dict(n_iters=0), "n_iters"),
    (dict(u_max=0.0), "u_max"),
    (dict(n_elites=500), "n_elites"),
    (dict(n_inputs=1.5), "n_inputs"),
    (dict(target=None), "cost"),
    (dict(cost=lambda q, p, U: 0.0), "target"),
    (dict(target=[[0.5]]), "target"),
    (dict(init_std=-1.0), "init_std"),
])
def test_bad_planner_arguments_name_the_field(kwargs, field):
    args = dict(n_inputs=1, u_max=6.0, target=0.5) | kwargs
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        CEMPlanner(pendulum_rollout, **args)


def test_bad_plan_and_loop_arguments_name_the_field():
    planner = CEMPlanner(pendulum_rollout, n_inputs=1, u_max=6.0, horizon=3, n_samples=4, target=0.5)
    with pytest.raises(ValueError, match="^rng: expected a numpy.random.Generator"):
        planner.plan(0.0, 0.0, 0)
    with pytest.raises(ValueError, match=r"^q, p: expected two \(d,\) arrays"):
        planner.plan([0.0, 1.0], 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="^rollout: expected q, p of shape"):
        CEMPlanner(lambda q0, p0, U: (q0, p0), n_inputs=1, u_max=1.0, target=0.0).plan(0.0, 0.0,
                                                                                        np.random.default_rng(0))
    with pytest.raises(ValueError, match="^rollout: expected a callable"):
        CEMPlanner(None, n_inputs=1, u_max=1.0, target=0.0)
    step = TRUE.step
    with pytest.raises(ValueError, match="^n_steps: expected an integer >= 1"):
        run_closed_loop(planner, step, 0.0, 0.0, 0, h=H, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="^true_step: expected a callable"):
        run_closed_loop(planner, "step", 0.0, 0.0, 3, h=H, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="^h: expected a number > 0"):
        run_closed_loop(planner, step, 0.0, 0.0, 3, h=-0.1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="^target: expected"):
        tracking_cost(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="^target: holding 0.7 rad needs an input"):
        TRUE.check_target(0.7)


# --- the CLI, with a stand-in for the forced-VIN loader (vinnp.evaluation.embedded.EmbeddedVIN)


class StandInVIN:
    dim, h, n_inputs = 1, H, 1

    @classmethod
    def load(cls, path):
        return cls()

    def rollout(self, q0, p0, u):
        return pendulum_rollout(q0, p0, u)


class UnforcedVIN(StandInVIN):
    n_inputs = 0


def make_run(tmp_path, system="driven-pendulum", name="run"):
    run = tmp_path / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"system": system}))
    (run / "model.npz").write_bytes(b"")
    return str(run)


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["control", *argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(control_cli, "EmbeddedVIN", StandInVIN)
    return control_cli


def test_cli_prints_the_score(tmp_path, capsys, stand_in):
    code, out, err = cli([make_run(tmp_path), "--target", "0.5", "--hold", "2", "--seconds", "4",
                          "--horizon", "10", "--samples", "40", "--iters", "3"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2] == "success: yes"
    assert lines[1].startswith("hold start: ") and lines[3].startswith("max deviation during hold: ")
    assert lines[4].startswith("planner time per step, mean: ") and lines[5].endswith(" ms")


@pytest.mark.parametrize("argv, message", [
    (["--target", "0.7"], "--target: holding 0.7 rad needs an input"),
    (["--target", "-0.8"], "--target: holding -0.8 rad needs an input"),
    (["--horizon", "0"], "--horizon: expected an integer >= 1"),
    (["--samples", "0"], "--samples: expected an integer >= 2"),
    (["--iters", "-1"], "--iters: expected an integer >= 1"),
    (["--hold", "5", "--seconds", "3"], "--seconds: expected at least --hold"),
])
def test_cli_refuses_bad_options_in_one_line(tmp_path, capsys, argv, message, monkeypatch):
    def never(path):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(control_cli, "EmbeddedVIN", type("Never", (), {"load": staticmethod(never)}))
    code, out, err = cli([make_run(tmp_path), *argv], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"vinnp: error: {message}") and err.count("\n") == 1


def test_cli_refuses_runs_without_inputs(tmp_path, capsys, stand_in, monkeypatch):
    code, _, err = cli([str(tmp_path / "missing")], capsys)
    assert code == 2 and "RUN_DIR: " in err and "no such folder" in err
    code, _, err = cli([make_run(tmp_path, system="pendulum", name="unforced-system")], capsys)
    assert code == 2 and "system is 'pendulum', which has no control inputs" in err and err.count("\n") == 1
    monkeypatch.setattr(stand_in, "EmbeddedVIN", UnforcedVIN)
    code, _, err = cli([make_run(tmp_path)], capsys)
    assert code == 2 and "model.npz: " in err and "without control inputs" in err and err.count("\n") == 1
