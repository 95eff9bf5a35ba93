"""Sphinx extension: run the book's notebooks several at a time, then let myst-nb read them.

Loaded through ``sphinx: local_extensions`` in _config.yml. Jupyter Book 1 executes notebooks
one after another while Sphinx reads them, and its command line has no ``-j``. Most of a cached
build is spent in those kernels, so this extension executes them first, ``aecore_notebook_workers``
at a time (a ``sphinx: config:`` value in _config.yml), with :mod:`aecore.book.execution`, and hands
the executed notebooks to myst-nb through its jupyter-cache (``_build/.jupyter_cache``), which is
what ``execute_notebooks: cache`` reads.

Every notebook Sphinx is about to read is executed again, as ``execute_notebooks: force`` would
do: a notebook's outputs depend on aecore, the data, the model cache and the ``AECORE_*``
settings, none of which the jupyter-cache's key (the notebook's code) covers, so an earlier
record is never reused. Sphinx reads a page again only when its source or a Sphinx setting
changed, so everything else a notebook's outputs depend on is a Sphinx setting too,
``aecore_build_inputs`` (:func:`aecore.book.build_inputs.build_inputs`: the profile, seed, dogs
budget, strict mode, device kind, the data files' fingerprint and aecore's code, recipes
included), printed when notebooks execute. A change to any of them makes Sphinx read, and so
execute, every page again; the
models still come from the model cache. A build with nothing changed executes nothing.

Each kernel gets ``OMP_NUM_THREADS`` = cores / workers, so parallel kernels do not fight over
the cores. The slowest notebooks start first, going by the last build's times, which are kept
beside the trained models (``<AECORE_CACHE>/book/notebook-seconds-<profile>.json``), where
``make clean-book`` leaves them. Each cell has the profile's limit (``aecore_cell_timeout``); a
notebook stuck on a cell is executed once more, then fails naming the cell. A notebook that fails
stops the build with its traceback.
"""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath

import nbformat
from sphinx.errors import ExtensionError
from sphinx.util import logging

from aecore.book import execution

logger = logging.getLogger(__name__)


def _notebooks_to_execute(env, docnames, excluded: list[str]) -> list[Path]:
    """The notebooks among ``docnames``, less those myst-nb excludes from execution (its own rule:
    ``PurePosixPath.match`` against each of the ``excluded`` patterns)."""
    paths = [Path(env.doc2path(docname)) for docname in docnames]
    return [p for p in paths if p.suffix == ".ipynb"
            and not any(PurePosixPath(p.as_posix()).match(pattern) for pattern in excluded)]


def execute_before_reading(app, env, docnames) -> None:
    """``env-before-read-docs``: execute the notebooks among ``docnames`` in parallel and cache them."""
    # myst-nb's settings as it resolved them at builder-inited (the cache folder included)
    settings = env.mystnb_config
    if settings.execution_mode != "cache":
        return
    paths = _notebooks_to_execute(env, docnames, list(settings.execution_excludepatterns))
    if not paths:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(settings.execution_cache_path)
    for path in paths:  # drop the earlier records: they must not be reused (see the module docstring)
        try:
            cache.remove_cache(cache.match_cache_notebook(nbformat.read(path, as_version=4)).pk)
        except KeyError:
            continue
    profile = app.config.aecore_profile
    timings = execution.timings_file(profile)
    previous_seconds = execution.read_timings(timings)
    timeout = execution.cell_timeout(app.config.aecore_cell_timeout, profile, default=settings.execution_timeout)

    workers = max(1, min(int(app.config.aecore_notebook_workers), len(paths)))
    threads = execution.threads_per_kernel(workers)
    logger.info(f"[parallel_execution] build inputs: {app.config.aecore_build_inputs}")
    logger.info(f"[parallel_execution] executing {len(paths)} notebook(s), {workers} at a time, "
                f"{threads} thread(s) each, {timeout} s a cell (AECORE_PROFILE={profile})")
    start = time.perf_counter()
    seconds_taken = {}
    try:
        for run in execution.execute_notebooks(
                execution.execution_order(paths, previous_seconds), timeout=timeout,
                allow_errors=settings.execution_allow_errors, workers=workers, threads=threads,
                # info, not warning: a retry that succeeds must not fail a build run with -W
                log=lambda line: logger.info(f"[parallel_execution] {line}")):
            cache.cache_notebook_bundle(CacheBundleIn(run.notebook, run.path, data={"execution_seconds": run.seconds}),
                                        check_validity=False, overwrite=True)
            logger.info(f"[parallel_execution] {Path(run.path).name}: {run.seconds:.1f} s")
            seconds_taken[Path(run.path).name] = run.seconds
    except execution.NotebookExecutionError as error:
        raise ExtensionError(str(error)) from None
    finally:
        execution.write_timings(timings, seconds_taken)
    logger.info(f"[parallel_execution] all notebooks executed in {time.perf_counter() - start:.1f} s")


def setup(app):
    from aecore.book.build_inputs import build_inputs
    from aecore.config import profile

    app.add_config_value("aecore_notebook_workers", 2, "env")
    # per-cell limit in seconds, by profile (see aecore.book.execution.cell_timeout)
    app.add_config_value("aecore_cell_timeout", {"quick": 600, "full": execution.DEFAULT_CELL_TIMEOUT}, "env")
    app.add_config_value("aecore_profile", profile(), "env")
    app.add_config_value("aecore_build_inputs", build_inputs(), "env")
    # before myst-nb reads anything
    app.connect("env-before-read-docs", execute_before_reading)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
