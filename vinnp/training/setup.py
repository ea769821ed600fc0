"""Run configuration and the data a run trains, validates and is tested on.

Every random stream of a run derives from its one seed through
``numpy.random.SeedSequence.spawn``: training data, validation data, test
initial states and network initialisation are independent streams, and the
same seed repeats the run exactly.
"""

import os

import numpy as np

from vinnp.checks import float_dtype, one_of, positive_float, positive_int
from vinnp.data.dataset import load_dataset
from vinnp.data.importers import import_trajectories
from vinnp.data.noisy import make_noisy_dataset
from vinnp.dynamics import registry as integrators
from vinnp.io import load_npz
from vinnp.layers.mlp import INIT_SCHEMES
from vinnp.models.registry import BASELINES, MODELS
from vinnp.systems import get_system, SYSTEMS
from vinnp.training import rundir
from vinnp.training.rundir import arrays_digest, check_loaded, DATA_HASH, file_digest

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
# fields that runs made before they existed lack, and the value the code reads for them
LEGACY_FIELDS = {"init": PRE_FIELD_INIT, "device": "cpu"}
MIN_TRAJECTORIES = 2   # one to train on, one to validate on
MIN_POINTS = 3         # per trajectory: one step to fit and a second-order finite difference
NOISY_POINTS = 30      # per generated trajectory (3 s at 10 Hz, vinnp.data.noisy)
# Size limits, checked before any data are generated or loaded (setup.check_budget):
# a run's estimated memory must fit in the machine's physical memory, and its estimated
# CPU training time must stay within MAX_HOURS.
MAX_HOURS = 24.0
# CPU seconds per observed time point, per network weight, per Adam step: about 3.3e-9
# measured (spring, 25 trajectories of 30 points, hidden [200], float32: 10000 steps in
# about 10 s on 2 cores), rounded up.
SECONDS_PER_POINT_WEIGHT = 5e-9


