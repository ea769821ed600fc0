"""A user's own trajectories (lab measurements) from CSV or NPZ, as a vinnp dataset dict.

CSV: a header row, then one row per time point. Columns (any order):

* ``t`` — time in seconds (required);
* ``q`` (d = 1) or ``q0, q1, ...`` (d > 1) — the configuration (required);
* optional ``p``/``p0..``, ``dqdt``/``dqdt0..``, ``dpdt``/``dpdt0..`` and the
  same with ``_true`` (``q_true``, ``q0_true``, ...) when the truth is known;
* optional ``traj`` — a trajectory id (any text or number); rows with the same
  id form one trajectory, in file order. Without it the file is one trajectory;
* optional control inputs ``u`` (m = 1) or ``u0, u1, ...`` (m inputs, m need
  not equal d), known exactly, so never ``_true``; zero-order hold: the value
  on the row of t_k is the input applied on [t_k, t_{k+1}). They become
  ``ds["u"]`` of shape (n_traj, n_steps, m) and ``meta["n_inputs"]`` = m.

NPZ: arrays ``t`` ((n_steps,), or (n_traj, n_steps) per trajectory) and ``q``
((n_steps,), (n_traj, n_steps) or (n_traj, n_steps, d)), with the same optional
names as above in the shape of ``q``, and ``u`` of shape (n_steps,),
(n_traj, n_steps) or (n_traj, n_steps, m). A ``meta`` entry (a vinnp dataset
file) is ignored.

Every trajectory must have the same number of points and one common uniform
step dt (to relative tolerance 1e-3; resample jittery clocks first); pass ``n_steps`` to keep the first
n_steps points of each. The returned ``t`` is the first trajectory's grid;
``meta["t0"]`` lists each trajectory's start time.

Missing derivatives are estimated by finite differences on the uniform grid
(``numpy.gradient``, edge_order=2): second-order central differences
(x[i+1] − x[i−1]) / 2dt inside, second-order one-sided differences at both ends.
Without p columns, p is taken as that estimate of dq/dt, i.e. unit mass
(p = dq/dt, so dqdt = p and dpdt is the finite difference of p); a learned
mass matrix absorbs the scale. ``meta["derived"]`` records what was estimated.
"""

import csv
import os
import re

import numpy as np

from vinnp.checks import positive_int
from vinnp.io import load_npz
from vinnp.systems.grid import UNIFORM_RTOL, time_grid, uniform_step

FIELDS = ("q", "p", "dqdt", "dpdt", "q_true", "p_true", "dqdt_true", "dpdt_true")
INPUT = "u"  # control inputs: m columns of their own, not d like the phase-space fields
_COLUMN = re.compile(r"^(q|p|dqdt|dpdt)(\d*)(_true)?$|^(u)(\d*)$")


