"""The book's parallel notebook execution (book/_ext/parallel_execution.py), on a small Sphinx project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from aecore.config import REPO_ROOT
from file_modules import load_file_module

EXT_DIR = REPO_ROOT / "book" / "_ext"
parallel_execution = load_file_module("parallel_execution", EXT_DIR / "parallel_execution.py")


def test_parallel_kernels_share_the_cores():
    assert parallel_execution.threads_per_kernel(2, cores=2) == 1
    assert parallel_execution.threads_per_kernel(2, cores=16) == 8
    assert parallel_execution.threads_per_kernel(4, cores=2) == 1  # never zero threads
    assert parallel_execution.threads_per_kernel(1, cores=3) == 3


def test_the_slowest_notebooks_start_first_and_untimed_ones_before_them():
    paths = [Path(n) for n in ("a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb")]
    order = parallel_execution.execution_order(paths, {"a.ipynb": 5.0, "c.ipynb": 60.0})
    assert order == [Path("b.ipynb"), Path("d.ipynb"), Path("c.ipynb"), Path("a.ipynb")]


def test_timings_merge_and_a_damaged_file_only_loses_the_order(tmp_path):
    path = tmp_path / "book" / "notebook-seconds-full.json"
    assert parallel_execution.read_timings(path) == {}
    parallel_execution.write_timings(path, {"a.ipynb": 5.0, "b.ipynb": 7.0})
    parallel_execution.write_timings(path, {"b.ipynb": 9.5})
    assert parallel_execution.read_timings(path) == {"a.ipynb": 5.0, "b.ipynb": 9.5}
    for damaged in ("{not json", "[1, 2]", '{"a.ipynb": "slow"}'):
        path.write_text(damaged)
        assert parallel_execution.read_timings(path) == {}


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _project(tmp_path: Path, notebooks: dict[str, nbformat.NotebookNode]) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(EXT_DIR)!r})
        extensions = ["myst_nb", "parallel_execution"]
        nb_execution_mode = "cache"
        nb_execution_raise_on_error = True
        aecore_notebook_workers = 2
        exclude_patterns = ["_build"]
    """))
    (src / "index.md").write_text("# Index\n\n```{toctree}\n" + "\n".join(notebooks) + "\n```\n")
    for name, nb in notebooks.items():
        nbformat.write(nb, src / f"{name}.ipynb")
    return src


def _build(src: Path) -> subprocess.CompletedProcess:
    # -E: a fresh environment, so Sphinx reads (and the extension executes) every page; the
    # notebook timings go to a cache folder of the test's own
    env = {**os.environ, "AECORE_CACHE": str(src.parent / "cache"), "AECORE_PROFILE": "quick"}
    return subprocess.run([sys.executable, "-m", "sphinx", "-E", "-b", "html", str(src), str(src / "_build" / "html")],
                          capture_output=True, text=True, timeout=600, env=env)


def test_notebooks_run_in_parallel_kernels_and_a_rebuild_never_reuses_old_outputs(tmp_path):
    reads_file = _notebook("import os\nprint('threads', os.environ['OMP_NUM_THREADS'])",
                           "print('value', open('value.txt').read())")
    src = _project(tmp_path, {"one": reads_file, "two": _notebook("print('second notebook ' + 'ran')")})
    (src / "value.txt").write_text("first")
    result = _build(src)
    assert result.returncode == 0, result.stderr
    assert "executing 2 notebook(s), 2 at a time" in result.stdout
    assert result.stdout.count("Using cached notebook") == 2  # myst-nb took both from the extension
    html = (src / "_build" / "html" / "one.html").read_text()
    assert "value first" in html and "second notebook ran" in (src / "_build" / "html" / "two.html").read_text()
    expected_threads = parallel_execution.threads_per_kernel(2)
    assert f"threads {expected_threads}" in html
    timings = parallel_execution.read_timings(tmp_path / "cache" / "book" / "notebook-seconds-quick.json")
    assert sorted(timings) == ["one.ipynb", "two.ipynb"] and all(s > 0 for s in timings.values())

    # The notebook's code is unchanged, so the jupyter-cache's key matches, but what it reads
    # changed: the page must show the new value, not the cached one.
    (src / "value.txt").write_text("second")
    result = _build(src)
    assert result.returncode == 0, result.stderr
    assert "value second" in (src / "_build" / "html" / "one.html").read_text()


