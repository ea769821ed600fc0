"""Pixel runs (issue 5): configuration checks, run directory, exact resume, the experiment
end to end at toy widths, and the CLI's one-line errors."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from vinnp.evaluation.pixels import bernoulli_loglik, frame_rmse, phase_point
from vinnp.io import load_json
from vinnp.models.pixel_vae import PixelVIN
from vinnp.training.checkpoint import load_checkpoint, save_checkpoint
from vinnp.training.pixels import make_pixel_config, train_pixels

TINY = dict(enc_hidden=8, lstm_hidden=4, dec_hidden=8, dyn_hidden=[8], eval_every=5, checkpoint_every=5,
            figure_frames=60)


def test_config_checks_name_the_field():
    cases = [
        (dict(system="spring", model="vin-so2"), "model: vin-so2 embeds an angle"),
        (dict(system="spring", model="lg-vae"), "model: lg-vae embeds an angle"),
        (dict(model="lstm"), "model: expected one of"),
        (dict(model="resrnn", learn_mass=True), "learn_mass: the resrnn cell has no mass matrix"),
        (dict(model="vae", learn_mass=True), "learn_mass: the static vae"),
        (dict(window=61), "window: 61 frames do not fit"),
        (dict(steps=0), "steps"),
        (dict(model="vin-vv", latent_dim=0), "latent_dim"),
        (dict(batch_size=3), "config: unknown field"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            make_pixel_config(**kw)
    assert make_pixel_config(model="vae")["window"] == 1
    assert make_pixel_config(model="vae")["latent_dim"] == 2


def test_metrics_by_hand():
    truth = np.zeros((2, 28, 28))
    pred = np.zeros((2, 28, 28))
    pred[0, :2, :2] = 1.0  # frame 0: four pixels off by 1; frame 1 exact
    assert frame_rmse(pred, truth) == pytest.approx(np.sqrt(4 / 2))
    half = np.full((1, 28, 28), 0.5)
    assert bernoulli_loglik(half, np.ones((1, 28, 28))) == pytest.approx(784 * np.log(0.5))


def test_phase_points_of_each_state_convention():
    mean = np.array([[0.1, 0.3]])
    assert np.allclose(phase_point(PixelVIN("vin-vv", 2, 1, enc_hidden=2, dec_hidden=2, dyn_hidden=2), mean),
                       [[0.1, 0.3]])
    sv = PixelVIN("vin-sv", 2, 1, enc_hidden=2, dec_hidden=2, dyn_hidden=2)  # x_1 = (q1, v1) itself
    assert np.allclose(phase_point(sv, mean), [[0.1, 0.3]])
    sv_state = PixelVIN("vin-sv", 2, 1, h=1.0, enc_hidden=2, dec_hidden=2, dyn_hidden=2, x1_coords="state")
    assert np.allclose(phase_point(sv_state, mean), [[0.3, 0.2]])  # (q0, q1) -> (q1, (q1 - q0) / h)
    so2 = PixelVIN("vin-so2", 2, 1, enc_hidden=2, dec_hidden=2, dyn_hidden=2)  # h = 0.1, wrapped difference
    assert np.allclose(phase_point(so2, np.array([[3.1, -3.1]])), [[-3.1, (2 * np.pi - 6.2) / 0.1]])
    lg = PixelVIN("lg-vae", 1, 1, enc_hidden=2, dec_hidden=2)
    assert np.allclose(phase_point(lg, np.array([[0.5]])), [[np.sin(0.5), np.cos(0.5)]])


def test_run_directory_and_exact_resume(tmp_path, monkeypatch):
    """An interrupted run, resumed, ends bit for bit where the uninterrupted one does."""
    cfg = make_pixel_config(model="vin-vv", steps=14, **TINY)
    full = train_pixels(cfg, str(tmp_path / "full"), progress=False)
    for name in ("config.json", "checkpoint.npz", "model.npz", "metrics.json", "forecast.png",
                 "forecast-latent.png"):
        assert (tmp_path / "full" / name).exists(), name
    assert load_json(tmp_path / "full" / "config.json")["obs"] == "pixels"
    assert {"rmse", "loglik", "best_elbo", "best_step"} <= set(full)
    assert full["best_step"] in (0, 5, 10, 14)

    calls = {"n": 0}
    original = PixelVIN.loss_and_grad

    def interrupting(self, *args):
        calls["n"] += 1
        if calls["n"] == 7:  # Ctrl-C in the middle of step 7: the step completes, then the run stops
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(PixelVIN, "loss_and_grad", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_pixels(cfg, str(tmp_path / "cut"), progress=False)
    monkeypatch.setattr(PixelVIN, "loss_and_grad", original)
    assert load_checkpoint(str(tmp_path / "cut" / "checkpoint.npz"))[2]["state"]["step"] == 7
    resumed = train_pixels(None, str(tmp_path / "cut"), resume=True, progress=False)
    a = load_checkpoint(str(tmp_path / "full" / "checkpoint.npz"))
    b = load_checkpoint(str(tmp_path / "cut" / "checkpoint.npz"))
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[2]["best_params"], b[2]["best_params"])
    assert resumed["rmse"] == full["rmse"] and resumed["elbo_trace"] == full["elbo_trace"]


def test_resume_refuses_a_phase_space_checkpoint(tmp_path):
    from vinnp.models.registry import make_model

    cfg = make_pixel_config(model="vin-vv", steps=2, **TINY)
    run = tmp_path / "run"
    train_pixels(cfg, str(run), progress=False)
    vin = make_model("vin-vv", 1, 0.1, n_seq=2)
    save_checkpoint(str(run / "checkpoint.npz"), vin, vin.layout.zeros(np.float64))
    with pytest.raises(ValueError, match="holds a vin \\(phase-space\\) model"):
        train_pixels(None, str(run), resume=True, progress=False)


def test_experiment_end_to_end_at_toy_widths(tmp_path):
    """Every table model and Figure 5 baseline runs, the table and results.json have their
    rows, and Figures 5-8 are written; a second call reuses the finished runs."""
    from vinnp.experiments.pixels import TABLE_MODELS, run_pixels

    out = str(tmp_path / "exp")
    rows, table, _ = run_pixels(out, trials=2, steps=3, log=lambda m: None, **TINY)
    assert len(rows) == 2 * sum(len(m) for m in TABLE_MODELS.values())
    saved = load_json(os.path.join(out, "results.json"))
    assert saved == rows
    assert all({"system", "model", "trial", "rmse", "loglik"} <= set(r) for r in saved)
    assert table.count("\n") == 1 + 5 and "| pendulum | vin-so2 |" in table
    for name in ("figure5-embeddings.png", "figure6-latent-forecasts.png", "figure7-pendulum-reconstructions.png",
                 "figure8-spring-reconstructions.png", "results.md"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    before = os.path.getmtime(os.path.join(out, "runs", "spring-vin-sv-t1", "model.npz"))
    rows2, _, _ = run_pixels(out, trials=2, steps=3, log=lambda m: None, **TINY)
    assert rows2 == rows
    assert os.path.getmtime(os.path.join(out, "runs", "spring-vin-sv-t1", "model.npz")) == before
    # runs made with other settings are not passed off as the new command's
    with pytest.raises(ValueError, match=r"--out: .*pendulum-resrnn-t0 holds a run made with other settings: "
                                         r"steps 3 \(now 4\)"):
        run_pixels(out, trials=2, steps=4, log=lambda m: None, **TINY)
    assert os.path.getmtime(os.path.join(out, "runs", "spring-vin-sv-t1", "model.npz")) == before
    # a later trial run apart, tabled with the earlier trials' rows
    more = str(tmp_path / "more")
    rows3, table3, _ = run_pixels(more, trials=1, first_trial=2, steps=3, embeddings=False, log=lambda m: None,
                                  with_rows=os.path.join(out, "results.json"), **TINY)
    assert rows3[: len(rows)] == rows and {r["trial"] for r in rows3[len(rows):]} == {2}
    assert "| spring | vin-sv |" in table3 and table3.count("| 3 |") == 5
    assert not any(name.startswith("figure") for name in os.listdir(more))  # figures come from trial 0
    with pytest.raises(ValueError, match="--with-rows: row 0 .* was made with steps 3, these runs with 4"):
        run_pixels(str(tmp_path / "other"), trials=1, first_trial=2, steps=4, embeddings=False,
                   log=lambda m: None, with_rows=os.path.join(out, "results.json"), **TINY)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vinnp.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd)


@pytest.mark.parametrize("args, message", [
    (["train", "--obs", "pixels", "--system", "spring", "--model", "vin-so2"], "model: vin-so2 embeds an angle"),
    (["train", "--obs", "pixels", "--n-traj", "5"], "--obs pixels: each run trains on one generated"),
    (["train", "--model", "vae"], "--model: vae is a pixel model; add --obs pixels"),
    (["train", "--obs", "pixels", "--model", "resrnn", "--learn-mass"], "learn_mass: the resrnn cell has no mass"),
    (["train", "--obs", "pixels", "--hidden", "100000", "--hidden", "100000"], "of memory (estimate)"),
    (["train", "--obs", "pixels", "--steps", "100000000"], "h on the CPU (estimate)"),
    (["experiment", "pixels", "--trials", "0"], "--trials"),
    (["experiment", "pixels", "--systems", "moon"], "--systems: expected one of"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    r = _cli(*args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_cli_forecast_refuses_a_pixel_model(tmp_path):
    cfg = make_pixel_config(model="vin-vv", steps=2, **TINY)
    train_pixels(cfg, str(tmp_path / "run"), progress=False)
    r = _cli("forecast", str(tmp_path / "run"), "--q0", "0.1", "--p0", "0", "--steps", "3")
    assert r.returncode == 2 and "holds a pixel model" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    before = load_json(tmp_path / "run" / "metrics.json")
    r = _cli("evaluate", str(tmp_path / "run"))  # a pixel run's metrics are recomputed the same
    assert r.returncode == 0 and "log-likelihood" in r.stdout, r.stderr
    assert load_json(tmp_path / "run" / "metrics.json")["rmse"] == before["rmse"]


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    """config.json keeps h and x1_coords null where defaults were taken; if what they resolve to
    changes, the checkpoint (which records the model) is not continued as a different model."""
    import json

    run = tmp_path / "run"
    cfg = make_pixel_config(system="spring", model="vin-sv", steps=4, **TINY)
    train_pixels(cfg, str(run), progress=False)
    saved = json.loads((run / "config.json").read_text())
    assert saved["h"] is None and saved["x1_coords"] is None
    saved.update(steps=6, h=1.0, x1_coords="state")  # what a run made under the old defaults meant
    (run / "config.json").write_text(json.dumps(saved))
    before = (run / "checkpoint.npz").read_bytes()
    with pytest.raises(ValueError, match=r"checkpoint: .* holds a model built with other settings: "
                                         r"h 0.1 \(now 1.0\), x1_coords 'velocity' \(now 'state'\)"):
        train_pixels(None, str(run), resume=True, progress=False)
    assert (run / "checkpoint.npz").read_bytes() == before


def test_paper_sized_pixel_runs_are_within_the_budget():
    """The size check refuses impossible runs, not the paper's (Appendix C.2 widths, 6000 steps)."""
    from vinnp.training.pixels import check_pixel_budget

    check_pixel_budget(make_pixel_config())
    with pytest.raises(ValueError, match="enc_hidden.*GiB"):
        check_pixel_budget(make_pixel_config(enc_hidden=400000))
