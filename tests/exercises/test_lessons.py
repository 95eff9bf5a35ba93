"""The functions the labs write on the page equal aecore's reference implementations.

Every exercise of the student edition is a function written in a solution notebook (inside
``### BEGIN SOLUTION`` / ``### END SOLUTION``) under the name of its reference in
:mod:`aecore.lessons`, and the lab trains with it. Here each such function is taken out of its
notebook's cell (without running the notebook), and its check in :mod:`aecore.exercises`, which
compares it with the reference on seeded random inputs, must pass. Every lesson must be
written in at least one notebook.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from aecore import exercises, lessons
from aecore.book.notebook_format import BEGIN

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# What a notebook's exercise cell may use without defining it: the imports of the labs' first cells.
PRELUDE = """
import math
import torch
from torch import nn
from torch.nn import functional as F
from pytorch_msssim import ssim
from aecore import exercises, latent, lessons, metrics, models, noise
from aecore.lessons import *
"""


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def notebook_lessons(path: Path) -> dict[str, object]:
    """The lesson functions defined in ``path``'s exercise cells: name -> function, defined in notebook order
    (a later lesson that calls an earlier one gets the notebook's version)."""
    namespace: dict = {}
    exec(PRELUDE, namespace)
    found = {}
    for source in _code_cells(path):
        if BEGIN not in source:
            continue
        tree = ast.parse(source)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in lessons.__all__:
                exec(compile(ast.Module([node], type_ignores=[]), f"{path.name}:{node.name}", "exec"), namespace)
                found[node.name] = namespace[node.name]
    return found


WRITTEN = {path.stem: notebook_lessons(path) for path in sorted(NOTEBOOKS.glob("*.ipynb"))}
PAIRS = [(nb, name) for nb, fns in WRITTEN.items() for name in sorted(fns)]


def test_every_lesson_is_written_in_a_notebook():
    written = {name for fns in WRITTEN.values() for name in fns}
    assert written == set(lessons.__all__), f"not written in any notebook: {sorted(set(lessons.__all__) - written)}"


@pytest.mark.parametrize("notebook, name", PAIRS, ids=[f"{nb}-{name}" for nb, name in PAIRS])
def test_the_notebooks_function_equals_the_reference(notebook, name, capsys):
    exercises.CHECKS[name](WRITTEN[notebook][name])
    assert "✓" in capsys.readouterr().out
