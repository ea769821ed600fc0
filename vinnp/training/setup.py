"""Run configuration and the data a run trains, validates and is tested on.

Every random stream of a run derives from its one seed through
``numpy.random.SeedSequence.spawn``: training data, validation data, test
initial states and network initialisation are independent streams, and the
same seed repeats the run exactly.
"""

import numpy as np

from vinnp.checks import float_dtype, one_of, positive_float, positive_int
from vinnp.dynamics import registry as integrators
from vinnp.layers.mlp import INIT_SCHEMES
from vinnp.models.registry import MODELS
from vinnp.systems import SYSTEMS, get_system
from vinnp.data.noisy import make_noisy_dataset
from vinnp.data.dataset import load_dataset
from vinnp.data.importers import import_trajectories
from vinnp.io import load_npz

DEFAULTS = {
    "system": "spring",
    "model": integrators.default("default-phase"),
    "n_traj": 25,
    "steps": 10000,
    "seed": 0,
    "dtype": "float32",  # training speed; evaluation (forecasts, energies) runs in float64
    "learn_mass": False,
    "hidden": [200],
    # MLP.init's scheme. "uniform" (every weight and bias ~ U(+-1/sqrt(fan_in))) was chosen
    # over "normal" on development seeds 100-139, never on the reported seeds 0-19: on
    # spring/25 VIN-VV the mean 20 s forecast RMSE fell from 0.055 to 0.045 (paired
    # difference -0.010 +- 0.0035 over 40 seeds), and on pendulum/25 (seeds 100-109) from
    # 0.046 to 0.044. Its smoother fresh potential learns a more even period over the
    # training amplitudes (docs/results-noisy.md, "How the initialisation was chosen").
    "init": "uniform",
    "lr": 1e-3,
    "warmup_steps": 1000,
    "window": 10,
    "window_stride": 5,
    "n_val": 10,
    "n_test": 25,
    "forecast_seconds": 20.0,
    "checkpoint_every": 500,
    "data": None,
    "device": "cpu",     # "cuda": numba.cuda steps for the models vinnp.cuda covers (the cuda extra)
}
# the scheme of runs whose config.json predates the "init" field (read when resuming or reusing them)
PRE_FIELD_INIT = "normal"
STEP_CHOICES = (2000, 5000, 10000)  # Appendix C.1's search, made on validation data


def make_config(**overrides):
    """DEFAULTS updated by ``overrides``, validated (ValueError names the field)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"config: unknown field(s) {', '.join(sorted(unknown))}")
    cfg = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None or k == "data"}}
    one_of(cfg["model"], "model", MODELS)
    if cfg["data"] is None:
        one_of(cfg["system"], "system", SYSTEMS)
        spec = integrators.INTEGRATORS.get(cfg["model"])
        if spec is not None and spec.lie_group and not get_system(cfg["system"]).is_angle:
            raise ValueError(f"model: {cfg['model']} evolves on {spec.lie_group} and needs a system whose "
                             f"configuration is an angle; {cfg['system']!r} is not")
    for key in ("n_traj", "steps", "n_val", "n_test", "window", "window_stride", "checkpoint_every"):
        cfg[key] = positive_int(cfg[key], key)
    cfg["warmup_steps"] = positive_int(cfg["warmup_steps"], "warmup_steps", minimum=0)
    cfg["seed"] = positive_int(cfg["seed"], "seed", minimum=0)
    cfg["lr"] = positive_float(cfg["lr"], "lr")
    cfg["forecast_seconds"] = positive_float(cfg["forecast_seconds"], "forecast_seconds")
    cfg["dtype"] = str(float_dtype(cfg["dtype"]))
    cfg["hidden"] = [positive_int(h, "hidden") for h in cfg["hidden"]]
    cfg["learn_mass"] = bool(cfg["learn_mass"])
    one_of(cfg["init"], "init", INIT_SCHEMES)
    one_of(cfg["device"], "device", ("cpu", "cuda"))
    spec = integrators.INTEGRATORS.get(cfg["model"])
    if cfg["learn_mass"] and not (spec and spec.mass):
        raise ValueError(f"learn_mass: the {cfg['model']} model has no mass matrix")
    return cfg


def seeds(seed):
    """Independent integer seeds for: train data, validation data, test states, initialisation."""
    children = np.random.SeedSequence(seed).spawn(4)
    return [int(c.generate_state(1)[0]) for c in children]


def milestones(steps):
    """The step counts at which a run is scored on validation data."""
    return sorted({s for s in STEP_CHOICES if s < steps} | {steps})


def prepare_data(cfg):
    """-> dict: train, val (dataset dicts), test (q0, p0) or None, system or None, h (s)."""
    s_train, s_val, s_test, _ = seeds(cfg["seed"])
    if cfg["data"] is not None:
        return _user_data(cfg)
    system = get_system(cfg["system"])
    train = make_noisy_dataset(system, cfg["n_traj"], s_train)
    val = make_noisy_dataset(system, cfg["n_val"], s_val)
    rng = np.random.default_rng(s_test)
    q0, p0 = system.sample_initial_states(cfg["n_test"], rng)
    return {"train": train, "val": val, "test": (q0[:, None], p0[:, None]), "system": system,
            "h": float(train["t"][1] - train["t"][0])}


def _user_data(cfg):
    """A dataset written by `vinnp data` or imported: the last fifth of it validates."""
    import os

    path = cfg["data"]
    ds = load_dataset(path) if path.endswith(".npz") and _is_vinnp_dataset(path) else import_trajectories(path)
    if "q" not in ds:
        raise ValueError(f"data: {os.path.basename(path)} holds no phase-space observations (q, p)")
    n = ds["q"].shape[0]
    if n < 2:
        raise ValueError(f"data: need at least 2 trajectories (one to validate on), got {n}")
    n_val = max(1, n // 5)
    split = {k: v for k, v in ds.items() if isinstance(v, np.ndarray) and v.ndim >= 2 and v.shape[0] == n}
    train = {**{k: v[:-n_val] for k, v in split.items()}, "t": ds["t"]}
    val = {**{k: v[-n_val:] for k, v in split.items()}, "t": ds["t"]}
    meta = ds.get("meta", {}) or {}
    system = None
    if meta.get("system") in ("spring", "pendulum"):
        system = get_system(meta["system"], **meta.get("params", {}))
    test = None
    if system is not None and "q_true" in val:
        test = (val["q_true"][:, 0], val["p_true"][:, 0])
    return {"train": train, "val": val, "test": test, "system": system, "h": float(ds["t"][1] - ds["t"][0])}


def _is_vinnp_dataset(path):
    return "meta" in load_npz(path, "data")
