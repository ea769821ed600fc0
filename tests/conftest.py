import os

# Tests run the serial-equivalent reduction anyway (fixed chunks); one thread
# keeps two concurrent test runs on a 2-core machine from oversubscribing it.
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
# Small matrix products: two OpenBLAS threads on a busy 2-core VM were 50x slower
# than one (a 96x784x32 product, 7.8 ms against 0.16 ms).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hypothesis import settings  # noqa: E402

settings.register_profile("default", deadline=None, max_examples=25, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
