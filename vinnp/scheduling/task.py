"""One run as one task: what a worker does with a RunSpec, and the files it hands back.

Workers need no shared filesystem. The client leaves a token file in ``--out``; a worker that
can read it trains in place (its checkpoints land in ``--out``, so a retried task resumes from
the last one). Otherwise the worker trains in a folder of its own temporary directory, seeded
with what the client already holds of the run (an interrupted run's checkpoint), and returns
every file of the finished run for the client to write. A retry on the same host finds that
folder and resumes from its checkpoint too.
"""

import os
import shutil
import tempfile

# files bigger than this are not sent back (no result file of a run comes near it)
MAX_FILE_BYTES = 512 * 2**20


def token_path(out, token):
    return os.path.join(out, f".vinnp-scheduler-{token}")


def shares_out(out, token):
    """Whether this process sees the client's ``--out`` (the token file the client wrote there)."""
    return os.path.isfile(token_path(out, token))


def read_run_files(run_dir):
    """{relative path: bytes} of every file under ``run_dir`` (temporary files skipped)."""
    files = {}
    for root, _, names in os.walk(run_dir):
        for name in sorted(names):
            if name.startswith(".tmp-"):
                continue
            path = os.path.join(root, name)
            if os.path.getsize(path) > MAX_FILE_BYTES:
                raise ValueError(f"{path}: {os.path.getsize(path)} bytes, more than a run's file may hold "
                                 f"({MAX_FILE_BYTES}) to be sent back")
            with open(path, "rb") as fh:
                files[os.path.relpath(path, run_dir)] = fh.read()
    return files


def write_run_files(run_dir, files, save_bytes):
    """Write ``files`` under ``run_dir``, each atomically, metrics.json last: its presence is what
    says a run finished, so a folder interrupted mid-write reads as unfinished and resumes."""
    for rel in sorted(files, key=lambda r: r == "metrics.json"):
        if os.path.isabs(rel) or ".." in rel.split(os.sep):
            raise ValueError(f"a task returned the file {rel!r}, which lies outside its run folder")
        save_bytes(os.path.join(run_dir, rel), files[rel])


def run_task(spec, out, token, seed_files, log, save_bytes):
    """Train (or reuse, or resume) ``spec``'s run -> (metrics, files or None).

    files is None when the run was written in place in ``out``; else {path: bytes} of the
    finished run folder, for the client to write.
    """
    if shares_out(out, token):
        return spec.train(spec.cfg, os.path.join(out, spec.path), log), None
    local = os.path.join(tempfile.gettempdir(), f"vinnp-runs-{token}", spec.path)
    if not os.path.isdir(local) and seed_files:
        write_run_files(local, seed_files, save_bytes)
    metrics = spec.train(spec.cfg, local, log)
    files = read_run_files(local)
    shutil.rmtree(local, ignore_errors=True)
    return metrics, files
