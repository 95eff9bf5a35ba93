"""The book's notebook executor (aecore.book.execution) and its Sphinx extension
(book/_ext/parallel_execution.py), on small notebooks and a small Sphinx project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from aecore.book import execution
from aecore.config import REPO_ROOT

EXT_DIR = REPO_ROOT / "book" / "_ext"


def test_parallel_kernels_share_the_cores():
    assert execution.threads_per_kernel(2, cores=2) == 1
    assert execution.threads_per_kernel(2, cores=16) == 8
    assert execution.threads_per_kernel(4, cores=2) == 1  # never zero threads
    assert execution.threads_per_kernel(1, cores=3) == 3


def test_the_slowest_notebooks_start_first_and_untimed_ones_before_them():
    paths = [Path(n) for n in ("a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb")]
    order = execution.execution_order(paths, {"a.ipynb": 5.0, "c.ipynb": 60.0})
    assert order == [Path("b.ipynb"), Path("d.ipynb"), Path("c.ipynb"), Path("a.ipynb")]


def test_timings_merge_and_a_damaged_file_only_loses_the_order(tmp_path):
    path = tmp_path / "book" / "notebook-seconds-full.json"
    assert execution.read_timings(path) == {}
    execution.write_timings(path, {"a.ipynb": 5.0, "b.ipynb": 7.0})
    execution.write_timings(path, {"b.ipynb": 9.5})
    assert execution.read_timings(path) == {"a.ipynb": 5.0, "b.ipynb": 9.5}
    for damaged in ("{not json", "[1, 2]", '{"a.ipynb": "slow"}'):
        path.write_text(damaged)
        assert execution.read_timings(path) == {}


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
    src = _project(tmp_path, {"one": reads_file, "two": _notebook("print('second notebook ' + 'ran')"),
                              "skipped": _notebook("print('output ' + 'of skipped')")})
    conf = src / "conf.py"  # myst-nb's own exclusion: the extension must not execute that notebook either
    conf.write_text(conf.read_text() + 'nb_execution_excludepatterns = ["skipped.ipynb"]\n')
    (src / "value.txt").write_text("first")
    result = _build(src)
    assert result.returncode == 0, result.stderr
    assert "executing 2 notebook(s), 2 at a time" in result.stdout
    assert result.stdout.count("Using cached notebook") == 2  # myst-nb took both from the extension
    html = (src / "_build" / "html" / "one.html").read_text()
    assert "value first" in html and "second notebook ran" in (src / "_build" / "html" / "two.html").read_text()
    assert "output of skipped" not in (src / "_build" / "html" / "skipped.html").read_text()
    expected_threads = execution.threads_per_kernel(2)
    assert f"threads {expected_threads}" in html
    timings = execution.read_timings(tmp_path / "cache" / "book" / "notebook-seconds-quick.json")
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
    """The seed and aecore's code are not part of a page's source; each must still re-execute the notebooks,
    and the page must show the new run's value. (That every other build input, e.g. the dogs budget, changes
    the fingerprint these builds compare is tests/book/test_build_inputs.py's.)"""
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
    lab_module = package / "aecore" / "labs" / "lab3.py"
    lab_module.write_text(lab_module.read_text() + "\n# an instructor's edit of a lab's settings\n")
    assert build(AECORE_SEED="5")[0] is True


def test_the_cell_limit_is_chosen_by_profile():
    limits = {"quick": 600, "full": 3600}
    assert execution.cell_timeout(limits, "quick") == 600
    assert execution.cell_timeout(limits, "full") == 3600
    assert execution.cell_timeout({"full": 3600}, "quick", default=900) == 900  # profile not listed
    assert execution.cell_timeout(120, "quick") == 120  # one number for every profile
    assert execution.cell_timeout({"quick": 0}, "quick") is None  # 0 or less: no limit
    book = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["sphinx"]["config"]["aecore_cell_timeout"]
    assert book["quick"] * 5 <= book["full"]  # the quick profile's limit is minutes, not the full hour


# A cell after which the kernel never replies again: it stops its own process (SIGSTOP), so it is
# alive but silent, as Lab 1's kernel was seen in the hung builds.
STOP_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)"
LIMIT = 3  # seconds a cell may take in these tests


