"""Loading the repository's scripts (tools/*.py, book/_ext/*.py), which are not installed packages, as modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_file_module(name: str, path: Path) -> ModuleType:
    """The Python file at ``path`` executed as a module called ``name`` (not put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
