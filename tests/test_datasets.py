"""Dataset files, windows and minibatches (issue 3, item 4)."""

import json
import os

import numpy as np
import pytest

from vinnp.data.dataset import batch_indices, load_dataset, save_dataset, validate_dataset, windows
from vinnp.data.noisy import make_noisy_dataset
from vinnp.data.pixels import make_pixel_dataset


@pytest.fixture(scope="module")
def noisy():
    return make_noisy_dataset("spring", 3, seed=0, n_steps=12)


@pytest.fixture(scope="module")
def pixels():
    return make_pixel_dataset("pendulum", 2, seed=0, n_steps=15)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if k == "meta":
            assert a[k] == b[k]
        else:
            np.testing.assert_array_equal(a[k], b[k])
            assert a[k].dtype == b[k].dtype


@pytest.mark.parametrize("which", ["noisy", "pixels"])
def test_save_load_round_trip_without_pickle(tmp_path, which, request):
    ds = request.getfixturevalue(which)
    path = tmp_path / f"{which}.npz"
    save_dataset(path, ds)
    back = load_dataset(path)
    assert_same(ds, back)
    with np.load(path, allow_pickle=False) as raw:  # readable by plain numpy, meta is JSON text
        assert json.loads(str(raw["meta"]))["obs"] == which
        assert all(raw[k].dtype != object for k in raw.files)
    assert os.listdir(tmp_path) == [f"{which}.npz"]  # no temporary left behind


def test_save_refuses_to_overwrite(tmp_path, noisy):
    path = tmp_path / "d.npz"
    save_dataset(path, noisy)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="exists already"):
        save_dataset(path, make_noisy_dataset("spring", 1, seed=9, n_steps=4))
    assert path.read_bytes() == before
    save_dataset(path, make_noisy_dataset("spring", 1, seed=9, n_steps=4), overwrite=True)
    assert load_dataset(path)["meta"]["seed"] == 9


def test_save_rejects_bad_datasets(tmp_path, noisy):
    bad = dict(noisy, q=noisy["q"][:, :5])
    with pytest.raises(ValueError, match="q"):
        save_dataset(tmp_path / "x.npz", bad)
    with pytest.raises(ValueError, match="NaN"):
        save_dataset(tmp_path / "x.npz", dict(noisy, p=np.full_like(noisy["p"], np.nan)))
    with pytest.raises(ValueError, match="lacks dqdt"):
        save_dataset(tmp_path / "x.npz", {k: v for k, v in noisy.items() if k != "dqdt"})
    with pytest.raises(ValueError, match=".npz"):
        save_dataset(tmp_path / "x.dat", noisy)
    uneven = noisy["t"].copy()
    uneven[5] += 0.03
    with pytest.raises(ValueError, match="uniform"):
        save_dataset(tmp_path / "x.npz", dict(noisy, t=uneven))
    with pytest.raises(ValueError, match="increasing"):
        save_dataset(tmp_path / "x.npz", dict(noisy, t=noisy["t"][::-1].copy()))
    assert os.listdir(tmp_path) == []


def test_load_rejects_truncated_corrupt_and_foreign_files(tmp_path, noisy):
    good = tmp_path / "good.npz"
    save_dataset(good, noisy)
    data = good.read_bytes()
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "tail.npz": data[:-30],
        "corrupt.npz": data[:200] + bytes(200) + data[400:],
        "text.npz": b"t,q\n0,1\n",
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    np.savez(tmp_path / "badmeta.npz", meta=np.array("{not json"), t=np.zeros(2))
    np.savez(tmp_path / "badshape.npz", meta=np.array(json.dumps(noisy["meta"])),
             **{k: v for k, v in noisy.items() if k != "meta"} | {"p_true": np.zeros((3, 2, 1))})
    for name in list(cases) + ["foreign.npz", "badmeta.npz", "badshape.npz", "missing.npz"]:
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            load_dataset(tmp_path / name)


def test_windows_content_and_count():
    x = np.arange(2 * 6 * 3).reshape(2, 6, 3)
    w = windows(x, depth=4)
    assert w.shape == (2 * 3, 4, 3)
    np.testing.assert_array_equal(w[0], x[0, 0:4])
    np.testing.assert_array_equal(w[2], x[0, 2:6])
    np.testing.assert_array_equal(w[3], x[1, 0:4])
    w2 = windows(x, depth=2, stride=3)
    assert w2.shape == (4, 2, 3)
    np.testing.assert_array_equal(w2[1], x[0, 3:5])
    assert w.flags.c_contiguous and not np.shares_memory(w, x)
    np.testing.assert_array_equal(windows(x, 6)[1], x[1])


