"""Every model's loss_and_grad against float64 central differences, over shapes and seeds."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from vinnp.gradcheck.core import check_block, gradcheck
from vinnp.gradcheck import all_blocks
from vinnp.models.registry import BASELINES, MODELS, make_model


@st.composite
def cases(draw):
    name = draw(st.sampled_from(MODELS))
    dim = 1 if name == "vin-so2" else draw(st.integers(1, 3))
    learn = name != "resrnn" and name not in BASELINES and draw(st.booleans())
    hidden = tuple(draw(st.lists(st.integers(1, 12), min_size=1, max_size=2)))
    n_seq = draw(st.integers(1, 4))
    T = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**31))
    return name, dim, learn, hidden, n_seq, T, seed


@given(cases())
def test_loss_and_grad_matches_central_differences(case):
    name, dim, learn, hidden, n_seq, T, seed = case
    rng = np.random.default_rng(seed)
    model = make_model(name, dim, 0.1, n_seq=n_seq, hidden=hidden, learn_mass=learn)
    q = rng.standard_normal((n_seq, T, dim))
    p = 0.5 * rng.standard_normal((n_seq, T, dim))
    batch = {"q": q, "p": p, "dqdt": p + 0.1 * rng.standard_normal(p.shape), "dpdt": -q}
    params = model.init(rng, batch)
    params += 0.05 * rng.standard_normal(params.size)
    if learn:
        params[model.layout.slice("cell.mass.L")] = 0.3 * rng.standard_normal(model.layout.shapes["cell.mass.L"])
    rows = gradcheck(lambda x: model.loss(x, batch), lambda x: model.loss_and_grad(x, batch), params,
                     model.layout, rng=rng, max_entries=10)
    assert all(r["ok"] for r in rows), rows


def test_every_registered_block_passes():
    """What `vinnp gradcheck` runs: every block of every module, all within tolerance."""
    blocks = all_blocks(seed=0)
    names = {b.name.split("[")[0] for b in blocks}
    assert {"mlp", "potential-force", "lstm", "rollout", "model"} <= names
    bad = [r for b in blocks for r in check_block(b) if not r["ok"]]
    assert not bad, bad


def test_model_names_and_combinations_are_checked():
    with pytest.raises(ValueError, match="model: expected one of"):
        make_model("lstm", 1, 0.1, 1)
    with pytest.raises(ValueError, match="learn_mass"):
        make_model("hnn", 1, 0.1, 1, learn_mass=True)
    with pytest.raises(ValueError, match="dim"):
        make_model("vin-so2", 2, 0.1, 1)
