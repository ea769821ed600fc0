"""Anti-aliased rasteriser of capsules (a segment thickened by a radius) on a small square image.

Both pictures of Section 4.2 are capsules: the pendulum's rod is a segment from
the pivot with round ends, the spring's ball is a capsule of zero length (a
disc). A pixel's grey level is the fraction of its area inside the shape,
estimated on an ss×ss grid of sub-pixel points (ss = 8 gives 65 grey levels).

Coordinates are continuous image coordinates: x along columns, y along rows
(down), pixel (row i, col j) is the unit square [j, j+1) × [i, i+1).

``render_capsules`` (Numba, the fast path) visits only the pixels of the
shape's bounding box, and supersamples only the pixels its boundary crosses:
the distance to a segment is 1-Lipschitz, so a pixel whose centre is deeper
than half its diagonal (√2/2) inside or outside is fully covered or empty.
``render_capsules_reference`` (NumPy) supersamples every pixel of every frame,
obviously correct and slow; the tests compare the two.
"""

import math

import numba
import numpy as np

HALF_DIAGONAL = math.sqrt(2.0) / 2.0


@numba.njit(cache=True, inline="always")
def _dist2(px, py, x0, y0, dx, dy, inv_len2):
    """Squared distance from (px, py) to the segment (x0, y0) + s (dx, dy), s in [0, 1]."""
    s = ((px - x0) * dx + (py - y0) * dy) * inv_len2
    s = min(max(s, 0.0), 1.0)
    ex = px - (x0 + s * dx)
    ey = py - (y0 + s * dy)
    return ex * ex + ey * ey


@numba.njit(cache=True)
def _render_capsules(x0, y0, x1, y1, radius, ss, out):
    n, height, width = out.shape
    r2 = radius * radius
    inner = radius - HALF_DIAGONAL
    outer = radius + HALF_DIAGONAL
    weight = 1.0 / (ss * ss)
    for f in range(n):
        ax, ay = x0[f], y0[f]
        dx, dy = x1[f] - ax, y1[f] - ay
        len2 = dx * dx + dy * dy
        inv_len2 = 1.0 / len2 if len2 > 0.0 else 0.0
        row_lo = max(int(math.floor(min(ay, ay + dy) - radius)), 0)
        row_hi = min(int(math.floor(max(ay, ay + dy) + radius)), height - 1)
        col_lo = max(int(math.floor(min(ax, ax + dx) - radius)), 0)
        col_hi = min(int(math.floor(max(ax, ax + dx) + radius)), width - 1)
        for i in range(row_lo, row_hi + 1):
            for j in range(col_lo, col_hi + 1):
                d2 = _dist2(j + 0.5, i + 0.5, ax, ay, dx, dy, inv_len2)
                if inner > 0.0 and d2 <= inner * inner:
                    out[f, i, j] = 1.0
                elif d2 >= outer * outer:
                    continue
                else:
                    count = 0
                    for a in range(ss):
                        py = i + (a + 0.5) / ss
                        for b in range(ss):
                            px = j + (b + 0.5) / ss
                            if _dist2(px, py, ax, ay, dx, dy, inv_len2) <= r2:
                                count += 1
                    out[f, i, j] = count * weight


def render_capsules(x0, y0, x1, y1, radius, size=28, ss=8):
    """Frames of capsules from (x0, y0) to (x1, y1) (pixel units), shape (n, size, size) float32.

    x0, y0, x1, y1: (n,) float64 end points; radius: half thickness (pixels);
    ss: sub-pixel samples per axis. Grey level = covered fraction of the pixel.
    """
    ends = [np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in (x0, y0, x1, y1)]
    out = np.zeros((ends[0].size, size, size), dtype=np.float32)
    _render_capsules(*ends, float(radius), int(ss), out)
    return out


def render_capsules_reference(x0, y0, x1, y1, radius, size=28, ss=8):
    """Same frames as :func:`render_capsules`, supersampling every pixel with NumPy (slow)."""
    ends = [np.asarray(a, dtype=np.float64).reshape(-1, 1, 1) for a in (x0, y0, x1, y1)]
    ax, ay, bx, by = ends
    sub = (np.arange(size)[:, None] + (np.arange(ss) + 0.5)[None, :] / ss).reshape(-1)
    py, px = sub[None, :, None], sub[None, None, :]
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    inv_len2 = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
    s = np.clip(((px - ax) * dx + (py - ay) * dy) * inv_len2, 0.0, 1.0)
    ex, ey = px - (ax + s * dx), py - (ay + s * dy)
    inside = ex * ex + ey * ey <= radius * radius
    return inside.reshape(-1, size, ss, size, ss).mean(axis=(2, 4)).astype(np.float32)
