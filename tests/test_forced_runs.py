"""Runs on damped and driven systems: training reports the recovered friction, forecasts take
their inputs (also with NumPy alone), and bad inputs are refused in one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vinnp.cli.main import main
from vinnp.evaluation.embedded import EmbeddedVIN
from vinnp.training.checkpoint import load_checkpoint
from vinnp.training.run import train_run
from vinnp.training.setup import make_config

TINY = ["--steps", "40", "--warmup-steps", "10", "--n-traj", "3", "--hidden", "8", "--quiet"]


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture(scope="module")
def driven_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "driven")
    cfg = make_config(system="driven-pendulum", steps=40, warmup_steps=10, n_traj=3, n_val=2, n_test=2,
                      hidden=[8], forecast_seconds=2.0)
    assert cfg["model"] == "vin-vv-forced"  # a driven system defaults to the forced VIN
    metrics = train_run(cfg, out, progress=False, log=lambda m: None)
    return out, metrics


def test_a_driven_run_reports_its_friction_and_energy_against_the_truth(driven_run):
    out, metrics = driven_run
    saved = json.loads(open(os.path.join(out, "metrics.json")).read())
    assert saved["friction_true"] == 0.1 and saved["friction"] > 0
    assert saved["friction_rel_error"] == pytest.approx(abs(saved["friction"] - 0.1) / 0.1)
    assert np.isfinite(saved["forecast_rmse"]) and np.isfinite(saved["energy_drift"])


def test_forecast_under_inputs_compiled_numpy_and_cli_agree(driven_run, tmp_path, capsys):
    out, _ = driven_run
    model, params, _ = load_checkpoint(os.path.join(out, "model.npz"))
    u = np.linspace(-2.0, 3.0, 6)[:, None]
    q, p = model.forecast(params.astype(np.float64), np.array([[0.2]]), np.array([[0.1]]), 6, u=u[None])
    emb = EmbeddedVIN.load(os.path.join(out, "model.npz"))
    qn, pn = emb.rollout(np.array([[0.2]]), np.array([[0.1]]), u[None])
    np.testing.assert_allclose(qn, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pn, p, rtol=1e-10, atol=1e-12)
    # the inputs move the forecast: a test of inputs that were ignored would pass too otherwise
    q0, _ = emb.rollout(np.array([[0.2]]), np.array([[0.1]]), np.zeros((1, 6, 1)))
    assert np.max(np.abs(q0 - qn)) > 1e-6
    csv = tmp_path / "u.csv"
    csv.write_text("u\n" + "\n".join(f"{v:.17g}" for v in u[:, 0]) + "\n")
    code, text, err = cli(["forecast", out, "--q0", "0.2", "--p0", "0.1", "--steps", "6", "--inputs", str(csv),
                           "--csv"], capsys)
    assert code == 0, err
    rows = np.array([[float(v) for v in line.split(",")] for line in text.strip().splitlines()[1:]])
    np.testing.assert_allclose(rows[:, 1], qn[0, :, 0], rtol=1e-9)
    # NumPy alone: Numba and SciPy made unimportable
    script = ("import sys; sys.modules['numba'] = None; sys.modules['scipy'] = None\n"
              "from vinnp.cli.main import main\n"
              f"main(['forecast', {out!r}, '--q0', '0.2', '--p0', '0.1', '--steps', '6', '--inputs', {str(csv)!r},"
              " '--csv'])\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout == text


@pytest.mark.parametrize("content, steps, match", [
    (None, 6, "trained with 1 control input"),
    ("u\n1\n2\n", 6, "expected one per step, 6"),
    ("u0,u1\n1,2\n1,2\n", 2, "the model takes 1"),
    ("u\n1\nnan\n", 2, "NaN or inf"),
    ("v\n1\n2\n", 2, "expected u (one input)"),
    ("u\n1\nx\n", 2, "not a number"),
])
def test_forecast_inputs_refused_in_one_line(driven_run, tmp_path, capsys, content, steps, match):
    out, _ = driven_run
    argv = ["forecast", out, "--q0", "0.2", "--p0", "0.1", "--steps", str(steps)]
    if content is not None:
        (tmp_path / "u.csv").write_text(content)
        argv += ["--inputs", str(tmp_path / "u.csv")]
    code, text, err = cli(argv, capsys)
    assert code == 2 and match in err and err.count("\n") == 1 and text == ""


@pytest.mark.parametrize("argv, match", [
    (["train", "--system", "driven-pendulum", "--model", "vin-vv"], "takes no control inputs"),
    (["train", "--system", "damped-pendulum", "--obs", "pixels"], "system"),
    (["experiment", "forced", "--systems", "moon"], "--systems"),
    (["experiment", "forced", "--models", "vin-so3"], "--models"),
])
def test_bad_forced_requests_refused_before_anything_is_written(argv, match, tmp_path, capsys):
    out = tmp_path / "never"
    code, _, err = cli([*argv, "--out", str(out)], capsys)
    assert code == 2 and match in err and err.count("\n") == 1
    assert not out.exists()


def test_an_unforced_model_refuses_inputs(tmp_path, capsys):
    out = str(tmp_path / "damped")
    code, text, err = cli(["train", "--system", "damped-spring", "--model", "vin-vv", *TINY, "--out", out], capsys)
    assert code == 0, err
    assert "friction" not in text  # no dissipation to recover
    (tmp_path / "u.csv").write_text("u\n1\n")
    code, _, err = cli(["forecast", out, "--q0", "1", "--p0", "0", "--steps", "1", "--inputs",
                        str(tmp_path / "u.csv")], capsys)
    assert code == 2 and "trained without control inputs" in err


def test_the_planner_runs_on_a_trained_forced_vin_with_numpy_alone(driven_run):
    """The embedded use: the model file, NumPy and vinnp; Numba and SciPy made unimportable."""
    out, _ = driven_run
    script = ("import sys; sys.modules['numba'] = None; sys.modules['scipy'] = None\n"
              "import numpy as np\n"
              "from vinnp.control import CEMPlanner\n"
              "from vinnp.evaluation.embedded import EmbeddedVIN\n"
              f"model = EmbeddedVIN.load({os.path.join(out, 'model.npz')!r})\n"
              "planner = CEMPlanner(model.rollout, n_inputs=1, u_max=6.0, horizon=5, n_samples=20, n_iters=2,"
              " target=0.5)\n"
              "plan = planner.plan(0.0, 0.0, np.random.default_rng(0))\n"
              "assert plan.shape == (5, 1) and np.all(np.abs(plan) <= 6.0)\n"
              "assert 'numba' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
              "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
