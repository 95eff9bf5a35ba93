"""The student package: the copy of aecore that students install, without the solutions of unreleased labs.

:func:`write_package` writes an installable source tree (``pyproject.toml`` and ``aecore/``) that instructors
push to the student branch (``aecore_student_branch`` in ``_config.yml``, with the student notebooks of
``make student`` as ``notebooks/``); the student notebooks' first cell installs it from there
(:mod:`aecore.book.bootstrap`). It differs from the checkout in three ways:

* in the exercise module of each **unreleased** lab (``aecore/exercises/labN.py``) the reference implementation
  of every exercise is taken out, and so is the code of its named mistakes (a mistake one token off the answer
  gives the answer away): each ``Mistake(...)`` keeps its fix, the text of the exception it raises and its note,
  and loses its ``variant`` and ``example``; ``one_number(reference, ...)`` becomes ``one_number()``; the
  exercise decorator keeps only what the check needs where cases are stored (``features``, ``records_codes``,
  ``seed``), not how the cases are made; private helpers nothing uses any more go too (repeated until nothing
  changes, across the lab modules, which import each other's helpers). The edit works on the syntax tree: a
  reference is the function that an exercise registers, so no marker comment can be forgotten. Where a
  released lab's code uses an unreleased lab's function (Lab 3's ``negative_elbo`` calls Lab 1's
  ``bce_per_image``), it gets it through :mod:`aecore.lessons` (the student's own, kept when its check passed);
* the cases every check needs are stored, ``aecore/exercises/stored/<lab>.pt``, computed from the references
  of this checkout when the package is written (:func:`aecore.exercises.cases.write_stored`); the checks, the
  same code as in the checkout, read them instead of computing them. With ``hidden_cases=True`` (the grading
  build) the hidden cases go in as well (``<lab>.hidden.pt``); the student package has none;
* the instructor's tools are left out (:data:`INSTRUCTOR_ONLY`: the student edition and the book's Sphinx
  helpers, which quote solutions in their documentation).

Releasing a lab's solutions (:data:`CONFIG` ``aecore: released_solutions:``, none by default) keeps its module whole:
its references are there, and ``aecore.lessons`` gives them to later labs.

The tree is written beside ``out`` and moved into place only when complete, imported once in a separate
Python, and searched for the removed code (:func:`leaks`); a leak or a failed import stops the build with
an error, and nothing is written.

Usage (:func:`main`, run by ``make student``)::

    python -c "from aecore.book.student_package import main; main()" [--out DIR] [--released LAB ...]
        [--hidden-cases]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path

from ..config import REPO_ROOT as ROOT
from ..exercises import EXERCISES, LAB_MODULES
from ..exercises.cases import write_stored

__all__ = ["CONFIG", "DEFAULT_OUT", "INSTRUCTOR_ONLY", "LIBRARY_COPIES", "BuildError", "released_setting",
           "resolve_labs", "strip_labs", "secrets", "leaks", "stale", "write_package", "main"]

CONFIG = ROOT / "_config.yml"
DEFAULT_OUT = ROOT / "_build" / "student" / "package"
PACKAGE = ROOT / "aecore"
INSTRUCTOR_ONLY = ("book/edition.py", "book/student_links.py", "book/solution_display.py", "book/student_package.py")
"""Modules of aecore (relative to it) that the student package leaves out: the instructor's tools."""
KEPT_DECORATOR_OPTIONS = ("features", "records_codes", "seed")
DROPPED_MISTAKE_FIELDS = ("variant", "example")
MISTAKE_FIELDS = ("fix", "variant", "raises", "note", "example")


class BuildError(RuntimeError):
    """The student package cannot be written as asked (a bad setting, a leak, a tree that does not import)."""


# ----------------------------------------------------------------------------- the release setting

