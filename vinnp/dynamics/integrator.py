"""What an integrator cell declares about itself: :class:`Integrator`.

Each unit file vinnp/dynamics/<integrator>.py ends with one ``INTEGRATOR = Integrator(...)``
and vinnp.dynamics.registry lists them. Everything above the dynamics floor (the Cell, the
models, the fused and CUDA training steps, the pixel VAE, the CLI's choices, the tests)
reads these fields instead of comparing names.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

# How x_1 and the observations relate to (q, p):
POSITIONS = "positions"  # x_t = (q_{t-1}, q_t); p_t is the discrete momentum of eq. (3)
PHASE = "phase"          # x_t = (q_t, p_t), observed directly


@dataclass(frozen=True)
class Integrator:
    """An integrator cell's declaration.

    name         the model name users type (``--model``)
    summary      one line: what it is and the paper's equations
    order        order of accuracy of the one-step map (the tests measure it)
    symplectic   the one-step map preserves the symplectic form (tested)
    reversible   time reversible: stepping back from (q, -p) retraces the path (tested)
    lie_group    the group the state evolves on (e.g. "SO(2)"), or None for R^d
    state        POSITIONS or PHASE (see above)
    make_net     (dim, hidden, activation) -> MLP: the network the cell learns
    potential    the network is a potential U(q) and the embedding has the energy
                 p^T M^{-1} p / 2 + U(q)
    mass         the cell has a mass matrix M (fixed to I or learned as M^{-1} = L L^T)
    dim          the only configuration dimension the cell supports, or None for any
    aux          numbers per step (times d) the forward keeps for the backward
    tag          the Numba dispatch tag of its kernels (vinnp.dynamics.kernels.register)
    reference    NumPy step-by-step rollout: (weights, activations, minv, m, h, x1, T) -> obs
    initial_state  (q, p, minv, h) -> x1 whose observed (q_1, p_1) is (q, p); a forced cell's
                 also takes D and g0 (its dissipation and first input force)
    forced       the cell takes generalised forces: a learned dissipation D and input map B
                 (vinnp.dynamics.forcing); its kernels read mass (M^{-1}, M, D, (M + hD/2)^{-1})
                 and drive = B u, and its ``reference`` takes (..., T, D, drive)
    cuda         module of vinnp.cuda holding its GPU kernels, or None
    pixel_h      latent step size in the pixel VAE (Appendix C.2's 1.0 unless stated)
    pixel_coords how the pixel encoder parameterises x_1 ("state" or "velocity"; see
                 vinnp.models.pixel_vae)
    roles        the defaults and paper tables the cell belongs to, e.g. "default-phase",
                 "table-noisy", "table-pixels-pendulum" (vinnp.dynamics.registry.with_role)
    """

    name: str
    summary: str
    order: int
    symplectic: bool
    reversible: bool
    lie_group: Optional[str]
    state: str
    make_net: Callable
    potential: bool
    mass: bool
    dim: Optional[int]
    aux: int
    tag: object
    reference: Callable
    initial_state: Callable
    cuda: Optional[str] = None
    forced: bool = False
    pixel_h: float = 1.0
    pixel_coords: str = "state"
    roles: tuple = field(default_factory=tuple)

    def __post_init__(self):
        if self.state not in (POSITIONS, PHASE):
            raise ValueError(f"state: expected {POSITIONS!r} or {PHASE!r}, got {self.state!r}")
