"""A training run: warm-up, Adam, checkpoints, validation-based step choice, resume.

Run directory:
  config.json      everything needed to repeat the run (seed included), and a hash of its data
                   (vinnp.training.rundir)
  checkpoint.npz   latest state (parameters, Adam moments, step, phase), atomic
  milestone-N.npz  parameters after N steps, for N in {2000, 5000, 10000} <= steps and N = steps
  model.npz        the chosen parameters (best validation likelihood among setup.candidates)
  metrics.json     forecast_rmse, energy_drift, ... (see vinnp.evaluation)
  *.png            figures

Training is full-batch and deterministic, so ``resume`` from the latest
checkpoint ends exactly where the uninterrupted run would.

VINs are first fitted by *multiple shooting* on short overlapping windows
(each with its own learned x_1), then on whole trajectories (single shooting)
from the windows' fitted initial states. Single shooting from the start can
stall on the pendulum in a poor local optimum that explains the data as noise
(learned sigma far above the data's noise); the warm-up avoids it, and
``stuck_ratio`` flags it from training data alone.
"""

import json
import math
import os
import signal
import sys

import numpy as np

from vinnp import cuda as cuda_steps
from vinnp.data.dataset import windows
from vinnp.evaluation.report import evaluate_model
from vinnp.io import check_out_dir, load_json, save_json
from vinnp.models.registry import make_model
from vinnp.models.vin import VIN
from vinnp.optim import Adam
from vinnp.training.checkpoint import load_checkpoint, save_checkpoint
from vinnp.training.fused import make_stepper
from vinnp.training.setup import candidates, milestones, n_inputs, PRE_FIELD_INIT, prepare_data, prepare_run, seeds
from vinnp.training.rundir import (DATA_HASH, RECORDS, check_run_config, check_same_data, create_run_dir, load_run_config,
                                   start_checks)

STUCK_RATIO = 0.05  # learned sigma^2 / Var(observations) above this: the fit explains too little


class TrainingDiverged(RuntimeError):
    pass


BATCH_KEYS = ("q", "p", "dqdt", "dpdt", "u")  # u: the control inputs of a driven system's data


def _batch(data):
    return {k: data[k] for k in BATCH_KEYS if data.get(k) is not None}


def _windowed(batch, window, stride):
    return {k: windows(v, window, stride) for k, v in batch.items()}


