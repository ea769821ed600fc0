"""Training runs: loss goes down, resume is exact, bad checkpoints and flags are refused."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vinnp.cli.main import main
from vinnp.training import run as run_mod
from vinnp.training.checkpoint import load_checkpoint, save_checkpoint
from vinnp.training.run import TrainingDiverged, train_run
from vinnp.training.setup import make_config

SMALL = dict(n_traj=3, n_val=2, n_test=2, hidden=[12], forecast_seconds=2.0, checkpoint_every=20)


def quiet(_msg):
    pass


@pytest.mark.parametrize("model", ["vin-sv", "vin-vv", "vin-so2", "resrnn", "nn", "hnn"])
def test_short_run_learns_and_reports(tmp_path, model):
    cfg = make_config(system="pendulum", model=model, steps=80, warmup_steps=20, **SMALL)
    metrics = train_run(cfg, str(tmp_path / "run"), progress=False, log=quiet)
    for key in ("forecast_rmse", "energy_drift", "rmse_3s", "chosen_steps", "noise_std"):
        assert np.isfinite(metrics[key])
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["forecast_rmse"] == metrics["forecast_rmse"]
    assert (tmp_path / "run" / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    # training lowered the loss from its initial value
    m, params, _ = load_checkpoint(str(tmp_path / "run" / "model.npz"))
    data = run_mod.prepare_data(cfg)
    batch = {k: data["train"][k] for k in ("q", "p", "dqdt", "dpdt")}
    init = m.init(np.random.default_rng(run_mod.seeds(cfg["seed"])[3]), batch, scheme=cfg["init"])
    assert m.loss(params, batch) < m.loss(init, batch)


def test_same_seed_same_run(tmp_path):
    cfg = make_config(system="spring", model="vin-vv", steps=40, warmup_steps=10, **SMALL)
    a = train_run(cfg, str(tmp_path / "a"), progress=False, log=quiet)
    b = train_run(cfg, str(tmp_path / "b"), progress=False, log=quiet)
    assert a["forecast_rmse"] == b["forecast_rmse"]


def test_init_scheme_is_part_of_the_run_and_old_configs_mean_normal(tmp_path):
    # runs written before config.json had "init" were initialised with the "normal" scheme;
    # resuming or repeating them must still use it
    cfg = make_config(system="spring", model="vin-vv", steps=30, warmup_steps=0, init="normal", **SMALL)
    old = {k: v for k, v in cfg.items() if k != "init"}
    normal = train_run(cfg, str(tmp_path / "normal"), progress=False, log=quiet)
    legacy = train_run(old, str(tmp_path / "legacy"), progress=False, log=quiet)
    uniform = train_run({**cfg, "init": "uniform"}, str(tmp_path / "uniform"), progress=False, log=quiet)
    assert make_config()["init"] == "uniform"
    assert legacy["forecast_rmse"] == normal["forecast_rmse"] != uniform["forecast_rmse"]
    with pytest.raises(ValueError, match="init: expected one of normal, uniform"):
        make_config(init="lecun")


def test_resume_ends_where_the_uninterrupted_run_would(tmp_path, monkeypatch):
    cfg = make_config(system="spring", model="vin-sv", steps=100, warmup_steps=25, **SMALL)
    full = train_run(cfg, str(tmp_path / "full"), progress=False, log=quiet)

    calls = {"n": 0}
    real_make = run_mod.make_stepper

    def dying_make(model, batch, opt):
        step = real_make(model, batch, opt)  # the fused step (vin-sv is covered)

        def dying_step(params):
            calls["n"] += 1
            if calls["n"] == 70:  # past the warm-up, between checkpoints 60 and 80
                raise KeyboardInterrupt
            return step(params)
        return dying_step

    monkeypatch.setattr(run_mod, "make_stepper", dying_make)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, str(tmp_path / "cut"), progress=False, log=quiet)
    monkeypatch.setattr(run_mod, "make_stepper", real_make)
    resumed = train_run(None, str(tmp_path / "cut"), resume=True, progress=False, log=quiet)
    _, p_full, _ = load_checkpoint(str(tmp_path / "full" / "model.npz"))
    _, p_cut, _ = load_checkpoint(str(tmp_path / "cut" / "model.npz"))
    assert np.array_equal(p_full, p_cut)
    assert resumed["forecast_rmse"] == full["forecast_rmse"]


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    cfg = make_config(system="spring", model="vin-vv", steps=60, warmup_steps=0, **SMALL)
    real_make = run_mod.make_stepper
    calls = {"n": 0}

    def poisoned_make(model, batch, opt):
        step = real_make(model, batch, opt)

        def poisoned(params):  # a step whose loss is NaN changes nothing and reports NaN
            calls["n"] += 1
            return float("nan") if calls["n"] > 45 else step(params)
        return poisoned

    monkeypatch.setattr(run_mod, "make_stepper", poisoned_make)
    with pytest.raises(TrainingDiverged, match="non-finite loss at step 45"):
        train_run(cfg, str(tmp_path / "r"), progress=False, log=quiet)
    _, params, extra = load_checkpoint(str(tmp_path / "r" / "checkpoint.npz"))
    assert extra["state"]["step"] == 40 and np.all(np.isfinite(params))


@pytest.mark.parametrize("failure", ["no-gpu", "no-kernels"])
def test_device_cuda_falls_back_to_the_cpu_and_says_why(tmp_path, monkeypatch, failure):
    """--device cuda where the GPU step cannot run (no GPU; kernels that will not compile):
    one logged reason, then the same run the CPU would make."""
    import vinnp.cuda

    cfg = make_config(system="spring", model="vin-vv", steps=20, warmup_steps=0, **SMALL)
    cpu = train_run(cfg, str(tmp_path / "cpu"), progress=False, log=quiet)
    if failure == "no-gpu":
        monkeypatch.setattr(vinnp.cuda, "available", lambda: "no usable CUDA GPU (none here)")
        reason = "no usable CUDA GPU (none here)"
    else:
        reason = ("CUDA step unavailable: numba.cuda could not allocate, compile or launch the kernels "
                  "(AttributeError: x)")

        def uncompilable(model, batch, opt):
            raise RuntimeError(reason)
        monkeypatch.setattr(vinnp.cuda, "available", lambda: None)
        monkeypatch.setattr(vinnp.cuda, "make_cuda_stepper", uncompilable)
    logged = []
    gpu = train_run(make_config(**{**cfg, "device": "cuda"}), str(tmp_path / "gpu"), progress=False,
                    log=logged.append)
    assert f"--device cuda: {reason}; training on the CPU" in logged
    assert gpu["forecast_rmse"] == cpu["forecast_rmse"]


def test_corrupt_truncated_and_foreign_checkpoints(tmp_path):
    cfg = make_config(system="spring", model="vin-vv", steps=20, warmup_steps=0, **SMALL)
    train_run(cfg, str(tmp_path / "r"), progress=False, log=quiet)
    good = (tmp_path / "r" / "model.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="checkpoint: .*not a readable .npz"):
        load_checkpoint(str(tmp_path / "trunc.npz"))
    np.savez(tmp_path / "foreign.npz", params=np.zeros(3))
    with pytest.raises(ValueError, match="not a vinnp checkpoint"):
        load_checkpoint(str(tmp_path / "foreign.npz"))
    model, params, _ = load_checkpoint(str(tmp_path / "r" / "model.npz"))
    save_checkpoint(str(tmp_path / "short.npz"), model, params[:-1])
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(str(tmp_path / "short.npz"))


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("argv, match", [
    (["train", "--model", "vin-so2", "--system", "spring"], "is an angle"),
    (["train", "--steps", "0"], "steps"),
    (["train", "--model", "nope"], "nope"),
    (["train", "--system", "moon"], "moon"),
    (["train", "--model", "nn", "--learn-mass"], "learn_mass"),
    (["train", "--resume"], "--resume"),
    (["train", "--obs", "pixels", "--init", "normal"], "--init"),
    (["experiment", "noisy", "--first-seed", "-1"], "--first-seed"),
    (["evaluate", "/nonexistent/run"], "config.json"),
])
def test_cli_bad_input_one_line_exit_2(argv, match, capsys):
    code, _, err = cli(argv, capsys)
    assert code == 2 and match in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_train_forecast_and_no_overwrite(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "run")
    code, text, _ = cli(["train", "--system", "pendulum", "--model", "vin-vv", "--steps", "30", "--warmup-steps",
                         "0", "--n-traj", "2", "--hidden", "8", "--out", out, "--quiet"], capsys)
    assert code == 0 and "forecast RMSE over 20 s" in text
    before = sorted(os.listdir(out))
    code, _, err = cli(["train", "--steps", "30", "--out", out], capsys)
    assert code == 2 and "already exists" in err and sorted(os.listdir(out)) == before
    code, text, _ = cli(["forecast", out, "--q0", "0.3", "--p0", "0.1", "--steps", "5", "--csv"], capsys)
    lines = text.strip().splitlines()
    assert code == 0 and lines[0] == "t,q,p" and len(lines) == 7
    assert [float(v) for v in lines[1].split(",")] == [0.0, 0.3, 0.1]
    code, _, err = cli(["forecast", out, "--q0", "0.3", "--q0", "1", "--p0", "0.1", "--steps", "5"], capsys)
    assert code == 2 and "--p0" in err
    # the embedded path: forecast with Numba made unimportable
    script = ("import sys; sys.modules['numba'] = None\n"
              "from vinnp.cli.main import main\n"
              f"main(['forecast', {out!r}, '--q0', '0.3', '--p0', '0.1', '--steps', '5', '--csv'])\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines() == lines


def test_markdown_table_means_and_errors():
    from vinnp.experiments.noisy import markdown_table

    rows = [{"system": "spring", "n_traj": 5, "model": "nn", "seed": s, "rmse_mean": v / 2, "rmse_20s": v,
             "energy_drift": 0.0} for s, v in enumerate([1.0, 2.0, 3.0])]
    table = markdown_table(rows, ("nn",))
    assert "| spring / 5 traj. (rmse_mean) | 1.000 ± 0.289 |" in table
    assert "| spring / 5 traj. (rmse_20s) | 2.000 ± 0.577 |" in table


def test_cli_trains_on_a_users_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = ["t,q,p,traj"]
    for k, amp in enumerate([0.4, 0.6, 0.8, 1.0, 0.5]):
        for i in range(30):
            t = 0.1 * i
            rows.append(f"{t:.1f},{amp * np.cos(t) + 0.01 * rng.normal():.6f},{-amp * np.sin(t):.6f},run{k}")
    csv = tmp_path / "lab.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = str(tmp_path / "run")
    code, text, _ = cli(["train", "--data", str(csv), "--steps", "40", "--warmup-steps", "10", "--hidden", "8",
                         "--out", out, "--quiet"], capsys)
    assert code == 0 and "chosen steps (validation): 40" in text
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"] == str(csv)
    code, text, _ = cli(["forecast", out, "--q0", "1", "--p0", "0", "--steps", "3"], capsys)
    assert code == 0 and len(text.strip().splitlines()) == 4
    code, _, err = cli(["train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "r2")], capsys)
    assert code == 2 and "missing.csv" in err


def test_float32_run_trains_in_single_precision(tmp_path):
    cfg = make_config(system="spring", model="vin-sv", steps=60, warmup_steps=15, dtype="float32", **SMALL)
    metrics = train_run(cfg, str(tmp_path / "r"), progress=False, log=quiet)
    _, params, _ = load_checkpoint(str(tmp_path / "r" / "model.npz"))
    assert params.dtype == np.float32 and np.isfinite(metrics["forecast_rmse"])


def test_ctrl_c_checkpoints_the_current_step_and_resumes_exactly(tmp_path, monkeypatch):
    import signal

    cfg = make_config(system="spring", model="vin-vv", steps=90, warmup_steps=20, **SMALL)
    train_run(cfg, str(tmp_path / "full"), progress=False, log=quiet)
    calls = {"n": 0}
    real_make = run_mod.make_stepper

    def ctrl_c_make(model, batch, opt):
        step = real_make(model, batch, opt)

        def step_then_ctrl_c(params):
            out = step(params)
            calls["n"] += 1
            if calls["n"] == 53:  # between periodic checkpoints (every 20)
                signal.raise_signal(signal.SIGINT)
            return out
        return step_then_ctrl_c

    monkeypatch.setattr(run_mod, "make_stepper", ctrl_c_make)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, str(tmp_path / "cut"), progress=False, log=quiet)
    _, _, extra = load_checkpoint(str(tmp_path / "cut" / "checkpoint.npz"))
    assert extra["state"]["step"] == 53
    monkeypatch.setattr(run_mod, "make_stepper", real_make)
    train_run(None, str(tmp_path / "cut"), resume=True, progress=False, log=quiet)
    _, p_full, _ = load_checkpoint(str(tmp_path / "full" / "model.npz"))
    _, p_cut, _ = load_checkpoint(str(tmp_path / "cut" / "model.npz"))
    assert np.array_equal(p_full, p_cut)


def test_experiments_reuse_only_runs_made_with_the_same_settings(tmp_path):
    """`vinnp experiment` reuses a finished run only if its config.json is the new run's config."""
    from vinnp.io import save_json
    from vinnp.training.run import check_reuse

    cfg = make_config(system="spring", model="vin-vv", steps=2000, seed=1)
    check_reuse(cfg, str(tmp_path / "none"))  # nothing there yet: nothing to check
    save_json(tmp_path / "config.json", cfg)
    check_reuse(make_config(system="spring", model="vin-vv", steps=2000, seed=1), str(tmp_path))
    with pytest.raises(ValueError, match=r"holds a run made with other settings: dtype 'float32' "
                                         r"\(now 'float64'\), steps 2000 \(now 10000\); use another --out"):
        check_reuse(make_config(system="spring", model="vin-vv", steps=10000, seed=1, dtype="float64"),
                    str(tmp_path))


