"""Sampling of initial states and noisy datasets (issue 3, item 2; Appendix C.1)."""

import zipfile

import numpy as np
import pytest
from scipy import stats

from vinnp.data.dataset import load_dataset, save_dataset
from vinnp.data.noisy import REGIMES, make_noisy_dataset
from vinnp.systems import SYSTEMS, get_system

# the damped and driven variants sample on their conservative parent's orbits, in its range
RANGES = {"spring": (0.2, 1.0), "pendulum": (1.3, 2.3), "damped-spring": (0.2, 1.0), "damped-pendulum": (1.3, 2.3),
          "driven-pendulum": (1.3, 2.3)}


@pytest.mark.parametrize("name", SYSTEMS)
def test_sampled_energies_lie_in_range_and_are_uniform(name):
    system = get_system(name)
    q0, p0 = system.sample_initial_states(2000, np.random.default_rng(0))
    assert q0.shape == p0.shape == (2000,)
    lo, hi = RANGES[name]
    energy = system.energy(q0, p0)
    assert energy.min() >= lo * (1 - 1e-12) and energy.max() <= hi * (1 + 1e-12)
    assert stats.kstest(energy, stats.uniform(lo, hi - lo).cdf).pvalue > 0.01


def test_spring_phase_is_uniform():
    q0, p0 = get_system("spring").sample_initial_states(2000, np.random.default_rng(1))
    phase = np.arctan2(-p0, q0)  # q = A cos φ, p = −A sin φ for k = m = 1
    assert stats.kstest(phase, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01


def test_pendulum_phase_is_uniform_in_time():
    """At one energy, sampled angles follow the time-average distribution of the orbit."""
    pend = get_system("pendulum")
    q0, _ = pend.sample_initial_states(1500, np.random.default_rng(2), (2.0, 2.0))
    qa, pa = pend.sample_initial_states(1, np.random.default_rng(3), (2.0, 2.0))
    # a long ground truth at an incommensurate step samples the orbit uniformly in time
    q_orbit, _ = pend.trajectory(qa[0], pa[0], np.arange(3000) * 0.0137)
    assert stats.ks_2samp(q0, q_orbit).pvalue > 0.01
    # and a skewed sampler (uniform in angle) is told apart: the test can fail
    q_uniform_angle = np.random.default_rng(4).uniform(q_orbit.min(), q_orbit.max(), 1500)
    assert stats.ks_2samp(q_uniform_angle, q_orbit).pvalue < 1e-6


@pytest.mark.parametrize(
    "name, energy_range, fragment",
    [
        ("pendulum", (1.3, 19.62), "separatrix"),
        ("pendulum", (20.0, 25.0), "separatrix"),
        ("spring", (1.0, 0.2), "lo <= hi"),
        ("spring", (0.0, 1.0), "0 < lo"),
        ("spring", (-1.0, 1.0), "0 < lo"),
        ("spring", (0.2, np.inf), "finite"),
        ("spring", (0.2,), "two numbers"),
    ],
)
def test_bad_energy_ranges(name, energy_range, fragment):
    system = get_system(name)
    with pytest.raises(ValueError, match=fragment):
        system.sample_initial_states(3, np.random.default_rng(0), energy_range)
    with pytest.raises(ValueError, match=fragment):
        make_noisy_dataset(name, 2, 0, energy_range=energy_range)


def test_sampler_needs_an_explicit_generator():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        get_system("spring").sample_initial_states(3, 0)


def test_noisy_dataset_layout_and_meta():
    ds = make_noisy_dataset("pendulum", REGIMES["low"], seed=7)
    assert ds["t"].shape == (30,) and np.allclose(ds["t"], np.arange(30) * 0.1)
    for key in ("q", "p", "dqdt", "dpdt", "q_true", "p_true", "dqdt_true", "dpdt_true"):
        assert ds[key].shape == (5, 30, 1) and ds[key].dtype == np.float64
    assert ds["q"].size == 150  # the low-data regime: 150 points
    meta = ds["meta"]
    assert meta == {
        "obs": "noisy", "system": "pendulum", "params": {"m": 1.0, "l": 1.0, "g": 9.81}, "n_traj": 5,
        "seed": 7, "n_steps": 30, "dt": 0.1, "noise_std": 0.1, "energy_range": [1.3, 2.3],
    }
    pend = get_system("pendulum")
    dqdt, dpdt = pend.vector_field(ds["q_true"], ds["p_true"])
    np.testing.assert_array_equal(ds["dqdt_true"], dqdt)
    np.testing.assert_array_equal(ds["dpdt_true"], dpdt)
    energy = pend.energy(ds["q_true"], ds["p_true"])[..., 0]
    assert np.all((energy > 1.3 - 1e-8) & (energy < 2.3 + 1e-8))
    assert np.max(np.abs(energy / energy[:, :1] - 1)) < 1e-8


@pytest.mark.parametrize("name", SYSTEMS)
def test_noise_has_the_stated_standard_deviation(name):
    """6000 residuals per quantity: sample σ within 4 standard errors of 0.1, mean near 0, uncorrelated."""
    ds = make_noisy_dataset(name, 200, seed=11, noise_std=0.1)
    residuals = [ds[k] - ds[k + "_true"] for k in ("q", "p", "dqdt", "dpdt")]
    n = residuals[0].size
    for r in residuals:
        assert abs(r.std() - 0.1) < 4 * 0.1 / np.sqrt(2 * n)
        assert abs(r.mean()) < 4 * 0.1 / np.sqrt(n)
        assert stats.normaltest(r.ravel()).pvalue > 0.001
    corr = np.corrcoef([r.ravel() for r in residuals])
    assert np.max(np.abs(corr - np.eye(4))) < 4 / np.sqrt(n)


def test_noise_std_zero_and_other_sigma():
    clean = make_noisy_dataset("spring", 3, seed=1, noise_std=0.0)
    np.testing.assert_array_equal(clean["q"], clean["q_true"])
    loud = make_noisy_dataset("spring", 100, seed=1, noise_std=0.5)
    assert abs((loud["p"] - loud["p_true"]).std() - 0.5) < 0.02


def test_same_seed_same_file_other_seed_independent(tmp_path, monkeypatch):
    import time

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_dataset(a, make_noisy_dataset("spring", 25, seed=3))
    an_hour_later = time.localtime(time.time() + 3600.0)  # zip members take their dates from localtime()
    monkeypatch.setattr(time, "localtime", lambda secs=None: an_hour_later)
    save_dataset(b, make_noisy_dataset("spring", 25, seed=3))
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as za:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in za.infolist())
    test = make_noisy_dataset("spring", 25, seed=4)  # held-out data: another seed
    train = load_dataset(a)
    assert not np.any(np.isclose(train["q_true"][:, 0], test["q_true"][:, 0]))


def test_regimes_sizes():
    assert REGIMES == {"moderate": 25, "low": 5}
    assert make_noisy_dataset("spring", REGIMES["moderate"], seed=0)["q"].size == 750


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n_traj": 0}, "n_traj"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"n_steps": 0}, "n_steps"),
        ({"dt": 0.0}, "dt"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"system_or_name": "oscillator"}, "system"),
    ],
)
def test_bad_generator_arguments(kwargs, fragment):
    args = {"system_or_name": "spring", "n_traj": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        make_noisy_dataset(**args)


def test_accepts_a_system_object():
    ds = make_noisy_dataset(get_system("spring", k=4.0), 2, seed=0, n_steps=5, dt=0.2)
    assert ds["meta"]["params"] == {"k": 4.0, "m": 1.0} and ds["t"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
