"""Writing the results of the ``benchmarks`` modules: :func:`save_benchmark` stores a benchmark's rows
with their provenance in ``aecore/benchmark_results/<name>.json``, where
:func:`aecore.book.report.load_benchmark` reads them for the book, or, for results that no chapter
shows, in :data:`RESULTS` (``benchmarks/results/<name>.json``, via :func:`local_path`).

The book itself only reads results, so this, and its git call, stay out of aecore.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from aecore.book.report import benchmark_path
from aecore.config import pick_device
from aecore.utils import atomic_path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
"""Where the results that no chapter shows go (outside the package and the book's rebuild fingerprint)."""


def local_path(name: str) -> Path:
    """``benchmarks/results/<name>.json``: where the results ``name`` that no chapter reads are kept."""
    return RESULTS / f"{name}.json"


def git_commit(repo: Path = REPO) -> str:
    """Short hash of ``repo``'s HEAD, plus " + local changes" if the work tree differs from it;
    "unknown" where git or the repository is missing."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return git("rev-parse", "--short", "HEAD") + (" + local changes" if git("status", "--porcelain") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance() -> dict[str, Any]:
    """When, where and with what a benchmark ran, for :func:`aecore.book.report.load_benchmark`'s caption:
    ``date`` (ISO), ``machine`` (architecture and CPU count), ``device``, ``threads`` (torch's),
    ``torch`` (version) and ``commit`` (:func:`git_commit`)."""
    return {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "device": str(pick_device()), "threads": torch.get_num_threads(), "torch": torch.__version__.split("+")[0],
            "commit": git_commit()}


def save_benchmark(name: str, rows: Sequence[Mapping[str, Any]], formats: Mapping[str, str], caption: str,
                   path: Path | None = None, **extra: Any) -> Path:
    """Write a benchmark's results (with :func:`provenance`) where :func:`aecore.book.report.load_benchmark`
    finds them, atomically; return that path (:func:`aecore.book.report.benchmark_path`).

    ``rows``: one dict per table row; ``formats``: column -> format spec; ``caption``: what was
    measured (the reader adds when and where). ``extra`` keys (JSON-serialisable) are stored beside
    ``rows``, e.g. raw per-seed numbers. ``path`` overrides where it goes (a test's temporary file).
    """
    path = benchmark_path(name) if path is None else path
    blob = {"caption": caption, "formats": dict(formats), "rows": [dict(r) for r in rows], **extra,
            "provenance": provenance()}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(blob, indent=1, ensure_ascii=False) + "\n")
    return path
