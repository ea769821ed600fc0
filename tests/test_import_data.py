"""A user's own trajectories from CSV or NPZ (issue 3, item 5)."""

import os

import numpy as np
import pytest

from vinnp.data.dataset import load_dataset, save_dataset
from vinnp.data.importers import import_trajectories
from vinnp.data.noisy import make_noisy_dataset

FIELDS = ("q", "p", "dqdt", "dpdt", "q_true", "p_true")


def write_csv(path, ds, fields=FIELDS, t_offsets=None, ids=None):
    """Rows t, traj, then the fields (numbered columns when d > 1), floats in repr (exact)."""
    n_traj, n_steps, d = ds["q"].shape
    names = ["t", "traj"]
    for f in fields:
        base, true = (f[:-5], "_true") if f.endswith("_true") else (f, "")
        names += [f"{base}{true}"] if d == 1 else [f"{base}{j}{true}" for j in range(d)]
    lines = [",".join(names)]
    for i in range(n_traj):
        for k in range(n_steps):
            t = ds["t"][k] + (t_offsets[i] if t_offsets else 0.0)
            row = [repr(float(t)), ids[i] if ids else f"run{i}"]
            row += [repr(float(v)) for f in fields for v in ds[f][i, k]]
            lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def noisy():
    return make_noisy_dataset("pendulum", 3, seed=2, n_steps=20)


def test_csv_round_trip(tmp_path, noisy):
    ds = import_trajectories(write_csv(tmp_path / "lab.csv", noisy))
    for key in ("t",) + FIELDS:
        np.testing.assert_array_equal(ds[key], noisy[key])
    assert "dqdt_true" not in ds and "dpdt_true" not in ds
    meta = ds["meta"]
    assert (meta["obs"], meta["format"], meta["n_traj"], meta["n_steps"], meta["d"]) == ("imported", "csv", 3, 20, 1)
    assert meta["traj_ids"] == ["run0", "run1", "run2"] and meta["dt"] == pytest.approx(0.1) and meta["derived"] == {}
    # and on to a dataset file and back
    save_dataset(tmp_path / "lab.npz", ds)
    back = load_dataset(tmp_path / "lab.npz")
    for key in ("t",) + FIELDS:
        np.testing.assert_array_equal(back[key], noisy[key])


def test_npz_round_trip_shapes(tmp_path, noisy):
    np.savez(tmp_path / "a.npz", t=noisy["t"], q=noisy["q"], p=noisy["p"][..., 0])  # (n, T, 1) and (n, T)
    ds = import_trajectories(tmp_path / "a.npz")
    np.testing.assert_array_equal(ds["q"], noisy["q"])
    np.testing.assert_array_equal(ds["p"], noisy["p"])
    assert ds["meta"]["format"] == "npz" and set(ds["meta"]["derived"]) == {"dqdt", "dpdt"}
    # a saved vinnp dataset imports as well (its meta is ignored)
    save_dataset(tmp_path / "b.npz", noisy)
    again = import_trajectories(tmp_path / "b.npz")
    for key in ("t",) + FIELDS + ("dqdt_true", "dpdt_true"):
        np.testing.assert_array_equal(again[key], noisy[key])
    # one trajectory given as 1-d arrays, per-trajectory time rows
    np.savez(tmp_path / "c.npz", t=noisy["t"], q=noisy["q"][0, :, 0])
    assert import_trajectories(tmp_path / "c.npz")["q"].shape == (1, 20, 1)
    np.savez(tmp_path / "d.npz", t=np.stack([noisy["t"], noisy["t"] + 5, noisy["t"] + 9]), q=noisy["q"])
    assert import_trajectories(tmp_path / "d.npz")["meta"]["t0"] == pytest.approx([0, 5, 9])


def test_finite_differences_when_derivatives_absent(tmp_path):
    """Second-order differences: errors O(dt²) on a clean spring (q = cos t, p = −sin t)."""
    clean = make_noisy_dataset("spring", 2, seed=0, n_steps=40, dt=0.05, noise_std=0.0)
    with_p = import_trajectories(write_csv(tmp_path / "qp.csv", clean, fields=("q", "p")))
    np.testing.assert_allclose(with_p["dqdt"], clean["dqdt_true"], atol=3e-3)
    np.testing.assert_allclose(with_p["dpdt"], clean["dpdt_true"], atol=3e-3)
    q_only = import_trajectories(write_csv(tmp_path / "q.csv", clean, fields=("q",)))
    np.testing.assert_allclose(q_only["p"], clean["p_true"], atol=3e-3)  # unit mass: p = dq/dt
    np.testing.assert_array_equal(q_only["dqdt"], q_only["p"])
    assert set(q_only["meta"]["derived"]) == {"p", "dqdt", "dpdt"}
    coarse = make_noisy_dataset("spring", 2, seed=0, n_steps=20, dt=0.1, noise_std=0.0)
    err_coarse = np.abs(import_trajectories(write_csv(tmp_path / "c.csv", coarse, ("q", "p")))["dqdt"] - coarse["dqdt_true"]).max()
    err_fine = np.abs(with_p["dqdt"] - clean["dqdt_true"]).max()
    assert 3.0 < err_coarse / err_fine < 5.0  # halving dt divides the error by about 4