def import_trajectories(path, n_steps=None):
    """Read trajectories from a .csv or .npz file into a dataset dict (obs="imported").

    Returns ``t`` (n_steps,) seconds; ``q, p, dqdt, dpdt`` (n_traj, n_steps, d)
    float64; any ``*_true`` arrays that the file holds; ``u`` (n_traj, n_steps,
    m) when it holds inputs; ``meta`` (source file, format, n_traj, n_steps, d,
    dt, trajectory ids, t0, derived, and n_inputs = m with inputs). Bad files
    (unknown or missing columns, wrong column counts, NaN/inf, non-increasing or
    non-uniform times, unequal lengths) raise ValueError naming the file.
    """
    path = os.fspath(path)
    kind = os.path.splitext(path)[1].lower()
    if kind not in (".csv", ".npz"):
        raise ValueError(f"path: expected a .csv or .npz file, got {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"path: no such file {path!r}")
    reader = _read_csv if kind == ".csv" else _read_npz
    ids, times, fields = reader(path)
    try:
        return _assemble(path, kind[1:], ids, times, fields, n_steps)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _read_csv(path):
    """Per-trajectory lists: ids, t arrays (n,), field arrays (n, d).

    Reads CSVs as spreadsheet programs save them: a UTF-8 byte-order mark, CRLF line ends,
    ``;`` (or tab) separators with decimal commas, and empty trailing columns and lines.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
        first = next((line for line in text.splitlines() if line.strip()), "")
        sep = ";" if ";" in first and "," not in first else "\t" if "\t" in first and "," not in first else ","
        rows = list(csv.reader(text.splitlines(), delimiter=sep))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    while header and header[-1] == "":  # a spreadsheet's empty trailing columns
        header.pop()
    columns = _parse_header(path, header)
    values = np.empty((len(rows) - 1, len(header)))
    id_col = header.index("traj") if "traj" in header else None
    labels = []
    for n, row in enumerate(rows[1:]):
        line = n + 2
        if len(row) > len(header) and not any(cell.strip() for cell in row[len(header):]):
            row = row[: len(header)]
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line} has {len(row)} columns, the header has {len(header)}")
        for c, cell in enumerate(row):
            if c == id_col:
                continue
            if sep != "," and "." not in cell:
                cell = cell.replace(",", ".")  # a decimal comma
            try:
                values[n, c] = float(cell)
            except ValueError:
                what = "is a complex number; expected a real number" if _is_complex(cell) else "is not a number"
                raise ValueError(f"{path}: line {line}, column {header[c]!r}: {cell.strip()!r} {what}") from None
            if not np.isfinite(values[n, c]):
                raise ValueError(f"{path}: line {line}, column {header[c]!r}: NaN or inf")
        labels.append(row[id_col].strip() if id_col is not None else "0")
    order = list(dict.fromkeys(labels))
    ids, times, fields = [], [], {f: [] for f in columns}
    labels = np.array(labels)
    for label in order:
        sel = labels == label
        ids.append(label)
        times.append(values[sel, header.index("t")])
        for f, cols in columns.items():
            fields[f].append(values[sel][:, cols])
    return ids, times, fields


def _is_complex(cell):
    if not any(ch.isdigit() for ch in cell):
        return False
    try:
        complex(cell.strip().replace("i", "j"))
    except ValueError:
        return False
    return True


def _parse_header(path, header):
    """Map each field to its column indices, checking names and column counts."""
    if len(set(header)) != len(header):
        raise ValueError(f"{path}: repeated column names in the header {header}")
    if "t" not in header:
        raise ValueError(f"{path}: no time column 't' in the header {header}")
    found = {}
    for c, name in enumerate(header):
        if name in ("t", "traj"):
            continue
        m = _COLUMN.match(name)
        if not m:
            raise ValueError(
                f"{path}: unknown column {name!r}; expected t, traj, q, p, dqdt, dpdt "
                "(optionally numbered, optionally with _true), u (optionally numbered)"
            )
        if m.group(4):
            found.setdefault(INPUT, []).append((m.group(5), c))
            continue
        field = m.group(1) + (m.group(3) or "")
        found.setdefault(field, []).append((m.group(2), c))
    if "q" not in found:
        raise ValueError(f"{path}: no configuration column (q, or q0, q1, ...) in the header {header}")
    columns = {}
    for field, entries in found.items():
        numbers = [s for s, _ in entries]
        if numbers == [""]:
            columns[field] = [entries[0][1]]
            continue
        if "" in numbers or sorted(int(s) for s in numbers) != list(range(len(numbers))):
            raise ValueError(
                f"{path}: columns of {field} must be {field} alone or {field}0..{field}{{d-1}}, got {sorted(numbers)}"
            )
        columns[field] = [c for _, c in sorted(entries, key=lambda e: int(e[0]))]
    d = len(columns["q"])
    for field, cols in columns.items():
        if field != INPUT and len(cols) != d:
            raise ValueError(f"{path}: {len(cols)} {field} column(s) but {d} q column(s)")
    return {f: columns[f] for f in FIELDS + (INPUT,) if f in columns}


def _read_npz(path):
    data = load_npz(path, name="path")
    unknown = sorted(set(data) - set(FIELDS) - {"t", "meta", INPUT})
    if unknown:
        raise ValueError(f"{path}: unknown array(s) {', '.join(unknown)}; expected t, {', '.join(FIELDS)}, {INPUT}")
    for key in ("t", "q"):
        if key not in data:
            raise ValueError(f"{path}: no array {key!r}")
    for key, value in data.items():
        if key != "meta" and value.dtype.kind not in "fiu":
            what = "complex values" if value.dtype.kind == "c" else f"{value.dtype} values"
            raise ValueError(f"{path}: array {key!r} holds {what}; expected real numbers")
    q = np.asarray(data["q"])
    if q.ndim == 1:
        q = q[None]
    n_traj = q.shape[0]
    fields = {}
    for f in FIELDS + (INPUT,):
        if f not in data:
            continue
        x = np.asarray(data[f])
        x = x[None] if x.ndim == 1 else x
        x = x[..., None] if x.ndim == 2 else x
        if x.ndim != 3 or x.shape[0] != n_traj:
            last = "m" if f == INPUT else "d"
            raise ValueError(
                f"{path}: {f} has shape {data[f].shape}, expected (n_traj, n_steps[, {last}]) like q {data['q'].shape}"
            )
        fields[f] = list(x)
    t = np.asarray(data["t"])
    if t.ndim == 1:
        times = [t] * n_traj
    elif t.ndim == 2 and t.shape[0] == n_traj:
        times = list(t)
    else:
        raise ValueError(
            f"{path}: t has shape {t.shape}, expected (n_steps,) or (n_traj, n_steps) with n_traj = {n_traj}"
        )
    return [str(i) for i in range(n_traj)], times, fields


def _assemble(path, fmt, ids, times, fields, n_steps):
    rtol = UNIFORM_RTOL
    lengths = [len(t) for t in times]
    if n_steps is not None:
        n_steps = positive_int(n_steps, "n_steps")
        if min(lengths) < n_steps:
            shortest = ids[int(np.argmin(lengths))]
            raise ValueError(f"n_steps = {n_steps} but trajectory {shortest} has {min(lengths)} points")
    elif len(set(lengths)) > 1:
        raise ValueError(
            f"trajectories have different lengths {dict(zip(ids, lengths))}; "
            "pass n_steps to keep the first n_steps of each"
        )
    else:
        n_steps = lengths[0]
    if n_steps < 3:
        raise ValueError(f"expected at least 3 time points per trajectory (finite differences), got {n_steps}")
    grids = [time_grid(t[:n_steps], f"t of trajectory {i}", uniform=True, rtol=rtol) for i, t in zip(ids, times)]
    dts = np.array([uniform_step(g) for g in grids])
    if np.max(np.abs(dts - dts[0])) > rtol * dts[0]:
        raise ValueError(f"trajectories have different time steps {dict(zip(ids, dts.tolist()))}")
    dt = float(dts[0])
    ds = {"t": grids[0]}
    for f, per_traj in fields.items():
        for i, t, a in zip(ids, times, per_traj):
            if len(a) != len(t):
                raise ValueError(f"{f} has {len(a)} points per trajectory but t has {len(t)} (trajectory {i})")
        x = np.stack([np.asarray(a, dtype=np.float64)[:n_steps] for a in per_traj])
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{f} contains NaN or inf")
        # inputs have their own count m on the last axis; everything else matches q
        n = 2 if f == INPUT else 3
        if "q" in ds and x.shape[:n] != ds["q"].shape[:n]:
            raise ValueError(f"{f} has shape {x.shape}, q has {ds['q'].shape}")
        ds[f] = x
    derived = {}
    if "p" not in ds:
        ds["p"] = np.gradient(ds["q"], dt, axis=1, edge_order=2)
        derived["p"] = "unit mass: p = dq/dt by second-order finite differences of q"
    if "dqdt" not in ds:
        if "p" in derived:
            ds["dqdt"] = ds["p"].copy()
            derived["dqdt"] = "dqdt = p (unit mass)"
        else:
            ds["dqdt"] = np.gradient(ds["q"], dt, axis=1, edge_order=2)
            derived["dqdt"] = "second-order finite differences of q"
    if "dpdt" not in ds:
        ds["dpdt"] = np.gradient(ds["p"], dt, axis=1, edge_order=2)
        derived["dpdt"] = "second-order finite differences of p"
    ds["meta"] = {
        "obs": "imported",
        "system": None,
        "source": os.path.basename(path),
        "format": fmt,
        "n_traj": len(ids),
        "n_steps": n_steps,
        "d": int(ds["q"].shape[2]),
        "dt": dt,
        "traj_ids": list(ids),
        "t0": [float(g[0]) for g in grids],
        "derived": derived,
    }
    if INPUT in ds:
        ds["meta"]["n_inputs"] = int(ds[INPUT].shape[2])
    return {k: ds[k] for k in ("t",) + FIELDS + (INPUT, "meta") if k in ds}
