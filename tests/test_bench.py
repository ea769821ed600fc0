"""`vinnp bench`: the runner's rows and its one-line errors (vinnp alone: the peers are an
optional extra and slow to compile, so the default suite does not time them)."""

import json
import subprocess
import sys


def _bench(*args):
    return subprocess.run([sys.executable, "-m", "vinnp.cli.main", "bench", *args], capture_output=True, text=True)


def test_json_rows_for_vinnp_alone():
    r = _bench("--workloads", "W1,W2", "--batch", "3", "--d", "1,2", "--dtype", "float64", "--impls", "vinnp",
               "--repeats", "2", "--warmup", "1", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 4
    for row in rows:
        assert set(row) == {"workload", "impl", "batch", "d", "dtype", "threads", "median_ms", "min_ms", "compile_s"}
        assert row["impl"] == "vinnp" and row["threads"] == 1 and 0 < row["min_ms"] <= row["median_ms"]
    assert {(r["workload"], r["d"]) for r in rows} == {("W1", 1), ("W1", 2), ("W2", 1), ("W2", 2)}


def test_bad_options_are_one_line():
    for args in (["--impls", "numpy"], ["--batch", "0"], ["--threads", "x"], ["--workloads", "W9"]):
        r = _bench(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("vinnp bench: error:")