def build_phases(cfg, data):
    """[(name, model, batch, n_steps)]: an optional windowed warm-up, then whole trajectories."""
    train = data["train"]
    d = train["q"].shape[-1]
    m = n_inputs(train)
    full = make_model(cfg["model"], d, data["h"], n_seq=train["q"].shape[0], hidden=tuple(cfg["hidden"]),
                      learn_mass=cfg["learn_mass"], n_inputs=m)
    is_vin = full.family == "vin"
    phases = []
    warm = min(cfg["warmup_steps"], cfg["steps"] // 4) if is_vin else 0
    T = train["q"].shape[1]
    if warm > 0 and cfg["window"] < T:
        wb = _windowed(_batch(train), cfg["window"], cfg["window_stride"])
        wm = make_model(cfg["model"], d, data["h"], n_seq=wb["q"].shape[0], hidden=tuple(cfg["hidden"]),
                        learn_mass=cfg["learn_mass"], n_inputs=m)
        phases.append(("warmup", wm, wb, warm))
    batch = _batch(train)
    phases.append(("full", full, batch, cfg["steps"] - sum(p[3] for p in phases)))
    return phases


def _handover(prev_model, prev_params, model, batch, n_windows_per_traj, dtype):
    """Whole-trajectory parameters from the warm-up's: shared cell, x_1 of each trajectory's first window."""
    params = model.layout.zeros(dtype)
    k = model.layout.slice("x1").start
    params[:k] = prev_model.cell_params(prev_params)
    x1w = prev_model.layout.view(prev_params, "x1")
    model.layout.view(params, "x1")[...] = x1w[::n_windows_per_traj]
    model.layout.view(params, "log_var")[...] = prev_model.layout.view(prev_params, "log_var")
    return params


def validation_nll(model, params, val, fit_steps=300, fit_lr=1e-2):
    """Mean Gaussian NLL per observed scalar of held-out trajectories.

    For a VIN (or the ResRNN) the held-out likelihood needs each validation
    trajectory's initial state, a latent quantity: as in training (Section 3.1)
    it is fitted, here with theta and sigma^2 frozen (Adam on x_1 alone).
    Forecasting from the noisy first observation instead would score the noise
    in that observation rather than the dynamics. NN and HNN are scored on their
    own derivative likelihood.
    """
    if model.family == "derivative":
        return float(model.loss(params, _batch(val)))
    batch = {k: v for k, v in _batch(val).items() if k in ("q", "p", "u")}
    vmodel = VIN(model.cell, batch["q"].shape[0])
    vparams = vmodel.layout.zeros(params.dtype)
    k = vmodel.layout.slice("x1")
    vparams[: k.start] = model.cell_params(params)
    vmodel.layout.view(vparams, "x1")[...] = model.cell.initial_state(params, model.layout, batch["q"][:, 0],
                                                                     batch["p"][:, 0], u=vmodel.batch_inputs(batch, 1))
    vmodel.layout.view(vparams, "log_var")[...] = model.layout.view(params, "log_var")
    opt = Adam(vparams.size, lr=fit_lr, dtype=params.dtype)
    mask = np.zeros_like(vparams)
    mask[k] = 1.0
    for _ in range(fit_steps):
        loss, grad = vmodel.loss_and_grad(vparams, batch)
        if not math.isfinite(loss):
            return math.inf
        opt.step(vparams, grad * mask)
    loss = vmodel.loss(vparams, batch)
    return float(loss) if math.isfinite(loss) else math.inf


def best_step(scores):
    """The milestone with the lowest validation NLL; a non-finite score is never preferred."""
    return min(scores, key=lambda s: (not math.isfinite(scores[s]), scores[s]))


def stuck_ratio(model, params, batch):
    """Learned noise variance over the variance of the observations it is fitted to."""
    keys = ("q", "p") if model.family == "vin" else ("dqdt", "dpdt")
    y = np.concatenate([batch[k].ravel() for k in keys])
    return model.noise_std(params) ** 2 / float(np.var(y))


def open_run(cfg, run_dir, resume, log, prepare, overwrite=False):
    """(config, data, checkpoint path, log) of a run.

    Resuming, the config is read back from ``run_dir`` (validated) and the data it names must be
    the data it started with. A new run is validated, its folder checked, its data prepared and
    sized, all before the folder is made with its config.json, so that a start that fails
    leaves nothing behind and the folder always says how to repeat the run. prepare(cfg) ->
    (cfg with its data records, data).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if resume:
        cfg = load_run_config(run_dir)
        check_out_dir(run_dir, "run_dir")
        checked, data = prepare(cfg)
        check_same_data(cfg.get(DATA_HASH), checked[DATA_HASH], data_name(cfg))
        cfg = checked
    else:
        if not isinstance(cfg, dict):
            raise ValueError(f"cfg: expected a configuration dict (make_config), got {type(cfg).__name__}")
        cfg = check_run_config({k: v for k, v in cfg.items() if k not in RECORDS})
        start_checks(run_dir, overwrite)
        cfg, data = prepare(cfg)
        create_run_dir(run_dir, cfg, overwrite)
    return cfg, data, os.path.join(run_dir, "checkpoint.npz"), log


def data_name(cfg):
    """The training data of a run, in words: the --data file, or the generated data."""
    if cfg.get("data"):
        return cfg["data"]
    return f"the generated training data ({cfg.get('system')}, seed {cfg['seed']})"


def check_reuse(cfg, run_dir):
    """Before an experiment reuses or resumes the run in ``run_dir``: its config.json must be ``cfg``.

    Otherwise a table could mix runs made with other settings (another --steps or dtype)
    under the new command's name. ValueError names the differing fields. (A field stored
    as null takes the code's default; pixel runs check the model their checkpoint
    records as well, vinnp.training.pixels.check_same_model.)
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    saved = load_json(path, "config.json")
    if not isinstance(saved, dict):
        saved = {}
    saved = {k: v for k, v in saved.items() if k not in RECORDS}  # what the run wrote about its data
    if saved.get("obs", "phase") != "pixels":
        saved.setdefault("init", PRE_FIELD_INIT)
    wanted = json.loads(json.dumps(cfg))
    diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k, "<absent>") != wanted.get(k, "<absent>"))
    if diff:
        shown = ", ".join(f"{k} {saved.get(k, '<absent>')!r} (now {wanted.get(k, '<absent>')!r})" for k in diff)
        raise ValueError(f"--out: {run_dir} holds a run made with other settings: {shown}; "
                         f"use another --out or remove that run")