def make_config(**overrides):
    """DEFAULTS updated by ``overrides``, validated (ValueError names the field)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"config: unknown field(s) {', '.join(sorted(unknown))}")
    cfg = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None or k == "data"}}
    if overrides.get("model") is None and cfg["data"] is None and cfg["system"] in SYSTEMS \
            and get_system(cfg["system"]).forced:
        cfg["model"] = integrators.default("default-forced")  # a system with friction or inputs
    one_of(cfg["model"], "model", MODELS)
    if cfg["data"] is not None:
        if not isinstance(cfg["data"], (str, os.PathLike)):
            raise ValueError(f"data: expected a file path, got {cfg['data']!r}")
        cfg["data"] = os.path.abspath(os.fspath(cfg["data"]))  # the run resolves it from any folder
    else:

        one_of(cfg["system"], "system", SYSTEMS)
        spec = integrators.INTEGRATORS.get(cfg["model"])
        system = get_system(cfg["system"])
        if spec is not None and spec.lie_group and not system.is_angle:
            raise ValueError(f"model: {cfg['model']} evolves on {spec.lie_group} and needs a system whose "
                             f"configuration is an angle; {cfg['system']!r} is not")
        check_takes_inputs(cfg["model"], system.n_inputs, f"the {cfg['system']} data")
    for key in ("n_traj", "steps", "n_val", "n_test", "window", "window_stride", "checkpoint_every"):
        cfg[key] = positive_int(cfg[key], key)
    cfg["warmup_steps"] = positive_int(cfg["warmup_steps"], "warmup_steps", minimum=0)
    cfg["seed"] = positive_int(cfg["seed"], "seed", minimum=0)
    cfg["lr"] = positive_float(cfg["lr"], "lr")
    cfg["forecast_seconds"] = positive_float(cfg["forecast_seconds"], "forecast_seconds")
    cfg["dtype"] = str(float_dtype(cfg["dtype"]))
    if not isinstance(cfg["hidden"], (list, tuple)):
        raise ValueError(f"hidden: expected a list of layer widths, got {cfg['hidden']!r}")
    cfg["hidden"] = [positive_int(h, "hidden") for h in cfg["hidden"]]
    if cfg["learn_mass"] not in (True, False):
        raise ValueError(f"learn_mass: expected true or false, got {cfg['learn_mass']!r}")
    cfg["learn_mass"] = bool(cfg["learn_mass"])
    one_of(cfg["init"], "init", INIT_SCHEMES)
    one_of(cfg["device"], "device", ("cpu", "cuda"))
    spec = integrators.INTEGRATORS.get(cfg["model"])
    if cfg["learn_mass"] and not (spec and spec.mass):
        raise ValueError(f"learn_mass: the {cfg['model']} model has no mass matrix")
    return cfg


def check_takes_inputs(model, n_inputs, source):
    """Refuse a model that cannot take the control inputs the data carry (ValueError naming --model)."""
    if not n_inputs:
        return
    spec = integrators.INTEGRATORS.get(model)
    if spec is not None and not spec.forced:
        forced = ", ".join(n for n, s in integrators.INTEGRATORS.items() if s.forced)
        raise ValueError(f"model: {model} takes no control inputs, and {source} carry {n_inputs}; "
                         f"use a forced VIN ({forced}) or a baseline")


def check_config(cfg):
    """A phase-space configuration as train_run takes it or config.json holds it, validated.

    Every field is required except those runs made before they existed lack
    (LEGACY_FIELDS, kept absent); ``data`` alone may be null; unknown fields,
    wrong types and out-of-range values are refused naming the field.
    """
    return check_loaded(cfg, DEFAULTS, LEGACY_FIELDS, ("data",), make_config)


def seeds(seed):
    """Independent integer seeds for: train data, validation data, test states, initialisation."""
    children = np.random.SeedSequence(seed).spawn(4)
    return [int(c.generate_state(1)[0]) for c in children]


def milestones(steps):
    """The step counts at which a run is scored on validation data: the choices up to ``steps``, and
    ``steps`` itself (its score is reported; see :func:`candidates`)."""
    return sorted({s for s in STEP_CHOICES if s < steps} | {steps})


def candidates(steps):
    """The step counts validation chooses among: Appendix C.1's 2000, 5000, 10000 up to ``steps``.

    A final step that is not one of them is scored but not chosen, unless ``steps`` is below
    2000 and it is the only candidate (a short run keeps its last parameters).
    """
    return [s for s in STEP_CHOICES if s <= steps] or [steps]


def physical_memory():
    """This machine's physical memory in bytes (16 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def check_budget(cfg, n_train, n_val, n_points, d):
    """Refuse, before allocating, a run too large for this machine's memory or for MAX_HOURS of CPU.

    n_train, n_val: trajectories trained and validated on; n_points: time points of each; d: coordinates.
    The estimates are rough (within a factor of a few) and meant to catch impossible sizes.
    """
    widths = [2 * d if cfg["model"] in BASELINES else d, *cfg["hidden"], 2 * d if cfg["model"] == "nn" else 1]
    weights = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    item = np.dtype(cfg["dtype"]).itemsize
    points = (n_train + n_val) * n_points
    # data (float64: observations, truths, warm-up windows) and the activations kept for the backward pass
    memory = points * (16 * 8 * d + 8 * item * sum(cfg["hidden"])) + 8 * item * weights
    physical = physical_memory()
    hours = cfg["steps"] * points * weights * SECONDS_PER_POINT_WEIGHT / 3600
    fields = "n_traj, steps, hidden"
    size = (f"{n_train} training and {n_val} validation trajectories of {n_points} points, hidden "
            f"{cfg['hidden']}, {cfg['steps']} steps")
    if memory > physical:
        raise ValueError(f"{fields}: {size} would need about {memory / 2**30:.3g} GiB of memory (estimate), more "
                         f"than this machine's {physical / 2**30:.3g} GiB; use fewer trajectories or a smaller network")
    if cfg.get("device", "cpu") == "cpu" and hours > MAX_HOURS:
        raise ValueError(f"{fields}: {size} would train for about {hours:.3g} h on the CPU (estimate), past the "
                         f"{MAX_HOURS:g} h limit; use fewer trajectories, steps or a smaller network")


