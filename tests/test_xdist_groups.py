"""`make test`'s `--dist loadgroup` keeps each ``xdist_group`` in one worker (the repository's conftest.py).

The grading cycle, the student package and each notebook of the student-edition walk are module fixtures
shared by a group of tests; run in both workers, each would be built twice.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GROUPED_MODULE = '''
import os
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.fixture(scope="module")
def built_once():
    with open(os.environ["WORKER_LOG"], "a") as log:
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.mark.parametrize("i", range(6))
def test_uses_the_fixture(built_once, i):
    pass
'''


def test_a_group_of_tests_runs_in_one_worker(tmp_path):
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    for name in ("test_first.py", "test_second.py"):
        (tmp_path / name).write_text(GROUPED_MODULE)
    log = tmp_path / "workers.log"
    env = {**os.environ, "WORKER_LOG": str(log), "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 passed" in done.stdout
    workers = log.read_text().split()
    # Both modules' fixtures ran, and in the same worker: the group was one unit of work.
    assert len(workers) == 2 and len(set(workers)) == 1, workers
