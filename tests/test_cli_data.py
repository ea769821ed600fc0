"""`vinnp data` (issue 3, item 6): files written, bad input as one line with exit status 2."""

import os

import numpy as np
import pytest

from vinnp.cli.main import main
from vinnp.data.dataset import load_dataset

PNG = b"\x89PNG\r\n\x1a\n"


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_noisy_spring(tmp_path, capsys):
    code, out, err = run(["data", "--system", "spring", "--obs", "noisy", "--out", str(tmp_path / "d")], capsys)
    assert code == 0 and err == "" and "dataset.npz" in out
    ds = load_dataset(tmp_path / "d" / "dataset.npz")
    assert ds["q"].shape == (25, 30, 1) and ds["meta"]["system"] == "spring" and ds["meta"]["seed"] == 0
    assert (tmp_path / "d" / "preview.png").read_bytes()[:8] == PNG
    assert sorted(os.listdir(tmp_path / "d")) == ["dataset.npz", "preview.png"]


def test_pixels_pendulum_with_options(tmp_path, capsys):
    out_dir = tmp_path / "p"
    argv = ["data", "--system", "pendulum", "--obs", "pixels", "--n-traj", "2", "--seed", "3",
            "--n-steps", "20", "--energy-range", "2.0", "5.0", "--out", str(out_dir)]
    code, _, err = run(argv, capsys)
    assert code == 0 and err == ""
    ds = load_dataset(out_dir / "dataset.npz")
    assert ds["frames"].shape == (2, 20, 28, 28) and ds["meta"]["energy_range"] == [2.0, 5.0]
    assert (out_dir / "preview.png").read_bytes()[:8] == PNG


def test_existing_dataset_needs_force(tmp_path, capsys):
    out_dir = str(tmp_path / "d")
    assert run(["data", "--system", "spring", "--n-traj", "2", "--out", out_dir], capsys)[0] == 0
    before = (tmp_path / "d" / "dataset.npz").read_bytes()
    code, out, err = run(["data", "--system", "spring", "--n-traj", "3", "--out", out_dir], capsys)
    assert code == 2 and err.startswith("vinnp: error: --out") and "--force" in err and err.count("\n") == 1
    assert (tmp_path / "d" / "dataset.npz").read_bytes() == before
    code, _, _ = run(["data", "--system", "spring", "--n-traj", "3", "--out", out_dir, "--force"], capsys)
    assert code == 0 and load_dataset(tmp_path / "d" / "dataset.npz")["q"].shape[0] == 3


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--system", "pendlum"], "--system"),
        (["--system", "pendulum", "--energy-range", "1", "25"], "separatrix"),
        (["--system", "spring", "--n-traj", "0"], "n_traj"),
        (["--system", "spring", "--obs", "video"], "--obs"),
        (["--system", "spring", "--dt", "-0.1"], "dt"),
        ([], "--system: required"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_files(tmp_path, capsys, args, fragment):
    out_dir = tmp_path / "d"
    code, _, err = run(["data", *args, "--out", str(out_dir)], capsys)
    assert code == 2 and err.startswith("vinnp: error:") and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out_dir.exists() or os.listdir(out_dir) == []


def test_import_csv(tmp_path, capsys):
    t = np.arange(12) * 0.1
    rows = ["t,q,traj"] + [f"{ti!r},{float(np.cos(ti))!r},{i}" for i in range(2) for ti in t.tolist()]
    (tmp_path / "lab.csv").write_text("\n".join(rows) + "\n")
    code, _, err = run(["data", "--import", str(tmp_path / "lab.csv"), "--out", str(tmp_path / "d")], capsys)
    assert code == 0 and err == ""
    ds = load_dataset(tmp_path / "d" / "dataset.npz")
    assert ds["meta"]["obs"] == "imported" and ds["q"].shape == (2, 12, 1)
    (tmp_path / "bad.csv").write_text("t,q\n0,1\n0.1,nan\n0.2,1\n")
    code, _, err = run(["data", "--import", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "e")], capsys)
    assert code == 2 and "NaN or inf" in err and err.count("\n") == 1
    assert not (tmp_path / "e").exists()


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    code, _, err = run(["data", "--system", "spring", "--out", str(tmp_path / "f")], capsys)
    assert code == 2 and err.count("\n") == 1


def test_driven_pendulum_writes_inputs(tmp_path, capsys):
    argv = ["data", "--system", "driven-pendulum", "--n-traj", "3", "--n-steps", "12", "--inputs", "steps",
            "--out", str(tmp_path / "d")]
    code, out, err = run(argv, capsys)
    assert code == 0 and err == "" and "driven-pendulum" in out
    ds = load_dataset(tmp_path / "d" / "dataset.npz")
    assert ds["u"].shape == (3, 12, 1) and np.max(np.abs(ds["u"])) <= 6.0
    assert (ds["meta"]["friction"], ds["meta"]["n_inputs"], ds["meta"]["inputs"]["kind"]) == (0.1, 1, "steps")
    assert (tmp_path / "d" / "preview.png").read_bytes()[:8] == PNG
    code, _, err = run(["data", "--system", "damped-spring", "--n-traj", "2", "--out", str(tmp_path / "e")], capsys)
    assert code == 0 and "u" not in load_dataset(tmp_path / "e" / "dataset.npz")
    code, _, err = run(["data", "--system", "damped-pendulum", "--obs", "pixels", "--out", str(tmp_path / "f")],
                       capsys)
    assert code == 2 and "pixels are rendered for spring and pendulum only" in err and err.count("\n") == 1
    assert not (tmp_path / "f").exists() or os.listdir(tmp_path / "f") == []
