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


# pytest-xdist 3.8's `--dist loadgroup` marks a grouped test by appending "@<group>" to its node id, through
# the attribute ``item._nodeid``. pytest 9.2 keeps the node id in ``item._id`` instead, so the suffix is lost
# and the groups are silently dealt out to both workers (pytest-dev/pytest-xdist#1386): a module fixture
# such as the grading cycle's then runs once in each worker. Until xdist handles it, this copies the
# suffixed id into pytest's own field; with a pytest that still reads ``_nodeid`` it changes nothing.
# tests/test_xdist_groups.py checks that a group stays in one worker.
import pytest  # noqa: E402  (the environment above is set before anything imports torch)

# The groups are the suite's longest units of work (the grading cycle about 2 minutes, a notebook's run, which
# its student walk shares, up to 2). xdist hands out work in collection order, so they go first, the longest
# first, and the many short tests fill the gaps after them: the last minute is not one worker alone with the
# grading cycle.
LONGEST_GROUPS_FIRST = ("grading", "notebook-", "student_package")


def _start_rank(item) -> int:
    """Where ``item`` starts: its group's place in LONGEST_GROUPS_FIRST, then the other groups, then the rest."""
    groups = [str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
              for mark in item.iter_markers("xdist_group")]
    if not groups:
        return len(LONGEST_GROUPS_FIRST) + 1
    return min((rank for rank, prefix in enumerate(LONGEST_GROUPS_FIRST) for group in groups
                if group.startswith(prefix)), default=len(LONGEST_GROUPS_FIRST))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        suffixed = item.__dict__.get("_nodeid")
        if isinstance(suffixed, str) and suffixed != item.nodeid and hasattr(item, "_id"):
            item._id = type(item._id).parse(suffixed)
    items.sort(key=_start_rank)  # stable: each group keeps its own order
