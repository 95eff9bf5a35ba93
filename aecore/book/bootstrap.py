"""Write the Colab bootstrap cell as the first cell of every notebook in notebooks/.

Opened in Google Colab (or another hosted Jupyter without aecore), a notebook must install
aecore before its first import. The bootstrap cell does that, in at most four lines (a student
sees it first), and nothing else:

- where ``aecore`` is importable (a checkout with ``make install``, the conda environment, a
  second run in Colab) it does nothing: no pip, no network;
- otherwise it runs ``pip install -q "aecore @ git+<url>@<branch>"``, with the url and branch of
  ``repository:`` in ``_config.yml`` (the one place the course's repository is set; this tool
  copies the requirement into the cell);
- with no url set (the default until a course sets its fork) the cell cannot install aecore: it
  raises ModuleNotFoundError saying to install aecore by hand with pip or to ask the course for
  its repository, instead of failing at the first import.

All the logic stays here, not in the notebooks: the cell is one of two short texts (TEMPLATE,
TEMPLATE_NO_REPOSITORY), and installing from another source (a local checkout, as
tools/check_bootstrap.sh does) is a copy of the notebook written with ``--source``, never an
environment variable read by the cell.

The cell has the id ``colab-bootstrap`` and the tag ``remove-cell``, so the book does not show it.
A notebook is rewritten by replacing its bootstrap cell's text only: every other cell, and the
rest of the file, keeps its bytes (a new cell is written in the stored format: nbformat JSON,
indent 1, sorted keys, UTF-8 text). A notebook that already has the current cell first is left
untouched.

Usage (:func:`main`):
    python tools/bootstrap_cell.py           insert or update the cell in every notebook
    python tools/bootstrap_cell.py --check   exit 1 listing notebooks whose cell is missing or stale
    python tools/bootstrap_cell.py [--check] NOTEBOOK ...    only these notebooks
    python tools/bootstrap_cell.py [--check] --notebooks DIR every DIR/*.ipynb instead of notebooks/
    python tools/bootstrap_cell.py --source REQUIREMENT --out DIR NOTEBOOK ...
        write to DIR a copy of each NOTEBOOK whose cell installs aecore from REQUIREMENT (any pip
        requirement, or an absolute path to a checkout) instead of the repository; the notebooks
        themselves are not changed. ``--out DIR`` alone writes copies with the current cell.

Rerun it after changing ``repository: url:`` or ``branch:`` in _config.yml, and after merging
notebooks (``--check`` in the tests catches a forgotten run).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..config import REPO_ROOT as ROOT
from .notebook_format import BOOTSTRAP_ID, BOOTSTRAP_TAGS

CONFIG = ROOT / "_config.yml"
NOTEBOOKS = ROOT / "notebooks"

# The cell when a repository is set; {requirement} becomes a Python string literal.
TEMPLATE = '''\
# Colab: install aecore for this lab (does nothing where aecore is installed).
import importlib.util, subprocess, sys
if importlib.util.find_spec("aecore") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", {requirement}], check=True)
'''

# The cell when no repository is set: it can only say how to get aecore.
TEMPLATE_NO_REPOSITORY = '''\
# Colab: this lab needs aecore, and this course has set no repository to install it from.
import importlib.util
if importlib.util.find_spec("aecore") is None:
    raise ModuleNotFoundError("aecore is missing: install it by hand with pip, or ask your course for its repository")
'''


def repository(config_path: Path = CONFIG) -> tuple[str, str]:
    """``(url, branch)`` of ``repository:`` in the book's _config.yml; url "" when unset or blank."""
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    repo = config.get("repository") or {}
    return str(repo.get("url") or "").strip(), str(repo.get("branch") or "main").strip()


def install_requirement(url: str, branch: str) -> str:
    """The pip requirement that installs aecore from ``url`` at ``branch``; "" when ``url`` is empty."""
    url = url.strip().rstrip("/")
    return f"aecore @ git+{url}@{branch}" if url else ""


def cell_source(requirement: str) -> str:
    """The bootstrap cell's code for ``requirement`` ("" for: no repository set)."""
    if not requirement.strip():
        return TEMPLATE_NO_REPOSITORY
    return TEMPLATE.format(requirement=json.dumps(requirement.strip()))


def bootstrap_cell(requirement: str) -> dict:
    """The bootstrap cell as stored in a notebook: no outputs, id ``colab-bootstrap``, tag ``remove-cell``."""
    lines = cell_source(requirement).splitlines(keepends=True)
    lines[-1] = lines[-1].rstrip("\n")  # stored like Jupyter does: no newline after the last line
    return {"cell_type": "code", "execution_count": None, "id": BOOTSTRAP_ID,
            "metadata": {"tags": list(BOOTSTRAP_TAGS)}, "outputs": [], "source": lines}


def with_bootstrap(notebook: dict, cell: dict) -> dict:
    """``notebook`` with ``cell`` as its first cell, and no other cell of that id."""
    others = [c for c in notebook["cells"] if c.get("id") != BOOTSTRAP_ID]
    return {**notebook, "cells": [cell] + others}


