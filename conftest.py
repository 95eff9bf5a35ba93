"""Repo-wide pytest setup: tests and `pytest --nbval notebooks` run in the quick profile.

The notebook kernels nbval starts inherit this process's environment, so setting the
variables here (unless the caller set them) is enough for the notebooks too.
"""

import os

os.environ.setdefault("AECORE_PROFILE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")