def test_a_failing_notebook_stops_the_build_and_is_named(tmp_path):
    src = _project(tmp_path, {"fine": _notebook("print('fine')"),
                              "broken": _notebook("raise RuntimeError('this cell is broken')")})
    result = _build(src)
    assert result.returncode != 0
    assert "broken.ipynb failed" in result.stderr and "this cell is broken" in result.stderr


def test_notebooks_myst_nb_excludes_from_execution_are_not_executed(tmp_path):
    src = _project(tmp_path, {"one": _notebook("print('output ' + 'of one')"),
                              "skipped": _notebook("print('output ' + 'of skipped')")})
    conf = src / "conf.py"
    conf.write_text(conf.read_text() + 'nb_execution_excludepatterns = ["skipped.ipynb"]\n')
    result = _build(src)
    assert result.returncode == 0, result.stderr
    assert "executing 1 notebook(s)" in result.stdout
    assert "output of one" in (src / "_build" / "html" / "one.html").read_text()
    assert "output of skipped" not in (src / "_build" / "html" / "skipped.html").read_text()


@pytest.mark.parametrize("mode", ["off", "force"])
def test_other_execution_modes_are_left_to_myst_nb(tmp_path, mode):
    src = _project(tmp_path, {"one": _notebook("print('output ' + 'of the cell')")})
    conf = src / "conf.py"
    conf.write_text(conf.read_text().replace('nb_execution_mode = "cache"', f'nb_execution_mode = "{mode}"'))
    result = _build(src)
    assert result.returncode == 0, result.stderr
    assert "[parallel_execution]" not in result.stdout
    assert ("output of the cell" in (src / "_build" / "html" / "one.html").read_text()) == (mode == "force")


def _incremental_build(src: Path, **settings: str) -> subprocess.CompletedProcess:
    """A build without -E, as ``make book`` runs it: Sphinx reads only what it finds out of date."""
    env = {**os.environ, "AECORE_CACHE": str(src.parent / "cache"), "AECORE_PROFILE": "quick",
           "AECORE_SEED": "0", "AECORE_DOGS": "budget", **settings}
    # cwd: not the repository, whose aecore `python -m` would import ahead of PYTHONPATH's
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", str(src), str(src / "_build" / "html")],
                          capture_output=True, text=True, timeout=600, env=env, cwd=src)


def test_a_changed_build_input_re_executes_the_notebooks_and_an_unchanged_rebuild_executes_none(tmp_path):
    """The seed, the dogs budget and aecore's code are not part of a page's source; each must
    still re-execute the notebooks, and the page must show the new run's value."""
    import shutil

    package = tmp_path / "package"  # an editable copy of aecore that the builds import first
    shutil.copytree(REPO_ROOT / "aecore", package / "aecore", ignore=shutil.ignore_patterns("__pycache__"))
    src = _project(tmp_path, {"one": _notebook("from aecore import config\n"
                                               "print('seed', config.seed(), 'dogs', config.dogs_photos())")})
    pythonpath = os.pathsep.join([str(package), os.environ.get("PYTHONPATH", "")])

    def build(**settings: str) -> tuple[bool, str]:
        result = _incremental_build(src, PYTHONPATH=pythonpath, **settings)
        assert result.returncode == 0, result.stderr
        return "executing 1 notebook(s)" in result.stdout, (src / "_build" / "html" / "one.html").read_text()

    executed, page = build()
    assert executed and "seed 0 dogs 2700" in page
    assert build() == (False, page)  # nothing changed: nothing read, nothing executed
    executed, page = build(AECORE_SEED="5")
    assert executed and "seed 5 dogs 2700" in page
    executed, page = build(AECORE_SEED="5", AECORE_DOGS="300")
    assert executed and "seed 5 dogs 300" in page
    assert build(AECORE_SEED="5", AECORE_DOGS="300")[0] is False
    lab_module = package / "aecore" / "labs" / "lab3.py"
    lab_module.write_text(lab_module.read_text() + "\n# an instructor's edit of a lab's settings\n")
    assert build(AECORE_SEED="5", AECORE_DOGS="300")[0] is True
    assert build(AECORE_SEED="5", AECORE_DOGS="300")[0] is False