def test_windows_of_pixel_training_data(pixels):
    """Section 4.2: 60 frames -> 51 overlapping depth-10 windows per trajectory."""
    frames = np.zeros((3, 60, 28, 28), dtype=np.float32)
    assert windows(frames, 10).shape == (3 * 51, 10, 28, 28)
    assert windows(pixels["frames"], 10).shape == (2 * 6, 10, 28, 28)


@pytest.mark.parametrize("depth, stride, fragment", [(7, 1, "depth: expected at most"), (0, 1, "depth"), (2, 0, "stride")])
def test_windows_bad_arguments(depth, stride, fragment):
    with pytest.raises(ValueError, match=fragment):
        windows(np.zeros((2, 6)), depth, stride)


def test_batch_indices_seeded_and_covering():
    batches = batch_indices(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = batch_indices(10, 4, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = batch_indices(10, 4, np.random.default_rng(1))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))
    assert [len(b) for b in batch_indices(10, 4, np.random.default_rng(0), drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="Generator"):
        batch_indices(10, 4, 0)
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices(10, 0, np.random.default_rng(0))


def test_validate_names_the_dataset(noisy):
    with pytest.raises(ValueError, match="meta"):
        validate_dataset({k: v for k, v in noisy.items() if k != "meta"})
    with pytest.raises(ValueError, match="unknown key"):
        validate_dataset(dict(noisy, extra=np.zeros(2)))


# -- damped and driven systems: inputs in the dataset --------------------------------------------------------

from vinnp.systems import get_system  # noqa: E402


@pytest.fixture(scope="module")
def driven():
    return make_noisy_dataset("driven-pendulum", 4, seed=5, n_steps=25)


def test_driven_dataset_layout_and_meta(driven):
    system = get_system("driven-pendulum")
    assert driven["u"].shape == (4, 25, 1) and driven["u"].dtype == np.float64
    assert np.max(np.abs(driven["u"])) <= system.u_max
    meta = driven["meta"]
    assert (meta["system"], meta["friction"], meta["n_inputs"]) == ("driven-pendulum", 0.1, 1)
    assert meta["params"] == {"m": 1.0, "l": 1.0, "g": 9.81, "c": 0.1, "u_max": 6.0}
    assert meta["inputs"]["kind"] == "sines" and meta["inputs"]["energy_limit"] == pytest.approx(0.9 * 19.62)
    # the truth is the forced flow from the recorded inputs; the derivatives include friction and input
    q, p = system.trajectory(driven["q_true"][:, 0, 0], driven["p_true"][:, 0, 0], driven["t"], driven["u"])
    np.testing.assert_array_equal(q, driven["q_true"][..., 0])
    dqdt, dpdt = system.vector_field(driven["q_true"], driven["p_true"], driven["u"])
    np.testing.assert_array_equal(driven["dpdt_true"], dpdt)
    np.testing.assert_allclose(dpdt, -9.81 * np.sin(driven["q_true"]) - 0.1 * driven["p_true"] + driven["u"],
                               rtol=1e-13, atol=1e-13)
    energy = system.energy(driven["q_true"], driven["p_true"])
    assert np.all(energy < 0.9 * system.separatrix_energy)


def test_driven_dataset_same_seed_same_data_other_seed_other(driven):
    again = make_noisy_dataset("driven-pendulum", 4, seed=5, n_steps=25)
    assert_same(driven, again)
    other = make_noisy_dataset("driven-pendulum", 4, seed=6, n_steps=25)
    assert not np.any(np.isclose(other["u"][:, 0], driven["u"][:, 0]))


def test_driven_dataset_draw_order_and_redraws():
    """Energies, phases, inputs (with any redraws), then noise; u itself carries no noise."""
    ds = make_noisy_dataset("driven-pendulum", 6, seed=3, n_steps=40, input_kind="steps")
    assert ds["meta"]["inputs"]["n_redrawn"] > 0
    system = get_system("driven-pendulum")
    assert np.all(system.energy(ds["q_true"], ds["p_true"]) < 0.9 * system.separatrix_energy)
    rng = np.random.default_rng(3)
    *_, u, q, p, n_redrawn = system.sample_trajectories(6, ds["t"], rng, kind="steps")
    np.testing.assert_array_equal(ds["u"], u)
    np.testing.assert_array_equal(ds["q_true"][..., 0], q)
    np.testing.assert_array_equal(ds["q"], ds["q_true"] + 0.1 * rng.standard_normal(ds["q"].shape))
    with pytest.raises(ValueError, match="input_kind"):
        make_noisy_dataset("driven-pendulum", 2, seed=0, input_kind="chirp")


@pytest.mark.parametrize("name", ["spring", "pendulum"])
def test_conservative_datasets_unchanged(name):
    """The old recipe, step by step: energies, phases, truth, Hamilton's field, noise; no u, no new meta."""
    ds = make_noisy_dataset(name, 5, seed=8, n_steps=12)
    system = get_system(name)
    rng = np.random.default_rng(8)
    q0, p0 = system.sample_initial_states(5, rng)
    q, p = system.trajectory(q0, p0, np.arange(12) * 0.1)
    dqdt, dpdt = system.vector_field(q[..., None], p[..., None])
    old = {"q_true": q[..., None], "p_true": p[..., None], "dqdt_true": dqdt, "dpdt_true": dpdt}
    for key in ("q", "p", "dqdt", "dpdt"):
        old[key] = old[key + "_true"] + 0.1 * rng.standard_normal(old[key + "_true"].shape)
    assert set(ds) == set(old) | {"t", "meta"}
    for key in old:
        np.testing.assert_array_equal(ds[key], old[key])
    assert not {"friction", "n_inputs", "inputs"} & set(ds["meta"])


def test_damped_dataset(tmp_path):
    ds = make_noisy_dataset("damped-spring", 3, seed=1, n_steps=30, noise_std=0.0)
    assert "u" not in ds and (ds["meta"]["friction"], ds["meta"]["n_inputs"]) == (0.1, 0)
    np.testing.assert_allclose(ds["dpdt_true"], -ds["q_true"] - 0.1 * ds["p_true"], rtol=1e-15)
    energy = get_system("damped-spring").energy(ds["q_true"], ds["p_true"])[..., 0]
    assert np.all(np.diff(energy, axis=1) < 0)
    save_dataset(tmp_path / "d.npz", ds)
    assert_same(ds, load_dataset(tmp_path / "d.npz"))


def test_inputs_round_trip_and_window_like_q(tmp_path, driven):
    path = tmp_path / "driven.npz"
    save_dataset(path, driven)
    back = load_dataset(path)
    assert_same(driven, back)
    wq, wu = windows(back["q"], 10, stride=3), windows(back["u"], 10, stride=3)
    assert wu.shape == wq.shape[:2] + (1,)
    n_per = (25 - 10) // 3 + 1
    np.testing.assert_array_equal(wu[n_per + 2], back["u"][1, 6:16])
    np.testing.assert_array_equal(wq[n_per + 2], back["q"][1, 6:16])
    wide = np.arange(2 * 6 * 3.0).reshape(2, 6, 3)  # m = 3 inputs
    np.testing.assert_array_equal(windows(wide, 4)[4], wide[1, 1:5])


def test_bad_inputs_in_datasets(tmp_path, driven, noisy):
    cases = [
        (dict(driven, u=driven["u"][:, :-1]), r"u: expected shape \(4, 25, 1\)"),
        (dict(driven, u=driven["u"][..., 0]), "u: expected shape"),
        (dict(driven, u=np.concatenate([driven["u"]] * 2, axis=2)), r"u: expected shape \(4, 25, 1\)"),
        (dict(driven, u=np.full_like(driven["u"], np.inf)), "u: contains NaN or inf"),
        ({k: v for k, v in driven.items() if k != "u"}, "lacks u"),
        (dict(make_noisy_dataset("damped-spring", 3, seed=0, n_steps=12), u=np.zeros((3, 12, 1))), "no inputs"),
    ]
    for bad, fragment in cases:
        with pytest.raises(ValueError, match=fragment):
            save_dataset(tmp_path / "x.npz", bad)
    assert os.listdir(tmp_path) == []
    validate_dataset(dict(noisy, u=np.zeros((3, 12, 2))))  # a meta without n_inputs (hand-made) does not fix m