def dumps(notebook: dict) -> str:
    """A notebook in the repository's stored format (as nbformat writes it)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


# Where the top-level "cells" list opens in a notebook stored with indent 1 (a JSON string holds no
# raw newline, so this line can only be the top-level key).
CELLS_START = re.compile(r'\n "cells": \[')


def _cell_spans(text: str) -> tuple[int, int, list[tuple[int, int]]] | None:
    """``(open, close, spans)`` for the text of a notebook stored with indent 1: the offsets just after
    the ``[`` and at the ``]`` of its "cells" list, and ``(start, end)`` of each cell's text; None when
    the text is not laid out so."""
    match = CELLS_START.search(text)
    if match is None:
        return None
    decoder, pos = json.JSONDecoder(), match.end()
    spans: list[tuple[int, int]] = []
    whitespace = re.compile(r"\s*")

    def skip_whitespace(start: int) -> int:
        """The offset of the first character at or after ``start`` that is not whitespace."""
        found = whitespace.match(text, start)
        assert found is not None  # \s* matches at every offset
        return found.end()

    while True:
        pos = skip_whitespace(pos)
        if text.startswith("]", pos):
            return match.end(), pos, spans
        if spans:
            if not text.startswith(",", pos):
                return None
            pos = skip_whitespace(pos + 1)
        try:
            _, end = decoder.raw_decode(text, pos)
        except ValueError:
            return None
        spans.append((pos, end))
        pos = end


def _cell_text(cell: dict) -> str:
    """``cell`` as it stands in the "cells" list of a notebook in the stored format."""
    return json.dumps(cell, indent=1, ensure_ascii=False, sort_keys=True).replace("\n", "\n  ")


def rewritten(text: str, cell: dict) -> str:
    """The notebook ``text`` with ``cell`` first and no other cell of its id. Only the cells list's
    bootstrap cells change: every other cell, and everything around the list, keeps its bytes.
    A notebook not laid out in the stored format is written anew in it."""
    notebook = json.loads(text)
    expected = with_bootstrap(notebook, cell)
    found = _cell_spans(text)
    if found is not None:
        open_, close, spans = found
        kept = [text[start:end] for (start, end), c in zip(spans, notebook["cells"]) if c.get("id") != BOOTSTRAP_ID]
        new = text[:open_] + "\n  " + ",\n  ".join([_cell_text(cell)] + kept) + "\n " + text[close:]
        if json.loads(new) == expected:
            return new
    return dumps(expected)


def current_cell(config_path: Path = CONFIG) -> dict:
    """The bootstrap cell for the repository set in _config.yml (``config_path``)."""
    return bootstrap_cell(install_requirement(*repository(config_path)))


def student_branch(config_path: Path = CONFIG) -> str:
    """The branch students install from: ``aecore_student_branch`` under ``sphinx: config:`` in _config.yml
    (default ``student``), where instructors push the student package and the student notebooks."""
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    value = ((config.get("sphinx") or {}).get("config") or {}).get("aecore_student_branch")
    return str(value or "student").strip()


def student_cell(config_path: Path = CONFIG) -> dict:
    """The bootstrap cell of the student notebooks: it installs the student package (aecore without the unreleased
    solutions, :mod:`aecore.book.student_package`) from the student branch of the course's repository."""
    url, _ = repository(config_path)
    return bootstrap_cell(install_requirement(url, student_branch(config_path)))


def for_students(notebook: dict, config_path: Path = CONFIG) -> dict:
    """``notebook`` (a student notebook, changed in place and returned) with its bootstrap cell installing from the
    student branch (:func:`student_cell`) where it held the solution notebooks' cell (:func:`current_cell`),
    which installs the main branch, solutions included. Other first cells are left as they are."""
    solved, student = current_cell(config_path), student_cell(config_path)
    for cell in notebook["cells"]:
        if cell.get("id") == BOOTSTRAP_ID and cell.get("source") in (solved["source"], "".join(solved["source"])):
            # only the code changes: the edition decides the tags (it drops remove-cell so that students see it)
            cell["source"] = "".join(student["source"]) if isinstance(cell.get("source"), str) else student["source"]
    return notebook


def is_current(notebook: dict, cell: dict) -> bool:
    """Whether ``notebook`` starts with ``cell`` and holds no other copy of it."""
    cells = notebook["cells"]
    return bool(cells) and cells[0] == cell and sum(c.get("id") == BOOTSTRAP_ID for c in cells) == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every *.ipynb in --notebooks")
    parser.add_argument("--notebooks", dest="folder", type=Path, default=NOTEBOOKS, metavar="DIR",
                        help="the folder whose *.ipynb are rewritten or checked when no NOTEBOOK is named "
                             "(default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell is missing or stale")
    parser.add_argument("--source", metavar="REQUIREMENT",
                        help="a pip requirement or an absolute local path the copies' cell installs aecore from, "
                             "instead of the repository in _config.yml (needs --out)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write copies of the notebooks to DIR instead of rewriting them")
    args = parser.parse_args(argv)
    if args.source is not None and args.out is None:
        parser.error("--source needs --out: the notebooks themselves always install from the repository")
    if args.check and args.out is not None:
        parser.error("--check writes nothing; it takes no --out")
    paths = args.notebooks or sorted(args.folder.glob("*.ipynb"))
    if not paths:
        parser.error(f"no notebooks in {args.folder}")
    cell = bootstrap_cell(args.source) if args.source is not None else current_cell()

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for path in paths:
            target = args.out / path.name
            if target.resolve() == path.resolve():
                parser.error(f"--out would overwrite {path}: pick another folder")
        for path in paths:
            target = args.out / path.name
            target.write_text(rewritten(path.read_text(encoding="utf-8"), cell), encoding="utf-8")
            print(f"wrote {target}")
        return 0

    stale = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if is_current(json.loads(text), cell):
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(rewritten(text, cell), encoding="utf-8")
            print(f"updated {path}")
    if stale:
        print("The Colab bootstrap cell is missing or stale in:\n  " + "\n  ".join(map(str, stale))
              + "\nRun: python tools/bootstrap_cell.py", file=sys.stderr)
        return 1
    return 0