def train_run(cfg, run_dir, resume=False, progress=True, log=None, overwrite=False):
    """Train (or resume) the run in ``run_dir``; returns the final metrics dict.

    A new run refuses a ``run_dir`` that already holds files unless ``overwrite`` (which
    removes the earlier run's files first); ``resume`` continues the run there as its
    config.json describes it (``cfg`` is then ignored and may be None).
    """
    cfg, data, ckpt_path, log = open_run(cfg, run_dir, resume, log, prepare_run, overwrite)
    dtype = np.dtype(cfg["dtype"])
    phases = build_phases(cfg, data)
    marks = milestones(cfg["steps"])
    state = {"step": 0, "phase": 0, "scores": {}}
    params = opt = None
    if resume and os.path.exists(ckpt_path):
        _, params, extra = load_checkpoint(ckpt_path)
        state = extra["state"]
        model = phases[state["phase"]][1]
        if params.size != model.layout.size:
            raise ValueError("checkpoint: does not match the run's configuration")
        params = params.astype(dtype)
        opt = Adam(params.size, lr=cfg["lr"], dtype=dtype)
        opt.load_state(extra)
        log(f"resuming at step {state['step']} of {cfg['steps']}")
    elif resume:
        log("no checkpoint yet: starting the run from step 0")
    _, s_init = seeds(cfg["seed"])[2:]
    rng = np.random.default_rng(s_init)
    start = 0
    for i, (name, model, batch, n) in enumerate(phases):
        end = start + n
        if state["phase"] > i:
            start = end
            continue
        if params is None:
            params = model.init(rng, batch, dtype, scheme=cfg.get("init", PRE_FIELD_INIT))
            opt = Adam(params.size, lr=cfg["lr"], dtype=dtype)
        params = _train_phase(cfg, model, params, opt, batch, data, state, start, end, marks, run_dir,
                              ckpt_path, progress, f"{cfg['model']} {name}", log)
        if i + 1 < len(phases):
            nxt = phases[i + 1]
            per_traj = batch["q"].shape[0] // nxt[2]["q"].shape[0]
            params = _handover(model, params, nxt[1], nxt[2], per_traj, dtype)
            opt = Adam(params.size, lr=cfg["lr"], dtype=dtype)
            state["phase"] = i + 1
        start = end
    return finish_run(run_dir, cfg, data=data, log=log)