def released_setting(config_path: Path = CONFIG) -> list[str]:
    """The labs named by ``aecore: released_solutions:`` in the book's _config.yml (none when unset)."""
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    section = config.get("aecore") or {}
    value = (section.get("released_solutions") if isinstance(section, dict) else None) or []
    if isinstance(value, str) or not isinstance(value, list):
        raise BuildError(f"aecore: released_solutions: in {config_path.name} must be a list of labs, e.g. [lab1], "
                         f"not {value!r}")
    return [str(v) for v in value]


def resolve_labs(names: Iterable[str]) -> list[str]:
    """Lab module names (``"lab1"``) for labs named by module name, notebook stem (``"01_mnist_autoencoder"``) or
    title (``"Lab 1"``); BuildError naming the unknown ones and the valid names."""
    from ..exercises.saved import lab_notebook

    by_name = {}
    for lab in LAB_MODULES:
        by_name[lab] = by_name[f"lab {lab[3:]}"] = lab
        try:
            by_name[lab_notebook(lab).lower()] = lab
        except ModuleNotFoundError:
            pass
    found, unknown = [], []
    for name in names:
        key = str(name).strip().lower().removesuffix(".ipynb")
        if key in by_name:
            found.append(by_name[key])
        else:
            unknown.append(name)
    if unknown:
        raise BuildError(f"unknown lab(s) {unknown} among the released solutions; name labs by their module "
                         f"({', '.join(LAB_MODULES)}) or notebook")
    return sorted(set(found), key=list(LAB_MODULES).index)


# ----------------------------------------------------------------------------- taking the solutions out

def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _offsets(text: str) -> list[int]:
    starts, position = [0], 0
    for line in text.splitlines(keepends=True):
        position += len(line)
        starts.append(position)
    return starts


