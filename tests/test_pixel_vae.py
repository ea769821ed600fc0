"""The VIN-VAE of Section 3.2: the whole ELBO gradient against central differences, the
reparameterisation, input checks, and a tiny model learning pendulum frames."""

import numpy as np
import pytest

from vinnp.data.dataset import batch_indices, windows
from vinnp.data.pixels import make_pixel_dataset
from vinnp.dynamics import so2
from vinnp.gradcheck.core import check_block, gradcheck
from vinnp.gradcheck.models import gradcheck_model, pixel_vae_blocks as gradcheck_blocks
from vinnp.models.pixel_vae import FD_FLOOR, PIXEL_MODELS, PixelVIN
from vinnp.optim import Adam


def fd_floor(value):
    """Relative-error floor from the size of the loss; see FD_FLOOR in the module.

    The loss sums B*T*784 Bernoulli terms (|f| ~ 2e3 here), so central differences
    carry an absolute round-off of ~1.5e-12 |f|: entries below 1e-5 |f| are judged
    on absolute error <= 1e-11 |f| instead of relative error.
    """
    return FD_FLOOR * max(1.0, abs(value))


# --------------------------------------------------------------------------
# The whole ELBO against central differences, every cell kind, float64
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PIXEL_MODELS)
def test_elbo_gradient_matches_central_differences(kind):
    """784 -> 6 -> 6 encoder, LSTM H = 4, decoder 5 -> 5 -> 784, T = 4, B = 2.

    gradcheck_model redraws until every ReLU pre-activation is >= 1e-2 from its
    kink (a stencil step of 2e-4 max(1, |p|) moves none that far) and, for
    SO(2), |sin dth| <= 0.9, so every sampled entry is a smooth derivative.
    The mass is learned for the VINs, so its gradient is checked too. The Figure 5
    baselines (dvae, and the static vae and lg-vae on single frames) are checked alike.
    """
    rng = np.random.default_rng(PIXEL_MODELS.index(kind))
    model, params, frames, eps = gradcheck_model(kind, rng)
    value = model.loss(params, frames, eps)
    rows = gradcheck(lambda p: model.loss(p, frames, eps), lambda p: model.loss_and_grad(p, frames, eps),
                     params, model.layout, rng=rng, max_entries=8, floor=fd_floor(value))
    assert {r["param"] for r in rows} == set(model.layout.names)
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


@pytest.mark.parametrize("kind", PIXEL_MODELS)
def test_every_gradient_entry_is_written(kind, monkeypatch):
    """The backward fills a np.empty buffer and zeros only the parts the networks add into:
    with every np.empty handing out NaNs instead of whatever memory held, the gradient must
    come out finite and bit-identical, so no entry is left unwritten."""
    model, params, frames, eps = gradcheck_model(kind, np.random.default_rng(3))
    _, want = model.loss_and_grad(params, frames, eps)
    real_empty = np.empty
    monkeypatch.setattr(np, "empty", lambda shape, dtype=float, **kw: np.full(shape, np.nan, dtype))
    _, got = model.loss_and_grad(params, frames, eps)
    monkeypatch.setattr(np, "empty", real_empty)
    assert np.all(np.isfinite(got)) and np.array_equal(got, want)


@pytest.mark.parametrize("kind, coords", [("vin-sv", "state"), ("vin-so2", "velocity")])
def test_elbo_gradient_in_the_other_coordinates_of_x1(kind, coords):
    """The defaults (vin-sv: velocity, vin-so2: state) are checked above; here the other choice."""
    rng = np.random.default_rng(11)
    model, params, frames, eps = gradcheck_model(kind, rng, x1_coords=coords)
    assert model.config["x1_coords"] == coords
    value = model.loss(params, frames, eps)
    rows = gradcheck(lambda p: model.loss(p, frames, eps), lambda p: model.loss_and_grad(p, frames, eps),
                     params, model.layout, rng=rng, max_entries=8, floor=fd_floor(value))
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


