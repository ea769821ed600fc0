"""Trust: resumes that cannot mix data, run folders made whole or not at all, and one readable line
(exit status 2, files unchanged, no folder left) for every failure a user can cause."""

import contextlib
import hashlib
import json
import os
import subprocess
import warnings

import numpy as np
import pytest

from vinnp.cli.main import main
from vinnp.data.importers import import_trajectories
from vinnp.training import run as run_mod
from vinnp.training import setup as setup_mod
from vinnp.training.run import train_run
from vinnp.training.setup import make_config

TINY = ["--steps", "30", "--warmup-steps", "5", "--hidden", "8", "--quiet"]
SMALL = dict(n_traj=3, n_val=2, n_test=2, hidden=[8], forecast_seconds=2.0, checkpoint_every=20, steps=30,
             warmup_steps=0)


def quiet(_msg):
    pass


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def one_line_error(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("vinnp: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def digests(folder):
    """{relative path: sha256} of every file under ``folder`` (None if it does not exist)."""
    if not os.path.exists(folder):
        return None
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def write_csv(path, n_traj=5, n_steps=30, d=1, seed=0):
    """Noisy harmonic trajectories: columns t, traj, q (q0.. for d > 1), p (p0..)."""
    rng = np.random.default_rng(seed)
    qs = ["q"] if d == 1 else [f"q{j}" for j in range(d)]
    ps = ["p"] if d == 1 else [f"p{j}" for j in range(d)]
    rows = [",".join(["t", "traj", *qs, *ps])]
    for k in range(n_traj):
        amp = 0.4 + 0.15 * k
        for i in range(n_steps):
            t = 0.1 * i
            q = [amp * np.cos(t + j) + 0.01 * rng.normal() for j in range(d)]
            p = [-amp * np.sin(t + j) + 0.01 * rng.normal() for j in range(d)]
            rows.append(",".join([f"{t:.1f}", f"run{k}", *(f"{v:.6f}" for v in q + p)]))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def data_run(tmp_path_factory):
    """A finished tiny run on a CSV (made once; tests copy it before changing anything)."""
    import shutil

    base = tmp_path_factory.mktemp("data_run")
    csv = write_csv(base / "lab.csv")
    out = base / "run"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(csv), *TINY, "--out", str(out)])
    assert exc.value.code == 0

    def copy(dest):
        shutil.copytree(base, dest)
        cfg = json.loads((dest / "run" / "config.json").read_text())
        assert cfg["data"] == str(csv)
        (dest / "run" / "config.json").write_text(json.dumps({**cfg, "data": str(dest / "lab.csv")}))
        return dest / "lab.csv", dest / "run"
    return copy


