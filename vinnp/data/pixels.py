"""28×28 pixel observations of the pendulum and the mass-spring (Section 4.2, Appendix C.2).

Pictures (white shape, grey level 1, on black, 0):

* pendulum: a rod 3 px thick with round ends, from a fixed pivot at the image
  centre (14, 14) to 10 px away in the direction (sin q, −cos q) of the plane,
  i.e. column 14 + 10 sin q, row 14 + 10 cos q (rows grow downwards; q = 0
  hangs straight down). Any angle stays inside the frame.
* mass-spring: a disc of radius 3 px centred on row 14, column 14 + 6 q (6 px
  per unit of q; the spring is not drawn). The largest amplitude of the default
  energy range (E = 1, |q| = √2) reaches column 25.4 of 28; |q| <= 11/6 ≈ 1.83
  stays wholly inside, larger |q| is cut off at the border.

Grey levels are anti-aliased: each pixel holds the fraction of its area the
shape covers (8×8 sub-pixel samples, 65 levels). The VAE decoder models grey
levels with Bernoulli likelihoods on [0, 1], and coverage makes the image a
continuous function of q, so the angle is recoverable at sub-pixel precision
(a binary image moves in whole-pixel jumps). The rasteriser is Numba
(vinnp.data.raster); no matplotlib on this path.

Training data (Section 4.2): 6 s at 10 Hz, i.e. 60 frames per trajectory. The
paper does not state the energies of the pixel experiments; by default we use
each system's Appendix C.1 range (pendulum amplitudes 30°–40°, spring
amplitudes 0.63–1.41).
"""

import numpy as np

from vinnp.checks import as_array, one_of
from vinnp.data.common import check_seed, generation_meta, ground_truth, time_axis
from vinnp.data.raster import render_capsules, render_capsules_reference
from vinnp.systems import SYSTEMS, System, as_system, get_system

# Frames are of the paper's two systems (Section 4.2); damped and driven ones have no pixel data.
PIXEL_SYSTEMS = tuple(name for name in SYSTEMS if not get_system(name).forced)

IMAGE_SIZE = 28
CENTRE = IMAGE_SIZE / 2.0  # pivot / rest position, in pixels
ROD_LENGTH = 10.0  # pivot to the rod's end axis point, pixels
ROD_RADIUS = 1.5  # half thickness, pixels
BALL_RADIUS = 3.0  # pixels
SPRING_SCALE = 6.0  # pixels per unit of q
SUPERSAMPLE = 8  # sub-pixel samples per axis

GEOMETRY = {
    "image_size": IMAGE_SIZE,
    "centre_px": CENTRE,
    "rod_length_px": ROD_LENGTH,
    "rod_radius_px": ROD_RADIUS,
    "ball_radius_px": BALL_RADIUS,
    "spring_scale_px_per_unit": SPRING_SCALE,
    "grey_levels": f"anti-aliased area coverage, {SUPERSAMPLE}x{SUPERSAMPLE} sub-pixel samples",
}


def _capsules(name, q):
    """End points (x0, y0, x1, y1) in pixels and the radius for configurations q (flat)."""
    if name == "pendulum":
        x1 = CENTRE + ROD_LENGTH * np.sin(q)
        y1 = CENTRE + ROD_LENGTH * np.cos(q)
        return (np.full_like(q, CENTRE), np.full_like(q, CENTRE), x1, y1), ROD_RADIUS
    x = CENTRE + SPRING_SCALE * q
    y = np.full_like(q, CENTRE)
    return (x, y, x, y), BALL_RADIUS


def _prepare(system_name, q):
    if isinstance(system_name, System):
        system_name = system_name.name
    name = one_of(system_name, "system", PIXEL_SYSTEMS)
    q = as_array(q, "q")
    return name, q, np.ascontiguousarray(q, dtype=np.float64).reshape(-1)


def render_frames(system_name, q):
    """Render configurations q (any shape; rad for the pendulum) to frames of shape q.shape + (28, 28).

    system_name: "pendulum" or "spring" (or a System). Returns float32 grey
    levels in [0, 1] (area coverage). NaN/inf in q raise ValueError.
    """
    name, q, flat = _prepare(system_name, q)
    ends, radius = _capsules(name, flat)
    frames = render_capsules(*ends, radius, size=IMAGE_SIZE, ss=SUPERSAMPLE)
    return frames.reshape(q.shape + (IMAGE_SIZE, IMAGE_SIZE))


def render_frames_reference(system_name, q):
    """Same as :func:`render_frames` with the slow all-NumPy rasteriser (for tests)."""
    name, q, flat = _prepare(system_name, q)
    ends, radius = _capsules(name, flat)
    frames = render_capsules_reference(*ends, radius, size=IMAGE_SIZE, ss=SUPERSAMPLE)
    return frames.reshape(q.shape + (IMAGE_SIZE, IMAGE_SIZE))


def make_pixel_dataset(system_or_name, n_traj, seed, n_steps=60, dt=0.1, energy_range=None):
    """Generate pixel observations of ground-truth trajectories (Section 4.2).

    system_or_name: a System or "spring"/"pendulum"; n_traj: int >= 1;
    seed: int >= 0 (draws: energies, then phases, from default_rng(seed));
    n_steps, dt (s): the grid t = dt·(0..n_steps−1) (default 6 s at 10 Hz);
    energy_range: (lo, hi) or None for the system's Appendix C.1 range.

    Returns a dict: ``frames`` (n_traj, n_steps, 28, 28) float32 in [0, 1];
    ``t`` (n_steps,); ``q_true, p_true`` (n_traj, n_steps, 1) float64; ``meta``
    (system, params, n_traj, seed, n_steps, dt, energy_range, obs="pixels",
    geometry of the pictures).
    """
    system = as_system(system_or_name)
    seed = check_seed(seed)
    t, n_steps, dt = time_axis(n_steps, dt)
    rng = np.random.default_rng(seed)
    q_true, p_true, energy_range = ground_truth(system, n_traj, rng, t, energy_range)
    frames = render_frames(system.name, q_true[..., 0])
    meta = generation_meta("pixels", system, q_true.shape[0], seed, n_steps, dt, energy_range,
                           render=dict(GEOMETRY))
    return {"frames": frames, "t": t, "q_true": q_true, "p_true": p_true, "meta": meta}
