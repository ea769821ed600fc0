"""The gradient checker itself, and the `vinnp gradcheck` command."""

import json

import numpy as np
import pytest

from vinnp.gradcheck import gradcheck
from vinnp.cli.main import main
from vinnp.params import Layout


def test_checker_catches_a_wrong_gradient():
    layout = Layout([("a", (3,)), ("b", (2,))])
    p = np.array([0.3, -1.2, 2.0, 0.5, 0.7])

    def loss(x):
        return float(np.sum(np.sin(x) * x[::-1]))

    def good(x):
        return loss(x), np.cos(x) * x[::-1] + np.sin(x[::-1])

    def bad(x):
        value, g = good(x)
        g = g.copy()
        g[4] *= 1.0001  # a 1e-4 relative mistake in one entry of "b"
        return value, g

    assert all(r["ok"] for r in gradcheck(loss, good, p, layout))
    rows = {r["param"]: r for r in gradcheck(loss, bad, p, layout)}
    assert rows["a"]["ok"] and not rows["b"]["ok"]
    assert rows["b"]["max_rel_err"] == pytest.approx(1e-4, rel=1e-2)


def test_checker_rejects_inconsistent_loss():
    with pytest.raises(ValueError, match="loss_and_grad"):
        gradcheck(lambda x: 0.0, lambda x: (1.0, np.zeros_like(x)), np.zeros(2))


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_json_rows_all_pass(capsys):
    code, out, _ = run(["gradcheck", "--json", "--block", "potential"], capsys)
    rows = json.loads(out)
    assert code == 0 and rows
    assert set(rows[0]) == {"block", "param", "max_rel_err", "tol", "ok"}
    assert all(r["ok"] and r["max_rel_err"] <= r["tol"] for r in rows)


def test_cli_eps_sweep_writes_plot(tmp_path, capsys):
    code, out, _ = run(["gradcheck", "--block", "mlp[tanh]", "--eps-sweep", "--out", str(tmp_path)], capsys)
    assert code == 0
    png = tmp_path / "eps_sweep.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_input_is_one_line_exit_2(capsys):
    code, _, err = run(["gradcheck", "--eps-sweep"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--out" in err and "Traceback" not in err
    code, _, err = run(["gradcheck", "--block", "no-such-block"], capsys)
    assert code == 2 and "no registered block" in err