def test_velocity_coordinates_start_the_cell_at_the_backward_difference():
    """x_1 = (q_1, v_1) is the state (q_1 - h v_1, q_1), and the init starts every window at rest."""
    rng = np.random.default_rng(5)
    vel = PixelVIN("vin-sv", 4, 1, h=0.3, enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=5)
    st = PixelVIN("vin-sv", 4, 1, h=0.3, enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=5,
                  x1_coords="state")
    assert vel.config["x1_coords"] == "velocity" and vel.layout == st.layout
    z = rng.standard_normal((3, 2))
    x = vel.initial_state(z)
    assert np.allclose(x[:, 0, 0], z[:, 0] - 0.3 * z[:, 1]) and np.array_equal(x[:, 1, 0], z[:, 0])
    params = vel.init(rng)
    frames = rng.uniform(size=(3, 4, 28, 28))
    mean, _ = vel.encode(params, frames)
    assert np.all(mean[:, 1] == 0.0)  # zero velocity rows, zero bias: at rest
    q, _ = vel.forecast_latent(params, frames, 2)
    assert np.allclose(q[:, 0, 0], mean[:, 0])  # at rest at q_1: the rollout's first position is q_1


def test_checkpoints_without_x1_coords_read_as_state():
    model = PixelVIN("vin-sv", 4, 1, enc_hidden=6, lstm_hidden=4, dec_hidden=5, dyn_hidden=5)
    old = {k: v for k, v in model.to_json().items() if k != "x1_coords"}
    assert PixelVIN.from_json(old).config["x1_coords"] == "state"
    assert PixelVIN.from_json(model.to_json()).config == model.config


def test_gradcheck_blocks_cover_every_model():
    blocks = gradcheck_blocks(np.random.default_rng(0))
    assert [b.name for b in blocks] == [f"pixel-vae[{k}]" for k in PIXEL_MODELS]
    block = blocks[PIXEL_MODELS.index("vin-vv")]
    assert block.meta["floor"] == fd_floor(block.loss(block.params))
    rows = check_block(block, max_entries=4, floor=block.meta["floor"])
    assert all(r["ok"] for r in rows), rows


def test_elbo_is_minus_the_loss_and_splits_into_its_terms():
    model, params, frames, eps = gradcheck_model("vin-sv", np.random.default_rng(7))
    elbo, g_neg = model.elbo_and_grad(params, frames, eps)
    loss, g = model.loss_and_grad(params, frames, eps)
    assert elbo == -loss and np.array_equal(g_neg, g)
    loglik, kl = model.elbo_terms(params, frames, eps)
    assert kl > 0 and loglik < 0
    assert elbo == pytest.approx(loglik - kl, rel=1e-14)


# --------------------------------------------------------------------------
# Reparameterisation x_1 = m_1 + s_1 * eps with eps fixed by the caller
# --------------------------------------------------------------------------


def test_loss_is_a_function_of_the_given_noise():
    model, params, frames, eps = gradcheck_model("vin-vv", np.random.default_rng(3))
    a = model.loss_and_grad(params, frames, eps)
    b = model.loss_and_grad(params, frames, eps.copy())
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert model.loss(params, frames, eps + 0.1) != a[0]


def test_with_zero_noise_the_log_variance_only_feels_the_kl():
    """eps = 0: x_1 = m_1, so d loss / d log s^2 is the KL's, 0.5 (s^2 - 1) / B per entry."""
    model, params, frames, eps = gradcheck_model("vin-so2", np.random.default_rng(4))
    zero = np.zeros_like(eps)
    _, grad = model.loss_and_grad(params, frames, zero)
    _, log_var = model.encode(params, frames)
    n = model.x_dim
    b = model.layout.view(grad, "head.b1")
    np.testing.assert_allclose(b[n:], 0.5 * np.mean(np.exp(log_var) - 1.0, axis=0), rtol=1e-12, atol=1e-15)


