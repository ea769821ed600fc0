"""What the validation step choice can and cannot see (the noisy experiment, Section 4.1).

Every run of ``vinnp experiment noisy`` keeps its parameters after 2000, 5000 and
10000 steps (``milestone-N.npz``) and chooses one of them on the validation
likelihood of its 10 held-out trajectories (Appendix C.1's protocol). This
script forecasts *every* milestone from the run's own test states and reports,
per system / regime / model:

- the mean forecast RMSE (``rmse_mean``, as in the experiment's table) if one
  step count were always taken;
- the validation choice, and the per-run best milestone (an oracle that only the
  test states know), with how often the choice hits it;
- how far apart the validation scores of the candidates are;
- with ``--extra-val N``: the choice that N *fresh* validation trajectories
  (not part of the protocol; drawn from a seed no run uses) would make.

It only reads the runs; it trains nothing and changes no run directory. Run it on
development seeds, never to choose anything on the reported ones:

    vinnp experiment noisy --first-seed 100 --seeds 40 --systems spring --regimes 25 \\
        --models vin-vv --out runs/dev-uniform
    python benchmarks/step_choice.py runs/dev-uniform --extra-val 100 [--json FILE]
"""

import argparse
import glob
import json
import math
import os

import numpy as np

EXTRA_VAL_TAG = 7919  # mixed into each run's seed: the extra trajectories share no draw with the protocol's


def extra_validation(cfg, n_val):
    from vinnp.data.noisy import make_noisy_dataset

    seed = int(np.random.SeedSequence([cfg["seed"], EXTRA_VAL_TAG]).generate_state(1)[0])
    return make_noisy_dataset(cfg["system"], n_val, seed)


def study_run(run_dir, n_extra):
    """One run -> dict of per-milestone forecast RMSE, validation scores and choices."""
    from vinnp.experiments.noisy import rmse_mean
    from vinnp.evaluation.report import forecast_rows
    from vinnp.training.checkpoint import load_checkpoint
    from vinnp.training.run import validation_nll
    from vinnp.training.setup import prepare_data

    with open(os.path.join(run_dir, "config.json")) as fh:
        cfg = json.load(fh)
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        metrics = json.load(fh)
    data = prepare_data(cfg)
    extra = extra_validation(cfg, n_extra) if n_extra else None
    val = {int(k): v for k, v in metrics["validation_nll"].items()}
    out = {"key": (cfg["system"], cfg["n_traj"], cfg["model"]), "seed": cfg["seed"], "val": val,
           "chosen": metrics["chosen_steps"], "rmse": {}, "extra_val": {}}
    for step in sorted(val):
        model, params, _ = load_checkpoint(os.path.join(run_dir, f"milestone-{step}.npz"))
        # as finish_run: the learned function is evaluated in float64 whatever it was trained in
        m, _, _ = forecast_rows(model, params.astype(np.float64), data, cfg)
        out["rmse"][step] = rmse_mean(m)
        if extra is not None:
            # scored in the run's training dtype, exactly as the protocol scores its own 10
            out["extra_val"][step] = validation_nll(model, params, extra)
    if not math.isclose(out["rmse"][out["chosen"]], rmse_mean(metrics), rel_tol=1e-6, abs_tol=1e-9):
        raise ValueError(f"{run_dir}: milestone-{out['chosen']} does not reproduce metrics.json's rmse_mean "
                         f"({out['rmse'][out['chosen']]:.6g} against {rmse_mean(metrics):.6g})")
    return out


def mean_se(x):
    """Mean and standard error over runs."""
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")


def summarise(runs):
    """Group runs by (system, n_traj, model) -> printable lines and a JSON-ready dict."""
    from vinnp.training.run import best_step

    groups = {}
    for r in runs:
        groups.setdefault(r["key"], []).append(r)
    lines, summary = [], []
    for key, rs in sorted(groups.items()):
        rs.sort(key=lambda r: r["seed"])
        steps = sorted(set.intersection(*(set(r["rmse"]) for r in rs)))
        n = len(rs)
        fixed = {s: mean_se([r["rmse"][s] for r in rs])[0] for s in steps}
        chosen = [r["chosen"] for r in rs]
        best = [best_step(r["rmse"]) for r in rs]
        choice_m, choice_se = mean_se([r["rmse"][c] for r, c in zip(rs, chosen)])
        oracle = mean_se([r["rmse"][b] for r, b in zip(rs, best)])[0]
        hits = sum(c == b for c, b in zip(chosen, best))
        g = {"system": key[0], "n_traj": key[1], "model": key[2], "seeds": [r["seed"] for r in rs],
             "fixed": {str(s): v for s, v in fixed.items()}, "choice": choice_m, "choice_se": choice_se,
             "chosen_counts": {str(s): chosen.count(s) for s in steps}, "oracle": oracle, "hits": hits}
        lines.append(f"{key[0]} / {key[1]} traj. / {key[2]}: {n} runs, seeds {rs[0]['seed']}-{rs[-1]['seed']}")
        lines.append("  always N steps:   " + ", ".join(f"{s}: {v:.4f}" for s, v in fixed.items()))
        lines.append(f"  validation choice: {choice_m:.4f} +- {choice_se:.4f} ("
                     + ", ".join(f"{s} on {chosen.count(s)}" for s in steps) + ")")
        lines.append(f"  best milestone per run (test states, an oracle): {oracle:.4f}; "
                     f"the choice hits it on {hits} of {n}")
        if len(steps) >= 2:
            top = steps[-2:]
            gaps = np.array([abs(r["val"][top[0]] - r["val"][top[1]]) for r in rs])
            g["val_gap"] = {"pair": top, "below_1e-3": int((gaps < 1e-3).sum()), "median": float(np.median(gaps)),
                            "max": float(gaps.max())}
            lines.append(f"  |validation NLL({top[0]}) - NLL({top[1]})| (nats per observed scalar): "
                         f"< 1e-3 on {g['val_gap']['below_1e-3']} of {n}, median {g['val_gap']['median']:.1e}, "
                         f"largest {g['val_gap']['max']:.1e}")
        if all(r["extra_val"] for r in rs):
            extra = [best_step(r["extra_val"]) for r in rs]
            e_m, e_se = mean_se([r["rmse"][c] for r, c in zip(rs, extra)])
            e_hits = sum(c == b for c, b in zip(extra, best))
            g.update(extra_choice=e_m, extra_choice_se=e_se, extra_hits=e_hits)
            lines.append(f"  choice on the extra validation set: {e_m:.4f} +- {e_se:.4f}, hits the best on "
                         f"{e_hits} of {n}")
        summary.append(g)
    return lines, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="an experiment's --out folder (its runs/ holds the run directories)")
    ap.add_argument("--extra-val", type=int, default=0, metavar="N",
                    help="also choose on N fresh validation trajectories per run (0: skip)")
    ap.add_argument("--json", default=None, metavar="FILE", help="write the summary as JSON (atomically)")
    args = ap.parse_args()
    if args.extra_val < 0:
        ap.error(f"--extra-val: expected an integer >= 0, got {args.extra_val}")
    run_dirs = sorted(d for d in glob.glob(os.path.join(args.out, "runs", "*"))
                      if os.path.exists(os.path.join(d, "metrics.json")))
    if not run_dirs:
        ap.error(f"out: no finished run (runs/*/metrics.json) under {args.out!r}")
    runs = [study_run(d, args.extra_val) for d in run_dirs]
    lines, summary = summarise(runs)
    print("\n".join(lines))
    if args.json:
        from vinnp.io import save_json

        save_json(args.json, summary)


if __name__ == "__main__":
    main()
