"""Everything a notebook's outputs depend on besides its own source, as one fingerprint.

The book (``book/_ext/parallel_execution.py``) makes this fingerprint a Sphinx setting, so that a
change to any input re-executes every notebook, while a build with nothing changed executes none.
Sphinx itself only notices a changed page source. The inputs (:func:`build_inputs`):

* ``profile``, ``seed``, ``dogs`` (the photo budget), ``strict``: the run's settings
  (:mod:`aecore.config`);
* ``device``: the kind of torch device the notebooks would train on (``cpu``, ``cuda``, ``mps``);
* ``data``: the raw data files under the data root, by path, size and modification time (a
  replaced, added or removed photo changes it; their bytes are not read, so this stays fast
  for the 20,580-photo download);
* ``code``: the SHA-256 of every file of the installed ``aecore`` package (its modules, the
  recipes among them, and the benchmark results the chapters show).

The trained models stay in the model cache, whose keys cover the data and the recipes, so a
re-execution after such a change is cheap unless it changes what a model is trained on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .. import config
from ..utils import stable_hash

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the aecore package
# Files of the package that cannot change a notebook's output.
_IGNORED_PARTS = ("__pycache__",)
_IGNORED_SUFFIXES = (".pyc", ".pyo")


def code_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 (hex) over the relative paths and bytes of every file under ``package_dir`` (the aecore
    package by default), in sorted order; caches (``__pycache__``, ``.pyc``) are left out."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or path.suffix in _IGNORED_SUFFIXES \
                or any(part in _IGNORED_PARTS for part in path.relative_to(package_dir).parts):
            continue
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def data_digest(root: Path | None = None) -> str:
    """SHA-256 (hex) over (relative path, size, modification time) of every file under the data root
    (``root``, default :func:`aecore.config.data_root`); ``"absent"`` if that folder does not exist."""
    root = config.data_root() if root is None else root
    if not root.is_dir():
        return "absent"
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            stat = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def build_inputs() -> dict[str, Any]:
    """The inputs a notebook's outputs depend on besides its source (see the module docstring), as a
    dict of short strings and numbers. Raises ValueError for a malformed ``AECORE_*`` setting."""
    dogs = config.dogs_photos()
    return {"profile": config.profile(), "seed": config.seed(), "dogs": "all" if dogs is None else dogs,
            "strict": config.strict(), "device": config.pick_device().type,
            "data": data_digest()[:16], "code": code_digest()[:16]}


def build_fingerprint() -> str:
    """One short hex string of :func:`build_inputs`: equal exactly when every input is equal."""
    return stable_hash(build_inputs())
