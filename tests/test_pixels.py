"""28×28 pixel frames (issue 3, item 3; Section 4.2)."""

import subprocess
import sys

import numpy as np
import pytest

from vinnp.data.pixels import (
    BALL_RADIUS,
    CENTRE,
    SPRING_SCALE,
    make_pixel_dataset,
    render_frames,
    render_frames_reference,
)
from vinnp.systems import get_system

CENTRES = np.arange(28) + 0.5  # pixel centres along either axis


def moments(frames):
    """Centroid (column x, row y) of the grey mass of each frame."""
    mass = frames.sum(axis=(-2, -1))
    x = (frames * CENTRES).sum(axis=(-2, -1)) / mass
    y = (frames * CENTRES[:, None]).sum(axis=(-2, -1)) / mass
    return x, y, mass


@pytest.mark.parametrize("name", ["pendulum", "spring"])
def test_frames_shape_dtype_and_range(name):
    q = np.linspace(-1.2, 1.2, 24).reshape(2, 3, 4)
    frames = render_frames(name, q)
    assert frames.shape == (2, 3, 4, 28, 28) and frames.dtype == np.float32
    assert frames.min() == 0.0 and frames.max() == 1.0
    assert render_frames(name, 0.3).shape == (28, 28)
    # anti-aliased: intermediate grey levels exist
    assert np.any((frames > 0.05) & (frames < 0.95))


@pytest.mark.parametrize("name", ["pendulum", "spring"])
def test_numba_rasteriser_matches_numpy_reference(name):
    q = np.random.default_rng(0).uniform(-np.pi, np.pi, 64) * (1.0 if name == "pendulum" else 0.7)
    np.testing.assert_allclose(render_frames(name, q), render_frames_reference(name, q), rtol=0, atol=1e-6)


def test_rod_angle_recovered_from_pixel_moments():
    """The rod's centroid lies on its axis: atan2 of (column, row) offsets from the pivot gives q."""
    q = np.random.default_rng(1).uniform(-np.pi, np.pi, 500)
    x, y, _ = moments(render_frames("pendulum", q))
    recovered = np.arctan2(x - CENTRE, y - CENTRE)  # q = 0 hangs down: larger row, same column
    error = np.degrees(np.abs(np.angle(np.exp(1j * (recovered - q)))))
    assert error.max() < 1.0  # well within "a few degrees"
    # q = 0 is straight down, q = π/2 points to larger columns (direction (sin q, −cos q))
    down, right = render_frames("pendulum", [0.0, np.pi / 2])
    assert down[24, 14] == 1.0 and down[4, 14] == 0.0 and right[14, 24] == 1.0 and right[14, 4] == 0.0


def test_spring_ball_position_recovered_and_in_frame():
    q_max = np.sqrt(2.0)  # energy 1, k = 1: the largest amplitude of the default range
    q = np.linspace(-q_max, q_max, 101)
    frames = render_frames("spring", q)
    x, y, mass = moments(frames)
    np.testing.assert_allclose((x - CENTRE) / SPRING_SCALE, q, atol=0.01)
    np.testing.assert_allclose(y, CENTRE, atol=1e-6)
    np.testing.assert_allclose(mass, np.pi * BALL_RADIUS**2, rtol=0.02)  # whole disc inside
    assert frames[:, :, 0].max() == 0.0 and frames[:, :, -1].max() == 0.0


def test_grey_mass_constant_in_angle():
    """Coverage grey levels make the image a smooth function of q: total mass barely moves."""
    _, _, mass = moments(render_frames("pendulum", np.linspace(-np.pi, np.pi, 361)))
    assert mass.std() / mass.mean() < 0.01


@pytest.mark.parametrize(
    "name, q, fragment",
    [("pendulm", 0.1, "system"), ("pendulum", [0.1, np.nan], "NaN or inf"), ("spring", ["a"], "numeric")],
)
def test_render_bad_input(name, q, fragment):
    with pytest.raises(ValueError, match=fragment):
        render_frames(name, q)


def test_pixel_dataset_layout():
    ds = make_pixel_dataset("pendulum", 2, seed=5)
    assert ds["frames"].shape == (2, 60, 28, 28) and ds["frames"].dtype == np.float32
    assert ds["t"].shape == (60,) and ds["q_true"].shape == ds["p_true"].shape == (2, 60, 1)
    np.testing.assert_array_equal(ds["frames"], render_frames("pendulum", ds["q_true"][..., 0]))
    meta = ds["meta"]
    assert (meta["obs"], meta["system"], meta["seed"], meta["n_steps"], meta["dt"]) == ("pixels", "pendulum", 5, 60, 0.1)
    assert meta["energy_range"] == [1.3, 2.3] and meta["render"]["image_size"] == 28
    energy = get_system("pendulum").energy(ds["q_true"], ds["p_true"])
    assert np.all((energy >= 1.3 - 1e-8) & (energy <= 2.3 + 1e-8))
    again = make_pixel_dataset("pendulum", 2, seed=5)
    np.testing.assert_array_equal(ds["frames"], again["frames"])


def test_data_path_does_not_import_matplotlib():
    code = (
        "import sys; from vinnp.data.pixels import make_pixel_dataset; "
        "make_pixel_dataset('spring', 1, 0, n_steps=3); "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
