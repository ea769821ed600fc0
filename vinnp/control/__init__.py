"""Model-predictive control on a learned (forced) VIN, on NumPy alone.

``planner`` (CEM over a batched rollout) and ``loop`` (closed loop, hold score) import
NumPy only; ``truth`` holds the true systems (scipy) and is not imported here.
"""

from vinnp.control.loop import ClosedLoop, run_closed_loop, score_hold
from vinnp.control.planner import CEMPlanner, cem_plan, tracking_cost

__all__ = ["CEMPlanner", "ClosedLoop", "cem_plan", "run_closed_loop", "score_hold", "tracking_cost"]
