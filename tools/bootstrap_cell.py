"""Write the Colab bootstrap cell as the first cell of every notebook in notebooks/.

Opened in Google Colab (or another hosted Jupyter without aecore), a notebook must install
aecore before its first import. The bootstrap cell does that, and nothing else:

- where ``aecore`` is importable (a checkout with ``make install``, the conda environment, a
  second run in Colab) it does nothing: no pip, no network;
- otherwise it runs ``pip install "aecore @ git+<url>@<branch>"``, with the url and branch of
  ``repository:`` in ``_config.yml`` (the one place the course's repository is set; this tool
  copies it into the cell). ``$AECORE_INSTALL_FROM`` overrides that source with any pip
  requirement or a local path (tools/check_bootstrap.sh installs from the checkout so);
- with no url set (the default until a course sets its fork) and no override, it prints how to
  install aecore by hand and stops with an error, instead of failing at the first import.

The cell has the id ``colab-bootstrap`` and the tag ``remove-cell``, so the book does not show it.
The notebooks are rewritten in their stored format (nbformat JSON, indent 1, sorted keys, UTF-8
text, final newline); a notebook that already has the current cell first is left untouched.

Usage:
    python tools/bootstrap_cell.py           insert or update the cell in every notebook
    python tools/bootstrap_cell.py --check   exit 1 listing notebooks whose cell is missing or stale
    python tools/bootstrap_cell.py [--check] NOTEBOOK ...   only these notebooks

Rerun it after changing ``repository: url:`` or ``branch:`` in _config.yml, and after merging
notebooks (``--check`` in the tests catches a forgotten run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "_config.yml"
NOTEBOOKS = ROOT / "notebooks"
CELL_ID = "colab-bootstrap"
TAGS = ["remove-cell"]

# {source} becomes a Python string literal: the pip requirement, or "" when no repository is set.
TEMPLATE = '''\
# Colab / hosted Jupyter: install aecore if this kernel lacks it (does nothing where aecore is installed).
# Written by tools/bootstrap_cell.py from the repository url in _config.yml; the book hides this cell.
import importlib, importlib.util, os, subprocess, sys
if importlib.util.find_spec("aecore") is None:
    source = os.environ.get("AECORE_INSTALL_FROM", "").strip() or {source}
    if not source:
        print("aecore is not installed, and this course has not set its repository yet (repository: url:\\n"
              "in the book's _config.yml), so this cell cannot install it. Install aecore by hand, e.g.\\n"
              "    %pip install \\"aecore @ git+https://github.com/<owner>/<repository>\\"\\n"
              "or set AECORE_INSTALL_FROM to a pip requirement or a local checkout, then run this cell again.")
        raise ModuleNotFoundError("aecore is not installed and no repository is set to install it from")
    print(f"Installing aecore from {{source}} (a minute or two) ...")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], capture_output=True, text=True)
    if pip.returncode != 0:
        print(pip.stdout, pip.stderr, sep="\\n")
        raise RuntimeError(f"pip could not install aecore from {{source}} (its output is above)")
    importlib.invalidate_caches()
    if importlib.util.find_spec("aecore") is None:
        raise RuntimeError("aecore was installed, but this kernel cannot see it yet: restart the kernel and run again")
    print("aecore installed.")
'''


def repository(config_path: Path = CONFIG) -> tuple[str, str]:
    """``(url, branch)`` of ``repository:`` in the book's _config.yml; url "" when unset or blank."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    repo = config.get("repository") or {}
    return str(repo.get("url") or "").strip(), str(repo.get("branch") or "main").strip()


def install_requirement(url: str, branch: str) -> str:
    """The pip requirement that installs aecore from ``url`` at ``branch``; "" when ``url`` is empty."""
    url = url.strip().rstrip("/")
    return f"aecore @ git+{url}@{branch}" if url else ""


def cell_source(requirement: str) -> str:
    """The bootstrap cell's code for ``requirement`` ("" for: no repository set)."""
    return TEMPLATE.format(source=json.dumps(requirement))


def bootstrap_cell(requirement: str) -> dict:
    """The bootstrap cell as stored in a notebook: no outputs, id ``colab-bootstrap``, tag ``remove-cell``."""
    lines = cell_source(requirement).splitlines(keepends=True)
    lines[-1] = lines[-1].rstrip("\n")  # stored like Jupyter does: no newline after the last line
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {"tags": list(TAGS)},
            "outputs": [], "source": lines}


def with_bootstrap(notebook: dict, cell: dict) -> dict:
    """``notebook`` with ``cell`` as its first cell, and no other cell of that id."""
    others = [c for c in notebook["cells"] if c.get("id") != CELL_ID]
    return {**notebook, "cells": [cell] + others}


def dumps(notebook: dict) -> str:
    """A notebook in the repository's stored format (as nbformat writes it)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def current_cell() -> dict:
    """The bootstrap cell for the repository set in _config.yml."""
    return bootstrap_cell(install_requirement(*repository()))


def is_current(notebook: dict, cell: dict) -> bool:
    """Whether ``notebook`` starts with ``cell`` and holds no other copy of it."""
    cells = notebook["cells"]
    return bool(cells) and cells[0] == cell and sum(c.get("id") == CELL_ID for c in cells) == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell is missing or stale")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    cell = current_cell()
    stale = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
        if is_current(notebook, cell):
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(dumps(with_bootstrap(notebook, cell)), encoding="utf-8")
            print(f"updated {path}")
    if stale:
        print("The Colab bootstrap cell is missing or stale in:\n  " + "\n  ".join(map(str, stale))
              + "\nRun: python tools/bootstrap_cell.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
