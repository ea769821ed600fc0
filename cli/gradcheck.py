"""``vinnp gradcheck``: finite-difference checks of every registered block."""

import json
import os

import click
import numpy as np

from vinnp.gradcheck import all_blocks, check_block, eps_sweep
from vinnp.io import check_out_dir


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows instead of a table.")
@click.option("--eps-sweep", is_flag=True, help="Also plot relative error against the difference step.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the --eps-sweep plot (required with it).")
@click.option("--block", "only", default=None, help="Check only blocks whose name contains this text.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random test points.")
@click.pass_context
def gradcheck(ctx, as_json, eps_sweep, out, only, seed):
    """Check every hand-written gradient against float64 central differences.

    Exit status 1 if any block exceeds its tolerance.
    """
    if eps_sweep and out is None:
        raise ValueError("--out: --eps-sweep needs a folder to write its plot into")
    if eps_sweep:

        check_out_dir(out, "--out")  # before the checks run, not after
    blocks = [b for b in all_blocks(seed) if only is None or only in b.name]
    if not blocks:
        raise ValueError(f"--block: no registered block matches {only!r}")
    rows = []
    for block in blocks:
        rows.extend(check_block(block, rng=np.random.default_rng(seed)))
    keys = ("block", "param", "max_rel_err", "tol", "ok")
    if as_json:
        click.echo(json.dumps([{k: r[k] for k in keys} for r in rows], indent=1))
    else:
        width = max(len(r["block"]) for r in rows)
        click.echo(f"{'block':<{width}}  {'param':<12} {'max rel err':>12} {'tol':>8}  ok")
        for r in rows:
            mark = "ok" if r["ok"] else "FAIL"
            click.echo(f"{r['block']:<{width}}  {r['param']:<12} {r['max_rel_err']:12.2e} {r['tol']:8.0e}  {mark}")
        n_bad = sum(not r["ok"] for r in rows)
        click.echo(f"{len(blocks)} blocks, {len(rows)} parameters, {n_bad} failing")
    if eps_sweep:
        path = _eps_sweep_plot(blocks, out, seed)
        if not as_json:
            click.echo(f"wrote {path}")
    ctx.exit(0 if all(r["ok"] for r in rows) else 1)


def _eps_sweep_plot(blocks, out, seed):
    from vinnp.plots.gradcheck import plot_eps_sweep  # matplotlib: loaded only for the plot

    eps_values = np.logspace(-12, -1, 23)
    errors = {block.name: eps_sweep(block, eps_values, rng=np.random.default_rng(seed)) for block in blocks}
    os.makedirs(out, exist_ok=True)
    return plot_eps_sweep(os.path.join(out, "eps_sweep.png"), eps_values, errors, 1e-6)
