"""Repo-wide pytest setup: tests and `pytest --nbval notebooks` run in the quick profile.

The notebook kernels nbval starts inherit this process's environment, so setting the
variables here (unless the caller set them) is enough for the notebooks too.
"""

import os

os.environ.setdefault("AECORE_PROFILE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")

# Under pytest-xdist (`make test` runs two workers), each worker and the kernels it starts use
# their share of the cores, as the book's parallel executor gives each kernel (not all cores each).
_workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
if _workers and "OMP_NUM_THREADS" not in os.environ:
    from aecore.book.execution import threads_per_kernel

    os.environ["OMP_NUM_THREADS"] = str(threads_per_kernel(int(_workers)))
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
