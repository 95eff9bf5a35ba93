"""The book's notebook executor: run the lab notebooks several at a time, each cell within a limit.

Jupyter Book 1 executes notebooks one after another while Sphinx reads them. The Sphinx extension
``book/_ext/parallel_execution.py`` calls :func:`execute_notebooks` first, which runs them
``workers`` at a time, each in a fresh process, and hands the executed notebooks back for myst-nb's
jupyter-cache. Everything here is plain Python, so it is tested without Sphinx.

It never waits silently:

* Each cell has a limit in seconds, chosen by profile (:func:`cell_timeout`, ``aecore_cell_timeout``
  in ``_config.yml``): minutes for the quick profile, an hour for the full one.
* A notebook whose kernel gives no reply within that limit is stuck. It is executed once more from
  the start in a fresh kernel. If it is stuck again, :class:`NotebookExecutionError` names the
  notebook and the cell (its index and first line).
* Worker processes are started with ``spawn``, not forked from the Sphinx process with its threads
  and open files; each notebook gets its own kernel and client.
* nbclient stands in for a browser's Output widget (``ipywidgets.interactive`` draws into one). For
  each output the widget captures, its stand-in sends the outputs back to the kernel on the shell
  channel while the cell is still running. No other cell makes the client write to the kernel during
  a cell, and that concurrent traffic is when the kernel and the client lost each other (Lab 1's
  ``latent_explorer`` cell). The kernel never reads those outputs back, so :class:`_QuietOutputWidget`
  keeps them only in the notebook's widget state, as the stand-in does, and sends nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Per-cell limit in seconds when the book's settings name no limit for the active profile.
DEFAULT_CELL_TIMEOUT = 3600
# Executions of a notebook whose kernel stopped replying: the first and one retry.
ATTEMPTS = 2


def threads_per_kernel(workers: int, cores: int | None = None) -> int:
    """Threads for each of ``workers`` kernels running at once on ``cores`` cores (default: this machine's)."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


def execution_order(paths: list[Path], previous_seconds: dict[str, float]) -> list[Path]:
    """``paths`` with the slowest first, by their ``previous_seconds`` (keyed by file name); paths
    never timed keep their order, ahead of the timed ones (they may be the slowest)."""
    untimed = [p for p in paths if p.name not in previous_seconds]
    timed = sorted((p for p in paths if p.name in previous_seconds), key=lambda p: -previous_seconds[p.name])
    return untimed + timed


def timings_file(profile: str) -> Path:
    """Where the notebooks' execution times of the last ``profile`` build are kept (aecore's cache)."""
    from aecore.config import cache_root

    return cache_root() / "book" / f"notebook-seconds-{profile}.json"


def read_timings(path: Path) -> dict[str, float]:
    """Notebook file name -> seconds from ``path``; empty if it is missing or unreadable (they only set the order)."""
    try:
        values = json.loads(path.read_text())
        return {str(name): float(seconds) for name, seconds in values.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def write_timings(path: Path, seconds: dict[str, float]) -> None:
    """Merge ``seconds`` (notebook file name -> seconds) into the timings at ``path``, atomically."""
    from aecore.utils import atomic_path

    merged = {**read_timings(path), **seconds}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")


def cell_timeout(limits: Any, profile: str, default: int | None = DEFAULT_CELL_TIMEOUT) -> int | None:
    """The per-cell limit in seconds for ``profile``.

    ``limits`` is a number (every profile) or a mapping profile -> seconds (``aecore_cell_timeout``
    in ``_config.yml``, e.g. ``{"quick": 600, "full": 3600}``); ``default`` when it has none for
    ``profile``. ``None``, 0 or a negative number means no limit.
    """
    value = limits.get(profile, default) if isinstance(limits, dict) else limits
    if value is None or int(value) <= 0:
        return None
    return int(value)


@dataclass(frozen=True)
class StuckCell:
    """A cell whose kernel gave no reply within the limit: its index in the notebook and first line."""

    index: int
    first_line: str
    timeout: int | None

    def __str__(self) -> str:
        return f"cell {self.index} (`{self.first_line}`) gave no reply within {self.timeout} s"


@dataclass
class NotebookRun:
    """One execution of a notebook: ``notebook`` is the executed notebook (outputs filled in as far as
    it got), ``seconds`` its wall-clock time, ``failure`` the traceback text of a failed run (None when
    it succeeded), ``stuck`` the cell it was stuck on when the kernel stopped replying."""

    path: str
    notebook: Any
    seconds: float
    failure: str | None = None
    stuck: StuckCell | None = None
    attempts: int = 1


class NotebookExecutionError(RuntimeError):
    """A notebook failed: a cell raised, the kernel died, or it was stuck on every attempt."""

    def __init__(self, run: NotebookRun):
        self.run = run
        name = Path(run.path).name
        if run.stuck is not None:
            tries = "once and again on its retry" if run.attempts > 1 else "on its only attempt"
            message = f"executing {run.path} failed: {name} was stuck {tries}: {run.stuck}\n{run.failure}"
        else:
            message = f"executing {run.path} failed:\n{run.failure}"
        super().__init__(message)


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def _quiet_output_widget_class() -> type:
    from nbclient.output_widget import OutputWidget

    class _QuietOutputWidget(OutputWidget):
        """nbclient's Output widget stand-in that keeps the captured outputs in the widget state (as
        nbclient's does) but sends nothing back to the kernel while a cell runs: see the module docstring."""

        def sync_state(self) -> None:
            return None

    return _QuietOutputWidget


def execute_notebook(path: str, timeout: int | None, allow_errors: bool, threads: int) -> NotebookRun:
    """Execute the notebook at ``path`` once, in its own folder and a fresh kernel (call it in a worker
    process: it sets the process's ``OMP_NUM_THREADS`` to ``threads`` for the kernel to inherit).

    ``timeout``: seconds each cell may take (None: no limit); ``allow_errors``: a raising cell does not
    stop the run. A ``timeout`` or ``allow_errors`` in the notebook's ``execution`` metadata wins, as in
    jupyter-cache. Returns a :class:`NotebookRun`; a cell that raised or gave no reply in time is
    reported in it, not raised.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from .kernels import IpcKernelManager

    os.environ["OMP_NUM_THREADS"] = str(threads)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    execution = notebook.metadata.get("execution", {})
    timeout = execution.get("timeout", timeout)
    allow_errors = execution.get("allow_errors", allow_errors)
    current: dict[str, int] = {}

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    # as jupyter_cache's single_nb_execution, which this replaces: no per-cell timing metadata. The kernel
    # is stopped at once when the run ends: every cell's reply is in by then, and a stuck kernel would
    # not answer a shutdown request anyway (nbclient would wait 5 s before killing it).
    client = NotebookClient(notebook, timeout=timeout, allow_errors=allow_errors, record_timing=False,
                            resources={"metadata": {"path": str(Path(path).parent)}},
                            on_cell_execute=on_cell_execute, shutdown_kernel="immediate",
                            kernel_manager_class=IpcKernelManager)
    client.widget_registry["@jupyter-widgets/output"] = {"OutputModel": _quiet_output_widget_class()}
    start = time.perf_counter()
    failure, stuck = None, None
    try:
        client.execute()
    except CellTimeoutError:
        failure = traceback.format_exc()
        index = current.get("index", -1)
        source = notebook.cells[index].source if 0 <= index < len(notebook.cells) else ""
        stuck = StuckCell(index, _first_line(source), timeout)
    except (CellExecutionError, DeadKernelError):
        failure = traceback.format_exc()
    return NotebookRun(path, notebook, time.perf_counter() - start, failure, stuck)


def execute_notebooks(paths: Iterable[Path | str], *, timeout: int | None, allow_errors: bool, workers: int,
                      threads: int | None = None, attempts: int = ATTEMPTS,
                      log: Callable[[str], None] = print) -> Iterator[NotebookRun]:
    """Execute the notebooks at ``paths``, ``workers`` at a time, in ``spawn``-ed worker processes.

    Yields each successful :class:`NotebookRun` as it finishes. A notebook stuck on a cell (no reply
    within ``timeout`` seconds) is executed again, up to ``attempts`` times in all. The first notebook
    that fails (a cell raised, its kernel died, or it was stuck on every attempt) raises
    :class:`NotebookExecutionError` naming it (and the cell it was stuck on) once the notebooks still
    running have finished; the ones not yet started are dropped. ``threads``: each kernel's
    ``OMP_NUM_THREADS`` (default: cores / workers). ``log`` gets a line per retry.
    """
    names = [str(p) for p in paths]
    threads = threads or threads_per_kernel(workers)
    # spawn: a worker is a fresh interpreter, not a copy of the (threaded) Sphinx process
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
        def submit(path: str):
            return pool.submit(execute_notebook, path, timeout, allow_errors, threads)

        pending = {submit(name): 1 for name in names}
        failed = None
        while pending and failed is None:
            future = next(as_completed(pending))
            attempt = pending.pop(future)
            run = future.result()
            run.attempts = attempt
            if run.stuck is not None and attempt < attempts:
                log(f"{Path(run.path).name} was stuck: {run.stuck}; executing it again "
                    f"(attempt {attempt + 1} of {attempts})")
                pending[submit(run.path)] = attempt + 1
            elif run.failure is not None:
                failed = run
            else:
                yield run
        if failed is not None:
            error = NotebookExecutionError(failed)
            log(f"{error}\n(waiting for the notebooks still running)")
            pool.shutdown(wait=True, cancel_futures=True)
            raise error
