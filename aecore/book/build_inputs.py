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
* ``code``: the SHA-256 of every Python file of the installed ``aecore`` package (its modules,
  the recipes among them) and of the benchmark results files the chapters read
  (:func:`results_read`: those named in a notebook's call of ``benchmark_results``,
  ``benchmark_table`` or ``load_benchmark``). Results that no chapter reads (such as the
  claims of ``benchmarks/claims.py``) are not inputs: writing them re-executes nothing.

The trained models stay in the model cache, whose keys cover the data and the recipes, so a
re-execution after such a change is cheap unless it changes what a model is trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import config
from ..utils import stable_hash
from .report import benchmark_path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the aecore package
NOTEBOOKS_DIR = config.REPO_ROOT / "notebooks"
# A chapter reading benchmark results: report.benchmark_results("name", ...), benchmark_table("name"),
# load_benchmark("name"); group 1: the name.
_READS_RESULTS = re.compile(r"\b(?:benchmark_results|benchmark_table|load_benchmark)\(\s*[\"'](\w+)[\"']")


def results_read(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """The names of the benchmark results (``benchmarks/<name>.py``'s) that the code cells of the
    notebooks ``notebooks_dir/*.ipynb`` read, sorted; [] without notebooks (an installed copy)."""
    names = set()
    for path in sorted(notebooks_dir.glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                names.update(_READS_RESULTS.findall(source))
    return sorted(names)


def code_digest(package_dir: Path = PACKAGE_DIR, results: Iterable[Path] | None = None) -> str:
    """SHA-256 (hex) over the relative paths and bytes of every ``*.py`` file under ``package_dir``
    (the aecore package by default), in sorted order, then over the name and bytes of each file of
    ``results`` ("absent" for a missing one). ``results`` defaults to the benchmark results files the
    notebooks read (:func:`results_read`); other files of the package are left out."""
    if results is None:
        results = [benchmark_path(name) for name in results_read()]
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        if not path.is_file() or "__pycache__" in path.relative_to(package_dir).parts:
            continue
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for path in sorted(Path(p) for p in results):
        digest.update(f"results/{path.name}".encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"absent")
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