def prepare_run(cfg):
    """(cfg with its data records, data) of a run, checked trainable and within the size limits.

    Called before a run's folder is made. Generated data are sized before they are generated;
    a --data file is sized once loaded. The returned cfg gains ``data_sha256`` (the sha256 of
    the --data file's bytes, or of the generated training and validation arrays) and, on
    --data, what the file holds: n_traj and n_val as split, and system as the dataset names
    it, or "imported".
    """
    if cfg["data"] is None:
        check_budget(cfg, cfg["n_traj"], cfg["n_val"], NOISY_POINTS, 1)
    data = prepare_data(cfg)
    n_train, n_points, d = data["train"]["q"].shape
    n_val = data["val"]["q"].shape[0]
    if cfg["data"] is None:
        digest = arrays_digest({f"{part}.{k}": data[part][k] for part in ("train", "val")
                                for k in ("q", "p", "dqdt", "dpdt", "u") if k in data[part]})
        return {**cfg, DATA_HASH: digest}, data
    check_budget(cfg, n_train, n_val, n_points, d)
    check_takes_inputs(cfg["model"], n_inputs(data["train"]), os.path.basename(cfg["data"]))
    system = data["system"].name if data["system"] is not None else "imported"
    return {**cfg, "system": system, "n_traj": n_train, "n_val": n_val, DATA_HASH: file_digest(cfg["data"])}, data


def n_inputs(dataset):
    """The number m of control inputs a dataset carries (its ``u`` is (n, T, m)), 0 without."""
    u = dataset.get("u")
    return 0 if u is None else int(u.shape[-1])


def prepare_data(cfg):
    """-> dict: train, val (dataset dicts), test (q0, p0) or None, test_u (n_test, n_steps, m) or
    None (the held-out input sequences of a driven system), system or None, h (s)."""
    s_train, s_val, s_test, _ = seeds(cfg["seed"])
    if cfg["data"] is not None:
        return _user_data(cfg)
    system = get_system(cfg["system"])
    train = make_noisy_dataset(system, cfg["n_traj"], s_train)
    val = make_noisy_dataset(system, cfg["n_val"], s_val)
    h = float(train["t"][1] - train["t"][0])
    rng = np.random.default_rng(s_test)
    test_u = None
    if system.n_inputs:  # held-out states under held-out input sequences, below the separatrix
        n_steps = int(round(cfg["forecast_seconds"] / h))
        q0, p0, test_u = system.sample_trajectories(cfg["n_test"], h * np.arange(n_steps + 1), rng)[:3]
        test_u = test_u[:, :n_steps]
    else:
        q0, p0 = system.sample_initial_states(cfg["n_test"], rng)
    return {"train": train, "val": val, "test": (q0[:, None], p0[:, None]), "test_u": test_u, "system": system,
            "h": h}


def _user_data(cfg):
    """A dataset written by `vinnp data` or imported: the last fifth of it validates."""
    import os

    path = cfg["data"]
    ds = load_dataset(path) if path.endswith(".npz") and _is_vinnp_dataset(path) else import_trajectories(path)
    if "q" not in ds:
        raise ValueError(f"data: {os.path.basename(path)} holds no phase-space observations (q, p)")
    n, n_points = ds["q"].shape[:2]
    if n < MIN_TRAJECTORIES:
        raise ValueError(f"data: {path} holds {n} trajectory; expected at least {MIN_TRAJECTORIES} "
                         f"(one to train on, one to validate on)")
    if n_points < MIN_POINTS:
        raise ValueError(f"data: the trajectories of {path} have {n_points} time point(s); expected at least "
                         f"{MIN_POINTS} to train on")
    n_val = max(1, n // 5)
    split = {k: v for k, v in ds.items() if isinstance(v, np.ndarray) and v.ndim >= 2 and v.shape[0] == n}
    train = {**{k: v[:-n_val] for k, v in split.items()}, "t": ds["t"]}
    val = {**{k: v[-n_val:] for k, v in split.items()}, "t": ds["t"]}
    meta = ds.get("meta", {}) or {}
    system = None
    if meta.get("system") in SYSTEMS:
        system = get_system(meta["system"], **meta.get("params", {}))
    test = test_u = None
    # a driven system's forecast needs its inputs over the whole horizon, which a file's
    # trajectories do not have beyond their own span: no forecast RMSE then (report says why)
    if system is not None and "q_true" in val and not system.n_inputs:
        test = (val["q_true"][:, 0], val["p_true"][:, 0])
    return {"train": train, "val": val, "test": test, "test_u": test_u, "system": system,
            "h": float(ds["t"][1] - ds["t"][0])}


def _is_vinnp_dataset(path):
    return "meta" in load_npz(path, "data")


rundir.CHECKS["phase"] = check_config  # how config.json of this kind of run is validated when read back
