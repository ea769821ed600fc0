"""Runs on Dask: the same rows as in one process, over a LocalCluster and over TCP, through a
killed worker; files handed back where workers cannot see --out; bad schedulers refused."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from vinnp.cli.main import main
from vinnp.experiments.noisy import run_noisy
from vinnp.experiments.runs import train_or_reuse
from vinnp.scheduling import RunSpec, execute, resolve_scheduler
from vinnp.scheduling import runs as runs_mod
from vinnp.scheduling.task import read_run_files, run_task, write_run_files
from vinnp.io import save_bytes
from vinnp.training.setup import make_config

distributed = pytest.importorskip("distributed", reason="the distributed extra (pip install -e '.[distributed]')")

# a tiny noisy experiment: two models (a VIN and a derivative model) x two seeds
TINY = dict(seeds=2, steps=40, systems=("spring",), regimes=(3,), models=("vin-vv", "nn"), hidden=[8], n_val=2,
            n_test=2, forecast_seconds=2.0, warmup_steps=0, checkpoint_every=10)


def quiet(_msg):
    pass


def serial_rows(tmp_path, **kw):
    out = str(tmp_path / "serial")
    run_noisy(out, scheduler="none", log=quiet, **{**TINY, **kw})
    return (tmp_path / "serial" / "results.json").read_bytes()


def test_local_cluster_writes_the_rows_of_the_serial_loop(tmp_path):
    reference = serial_rows(tmp_path)
    lines = []
    run_noisy(str(tmp_path / "local"), scheduler="local", workers=2, log=lines.append, **TINY)
    assert (tmp_path / "local" / "results.json").read_bytes() == reference
    assert any(line.startswith("[4/4] ") for line in lines)  # progress: runs done / total
    assert any("started on" in line for line in lines)  # where each run went (events arrive asynchronously)
    for name in os.listdir(tmp_path / "serial" / "runs"):
        a, b = tmp_path / "serial" / "runs" / name, tmp_path / "local" / "runs" / name
        assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    assert not [f for f in os.listdir(tmp_path / "local") if f.startswith(".vinnp-scheduler")]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args):
    return subprocess.Popen([sys.executable, "-m", "distributed.cli." + args[0], *args[1:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "NUMBA_NUM_THREADS": "1"})


def test_a_running_scheduler_over_tcp_writes_the_serial_rows_through_a_worker_killed_mid_run(tmp_path):
    # a `dask scheduler` and two `dask worker` processes, as a user (or dask-jobqueue) starts them;
    # runs long enough that a worker can be killed (kill -9) between two of a run's checkpoints
    long = dict(models=("vin-vv",), steps=1500, checkpoint_every=100)
    reference = serial_rows(tmp_path, **long)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "tcp"
    procs = [_dask("dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        for _ in range(2):
            procs.append(_dask("dask_worker", address, "--nthreads", "1", "--no-dashboard"))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            pid_of = dict(client.run(lambda dask_worker: (str(dask_worker.name), os.getpid())).values())
        lines, errors = [], []

        def experiment():
            try:
                run_noisy(str(out), scheduler=address, log=lines.append, **{**TINY, **long})
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=experiment)
        thread.start()
        victim = None
        deadline = time.time() + 120
        while victim is None and time.time() < deadline and thread.is_alive():
            for line in list(lines):
                path, _, name = line.partition(": started on ")
                run_dir = out / path
                if name and (run_dir / "checkpoint.npz").exists() and not (run_dir / "metrics.json").exists():
                    victim = (path, name)
                    break
            time.sleep(0.01)
        assert victim is not None, "no run was caught between two checkpoints"
        os.kill(pid_of[victim[1]], signal.SIGKILL)
        thread.join(timeout=300)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    assert not errors, errors
    assert (out / "results.json").read_bytes() == reference
    # the scheduler retried the task and the run resumed from its checkpoint
    assert any(line.startswith(f"{victim[0]}: resuming at step") for line in lines), lines


def test_workers_that_cannot_see_out_hand_the_run_files_back(tmp_path):
    cfg = make_config(system="spring", model="vin-vv", steps=40, n_traj=3, n_val=2, n_test=2, hidden=[8],
                      forecast_seconds=2.0, warmup_steps=0, checkpoint_every=10)
    spec = RunSpec("runs/r", train_or_reuse, cfg)
    in_place = execute([spec], str(tmp_path / "a"), "none", log=quiet)["runs/r"]
    # no token file in --out: the worker trains in its own folder and returns every file
    metrics, files = run_task(spec, str(tmp_path / "b"), "no-such-token", None, quiet, save_bytes)
    assert metrics == in_place and not (tmp_path / "b").exists()
    assert {"config.json", "metrics.json", "model.npz", "checkpoint.npz"} <= set(files)
    write_run_files(str(tmp_path / "b" / "runs" / "r"), files, save_bytes)
    assert read_run_files(str(tmp_path / "b" / "runs" / "r")) == read_run_files(str(tmp_path / "a" / "runs" / "r"))
    # an interrupted run travels with the task and resumes there (the client's copy is the seed)
    cut = dict(read_run_files(str(tmp_path / "a" / "runs" / "r")))
    for name in ("metrics.json", "model.npz"):
        del cut[name]
    lines = []
    resumed, _ = run_task(spec, str(tmp_path / "c"), "no-such-token", cut, lines.append, save_bytes)
    assert resumed == in_place and any(line.startswith("resuming at step 40") for line in lines)
    with pytest.raises(ValueError, match="outside its run folder"):
        write_run_files(str(tmp_path / "d"), {"../evil": b""}, save_bytes)


@pytest.mark.parametrize("scheduler, workers, message", [
    ("udp://host:1", None, "--scheduler: expected none, local or tcp://HOST:PORT"),
    ("tcp://host", None, "is not an address of the form tcp://HOST:PORT"),
    ("tcp://host:99999", None, "is not an address of the form tcp://HOST:PORT"),
    ("local", 0, "--workers"),
    ("none", 2, "--workers: sets the size of a local cluster"),
])
def test_bad_schedulers_are_refused_before_any_work(scheduler, workers, message):
    with pytest.raises(ValueError, match=message):
        resolve_scheduler(scheduler, workers)


def test_a_missing_distributed_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(runs_mod, "distributed_installed", lambda: False)
    with pytest.raises(ValueError, match=r"needs the distributed extra.*pip install -e '\.\[distributed\]'"):
        resolve_scheduler("local")
    assert resolve_scheduler("auto") == ("none", None)


def test_an_unreachable_scheduler_is_one_line_exit_2_within_seconds_and_writes_nothing(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    out = tmp_path / "exp"
    t0 = time.time()
    with pytest.raises(SystemExit) as exc:
        main(["experiment", "noisy", "--seeds", "1", "--steps", "20", "--systems", "spring", "--regimes", "3",
              "--models", "vin-vv", "--out", str(out), "--scheduler", address])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and time.time() - t0 < 20
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and address in errors[0] and "Traceback" not in err
    assert not out.exists()


def test_earlier_rows_join_the_table_only_when_they_fit(tmp_path):
    small = {k: v for k, v in TINY.items() if k != "seeds"}
    run_noisy(str(tmp_path / "first"), seeds=1, log=quiet, **small)
    earlier = str(tmp_path / "first" / "results.json")
    rows, table, _ = run_noisy(str(tmp_path / "more"), seeds=1, first_seed=1, with_rows=earlier, log=quiet, **small)
    both, _, _ = run_noisy(str(tmp_path / "both"), seeds=2, log=quiet, **small)
    assert sorted(rows, key=lambda r: (r["model"], r["seed"])) == sorted(both, key=lambda r: (r["model"], r["seed"]))
    with pytest.raises(ValueError, match="--with-rows: row 0 .* is also one of this command's runs"):
        run_noisy(str(tmp_path / "again"), seeds=1, with_rows=earlier, log=quiet, **small)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"system": "spring"}]))
    with pytest.raises(ValueError, match="--with-rows: row 0 .* has the fields"):
        run_noisy(str(tmp_path / "bad"), seeds=1, with_rows=str(bad), log=quiet, **small)
    assert not (tmp_path / "again").exists() and not (tmp_path / "bad").exists()
