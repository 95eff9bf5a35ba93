"""Sphinx extension: run the book's notebooks several at a time, then let myst-nb read them.

Loaded through ``sphinx: local_extensions`` in _config.yml. Jupyter Book 1 executes notebooks
one after another while Sphinx reads them, and its command line has no ``-j``. Most of a cached
build is spent in those kernels, so this extension executes them first, ``aecore_notebook_workers``
at a time (a ``sphinx: config:`` value in _config.yml), and hands the executed notebooks to
myst-nb through its jupyter-cache (``_build/.jupyter_cache``), which is what
``execute_notebooks: cache`` reads.

Every notebook Sphinx is about to read is executed again, as ``execute_notebooks: force`` would
do: a notebook's outputs depend on aecore, the data, the model cache and the ``AECORE_*``
settings, none of which the jupyter-cache's key (the notebook's code) covers, so an earlier
record is never reused. Sphinx reads a page again only when its source or a Sphinx setting
changed, so everything else a notebook's outputs depend on is a Sphinx setting too,
``aecore_build_inputs`` (:func:`aecore.build_inputs.build_inputs`: the profile, seed, dogs
budget, strict mode, device kind, the data files' fingerprint and aecore's code, recipes
included), printed when notebooks execute. A change to any of them makes Sphinx read, and so
execute, every page again; the
models still come from the model cache. A build with nothing changed executes nothing.

Each kernel gets ``OMP_NUM_THREADS`` = cores / workers, so parallel kernels do not fight over
the cores. The slowest notebooks start first, going by the last build's times, which are kept
beside the trained models (``<AECORE_CACHE>/book/notebook-seconds-<profile>.json``), where
``make clean-book`` leaves them. A notebook that fails stops the build with its traceback.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path, PurePosixPath

import nbformat
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


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


def execute_notebook(path: str, timeout: int | None, allow_errors: bool, threads: int) -> tuple:
    """Execute the notebook at ``path`` in its own folder (in a worker process); return
    ``(path, executed notebook, seconds, traceback text or None)``."""
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ["OMP_NUM_THREADS"] = str(threads)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=allow_errors, meta_override=True)
    return path, result.nb, result.time, result.exc_string if result.err is not None else None


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
    timings = timings_file(app.config.aecore_profile)
    previous_seconds = read_timings(timings)

    workers = max(1, min(int(app.config.aecore_notebook_workers), len(paths)))
    threads = threads_per_kernel(workers)
    logger.info(f"[parallel_execution] build inputs: {app.config.aecore_build_inputs}")
    logger.info(f"[parallel_execution] executing {len(paths)} notebook(s), {workers} at a time, "
                f"{threads} thread(s) each (AECORE_PROFILE={app.config.aecore_profile})")
    start = time.perf_counter()
    failed, seconds_taken = None, {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(execute_notebook, str(path), settings.execution_timeout,
                               settings.execution_allow_errors, threads)
                   for path in execution_order(paths, previous_seconds)]
        for future in as_completed(futures):
            path, notebook, seconds, failure = future.result()
            if failure is not None:
                failed = f"executing {path} failed:\n{failure}"
                logger.warning(f"[parallel_execution] {failed}\n(waiting for the notebooks still running)")
                pool.shutdown(wait=False, cancel_futures=True)
                break
            cache.cache_notebook_bundle(CacheBundleIn(notebook, path, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            logger.info(f"[parallel_execution] {Path(path).name}: {seconds:.1f} s")
            seconds_taken[Path(path).name] = seconds
    write_timings(timings, seconds_taken)
    if failed:
        raise ExtensionError(failed)
    logger.info(f"[parallel_execution] all notebooks executed in {time.perf_counter() - start:.1f} s")


def setup(app):
    from aecore.book.build_inputs import build_inputs
    from aecore.config import profile

    app.add_config_value("aecore_notebook_workers", 2, "env")
    app.add_config_value("aecore_profile", profile(), "env")
    app.add_config_value("aecore_build_inputs", build_inputs(), "env")
    # before myst-nb reads anything
    app.connect("env-before-read-docs", execute_before_reading)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