def _write(tmp_path: Path, name: str, nb: nbformat.NotebookNode) -> Path:
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_kernel_that_stops_replying_is_retried_once_then_fails_naming_the_notebook_and_cell(tmp_path):
    stuck = _write(tmp_path, "stuck", _notebook("x = 1", "print('before')", STOP_KERNEL, "print('never')"))
    fine = _write(tmp_path, "fine", _notebook("print('fine')"))
    lines: list[str] = []
    start = time.perf_counter()
    with pytest.raises(execution.NotebookExecutionError) as failure:
        list(execution.execute_notebooks([stuck, fine], timeout=LIMIT, allow_errors=False, workers=2,
                                         threads=1, log=lines.append))
    seconds = time.perf_counter() - start
    message = str(failure.value)
    assert "stuck.ipynb was stuck once and again on its retry" in message
    assert f"cell 2 (`import os, signal`) gave no reply within {LIMIT} s" in message
    assert failure.value.run.stuck == execution.StuckCell(2, "import os, signal", LIMIT)
    assert failure.value.run.attempts == 2
    assert len(lines) == 2 and "executing it again (attempt 2 of 2)" in lines[0] and message in lines[1]
    # an attempt: kernel start, two quick cells, the limit, and the stopped kernel's shutdown (killed at
    # once, not asked); the whole: two workers' start (each imports aecore)
    # and two attempts, on a loaded box: far from any silent wait
    assert failure.value.run.seconds < LIMIT + 30, failure.value.run.seconds
    assert seconds < 240, seconds


def test_a_notebook_stuck_once_succeeds_on_its_retry(tmp_path):
    marker = tmp_path / "stopped-once"
    first_time_only = (f"import os, signal, pathlib\nmarker = pathlib.Path({str(marker)!r})\n"
                       "if not marker.exists():\n    marker.touch()\n    os.kill(os.getpid(), signal.SIGSTOP)")
    path = _write(tmp_path, "flaky", _notebook(first_time_only, "print('after ' + 'the stop')"))
    lines: list[str] = []
    runs = list(execution.execute_notebooks([path], timeout=LIMIT, allow_errors=False, workers=1,
                                            threads=1, log=lines.append))
    assert len(runs) == 1 and runs[0].failure is None and runs[0].attempts == 2
    assert "after the stop" in runs[0].notebook.cells[1].outputs[0]["text"]
    assert len(lines) == 1 and "flaky.ipynb was stuck: cell 0 (`import os, signal, pathlib`)" in lines[0]


def test_a_cell_that_raises_fails_at_once_without_a_retry(tmp_path):
    path = _write(tmp_path, "broken", _notebook("raise RuntimeError('this cell is broken')"))
    lines: list[str] = []
    with pytest.raises(execution.NotebookExecutionError) as failure:
        list(execution.execute_notebooks([path], timeout=LIMIT, allow_errors=False, workers=1, log=lines.append))
    assert "broken.ipynb failed" in str(failure.value) and "this cell is broken" in str(failure.value)
    assert failure.value.run.attempts == 1 and failure.value.run.stuck is None
    assert not any("again" in line for line in lines)


def test_an_output_widget_keeps_its_outputs_without_writing_to_the_kernel_during_the_cell(tmp_path):
    """ipywidgets.interactive (Lab 1's latent explorer) draws into an Output widget. nbclient's
    stand-in for it sent every captured output back on the shell channel while the cell ran, the
    traffic during which Lab 1's kernel and client lost each other. The outputs must still land in
    the notebook's widget state, and the kernel must receive nothing while the cell runs."""
    widget_cell = ("import ipywidgets as widgets\n"
                   "def show(z):\n    print('z is', z)\n"
                   "w = widgets.interactive(show, z=widgets.FloatSlider(value=0.5, min=0, max=1))\nw")
    # a front end's writes would fill the kernel's copy of the widget's outputs before the next cell
    kernel_side = "print('outputs the kernel received:', len(w.out.outputs))"
    path = _write(tmp_path, "widget", _notebook(widget_cell, kernel_side))
    run = execution.execute_notebook(str(path), LIMIT * 10, False, 1)
    assert run.failure is None, run.failure
    states = run.notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    outputs = [s["state"]["outputs"] for s in states.values() if s["model_name"] == "OutputModel"]
    assert outputs and any("z is 0.5" in o.get("text", "") for out in outputs for o in out)
    assert run.notebook.cells[1].outputs[0]["text"] == "outputs the kernel received: 0\n"
