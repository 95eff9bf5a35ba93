"""Which notebook used which cached model: the usage record ``<cache>/models/usage.json``.

The record is ``{model file name: [notebooks]}``. :func:`aecore.train.fit_or_load` calls
:func:`record_use` for every model it trains or loads, naming the current notebook
(:func:`aecore.config.current_notebook`); ``python -m aecore weights export --notebook NAME``
(:func:`aecore.cache.archive.select_models`) reads it to pack one notebook's models, and an
imported archive's manifest adds its notebooks to it (:func:`add_usage`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import current_notebook
from ..utils import atomic_path, file_lock
from ._once import warn_once

USAGE_FILE = "usage.json"


def read_usage(folder: Path) -> dict[str, list[str]]:
    """A models folder's usage record, ``{model file name: [notebooks]}`` ({} when there is none or it is unreadable,
    the latter with a warning)."""
    path = folder / USAGE_FILE
    try:
        usage = json.loads(path.read_text())
        problem = None if _is_name_lists(usage) else "not a JSON object of notebook lists"
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        problem = str(err)
    if problem is None:
        return usage
    warn_once(("usage", str(path)), f"{path} cannot be read ({problem}); it is ignored, and written anew when a "
              "model is next used.")
    return {}


def _is_name_lists(value: Any) -> bool:
    """Whether ``value`` is a dict whose values are lists of strings."""
    return isinstance(value, dict) and all(isinstance(v, list) and all(isinstance(n, str) for n in v)
                                           for v in value.values())


def record_use(model_file: Path, notebook: str | None = None) -> None:
    """Note in ``usage.json`` beside ``model_file`` that ``notebook`` (default: the current one) used it.

    Does nothing without a notebook (:func:`aecore.config.current_notebook` is None). A
    cache that cannot be written gets a warning, never an error.
    """
    notebook = notebook or current_notebook()
    if notebook is not None:
        add_usage(model_file.parent, {model_file.name: [notebook]})


def add_usage(folder: Path, additions: dict[str, list[str]]) -> None:
    """Merge ``{file name: [notebooks]}`` into a models folder's usage record (locked, written atomically)."""
    if _covers(read_usage(folder), additions):
        return
    path = folder / USAGE_FILE
    try:
        with file_lock(path.with_name(USAGE_FILE + ".lock")):
            usage = read_usage(folder)
            for name, notebooks in additions.items():
                usage[name] = sorted(set(usage.get(name, [])) | set(notebooks))
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(usage, indent=1, sort_keys=True) + "\n")
    except OSError as err:
        warn_once(("usage-write", str(path)), f"cannot record which notebook used which model in {path} ({err}); "
                  "`python -m aecore weights export --notebook` will not know of these uses.")


def _covers(usage: dict[str, list[str]], additions: dict[str, list[str]]) -> bool:
    """Whether ``usage`` already records every notebook of ``additions``."""
    return all(set(notebooks) <= set(usage.get(name, [])) for name, notebooks in additions.items())