def test_noise_enters_scaled_by_the_posterior_std():
    """d loss/d eps_bi = s_bi dL/dx_1bi, and the mean's head bias collects sum_b dL/dx_1b + m_b / B."""
    model, params, frames, eps = gradcheck_model("vin-sv", np.random.default_rng(5))
    mean, log_var = model.encode(params, frames)
    s = np.exp(0.5 * log_var)
    _, grad = model.loss_and_grad(params, frames, eps)
    d_eps = np.zeros_like(eps)
    for i in np.ndindex(eps.shape):
        e = np.zeros_like(eps)
        e[i] = 1e-5
        d_eps[i] = (model.loss(params, frames, eps + e) - model.loss(params, frames, eps - e)) / 2e-5
    dx1 = d_eps / s
    expected = dx1.sum(axis=0) + mean.sum(axis=0) / eps.shape[0]
    got = model.layout.view(grad, "head.b1")[: model.x_dim]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_zero_noise_path_is_the_forecast_path():
    """With eps = 0 the likelihood decodes exactly the posterior-mean rollout of forecast_latent."""
    model, params, frames, _ = gradcheck_model("vin-so2", np.random.default_rng(6))
    B, T = frames.shape[:2]
    q, p = model.forecast_latent(params, frames, T)
    assert q.shape == p.shape == (B, T, 1)
    pix = model.decode(params, q)
    assert pix.shape == (B, T, 28, 28) and np.all((pix > 0) & (pix < 1))
    nll = -np.sum(frames * np.log(pix) + (1 - frames) * np.log1p(-pix)) / B
    loglik, _ = model.elbo_terms(params, frames, np.zeros((B, model.x_dim)))
    assert -loglik == pytest.approx(nll, rel=1e-10)
    q_long, _ = model.forecast_latent(params, frames, 3 * T)
    np.testing.assert_allclose(q_long[:, :T], q, rtol=1e-12)


def test_float32_tracks_float64():
    model, params, frames, eps = gradcheck_model("vin-vv", np.random.default_rng(8))
    v64, g64 = model.loss_and_grad(params, frames, eps)
    v32, g32 = model.loss_and_grad(params.astype(np.float32), frames.astype(np.float32), eps)
    assert g32.dtype == np.float32
    # measured: 2e-8 and 2e-7 (float32 round-off ~6e-8 per operation)
    assert v32 == pytest.approx(v64, rel=1e-6)
    assert np.linalg.norm(g32 - g64) <= 1e-5 * np.linalg.norm(g64)