def test_noisy_experiment_runs_a_block_of_seeds_with_its_settings(tmp_path):
    # development seeds (say 100-139) can be run apart from the reported ones, with another init
    from vinnp.experiments.noisy import run_noisy

    out = str(tmp_path / "exp")
    small = dict(n_val=2, n_test=2, hidden=[8], forecast_seconds=2.0, warmup_steps=0, init="normal")
    rows, table, _ = run_noisy(out, seeds=2, first_seed=7, steps=20, systems=("spring",), regimes=(3,),
                               models=("vin-vv",), log=quiet, **small)
    assert [r["seed"] for r in rows] == [7, 8]
    assert sorted(os.listdir(os.path.join(out, "runs"))) == ["spring-n3-vin-vv-s7", "spring-n3-vin-vv-s8"]
    cfg = json.loads((tmp_path / "exp" / "runs" / "spring-n3-vin-vv-s8" / "config.json").read_text())
    assert cfg["seed"] == 8 and cfg["init"] == "normal" and cfg["hidden"] == [8]
    assert json.loads((tmp_path / "exp" / "results.json").read_text()) == rows
    assert (tmp_path / "exp" / "spring-n3.png").read_bytes()[:4] == b"\x89PNG"
    assert "spring / 3 traj. (rmse_mean)" in table
    # the same command again reuses both runs; another init is refused, not mixed in
    again, _, _ = run_noisy(out, seeds=2, first_seed=7, steps=20, systems=("spring",), regimes=(3,),
                            models=("vin-vv",), log=quiet, **small)
    assert again == rows
    with pytest.raises(ValueError, match="init 'normal' \\(now 'uniform'\\)"):
        run_noisy(out, seeds=2, first_seed=7, steps=20, systems=("spring",), regimes=(3,), models=("vin-vv",),
                  log=quiet, **{**small, "init": "uniform"})
    with pytest.raises(ValueError, match="run_noisy: n_traj, seed are set by the experiment's own arguments"):
        run_noisy(out, seeds=2, models=("vin-vv",), log=quiet, seed=3, n_traj=4)


