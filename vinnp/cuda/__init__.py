"""Optional GPU training steps through numba.cuda (``vinnp train --device cuda``).

``available()`` says whether CUDA steps can run (None) or why not (one line);
``make_cuda_stepper(model, batch, opt)`` is vinnp.training.fused.make_stepper on the GPU.
Importing this package does not import numba.cuda: that happens in those two calls, so the
CPU path never pays for it and never fails for want of it.
"""

from vinnp.cuda.vin_step import available, covers, make_cuda_stepper

__all__ = ["available", "covers", "make_cuda_stepper"]
