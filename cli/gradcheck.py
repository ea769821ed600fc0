"""``vinnp gradcheck``: finite-difference checks of every registered block."""

import json
import os

import click
import numpy as np

from vinnp.gradcheck import all_blocks, check_block, eps_sweep
from vinnp.gradcheck.fastpaths import FLOAT32_TOL, check_fast_path, fast_paths
from vinnp.io import check_out_dir


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows instead of a table.")
@click.option("--eps-sweep", is_flag=True, help="Also plot relative error against the difference step.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the --eps-sweep plot (required with it).")
@click.option("--block", "only", default=None, help="Check only blocks whose name contains this text.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random test points.")
@click.option("--fast-paths/--no-fast-paths", default=True, show_default=True,
              help="Also hold every float32 fast path (what training runs) to its float64 reference.")
@click.pass_context
def gradcheck(ctx, as_json, eps_sweep, out, only, seed, fast_paths):
    """Check every hand-written gradient against float64 central differences, and every float32
    fast path against its float64 reference (max |g32 - g64| / max |g64| <= 1e-4: float32's
    round-off summed over a few thousand terms; a wrong derivative is an O(1) error).

    Exit status 1 if any block exceeds its tolerance, or could not have failed (an all-zero
    gradient, a loss no difference step moves).
    """
    if eps_sweep and out is None:
        raise ValueError("--out: --eps-sweep needs a folder to write its plot into")
    if eps_sweep:
        check_out_dir(out, "--out")  # before the checks run, not after
    blocks = [b for b in all_blocks(seed) if only is None or only in b.name]
    paths = [p for p in (_fast_paths(seed) if fast_paths else []) if only is None or only in p.name]
    if not blocks and not paths:
        raise ValueError(f"--block: no registered block matches {only!r}")
    rows = []
    for block in blocks:
        rows.extend(check_block(block, rng=np.random.default_rng(seed)))
    rows.extend(check_fast_path(path) for path in paths)
    keys = ("block", "param", "max_rel_err", "tol", "ok")
    if as_json:
        click.echo(json.dumps([{**{k: r[k] for k in keys}, **({"why": r["why"]} if "why" in r else {})} for r in rows],
                              indent=1))
    else:
        width = max(len(r["block"]) for r in rows)
        click.echo(f"{'block':<{width}}  {'param':<12} {'max rel err':>12} {'tol':>8}  ok")
        for r in rows:
            mark = "ok" if r["ok"] else "FAIL"
            click.echo(f"{r['block']:<{width}}  {r['param']:<12} {r['max_rel_err']:12.2e} {r['tol']:8.0e}  {mark}")
            if "why" in r:
                click.echo(f"  {r['why']}")
        n_bad = sum(not r["ok"] for r in rows)
        click.echo(f"{len(blocks)} blocks and {len(paths)} float32 fast paths (float32 against float64, "
                   f"tolerance {FLOAT32_TOL:g}), {len(rows)} rows, {n_bad} failing")
    if eps_sweep and blocks:
        path = _eps_sweep_plot(blocks, out, seed)
        if not as_json:
            click.echo(f"wrote {path}")
    ctx.exit(0 if all(r["ok"] for r in rows) else 1)


_fast_paths = fast_paths  # the option's name shadows the builder inside the command


def _eps_sweep_plot(blocks, out, seed):
    from vinnp.plots.gradcheck import plot_eps_sweep  # matplotlib: loaded only for the plot

    eps_values = np.logspace(-12, -1, 23)
    errors = {block.name: eps_sweep(block, eps_values, rng=np.random.default_rng(seed)) for block in blocks}
    os.makedirs(out, exist_ok=True)
    return plot_eps_sweep(os.path.join(out, "eps_sweep.png"), eps_values, errors, 1e-6)