def test_experiments_reuse_old_runs_as_made_with_the_normal_init(tmp_path):
    # a config.json written before the "init" field existed describes a "normal" run
    from vinnp.io import save_json
    from vinnp.training.run import check_reuse

    old = {k: v for k, v in make_config(seed=2, init="normal").items() if k != "init"}
    save_json(tmp_path / "config.json", old)
    check_reuse(make_config(seed=2, init="normal"), str(tmp_path))
    with pytest.raises(ValueError, match=r"init 'normal' \(now 'uniform'\)"):
        check_reuse(make_config(seed=2), str(tmp_path))


@pytest.mark.parametrize("model", ["vin-sv", "vin-vv"])
def test_training_reaches_the_noise_floor_on_an_easy_problem(tmp_path, model):
    """The float32 fused step, as users train: 5 spring trajectories with noise sigma = 0.1.
    A correct gradient brings the learned sigma down to the noise (measured 0.099 and 0.0995)
    and the 2 s forecast close to the truth; a wrong gradient (a sign or factor in a backward
    pass) leaves sigma far above it (measured 0.16 after 2000 correct steps)."""
    cfg = make_config(system="spring", model=model, n_traj=5, n_val=2, n_test=2, hidden=[16], steps=5000,
                      warmup_steps=250, forecast_seconds=2.0, checkpoint_every=5000, lr=3e-3)
    metrics = train_run(cfg, str(tmp_path / "run"), progress=False, log=quiet)
    assert 0.085 < metrics["noise_std"] < 0.115
    assert metrics["forecast_rmse"] < 0.05
