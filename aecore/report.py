"""Helpers to put computed numbers into the book: glue several values, show a table."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import REPO_ROOT


def glue_values(**values: Any) -> None:
    """``myst_nb.glue(name, value, display=False)`` for each keyword: the prose cites them by name."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)


class Table:
    """A small results table shown as HTML in notebooks and in the book.

    ``rows``: a sequence of dicts (one per row, same keys); ``formats``: optional
    format spec per column, e.g. ``{"PSNR (dB)": ".2f"}``.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], formats: Mapping[str, str] | None = None,
                 caption: str | None = None):
        if not rows:
            raise ValueError("a table needs at least one row")
        self.columns = list(rows[0])
        self.rows, self.formats, self.caption = rows, dict(formats or {}), caption

    def cell(self, column: str, value: Any) -> str:
        """Formatted text of one cell."""
        spec = self.formats.get(column)
        return format(value, spec) if spec and isinstance(value, (int, float)) else str(value)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(self.cell(c, row.get(c, '')))}</td>" for c in self.columns) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        widths = [max(len(c), *(len(self.cell(c, r.get(c, ""))) for r in self.rows)) for c in self.columns]
        line = lambda cells: "  ".join(s.ljust(w) for s, w in zip(cells, widths))
        return "\n".join([line(self.columns)] + [line([self.cell(c, r.get(c, "")) for c in self.columns])
                                                for r in self.rows])


def benchmark_path(name: str) -> Path:
    """Where ``benchmarks/<name>.py`` writes its results: ``benchmarks/results/<name>.json`` in the repository."""
    return REPO_ROOT / "benchmarks" / "results" / f"{name}.json"


def load_benchmark(name: str) -> dict[str, Any]:
    """Results written by ``benchmarks/<name>.py``: a dict with ``rows`` (list of dicts), ``formats``
    (column -> format spec), ``caption`` (ending with when, where and how the numbers were measured)
    and ``provenance``. Raises FileNotFoundError naming the script to run if there are none yet."""
    path = benchmark_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark results at {path}; run `python benchmarks/{name}.py` to create them")
    result = json.loads(path.read_text())
    missing = {"rows", "formats", "caption", "provenance"} - set(result)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}; re-run `python benchmarks/{name}.py`")
    p = result["provenance"]
    device = f"{p['device']}, " if "device" in p else ""
    result["caption"] = (f"{result['caption']} (measured {p['date']} on {p['machine']}, {device}{p['threads']} threads, "
                         f"torch {p['torch']}, commit {p['commit']})")
    return result


def provenance() -> dict[str, Any]:
    """When, where and with what a benchmark ran (for :func:`load_benchmark`'s caption)."""
    import datetime
    import platform
    import subprocess

    import torch

    from .config import pick_device

    try:
        git = lambda *args: subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                           check=True).stdout.strip()
        commit = git("rev-parse", "--short", "HEAD") + (" + local changes" if git("status", "--porcelain") else "")
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "device": str(pick_device()), "threads": torch.get_num_threads(), "torch": torch.__version__.split("+")[0],
            "commit": commit}


def save_benchmark(name: str, rows: Sequence[Mapping[str, Any]], formats: Mapping[str, str], caption: str,
                   **extra: Any) -> Path:
    """Write a benchmark's results (with :func:`provenance`) where :func:`load_benchmark` finds them; atomic.

    ``extra`` keys (JSON-serialisable) are stored beside ``rows``, e.g. raw per-seed numbers.
    """
    from .utils import atomic_path

    path = benchmark_path(name)
    blob = {"caption": caption, "formats": dict(formats), "rows": [dict(r) for r in rows], **extra,
            "provenance": provenance()}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(blob, indent=1, ensure_ascii=False) + "\n")
    return path