@contextlib.contextmanager
def read_only(folder):
    """``folder`` made read-only for this process (root ignores permission bits: a read-only bind mount)."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    if subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without a way to make a folder read-only")
    try:
        probe = os.path.join(folder, ".probe")
        try:
            open(probe, "w").close()
            os.unlink(probe)
            pytest.skip("the read-only bind mount is writable here")
        except OSError:
            pass
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# --- the step choice ------------------------------------------------------------------------------

def test_candidates_are_the_papers_choices_and_a_short_run_keeps_its_last_step():
    assert setup_mod.candidates(3000) == [2000]
    assert setup_mod.candidates(10000) == [2000, 5000, 10000]
    assert setup_mod.candidates(12000) == [2000, 5000, 10000]
    assert setup_mod.candidates(40) == [40]
    assert setup_mod.milestones(3000) == [2000, 3000]  # the final step is still scored and reported


def test_a_final_step_off_the_choices_is_scored_but_not_chosen(tmp_path, monkeypatch):
    # choices 10 and 20 in a 30-step run, with validation scores that favour the final step
    monkeypatch.setattr(setup_mod, "STEP_CHOICES", (10, 20))
    monkeypatch.setattr(run_mod, "validation_nll", lambda model, params, val: -float(calls.append(1) or len(calls)))
    calls = []
    metrics = train_run(make_config(system="spring", **SMALL), str(tmp_path / "r"), progress=False, log=quiet)
    assert sorted(metrics["validation_nll"]) == ["10", "20", "30"]
    assert metrics["chosen_steps"] == 20


# --- resume ---------------------------------------------------------------------------------------

def test_resume_refuses_data_that_changed_naming_the_file(tmp_path, capsys, data_run):
    csv, out = data_run(tmp_path / "a")
    cfg = json.loads((out / "config.json").read_text())
    assert len(cfg["data_sha256"]) == 64
    write_csv(csv, seed=1)  # other noise: the same shape, other numbers
    before = digests(out)
    for argv in (["train", "--resume", "--out", out], ["evaluate", out]):
        code, _, err = cli(argv, capsys)
        one_line_error(code, err, f"data: {csv} changed since the run started")
        assert digests(out) == before


def test_resume_of_a_run_that_predates_the_data_hash_still_works(tmp_path, capsys, data_run):
    csv, out = data_run(tmp_path / "a")
    cfg = json.loads((out / "config.json").read_text())
    del cfg["data_sha256"]
    (out / "config.json").write_text(json.dumps(cfg))
    write_csv(csv, seed=1)
    code, text, err = cli(["train", "--resume", "--out", out], capsys)
    assert code == 0, err
    assert "data_sha256" not in json.loads((out / "config.json").read_text())


def test_resume_refuses_a_generated_dataset_that_changed(tmp_path):
    out = tmp_path / "r"
    train_run(make_config(system="spring", **SMALL), str(out), progress=False, log=quiet)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "data_sha256": "0" * 64}))  # as if generated otherwise
    with pytest.raises(ValueError, match=r"data: the generated training data \(spring, seed 0\) changed"):
        train_run(None, str(out), resume=True, progress=False, log=quiet)


def test_resume_refuses_flags_it_would_ignore(tmp_path, capsys, data_run):
    _, out = data_run(tmp_path / "a")
    before = digests(out)
    code, _, err = cli(["train", "--resume", "--out", out, "--steps", "50", "--seed", "3", "--quiet"], capsys)
    one_line_error(code, err, "--steps, --seed would be ignored")
    assert digests(out) == before


def test_paths_in_config_resolve_from_any_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "lab").mkdir()
    monkeypatch.chdir(tmp_path / "lab")
    write_csv(tmp_path / "lab" / "lab.csv")
    code, _, err = cli(["train", "--data", "lab.csv", *TINY, "--out", "run"], capsys)
    assert code == 0, err
    cfg = json.loads((tmp_path / "lab" / "run" / "config.json").read_text())
    assert cfg["data"] == str(tmp_path / "lab" / "lab.csv")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = cli(["evaluate", "../lab/run"], capsys)
    assert code == 0, err
    code, _, err = cli(["train", "--resume", "--out", "../lab/run", "--quiet"], capsys)
    assert code == 0, err


# --- starting a run -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["one trajectory", "two points", "too many", "too long", "unwritable"])
def test_a_start_that_fails_leaves_no_folder_and_the_fixed_command_works(tmp_path, capsys, case):
    out = tmp_path / "run"
    parent = tmp_path / "ro"
    parent.mkdir()
    fixed = ["train", "--data", write_csv(tmp_path / "good.csv"), *TINY, "--out", out]
    if case == "one trajectory":
        argv, fragment = ["train", "--data", write_csv(tmp_path / "one.csv", n_traj=1), *TINY], "holds 1 trajectory"
    elif case == "two points":  # a vinnp dataset (the importer refuses such a CSV itself)
        from vinnp.data.dataset import save_dataset
        from vinnp.data.noisy import make_noisy_dataset

        save_dataset(tmp_path / "two.npz", make_noisy_dataset("spring", 4, 0, n_steps=2))
        argv, fragment = ["train", "--data", tmp_path / "two.npz", *TINY], "have 2 time point(s); expected at least 3"
    elif case == "too many":
        argv, fragment = ["train", "--n-traj", "100000000", "--quiet"], "GiB of memory (estimate)"
    elif case == "too long":
        argv, fragment = ["train", "--steps", "100000000", "--quiet"], "h on the CPU (estimate), past the 24 h limit"
    else:
        out = parent / "run"
        fixed[-1] = out
        argv, fragment = ["train", "--data", tmp_path / "good.csv", *TINY], "cannot write in"
    if case == "unwritable":
        with read_only(parent):
            code, _, err = cli(argv + ["--out", out], capsys)
    else:
        code, _, err = cli(argv + ["--out", out], capsys)
    one_line_error(code, err, fragment)
    assert not out.exists()
    code, _, err = cli(fixed, capsys)
    assert code == 0, err


def test_without_out_two_runs_in_one_second_get_two_folders(tmp_path, capsys, monkeypatch):
    from vinnp.cli.train import _claim

    monkeypatch.chdir(tmp_path)
    base = os.path.join("runs", "spring-vin-vv-n25-s0-20260101-120000")
    first, second = _claim(base), _claim(base)
    assert first == [base, "runs"] and second == [base + "-2"]
    os.rmdir(first[0]), os.rmdir(second[0]), os.rmdir("runs")
    # a default-named start that fails leaves neither its folder nor runs/
    code, _, err = cli(["train", "--data", write_csv(tmp_path / "one.csv", n_traj=1), *TINY], capsys)
    one_line_error(code, err, "holds 1 trajectory")
    assert os.listdir(tmp_path) == ["one.csv"]


def test_train_run_refuses_to_overwrite_a_run_unless_asked(tmp_path):
    out = tmp_path / "r"
    cfg = make_config(system="spring", **SMALL)
    train_run(cfg, str(out), progress=False, log=quiet)
    before = digests(out)
    with pytest.raises(ValueError, match="run_dir: .* already exists; resume=True continues it"):
        train_run(cfg, str(out), progress=False, log=quiet)
    assert digests(out) == before
    (out / "milestone-99999.npz").write_bytes(b"an earlier run's")
    (out / "notes.txt").write_text("mine")
    train_run({**cfg, "seed": 1}, str(out), progress=False, log=quiet, overwrite=True)
    assert not (out / "milestone-99999.npz").exists() and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["seed"] == 1


def test_a_data_run_records_what_the_data_hold(tmp_path, capsys):
    csv = write_csv(tmp_path / "lab.csv", n_traj=5)
    code, _, err = cli(["train", "--data", csv, "--system", "pendulum", "--n-traj", "25", *TINY,
                        "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert f"vinnp: --system and --n-traj ignored: the run trains on the trajectories in {csv}" in err
    assert "no forecast RMSE: the data name no known system" in err
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (cfg["system"], cfg["n_traj"], cfg["n_val"], cfg["data"]) == ("imported", 4, 1, str(csv))
    assert (metrics["system"], metrics["n_traj"], metrics["data"]) == ("imported", 4, str(csv))
    assert "no true trajectory" in metrics["no_forecast_rmse"] and "forecast_rmse" not in metrics
    assert (tmp_path / "run" / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    # without --system/--n-traj, no such line
    code, _, err = cli(["train", "--data", csv, *TINY, "--out", tmp_path / "run2"], capsys)
    assert code == 0 and "ignored" not in err
    # a run made before these records (the CLI's defaults stored): evaluate reports the truth
    (tmp_path / "run" / "config.json").write_text(json.dumps({**cfg, "system": "spring", "n_traj": 25}))
    code, _, err = cli(["evaluate", tmp_path / "run"], capsys)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert code == 0 and (metrics["system"], metrics["n_traj"]) == ("imported", 4)


# --- config.json edited by hand -------------------------------------------------------------------

@pytest.mark.parametrize("edit, fragment", [
    (lambda c: c.pop("steps"), "field(s) steps missing"),
    (lambda c: c.update(hidden=8), "hidden: expected a list of layer widths, got 8"),
    (lambda c: c.update(steps="many"), "steps: expected an integer >= 1, got 'many'"),
    (lambda c: c.update(model=None), "field(s) model are null"),
    (lambda c: c.update(colour="red"), "unknown field(s) colour"),
    (lambda c: c.update(data_sha256="abc"), "data_sha256: expected 64 hexadecimal digits"),
    (lambda c: c.update(system=["spring"]), "system: expected one of"),
    (lambda c: c.update(learn_mass="yes"), "learn_mass: expected true or false, got 'yes'"),
])
def test_a_hand_edited_config_is_refused_in_one_line(tmp_path, capsys, data_run, edit, fragment):
    _, out = data_run(tmp_path / "a")
    cfg = json.loads((out / "config.json").read_text())
    if "system" in fragment:
        cfg["data"] = None  # a generated run's config
    edit(cfg)
    (out / "config.json").write_text(json.dumps(cfg))
    before = digests(out)
    for argv in (["train", "--resume", "--out", out], ["evaluate", out]):
        code, _, err = cli(argv, capsys)
        one_line_error(code, err, f"config.json: {out}/config.json is not a valid run configuration", fragment)
        assert digests(out) == before


def test_a_config_that_is_not_an_object_is_refused(tmp_path, capsys, data_run):
    _, out = data_run(tmp_path / "a")
    (out / "config.json").write_text("[1, 2]\n")
    code, _, err = cli(["evaluate", out], capsys)
    one_line_error(code, err, "expected a JSON object of settings, got list")


# --- output folders that cannot be made or written ------------------------------------------------

def test_out_that_cannot_be_a_folder(tmp_path, capsys, data_run):
    (tmp_path / "file").write_text("x")
    under_file = tmp_path / "file" / "run"
    cases = [(["train", *TINY, "--out", "/dev/null/x"], "'/dev/null/x' cannot be a folder"),
             (["train", *TINY, "--out", under_file], f"(it lies under '{tmp_path}/file')"),
             (["train", *TINY, "--out", tmp_path / "file"], "is a file"),
             (["data", "--system", "spring", "--out", under_file], "cannot be a folder"),
             (["gradcheck", "--eps-sweep", "--out", "/dev/null/x"], "'/dev/null/x' cannot be a folder")]
    for argv, fragment in cases:
        code, _, err = cli(argv, capsys)
        one_line_error(code, err, "--out", fragment)
    assert (tmp_path / "file").read_text() == "x"


def test_output_folders_that_cannot_be_written(tmp_path, capsys, data_run):
    _, out = data_run(tmp_path / "a")
    before = digests(out)
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(out), read_only(ro):
        for argv, name in [(["train", "--resume", "--out", out], "--out"), (["evaluate", out], "RUN_DIR"),
                           (["data", "--system", "spring", "--out", ro], "--out"),
                           (["data", "--system", "spring", "--out", ro / "d"], "--out"),
                           (["gradcheck", "--eps-sweep", "--out", ro / "g"], "--out"),
                           (["train", *TINY, "--out", ro / "r"], "--out")]:
            code, _, err = cli(argv, capsys)
            one_line_error(code, err, f"{name}: cannot write in")
    assert digests(out) == before and os.listdir(ro) == []


def test_check_out_dir_leaves_nothing_behind(tmp_path):
    from vinnp.io import check_out_dir

    assert check_out_dir(tmp_path / "a" / "b" / "c") == str(tmp_path / "a" / "b" / "c")
    assert os.listdir(tmp_path) == []


# --- models and their files -----------------------------------------------------------------------

def test_forecast_refuses_a_state_of_the_wrong_dimension(tmp_path, capsys, data_run):
    _, out = data_run(tmp_path / "a")
    code, _, err = cli(["forecast", out, "--q0", "1", "--q0", "2", "--p0", "0", "--p0", "0", "--steps", "3"], capsys)
    one_line_error(code, err, "--q0/--p0: the model has 1 coordinate(s), so --q0 and --p0 take 1 value(s) each; got 2")


def test_a_garbage_model_file_is_named_not_called_a_pickle(tmp_path, capsys, data_run):
    _, out = data_run(tmp_path / "a")
    (out / "model.npz").write_bytes(np.random.default_rng(0).bytes(300))
    code, _, err = cli(["forecast", out, "--q0", "1", "--p0", "0", "--steps", "3"], capsys)
    one_line_error(code, err, f"{out}/model.npz' is not a readable .npz archive (it is not a zip file)")
    assert "pickle" not in err
    np.savez(out / "model.npz", format=np.array("vinnp-checkpoint-1"), model=np.array([{"a": 1}], dtype=object))
    code, _, err = cli(["forecast", out, "--q0", "1", "--p0", "0", "--steps", "3"], capsys)
    one_line_error(code, err, "it holds an object array, which vinnp does not unpickle")


def test_a_d2_forecast_csv_imports_back(tmp_path, capsys):
    code, _, err = cli(["train", "--data", write_csv(tmp_path / "lab.csv", d=2), *TINY, "--out", tmp_path / "r"],
                       capsys)
    assert code == 0, err
    code, text, err = cli(["forecast", tmp_path / "r", "--q0", "0.5", "--q0", "0.1", "--p0", "0", "--p0", "0.2",
                           "--steps", "4", "--csv"], capsys)
    assert code == 0, err
    assert text.splitlines()[0] == "t,q0,q1,p0,p1"
    (tmp_path / "forecast.csv").write_text(text)
    ds = import_trajectories(tmp_path / "forecast.csv")
    assert ds["q"].shape == (1, 5, 2) and ds["meta"]["derived"] == {"dqdt": "second-order finite differences of q",
                                                                     "dpdt": "second-order finite differences of p"}
    np.testing.assert_allclose(ds["q"][0, 0], [0.5, 0.1])
    np.testing.assert_allclose(ds["p"][0, 0], [0.0, 0.2])


# --- CSVs as spreadsheets save them ---------------------------------------------------------------

def test_spreadsheet_csvs_import_like_the_plain_one(tmp_path):
    plain = import_trajectories(write_csv(tmp_path / "plain.csv", n_traj=2, n_steps=12))
    lines = (tmp_path / "plain.csv").read_text().splitlines()
    variants = {
        "bom-crlf.csv": "\ufeff" + "\r\n".join(lines) + "\r\n",
        "trailing.csv": "\r\n".join(line + ",," for line in lines) + "\r\n,,,,,,\r\n\r\n",
        "semicolon.csv": "\ufeff" + "\r\n".join(line.replace(",", ";").replace(".", ",") + ";"
                                               for line in lines) + "\r\n;;;;;\r\n",
        "tabs.csv": "\n".join(line.replace(",", "\t") for line in lines) + "\n\n",
    }
    for name, text in variants.items():
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
        ds = import_trajectories(tmp_path / name)
        for key in ("t", "q", "p"):
            np.testing.assert_array_equal(ds[key], plain[key], err_msg=name)
        assert ds["meta"]["traj_ids"] == plain["meta"]["traj_ids"]


def test_complex_values_are_refused_in_a_line_not_a_warning(tmp_path, capsys):
    (tmp_path / "c.csv").write_text("t,q\n0,1\n0.1,1+2j\n0.2,1\n")
    t = 0.1 * np.arange(5)
    np.savez(tmp_path / "c.npz", t=t, q=np.cos(t) + 0.5j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path, fragment in [(tmp_path / "c.csv", "line 3, column 'q': '1+2j' is a complex number"),
                               (tmp_path / "c.npz", "array 'q' holds complex values; expected real numbers")]:
            code, _, err = cli(["data", "--import", path, "--out", tmp_path / "d"], capsys)
            one_line_error(code, err, fragment)
            assert not (tmp_path / "d").exists()


def test_check_budget_refuses_impossible_sizes_and_passes_the_papers():
    from vinnp.training.setup import NOISY_POINTS, check_budget

    paper = make_config()  # 25 trajectories, hidden [200], 10000 steps
    check_budget(paper, 25, 10, NOISY_POINTS, 1)
    check_budget(make_config(n_traj=5000, steps=20000), 5000, 10, NOISY_POINTS, 1)  # large, but feasible
    with pytest.raises(ValueError, match=r"n_traj, steps, hidden: 100000000 training and 10 validation "
                                         r"trajectories of 30 points, .* would need about [0-9.e+]+ GiB"):
        check_budget(make_config(n_traj=10**8), 10**8, 10, NOISY_POINTS, 1)
    with pytest.raises(ValueError, match=r"would train for about [0-9.e+]+ h on the CPU \(estimate\), past the 24 h"):
        check_budget(make_config(steps=10**8), 25, 10, NOISY_POINTS, 1)
    check_budget(make_config(steps=10**8, device="cuda"), 25, 10, NOISY_POINTS, 1)  # no CPU-time limit on a GPU


def test_forecast_figure_draws_the_truth_its_energy_and_the_phase_error_on_shared_scales(tmp_path, monkeypatch):
    from vinnp.plots import forecast as plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: figures.append(fig))
    monkeypatch.setattr(plots.plt, "close", lambda fig: None)
    t = 0.1 * np.arange(21)
    truth = np.cos(t)[None, :, None] * np.array([1.0, 0.5])[:, None, None]

    def row(label, scale):
        q = scale * truth
        return {"label": label, "q_pred": q, "p_pred": q, "q_true": truth, "p_true": truth,
                "rmse_t": scale * t, "e_true": scale * np.ones((2, 21)), "e_truth": np.ones((2, 21)),
                "e_model": None}
    plots.plot_forecasts(tmp_path / "f.png", [row("a", 1.0), row("b", 3.0)], t, "title")
    axes = np.array(figures[0].axes).reshape(2, 4)
    assert "phase error" in axes[0, 1].get_title()  # q against time: truth and forecast of each path
    solid = [line.get_ydata() for line in axes[1, 1].lines if line.get_linestyle() == "-"]
    dashed = [line.get_ydata() for line in axes[1, 1].lines if line.get_linestyle() == "--"]
    np.testing.assert_array_equal(solid, truth[..., 0])
    np.testing.assert_array_equal(dashed, 3.0 * truth[..., 0])
    for col in range(4):  # one y-scale per kind of panel, whichever model
        assert axes[0, col].get_ylim() == axes[1, col].get_ylim()
    truth_lines = [line for line in axes[0, 0].lines if line.get_linestyle() == "-"]
    assert len(truth_lines) == 2 and all(line.get_linewidth() >= 3 for line in truth_lines)
    assert "true energy (truth)" in [line.get_label() for line in axes[0, 3].lines]


def test_a_hand_edited_pixel_config_is_refused_and_an_old_one_loads(tmp_path):
    from vinnp.training.pixels import make_pixel_config
    from vinnp.training.rundir import load_run_config

    cfg = make_pixel_config()
    old = {k: v for k, v in cfg.items() if k != "x1_coords"}  # runs made before x1_coords existed
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert load_run_config(str(tmp_path)) == old
    (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "lr"}))
    with pytest.raises(ValueError, match=r"config.json: .* is not a valid run configuration \(field\(s\) lr missing\)"):
        load_run_config(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "dyn_hidden": 1000}))
    with pytest.raises(ValueError, match="dyn_hidden: expected a list of layer widths"):
        load_run_config(str(tmp_path))


def test_experiments_reuse_runs_that_record_their_data_and_resume_a_run_that_never_checkpointed(tmp_path):
    from vinnp.experiments.noisy import run_noisy
    from vinnp.training.rundir import create_run_dir
    from vinnp.training.run import check_reuse

    small = dict(n_val=2, n_test=2, hidden=[8], forecast_seconds=2.0, warmup_steps=0)
    cfg = make_config(system="spring", model="vin-vv", n_traj=3, steps=20, seed=0, **small)
    run_dir = tmp_path / "exp" / "runs" / "spring-n3-vin-vv-s0"
    create_run_dir(str(run_dir), {**cfg, "data_sha256": "0" * 64})
    check_reuse(cfg, str(run_dir))  # the data record is not a setting
    (run_dir / "config.json").write_text(json.dumps(cfg))  # a start that stopped before its first checkpoint
    rows, _, _ = run_noisy(str(tmp_path / "exp"), seeds=1, steps=20, systems=("spring",), regimes=(3,),
                           models=("vin-vv",), log=quiet, **small)
    assert rows[0]["chosen_steps"] == 20


def test_an_os_error_below_the_checks_is_still_one_line(tmp_path, capsys, monkeypatch):
    import vinnp.cli.data as data_cmd

    def denied(*args):
        raise PermissionError(13, "Permission denied", "/some/file")
    monkeypatch.setattr(data_cmd, "_build", denied)
    code, _, err = cli(["data", "--system", "spring", "--out", tmp_path / "d"], capsys)
    one_line_error(code, err, "/some/file: Permission denied")


def test_the_pixel_experiment_resumes_a_run_that_never_checkpointed(tmp_path):
    from vinnp.experiments.pixels import train_or_reuse_pixels
    from vinnp.training.pixels import make_pixel_config

    tiny = dict(enc_hidden=8, lstm_hidden=4, dec_hidden=8, dyn_hidden=[8], eval_every=5, checkpoint_every=5,
                figure_frames=60)
    cfg = make_pixel_config(system="pendulum", model="vin-so2", seed=0, steps=5, learn_mass=False, **tiny)
    run_dir = tmp_path / "runs" / "pendulum-vin-so2-t0"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(cfg))  # a start that stopped before its first checkpoint
    metrics = train_or_reuse_pixels(cfg, str(run_dir), quiet)
    assert metrics["steps"] == 5


def test_a_vin_checkpoint_with_a_malformed_description_is_one_line(tmp_path, capsys, data_run):
    _, out = data_run(tmp_path / "a")
    np.savez(out / "model.npz", format=np.array("vinnp-checkpoint-1"), model=np.array('{"family": "vin"}'),
             layout=np.array("[]"), params=np.zeros(0))  # consistent, but no cell
    code, _, err = cli(["forecast", out, "--q0", "1", "--p0", "0", "--steps", "3"], capsys)
    one_line_error(code, err, "model.npz' does not describe a usable VIN")


def test_evaluating_a_run_before_its_first_score_says_so(tmp_path, capsys, monkeypatch):
    real_make = run_mod.make_stepper

    def stop_at_25(model, batch, opt):
        step, calls = real_make(model, batch, opt), []

        def stepper(params):
            calls.append(1)
            if len(calls) == 25:  # after the checkpoint at step 20, before the one score at 30
                raise KeyboardInterrupt
            return step(params)
        return stepper
    monkeypatch.setattr(run_mod, "make_stepper", stop_at_25)
    with pytest.raises(KeyboardInterrupt):
        train_run(make_config(system="spring", **SMALL), str(tmp_path / "r"), progress=False, log=quiet)
    code, _, err = cli(["evaluate", tmp_path / "r"], capsys)
    one_line_error(code, err, "has no validation scores yet; finish its training first")
