"""The fused training steps (vinnp.training.fused) against loss_and_grad + Adam.step."""

import numpy as np
import pytest

from vinnp.dynamics.registry import INTEGRATORS
from vinnp.models.registry import make_model
from vinnp.optim import Adam
from vinnp.training.fused import make_stepper


def _batch(rng, n, T, d):
    q = rng.standard_normal((n, T, d))
    p = rng.standard_normal((n, T, d))
    return {"q": q, "p": 0.5 * p, "dqdt": p, "dpdt": -q}


# every integrator of the registry (a new one is covered with no new test code), and the HNN
CASES = [(name, n_seq, d, hidden) for name in [*INTEGRATORS, "hnn"]
         for n_seq, d, hidden in [(3, 1, (16,)), (70, 2, (9,)), (5, 1, (6, 5))]
         if (INTEGRATORS[name].dim if name in INTEGRATORS else None) in (None, d)]


@pytest.mark.parametrize("name, n_seq, d, hidden", CASES)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_fused_step_is_loss_and_grad_then_adam(name, n_seq, d, hidden, dtype, tol):
    """Three steps each way from the same start: same losses, same parameters, same Adam
    state. 70 sequences span several chunks; (6, 5) is a depth the fast path does not take."""
    rng = np.random.default_rng(n_seq + d)
    batch = {k: v.astype(dtype) for k, v in _batch(rng, n_seq, 12, d).items()}
    model = make_model(name, d, 0.1, n_seq=n_seq, hidden=hidden)
    fused_matches_loss_and_grad(model, batch, rng, dtype, tol)


def fused_matches_loss_and_grad(model, batch, rng, dtype, tol, check_grad=None):
    """Three steps each way from the same perturbed start: same losses, same parameters, same
    Adam state. ``check_grad(grad)`` asserts what each loss_and_grad gradient must hold."""
    start = model.init(rng, batch, dtype)
    start += (0.05 * rng.standard_normal(start.size)).astype(dtype)
    a, b = start.copy(), start.copy()
    opt_a, opt_b = Adam(a.size, lr=1e-2, dtype=dtype), Adam(b.size, lr=1e-2, dtype=dtype)
    step = make_stepper(model, batch, opt_b)
    assert step is not None
    for _ in range(3):
        loss_a, grad = model.loss_and_grad(a, batch)
        if check_grad is not None:
            check_grad(grad)
        opt_a.step(a, grad)
        loss_b = step(b)
        assert loss_b == pytest.approx(loss_a, rel=tol)
    scale = np.abs(a).max()
    assert np.max(np.abs(a - b)) <= tol * scale
    assert opt_b.t == opt_a.t == 3
    assert np.max(np.abs(opt_a.v - opt_b.v)) <= tol * np.abs(opt_a.v).max()


def test_a_non_finite_step_changes_nothing():
    rng = np.random.default_rng(0)
    batch = _batch(rng, 4, 8, 1)
    model = make_model("vin-vv", 1, 0.1, n_seq=4, hidden=(8,))
    params = model.init(rng, batch)
    params[model.layout.slice("log_var")] = -1e6  # exp(-log_var) overflows: the loss is inf
    opt = Adam(params.size)
    step = make_stepper(model, batch, opt)
    before = params.copy()
    assert not np.isfinite(step(params))
    assert np.array_equal(params, before) and opt.t == 0 and not opt.m.any()


def test_not_covered_models_get_no_fused_step():
    rng = np.random.default_rng(1)
    batch = _batch(rng, 3, 6, 1)
    for model in (make_model("vin-sv", 1, 0.1, n_seq=3, learn_mass=True), make_model("nn", 1, 0.1, n_seq=3)):
        assert make_stepper(model, batch, Adam(model.layout.size)) is None
    model = make_model("vin-sv", 1, 0.1, n_seq=3)
    assert make_stepper(model, batch, Adam(model.layout.size, clip_norm=1.0)) is None
