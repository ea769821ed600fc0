"""One flat parameter vector with named views (the llm.c layout).

Every trainable model keeps all its parameters in one contiguous float array.
A :class:`Layout` names the pieces (``pot.W1``, ``pot.b1``, ``x1``, ``log_var``)
and hands out NumPy views into the flat array, so the optimiser, checkpoints and
gradient checks treat every model alike.
"""

import math

import numpy as np
from vinnp.checks import as_array


class Layout:
    """Ordered, named shapes packed into one flat vector.

    Parameters
    ----------
    entries : list of (name, shape) pairs; shapes are tuples of positive ints.
    """

    def __init__(self, entries):
        self.names = []
        self.shapes = {}
        self.offsets = {}
        offset = 0
        for name, shape in entries:
            shape = tuple(int(s) for s in shape)
            if name in self.shapes:
                raise ValueError(f"layout: duplicate parameter name {name!r}")
            if any(s < 1 for s in shape):
                raise ValueError(f"layout: {name} has a non-positive size in shape {shape}")
            self.names.append(name)
            self.shapes[name] = shape
            self.offsets[name] = offset
            offset += math.prod(shape)
        self.size = offset

    def __len__(self):
        return self.size

    def __eq__(self, other):
        return isinstance(other, Layout) and self.to_json() == other.to_json()

    def slice(self, name):
        """The flat index range of ``name``."""
        o = self.offsets[name]
        return slice(o, o + math.prod(self.shapes[name]))

    def view(self, flat, name):
        """A view (not a copy) of parameter ``name`` inside ``flat``."""
        return flat[self.slice(name)].reshape(self.shapes[name])

    def views(self, flat):
        """Dict name -> view for every parameter."""
        return {n: self.view(flat, n) for n in self.names}

    def zeros(self, dtype=np.float64):
        return np.zeros(self.size, dtype=dtype)

    def check(self, flat, name="params"):
        """Validate that ``flat`` is a finite 1-d float vector of this layout's size."""

        arr = as_array(flat, name, shape=(self.size,))
        return arr

    @staticmethod
    def join(parts):
        """Concatenate layouts under prefixes: ``join([("pot", l1), ("", l2)])``."""
        entries = []
        for prefix, layout in parts:
            for n in layout.names:
                entries.append((f"{prefix}.{n}" if prefix else n, layout.shapes[n]))
        return Layout(entries)

    def to_json(self):
        return [[n, list(self.shapes[n])] for n in self.names]

    @classmethod
    def from_json(cls, obj):
        try:
            return cls([(str(n), tuple(int(s) for s in shape)) for n, shape in obj])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"layout: malformed layout description ({exc})") from None