def test_default_so2_step_keeps_fresh_rollouts_inside_the_asin_domain():
    """Paper-width dynamics (1000 sin units), T = 10, fresh parameters, real frames.

    h = 0.1 (the default) never clips sin(dth), and stays below 0.9; Appendix C.2's
    h = 1 clips a large share of the steps, and a clipped step passes no gradient.
    """
    frames = windows(make_pixel_dataset("pendulum", 1, 0)["frames"], 10)
    clipped = {}
    for h in (0.1, 1.0):
        model = PixelVIN("vin-so2", 10, 1, h=h, enc_hidden=16, lstm_hidden=4, dec_hidden=4)
        S = []
        for seed in range(5):
            rng = np.random.default_rng(seed)
            params = model.init(rng)
            _, cache = model._forward(params, frames, rng.standard_normal((frames.shape[0], 2)))
            S.append(cache["cell"][2])
        S = np.abs(np.concatenate(S))
        clipped[h] = np.mean(S >= so2.CLIP)
        if h == 0.1:
            assert S.max() < 0.9
    assert clipped[0.1] == 0 and clipped[1.0] > 0.1, clipped


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_bad_inputs_name_the_argument():
    model = PixelVIN("vin-vv", 4, 1, enc_hidden=3, lstm_hidden=2, dec_hidden=3, dyn_hidden=3)
    params = model.init(np.random.default_rng(0))
    frames = np.full((2, 4, 28, 28), 0.5)
    eps = np.zeros((2, 2))
    short = "frames: windows of 3 frames are shorter than the model's depth T = 4"
    cases = [
        (lambda: model.loss(params, np.zeros((2, 4, 32, 32)), eps), r"frames: expected shape \(batch, 4, 28, 28"),
        (lambda: model.loss(params, np.zeros((4, 28, 28)), eps), "frames: expected a 4-d array"),
        (lambda: model.loss(params, frames * 3, eps), r"frames: expected grey levels in \[0, 1\]"),
        (lambda: model.loss(params, frames - 1, eps), r"frames: expected grey levels in \[0, 1\]"),
        (lambda: model.loss(params, np.full_like(frames, np.nan), eps), "frames: contains NaN"),
        (lambda: model.loss(params, frames[:, :3], eps), short),
        (lambda: model.encode(params, frames[:, :2]), "frames: windows of 2 frames are shorter"),
        (lambda: model.loss(params, np.full((2, 5, 28, 28), 0.5), eps), "frames: expected windows of exactly T"),
        (lambda: model.loss(params, frames, np.zeros((2, 3))), r"eps: expected shape \(2, 2\)"),
        (lambda: model.loss(params[:-1], frames, eps), "params: expected shape"),
        (lambda: model.decode(params, np.zeros((5, 2))), r"q: expected positions of shape \(\.\.\., 1\)"),
        (lambda: model.forecast_latent(params, frames, 0), "n_steps"),
        (lambda: model.init(0), "rng: expected a numpy.random.Generator"),
        (lambda: PixelVIN("vin-so2", 4, latent_dim=2), "latent_dim: vin-so2 evolves one angle"),
        (lambda: PixelVIN("lstm", 4), "kind: expected one of"),
        (lambda: PixelVIN("vin-sv", 0), "window"),
        (lambda: PixelVIN("vin-sv", 4, h=-1.0), "h: expected a number > 0"),
        (lambda: PixelVIN("vin-sv", 4, x1_coords="polar"), "x1_coords: expected one of"),
        (lambda: PixelVIN("vin-vv", 4, x1_coords="velocity"), "x1_coords: only vin-sv and vin-so2"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    # longer windows are fine where only the first T frames are read
    assert model.encode(params, np.full((2, 6, 28, 28), 0.5))[0].shape == (2, 2)


# --------------------------------------------------------------------------
# End to end: a tiny VIN-SO(2) learns pendulum frames
# --------------------------------------------------------------------------


def test_tiny_vin_so2_learns_pendulum_frames():
    """300 Adam steps on the 55 six-frame windows of one 6 s pendulum trajectory.

    Widths 784 -> 32 -> 32, LSTM 8, decoder 32 -> 32 -> 784, dynamics 16, T = 6,
    default h = 0.1. The ELBO (fixed evaluation noise) must rise by thousands of
    nats, end above the best *static* picture (the per-pixel mean of all frames,
    which no latent could help), and the encoder's angle must track the true one.
    """
    T = 6
    ds = make_pixel_dataset("pendulum", 1, 0)
    frames = windows(ds["frames"], T)
    model = PixelVIN("vin-so2", T, 1, enc_hidden=32, lstm_hidden=8, dec_hidden=32, dyn_hidden=16)
    rng = np.random.default_rng(0)
    params = model.init(rng)
    eps_eval = rng.standard_normal((frames.shape[0], model.x_dim))
    start = -model.loss(params, frames, eps_eval)

    opt = Adam(params.size, lr=3e-3)
    step = 0
    while step < 300:
        for idx in batch_indices(frames.shape[0], 16, rng):
            eps = rng.standard_normal((idx.size, model.x_dim))
            _, grad = model.loss_and_grad(params, frames[idx], eps)
            opt.step(params, grad)
            step += 1
            if step == 300:
                break
    end = -model.loss(params, frames, eps_eval)

    mu = np.clip(frames.mean(axis=0, keepdims=True), 1e-6, 1 - 1e-6)
    static = float(np.sum(frames * np.log(mu) + (1 - frames) * np.log1p(-mu)) / frames.shape[0])
    assert end > start + 2000, (start, end)
    assert end > static + 100, (static, end)
    mean, _ = model.encode(params, frames)
    q_true = ds["q_true"][0, : frames.shape[0], 0]
    assert abs(np.corrcoef(mean[:, 1], q_true)[0, 1]) > 0.9
