"""benchmarks/step_choice.py's summary: the step-choice figures in docs/results-noisy.md."""

import importlib.util
import pathlib

import numpy as np
import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "step_choice.py"


@pytest.fixture(scope="module")
def step_choice():
    spec = importlib.util.spec_from_file_location("step_choice", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(seed, rmse, val, extra=None):
    chosen = min(val, key=val.get)
    return {"key": ("spring", 25, "vin-vv"), "seed": seed, "val": val, "chosen": chosen, "rmse": rmse,
            "extra_val": extra or {}}


def test_summary_counts_choices_oracle_and_gaps(step_choice):
    runs = [
        # validation picks 10000, the test states prefer 5000
        _run(1, {2000: 0.09, 5000: 0.04, 10000: 0.05}, {2000: -1.0, 5000: -1.2, 10000: -1.2005},
             {2000: -1.0, 5000: -1.3, 10000: -1.2}),
        # validation picks 5000, which is also the best
        _run(0, {2000: 0.08, 5000: 0.03, 10000: 0.06}, {2000: -1.0, 5000: -1.21, 10000: -1.2},
             {2000: -1.0, 5000: -1.3, 10000: -1.2}),
    ]
    lines, (g,) = step_choice.summarise(runs)
    assert g["seeds"] == [0, 1]
    assert g["fixed"] == pytest.approx({"2000": 0.085, "5000": 0.035, "10000": 0.055})
    assert g["choice"] == pytest.approx(0.04)  # 0.03 and 0.05
    assert g["choice_se"] == pytest.approx(np.std([0.03, 0.05], ddof=1) / np.sqrt(2))
    assert g["chosen_counts"] == {"2000": 0, "5000": 1, "10000": 1}
    assert g["oracle"] == pytest.approx(0.035)
    assert g["hits"] == 1
    assert g["val_gap"]["pair"] == [5000, 10000]
    assert g["val_gap"]["below_1e-3"] == 1
    assert g["val_gap"]["max"] == pytest.approx(0.01)
    assert g["extra_choice"] == pytest.approx(0.035) and g["extra_hits"] == 2
    assert any("hits it on 1 of 2" in line for line in lines)


def test_a_non_finite_validation_score_is_never_chosen():
    from vinnp.training.run import best_step

    assert best_step({2000: float("nan"), 5000: -1.0, 10000: float("inf")}) == 5000