def test_several_dimensions_and_offsets(tmp_path):
    rng = np.random.default_rng(0)
    ds = {"t": np.arange(8) * 0.5, "q": rng.normal(size=(2, 8, 3)), "p": rng.normal(size=(2, 8, 3))}
    out = import_trajectories(write_csv(tmp_path / "d3.csv", ds, ("q", "p"), t_offsets=[0.0, 10.0], ids=["7", "x"]))
    np.testing.assert_array_equal(out["q"], ds["q"])
    assert out["meta"]["d"] == 3 and out["meta"]["t0"] == [0.0, 10.0] and out["meta"]["traj_ids"] == ["7", "x"]


def test_no_id_column_is_one_trajectory_and_n_steps_trims(tmp_path):
    (tmp_path / "one.csv").write_text("t,q\n" + "".join(f"{0.1 * k!r},{float(np.sin(k))!r}\n" for k in range(10)))
    assert import_trajectories(tmp_path / "one.csv")["q"].shape == (1, 10, 1)
    rows = ["t,q,traj"] + [f"{0.1 * k!r},{k},a" for k in range(6)] + [f"{0.1 * k!r},{k},b" for k in range(8)]
    (tmp_path / "uneven.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="different lengths"):
        import_trajectories(tmp_path / "uneven.csv")
    assert import_trajectories(tmp_path / "uneven.csv", n_steps=6)["q"].shape == (2, 6, 1)


BAD_CSV = {
    "nan.csv": ("t,q,p\n0,1,2\n0.1,nan,2\n0.2,1,2\n", "line 3, column 'q': NaN or inf"),
    "inf.csv": ("t,q\n0,1\n0.1,inf\n0.2,1\n", "NaN or inf"),
    "short_row.csv": ("t,q,p\n0,1,2\n0.1,1\n0.2,1,2\n", "line 3 has 2 columns, the header has 3"),
    "p_count.csv": ("t,q0,q1,p0\n0,1,2,3\n0.1,1,2,3\n0.2,1,2,3\n", "1 p column"),
    "numbering.csv": ("t,q0,q2\n0,1,2\n0.1,1,2\n0.2,1,2\n", "q0..q"),
    "unknown.csv": ("t,q,vel\n0,1,2\n0.1,1,2\n0.2,1,2\n", "unknown column 'vel'"),
    "no_t.csv": ("time,q\n0,1\n0.1,1\n0.2,1\n", "no time column"),
    "no_q.csv": ("t,p\n0,1\n0.1,1\n0.2,1\n", "no configuration column"),
    "word.csv": ("t,q\n0,1\n0.1,one\n0.2,1\n", "'one' is not a number"),
    "decreasing.csv": ("t,q\n0,1\n0.2,1\n0.1,1\n", "strictly increasing"),
    "nonuniform.csv": ("t,q\n0,1\n0.1,1\n0.3,1\n0.4,1\n", "uniform"),
    "two_dts.csv": ("t,q,traj\n0,1,a\n0.1,1,a\n0.2,1,a\n0,1,b\n0.2,1,b\n0.4,1,b\n", "different time steps"),
    "empty.csv": ("", "header row"),
    "header_only.csv": ("t,q\n", "header row"),
    "too_short.csv": ("t,q\n0,1\n0.1,2\n", "at least 3"),
    "dup.csv": ("t,q,q\n0,1,1\n0.1,1,1\n0.2,1,1\n", "repeated"),
}


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_bad_csv(tmp_path, name):
    text, fragment = BAD_CSV[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=fragment) as info:
        import_trajectories(path)
    assert name in str(info.value)


def test_bad_npz_and_paths(tmp_path, noisy):
    cases = {
        "nan.npz": {"t": noisy["t"], "q": np.where(np.arange(20) == 3, np.nan, 0.0)},
        "extra.npz": {"t": noisy["t"], "q": noisy["q"], "velocity": noisy["p"]},
        "no_q.npz": {"t": noisy["t"], "p": noisy["p"]},
        "mismatch.npz": {"t": noisy["t"], "q": noisy["q"], "p": noisy["p"][:2]},
        "t_len.npz": {"t": noisy["t"][:5], "q": noisy["q"]},
        "d_mismatch.npz": {"t": noisy["t"], "q": noisy["q"], "p": np.concatenate([noisy["p"]] * 2, axis=2)},
    }
    fragments = {"nan.npz": "NaN or inf", "extra.npz": "unknown array", "no_q.npz": "no array 'q'",
                 "mismatch.npz": "p has shape", "t_len.npz": "points per trajectory",
                 "d_mismatch.npz": "q has"}
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(ValueError, match=fragments[name]):
            import_trajectories(tmp_path / name)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for path, fragment in [("junk.npz", "junk.npz"), ("absent.csv", "no such file"), ("data.txt", ".csv or .npz")]:
        with pytest.raises(ValueError, match=fragment):
            import_trajectories(tmp_path / path)
    assert not any(f.startswith(".tmp") for f in os.listdir(tmp_path))


# -- control inputs: u (m = 1) or u0, u1, ... (m > 1) ---------------------------------------------------------


@pytest.fixture(scope="module")
def driven():
    return make_noisy_dataset("driven-pendulum", 3, seed=4, n_steps=15)


def test_csv_inputs_round_trip(tmp_path, driven):
    ds = import_trajectories(write_csv(tmp_path / "lab.csv", driven, fields=("q", "p", "u")))
    np.testing.assert_array_equal(ds["u"], driven["u"])
    np.testing.assert_array_equal(ds["q"], driven["q"])
    assert ds["meta"]["n_inputs"] == 1 and list(ds)[-2:] == ["u", "meta"]
    save_dataset(tmp_path / "lab.npz", ds)
    np.testing.assert_array_equal(load_dataset(tmp_path / "lab.npz")["u"], driven["u"])
    # no inputs, no u and no n_inputs: imports of conservative data are as before
    plain = import_trajectories(write_csv(tmp_path / "plain.csv", driven, fields=("q", "p")))
    assert "u" not in plain and "n_inputs" not in plain["meta"]


def test_csv_several_inputs_independent_of_d(tmp_path):
    t = np.arange(6) * 0.5
    rows = ["t,q,u1,u0"] + [f"{ti},{np.sin(ti)},{10 + ti},{-ti}" for ti in t]
    (tmp_path / "two.csv").write_text("\n".join(rows) + "\n")
    ds = import_trajectories(tmp_path / "two.csv")
    assert ds["q"].shape == (1, 6, 1) and ds["u"].shape == (1, 6, 2) and ds["meta"]["n_inputs"] == 2
    np.testing.assert_array_equal(ds["u"][0, :, 0], -t)  # u0 first, whatever the column order
    np.testing.assert_array_equal(ds["u"][0, :, 1], 10 + t)


def test_npz_inputs_shapes(tmp_path, driven):
    np.savez(tmp_path / "a.npz", t=driven["t"], q=driven["q"], u=driven["u"][..., 0])  # (n, T) -> m = 1
    np.testing.assert_array_equal(import_trajectories(tmp_path / "a.npz")["u"], driven["u"])
    wide = np.concatenate([driven["u"], -driven["u"]], axis=2)
    np.savez(tmp_path / "b.npz", t=driven["t"], q=driven["q"], u=wide)
    assert import_trajectories(tmp_path / "b.npz")["u"].shape == (3, 15, 2)
    save_dataset(tmp_path / "c.npz", driven)  # a saved vinnp dataset with inputs imports with them
    np.testing.assert_array_equal(import_trajectories(tmp_path / "c.npz")["u"], driven["u"])


BAD_INPUT_CSV = {
    "u_nan.csv": ("t,q,u\n0,1,2\n0.1,1,nan\n0.2,1,2\n", "line 3, column 'u': NaN or inf"),
    "u_inf.csv": ("t,q,u0,u1\n0,1,2,3\n0.1,1,2,3\n0.2,1,2,-inf\n", "line 4, column 'u1': NaN or inf"),
    "u_numbering.csv": ("t,q,u0,u2\n0,1,2,3\n0.1,1,2,3\n0.2,1,2,3\n", "u0..u"),
    "u_mixed.csv": ("t,q,u,u0\n0,1,2,3\n0.1,1,2,3\n0.2,1,2,3\n", "u alone or u0"),
    "u_true.csv": ("t,q,u_true\n0,1,2\n0.1,1,2\n0.2,1,2\n", "unknown column 'u_true'"),
    "u_word.csv": ("t,q,u\n0,1,2\n0.1,1,push\n0.2,1,2\n", "column 'u': 'push' is not a number"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT_CSV))
def test_bad_input_columns(tmp_path, name):
    text, fragment = BAD_INPUT_CSV[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=fragment) as info:
        import_trajectories(tmp_path / name)
    assert name in str(info.value)


def test_bad_input_arrays(tmp_path, driven):
    cases = {
        "u_nan.npz": (np.where(np.arange(15) == 4, np.nan, driven["u"][..., 0]), "u contains NaN or inf"),
        "u_traj.npz": (driven["u"][:2], r"u has shape \(2, 15, 1\), expected \(n_traj, n_steps\[, m\]\)"),
        "u_len.npz": (driven["u"][:, :9], "u has 9 points per trajectory but t has 15"),
        "u_4d.npz": (driven["u"][..., None], "u has shape"),
    }
    for name, (u, fragment) in cases.items():
        np.savez(tmp_path / name, t=driven["t"], q=driven["q"], u=u)
        with pytest.raises(ValueError, match=fragment) as info:
            import_trajectories(tmp_path / name)
        assert name in str(info.value)