class _DeferredInterrupt:
    """Ctrl-C sets a flag; the training loop finishes its step, checkpoints and stops.

    An interrupt raised at an arbitrary bytecode could land between Adam's
    in-place update and the step counter, and a resumed run would then differ
    from the uninterrupted one.
    """
    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: keep the default behaviour
            self.previous = None
        return self

    def _handler(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _train_phase(cfg, model, params, opt, batch, data, state, start, end, marks, run_dir, ckpt_path,
                 progress, label, log):
    import click

    shown = {"loss": float("nan")}
    sink = sys.stderr if progress else open(os.devnull, "w")
    with _DeferredInterrupt() as interrupt, click.progressbar(
            length=end - start, label=label, file=sink, item_show_func=lambda _: f"loss {shown['loss']:+.4f}") as bar:
        if state["step"] > start:
            bar.update(state["step"] - start)
        # one compiled call per step where the model allows it (vinnp.training.fused), else the
        # model's loss_and_grad and Adam; either way a non-finite step changes nothing
        fused = None
        if cfg.get("device", "cpu") == "cuda":

            why = cuda_steps.available() or (None if cuda_steps.covers(model, opt) else
                                  f"no CUDA kernels for {model.name} with this network")
            if why is None:
                try:
                    fused = cuda_steps.make_cuda_stepper(model, batch, opt)
                    log(f"training steps run on {fused.device}")
                except RuntimeError as exc:  # the kernels would not compile or launch here
                    log(f"--device cuda: {exc}; training on the CPU")
            else:
                log(f"--device cuda: {why}; training on the CPU")
        if fused is None:
            fused = make_stepper(model, batch, opt)
        while state["step"] < end:
            if fused is not None:
                loss = fused(params)
                ok = math.isfinite(loss)
            else:
                loss, grad = model.loss_and_grad(params, batch)
                ok = math.isfinite(loss) and bool(np.all(np.isfinite(grad)))
            if not ok:
                raise TrainingDiverged(f"non-finite loss at step {state['step']}; the last good checkpoint "
                                       f"is kept in {ckpt_path}")
            if fused is None:
                opt.step(params, grad)
            state["step"] += 1
            step = state["step"]
            if step % 10 == 0:
                shown["loss"] = loss
                bar.update(10)
            if step in marks:
                state["scores"][str(step)] = validation_nll(model, params, data["val"])
                save_checkpoint(os.path.join(run_dir, f"milestone-{step}.npz"), model, params)
            if step % cfg["checkpoint_every"] == 0 or step == end or interrupt.requested:
                save_checkpoint(ckpt_path, model, params, state=state, **opt.state())
            if interrupt.requested:
                raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint written")
    return params


def finish_run(run_dir, cfg, data=None, log=None):
    """Choose the best milestone on validation data; write model.npz, metrics.json and figures."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if data is None:  # evaluating a finished run again: on the data it was trained on
        checked, data = prepare_run(cfg)
        check_same_data(cfg.get(DATA_HASH), checked[DATA_HASH], data_name(cfg))
    state = load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))[2]["state"]
    scores = {int(k): v for k, v in state["scores"].items()}
    if not scores:
        raise ValueError(f"checkpoint: {run_dir!r} has no validation scores yet; finish its training first "
                         f"(vinnp train --resume --out {run_dir})")
    choices = {s: v for s, v in scores.items() if s in candidates(cfg["steps"])}
    best = best_step(choices or scores)
    model, params, _ = load_checkpoint(os.path.join(run_dir, f"milestone-{best}.npz"))
    save_checkpoint(os.path.join(run_dir, "model.npz"), model, params, chosen_step=best)
    # Evaluate the learned function in float64 whatever it was trained in: RK45 at rtol 1e-9
    # (the NN/HNN forecasts) cannot converge on a float32 vector field, and energy drifts of
    # 1e-3 over 200 steps should not carry float32 round-off.
    params = params.astype(np.float64)
    batch = _batch(data["train"])
    ratio = stuck_ratio(model, params, batch)
    system = data["system"].name if data["system"] is not None else "imported"
    metrics = {"model": cfg["model"], "system": cfg["system"] if cfg["data"] is None else system,
               "n_traj": data["train"]["q"].shape[0],
               **({"data": cfg["data"]} if cfg["data"] is not None else {}), "seed": cfg["seed"], "chosen_steps": best,
               "validation_nll": {str(k): v for k, v in sorted(scores.items())},
               "noise_std": model.noise_std(params), "stuck_ratio": ratio,
               # the stuck optimum is a failure of single shooting through the integrator (VINs only)
               "stuck": bool(model.family == "vin" and ratio > STUCK_RATIO)}
    if metrics["stuck"]:
        log(f"warning: the fit looks stuck: learned noise variance is {ratio:.0%} of the observations' variance "
            f"(a good fit of the paper's data is near 1%); train longer (--steps), warm up longer "
            f"(--warmup-steps) or try another --seed")
    metrics.update(evaluate_model(model, params, data, cfg, run_dir))
    if "no_forecast_rmse" in metrics:
        log(f"no forecast RMSE: {metrics['no_forecast_rmse']}")
    save_json(os.path.join(run_dir, "metrics.json"), metrics)
    return metrics