def _span(text: str, node: ast.AST, whole_lines: bool = False) -> tuple[int, int]:
    """The character offsets of ``node`` in ``text`` (with ``whole_lines``: its lines, decorators included)."""
    starts, lines = _offsets(text), text.splitlines(keepends=True)

    def column(line: int, byte_offset: int) -> int:  # ast's columns count UTF-8 bytes
        return len(lines[line - 1].encode("utf-8")[:byte_offset].decode("utf-8"))

    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])  # type: ignore[attr-defined]
    end_line = node.end_lineno  # type: ignore[attr-defined]
    if whole_lines:
        return starts[first - 1], starts[end_line]
    return (starts[node.lineno - 1] + column(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            starts[end_line - 1] + column(end_line, node.end_col_offset))  # type: ignore[attr-defined]


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _outermost(edits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    kept: list[tuple[int, int, str]] = []
    for edit in sorted(edits, key=lambda e: (e[0], -e[1])):
        if not kept or edit[0] >= kept[-1][1]:
            kept.append(edit)
    return kept


def _strip_solutions(text: str, references: set[str]) -> str:
    """One unreleased lab module without its references, its mistakes' code and its case-making options."""
    tree = ast.parse(text)
    edits: list[tuple[int, int, str]] = []
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name in references:
            edits.append((*_span(text, statement, whole_lines=True), ""))
    for node in ast.walk(tree):
        name = _call_name(node)
        if name == "Mistake":
            assert isinstance(node, ast.Call)
            keywords = [ast.keyword(MISTAKE_FIELDS[i], arg) for i, arg in enumerate(node.args)]
            keywords += [k for k in node.keywords if k.arg is not None]
            kept = [k for k in keywords if k.arg not in DROPPED_MISTAKE_FIELDS]
            fix = [k.value for k in kept if k.arg == "fix"]
            new = ast.Call(ast.Name("Mistake"), fix, [k for k in kept if k.arg != "fix"])
            edits.append((*_span(text, node), ast.unparse(new)))
        elif name == "one_number":
            edits.append((*_span(text, node), "one_number()"))
        elif isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if _call_name(decorator) == "exercise":
                    assert isinstance(decorator, ast.Call)
                    new = ast.Call(ast.Name("exercise"), decorator.args[:1],
                                   [k for k in decorator.keywords if k.arg in KEPT_DECORATOR_OPTIONS])
                    edits.append((*_span(text, decorator), ast.unparse(new)))
    return _apply(text, _outermost(edits))


def _loaded_names(tree: ast.Module) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _lab_imports(tree: ast.Module) -> list[tuple[ast.ImportFrom, str]]:
    """The module-level ``from .labN import ...`` statements of a lab module, with N's module name."""
    return [(node, node.module) for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in LAB_MODULES]


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _tidy(text: str, removed: set[str]) -> str:
    """``text`` with the ``removed`` names out of its ``__all__`` and no run of more than two blank lines."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"] \
                and isinstance(node.value, ast.List):
            names = [e for e in node.value.elts if not (isinstance(e, ast.Constant) and e.value in removed)]
            if len(names) != len(node.value.elts):
                new = ast.unparse(ast.Assign([ast.Name("__all__")], ast.List(names), lineno=0))
                text = _apply(text, [(*_span(text, node, whole_lines=True), new + "\n")])
            break
    return re.sub(r"\n{4,}", "\n\n\n", text)


def strip_labs(texts: dict[str, str], released: Iterable[str]) -> dict[str, str]:
    """The lab modules' texts (lab module name -> source) as the student package holds them (see the module
    docstring); BuildError when a remaining line still uses a removed name."""
    released = set(released)
    references = {lab: {n for n, e in EXERCISES.items() if e.lab == lab} for lab in texts}
    out = {lab: text if lab in released else _strip_solutions(text, references[lab]) for lab, text in texts.items()}
    removed = {lab: set() if lab in released else set(references[lab]) for lab in texts}
    while True:  # drop what nothing uses any more, until nothing changes
        trees = {lab: ast.parse(text) for lab, text in out.items()}
        wanted_elsewhere: dict[str, set[str]] = {lab: set() for lab in out}
        for tree in trees.values():
            used = _loaded_names(tree)
            for statement, source in _lab_imports(tree):
                if source not in out:
                    continue
                wanted_elsewhere[source] |= {a.name for a in statement.names if (a.asname or a.name) in used}
        changed = False
        for lab, tree in trees.items():
            text, edits, used = out[lab], [], _loaded_names(tree)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("_") and node.name not in used \
                        and node.name not in wanted_elsewhere[lab]:
                    edits.append((*_span(text, node, whole_lines=True), ""))
                    removed[lab].add(node.name)
            for node, source in _lab_imports(tree):
                if source not in out:
                    continue
                keep = [a for a in node.names if (a.asname or a.name) in used]
                gone = [a for a in keep if a.name in removed[source] and a.name in references[source]]
                keep = [a for a in keep if a not in gone]
                if len(keep) == len(node.names) and not gone:
                    continue
                lines = [ast.unparse(ast.ImportFrom(source, keep, 1))] if keep else []
                # a released lab's use of an unreleased lab's function: the student's own, through aecore.lessons
                lines += [f"{a.asname or a.name} = forward_to_lessons({a.name!r})" for a in gone]
                if gone and "forward_to_lessons" not in _defined(tree):
                    lines.insert(0, "from .framework import forward_to_lessons")
                edits.append((*_span(text, node, whole_lines=True), "".join(line + "\n" for line in lines)))
            if edits:
                out[lab] = _apply(text, _outermost(edits))
                changed = True
        if not changed:
            break
    for lab, text in out.items():
        out[lab] = text = _tidy(text, removed[lab])
        tree = ast.parse(text)
        missing = sorted((_loaded_names(tree) & removed[lab]) - _defined(tree))
        if missing:
            raise BuildError(f"aecore/exercises/{lab}.py still uses {', '.join(missing)} once the solutions are taken "
                             "out: a check may use only its cases (aecore.exercises.cases), never the reference or a "
                             "mistake's code; move that computation into the exercise's answer= or context=")
    return out


# ----------------------------------------------------------------------------- what must not be in the package

def _body_statements(fn) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.unparse(statement) for statement in body]


def secrets(labs: Iterable[str]) -> dict[str, list[str]]:
    """What the package must not hold for ``labs`` (the unreleased ones): per exercise, the statements of its
    reference's body and the code of its named mistakes (their variants and examples, as written), as normalised
    Python text (``ast.unparse``)."""
    found: dict[str, list[str]] = {}
    for lab in labs:
        tree = ast.parse(inspect.getsource(LAB_MODULES[lab]))
        helpers = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        for name, exercise in EXERCISES.items():
            if exercise.lab == lab and exercise.reference is not None:
                found[name] = _body_statements(exercise.reference)
        code: list[ast.expr] = []
        for node in ast.walk(tree):
            if _call_name(node) == "Mistake":
                assert isinstance(node, ast.Call)
                code += node.args[1:2] + [k.value for k in node.keywords if k.arg in DROPPED_MISTAKE_FIELDS]
            elif _call_name(node) == "one_number":
                assert isinstance(node, ast.Call)
                code += node.args + [k.value for k in node.keywords]
        pieces = [ast.unparse(c) for c in code]
        # the private helpers the mistakes call (_bce_none, ...), and the helpers those call
        todo, seen = [n for c in code for n in _loaded_names(ast.Module([ast.Expr(c)], []))], set()
        while todo:
            name = todo.pop()
            if name in seen or not name.startswith("_") or name not in helpers:
                continue
            seen.add(name)
            body = helpers[name].body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            pieces += [ast.unparse(statement) for statement in body]
            todo += list(_loaded_names(ast.Module(body, [])))
        found[f"{lab}: named mistakes"] = pieces
    return found


def _piece_kind(piece: str) -> type:
    """The syntax node class of a piece of code (a statement's, or an expression's)."""
    node = ast.parse(piece).body[0]
    return type(node.value) if isinstance(node, ast.Expr) else type(node)


def _normalised_pieces(path: Path, kinds: tuple[type, ...]) -> set[str]:
    """The statements and expressions of the Python file ``path`` of the node classes ``kinds``, normalised."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    return {ast.unparse(node) for node in ast.walk(tree) if isinstance(node, kinds)}


LIBRARY_COPIES: set[tuple[str, str]] = set()
"""Known copies of an exercise's code in aecore's library, as ``(file, what)``, which :func:`leaks` would not
report: none. The library's own uses of an exercise (``objectives.mse_ssim``, ``latent.perturb``, the models'
``reparameterize``) call :mod:`aecore.lessons`, so a student build runs the student's function there. Anything
found is a leak."""
TEXT_MIN = 40
"""Pieces at least this long are also searched as plain text in Python files (a docstring quoting a line)."""
DATA_MIN = 16
"""Pieces at least this long are searched byte for byte in every other file (bytecode, stored cases, ...)."""


def leaks(tree: Path, labs: Iterable[str]) -> list[str]:
    """Where the code of ``labs``' references and mistakes (:func:`secrets`) shows up in the folder ``tree``. Every
    Python file's statements and expressions (normalised) are compared with the pieces, and its text searched for
    the pieces of :data:`TEXT_MIN` characters or more (the mistakes' fixes may quote a short piece on purpose: they
    are hints); every other file (bytecode, data) is searched byte for byte for pieces of :data:`DATA_MIN` or
    more that no string of the Python files quotes (the bytecode holds those strings too). A list of
    ``"<file>: <what> (<piece>)"``, without the :data:`LIBRARY_COPIES`; empty when nothing leaks."""
    wanted = [(piece, what) for what, pieces in secrets(labs).items() for piece in pieces
              if not piece.isidentifier() and piece not in ("return", "pass")]
    texts = set()  # the string constants of the tree's Python files (a mistake's fix may quote a short piece)
    for path in tree.rglob("*.py"):
        try:
            texts |= {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                      if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        except (SyntaxError, UnicodeDecodeError):
            continue
    quoted = {piece for piece, _ in wanted if any(piece in text for text in texts)}
    kinds = tuple({_piece_kind(piece) for piece, _ in wanted})
    found = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        relative = path.relative_to(tree).as_posix()
        data = path.read_bytes()
        python = path.suffix == ".py"
        pieces = _normalised_pieces(path, kinds) if python else set()
        for piece, what in wanted:
            if (relative, what) in LIBRARY_COPIES:
                continue
            long_enough = len(piece) >= (TEXT_MIN if python else DATA_MIN) and (python or piece not in quoted)
            if piece in pieces or (long_enough and piece.encode("utf-8") in data):
                found.append(f"{relative}: {what} ({piece[:80]})")
    return found


def _same(a, b) -> bool:
    """Whether two stored values are equal: tensors by dtype, shape and values, models by type and weights."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and bool(torch.equal(a, b) or torch.allclose(a, b, equal_nan=True))
    if isinstance(a, torch.nn.Module) or isinstance(b, torch.nn.Module):
        return type(a) is type(b) and _same(a.state_dict(), b.state_dict())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b) or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def stale(tree: Path) -> list[str]:
    """The exercises whose stored cases in the package ``tree`` no longer match the cases computed from this
    checkout's references, inputs and mistakes (``"<lab> <which>: <name>"``, and the labs without stored cases);
    empty when the package is up to date."""
    import torch

    from ..exercises.cases import WHICH, computed, stored_file

    folder, found = Path(tree) / "aecore" / "exercises" / "stored", []
    for lab in LAB_MODULES:
        for which in WHICH:
            path = stored_file(folder, lab, which)
            if not path.is_file():
                if which == "visible":
                    found.append(f"{lab} {which}: no stored cases")
                continue
            stored = torch.load(path, weights_only=False)
            for name, exercise in EXERCISES.items():
                if exercise.lab == lab and (name not in stored or not _same(stored[name], computed(name, which))):
                    found.append(f"{lab} {which}: {name}")
    return found


# ----------------------------------------------------------------------------- writing the tree

PYPROJECT = """\
# The student package of the deep-autoencoder labs: aecore without the solutions of unreleased labs,
# written by `make student` (aecore.book.student_package). Install it with
#   pip install "aecore @ git+<repository url>@<student branch>"
# (the lab notebooks' first cell does that in Colab).
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "aecore"
version = {version}
description = "Autoencoder lab book, student package (released solutions: {released})"
requires-python = {python}
dependencies = {dependencies}

[tool.setuptools.packages.find]
include = ["aecore", "aecore.*"]

[tool.setuptools.package-data]
"aecore.benchmark_results" = ["*.json"]
"aecore.exercises.stored" = ["*.pt"]
"""


def _pyproject(released: list[str]) -> str:
    """The student package's pyproject.toml: the checkout's name, version, Python and dependencies."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    version = re.search(r'^version = ("[^"]*")$', project, re.M)
    python = re.search(r'^requires-python = ("[^"]*")$', project, re.M)
    dependencies = re.search(r"^dependencies = \[(.*?)^\]", project, re.M | re.S)
    if not (version and python and dependencies):
        raise BuildError("pyproject.toml's [project] has no version, requires-python or dependencies list")
    listed = re.findall(r'^\s*("[^"]+"),', dependencies[1], re.M)
    return PYPROJECT.format(version=version[1], python=python[1], released=", ".join(released) or "none",
                            dependencies="[\n" + "".join(f"    {d},\n" for d in listed) + "]")


def _copy_package(target: Path) -> None:
    skip = {PACKAGE / p for p in INSTRUCTOR_ONLY}
    for path in sorted(PACKAGE.rglob("*")):
        relative = path.relative_to(PACKAGE)
        if not path.is_file() or "__pycache__" in relative.parts or path in skip or relative.parts[:2] == (
                "exercises", "stored") or path.suffix not in (".py", ".json"):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def _check_imports(tree: Path) -> None:
    """Import the package's modules in a separate Python whose path starts at ``tree`` (no bytecode written)."""
    code = ("import aecore.exercises, aecore.lessons, aecore.models, aecore.noise, aecore.objectives, aecore.train, "
            "aecore.book.report\nassert aecore.exercises.cases.is_stored(), 'no stored cases'\n"
            "assert aecore.__file__.startswith(" + repr(str(tree)) + "), aecore.__file__")
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"the student package does not import:\n{result.stderr[-3000:]}")


def write_package(out: Path, *, released: Iterable[str] = (), hidden_cases: bool = False) -> Path:
    """Write the student package (``hidden_cases=True``: the grading build) into the folder ``out``, replacing it:
    ``pyproject.toml``, ``build.json`` (what it was built with) and ``aecore/`` without the references and the
    mistakes' code of the labs not in ``released`` (lab module names, notebook stems or titles: see
    :func:`resolve_labs`), with the stored cases. Returns ``out``. BuildError (and nothing written) when a lab is
    unknown, the tree does not import, or removed code shows up in it."""
    out = Path(out).resolve()
    if PACKAGE.resolve() in (out, *out.parents) or out == ROOT.resolve():
        raise BuildError(f"{out} is inside the checkout's aecore (or is the checkout): pick another folder")
    labs = resolve_labs(released)
    unreleased = [lab for lab in LAB_MODULES if lab not in labs]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)
    try:
        package = staging / "aecore"
        _copy_package(package)
        texts = {lab: (PACKAGE / "exercises" / f"{lab}.py").read_text(encoding="utf-8") for lab in LAB_MODULES}
        for lab, text in strip_labs(texts, labs).items():
            (package / "exercises" / f"{lab}.py").write_text(text, encoding="utf-8")
        write_stored(package / "exercises" / "stored", LAB_MODULES, hidden=hidden_cases)
        (package / "exercises" / "stored" / "__init__.py").write_text(
            '"""The exercises\' stored cases (written by aecore.book.student_package)."""\n', encoding="utf-8")
        (staging / "pyproject.toml").write_text(_pyproject(labs), encoding="utf-8")
        (staging / "build.json").write_text(json.dumps(
            {"released": labs, "hidden_cases": hidden_cases, "unreleased": unreleased}, indent=1) + "\n",
            encoding="utf-8")
        found = leaks(staging, unreleased)
        if found:
            raise BuildError("the student package would hold solutions:\n  " + "\n  ".join(found[:20]))
        _check_imports(staging)
        previous = Path(tempfile.mkdtemp(prefix=f".{out.name}-previous-", dir=out.parent))
        if out.exists():
            out.rename(previous / out.name)
        staging.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); 0 on success, 1 with a message on a BuildError."""
    parser = argparse.ArgumentParser(description="Write the student package (aecore without unreleased solutions).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: _build/student/package")
    parser.add_argument("--released", nargs="*", metavar="LAB",
                        help="labs whose solutions are released (default: aecore: released_solutions: in _config.yml)")
    parser.add_argument("--hidden-cases", action="store_true", help="the grading build: with the hidden cases")
    args = parser.parse_args(argv)
    try:
        released = args.released if args.released is not None else released_setting()
        out = write_package(args.out, released=released, hidden_cases=args.hidden_cases)
    except BuildError as error:
        print(f"student package: {error}; nothing written", file=sys.stderr)
        return 1
    labs = resolve_labs(released)
    print(f"student package: {out} (released solutions: {', '.join(labs) or 'none'}; "
          f"hidden cases: {'yes' if args.hidden_cases else 'no'})")
    return 0
