"""The layout's promises (CONTRIBUTING.md): the package has no import circle, nothing edits ``sys.path`` at module
level or loads a project file by path, only a package's ``__main__.py`` runs as ``__main__``, and ``import aecore``
imports nothing but its config."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aecore"
CHECKED_FOLDERS = ("aecore", "benchmarks", "tools", "tests", "book/_ext")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """The statements that run on import: the module's body, and the bodies of its module-level if/try/with
    blocks (not of functions or classes)."""
    statements, todo = [], list(tree.body)
    while todo:
        node = todo.pop(0)
        statements.append(node)
        if isinstance(node, (ast.If, ast.For, ast.While)):
            todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
        elif isinstance(node, ast.With):
            todo += node.body
    return statements


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The aecore modules that ``path`` imports at module level (relative imports resolved; ``from x import y``
    counts y when y is a module of the package, and x unless every name imported is a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _module_level(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules]
            # `from . import lab2` imports the submodule (its package is imported anyway, before it)
            targets = submodules if len(submodules) == len(node.names) else [source, *submodules]
        else:
            continue
        for target in targets:
            while target and target not in modules:   # `import aecore.cache.keys` imports aecore.cache.keys
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _import_graph() -> dict[str, set[str]]:
    files = _python_files("aecore")
    modules = {_module_name(path) for path in files}
    return {_module_name(path): _imports(path, modules) for path in files}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_import_graph_sees_relative_and_absolute_imports():
    graph = _import_graph()
    assert "aecore.config" in graph["aecore.labs.common"]          # from ..config import choose
    assert "aecore.datasets" in graph["aecore.labs.common"]        # from .. import datasets
    assert "aecore.exercises.framework" in graph["aecore.exercises.lab1"]
    assert "aecore.labs.lab2" in graph["aecore.labs.lab3b"] and "aecore.labs" not in graph["aecore.labs.lab3b"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_circle():
    cycle = _cycle(_import_graph())
    assert cycle is None, ("import circle among aecore's module-level imports: " + " -> ".join(cycle)
                           + " (move the import into the function that needs it, or the shared code to a module "
                             "both import)")


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """Every call in ``tree`` with its callee written out (``importlib.util.spec_from_file_location``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found.append((ast.unparse(node.func), node))
    return found


def _module_level_calls(tree: ast.Module) -> list[tuple[str, ast.Call]]:
    found = []
    for statement in _module_level(tree):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(statement, (ast.If, ast.While)):     # their bodies are in _module_level already
            found += _calls(statement.test)
        elif isinstance(statement, ast.For):
            found += _calls(statement.iter)
        elif isinstance(statement, ast.With):
            found += [call for item in statement.items for call in _calls(item.context_expr)]
        elif not isinstance(statement, ast.Try):
            found += _calls(statement)
    return found


SYS_PATH_EDITS = ("sys.path.insert", "sys.path.append", "sys.path.extend", "sys.path.remove", "site.addsitedir")
LOADS_BY_PATH = ("spec_from_file_location", "run_path", "SourceFileLoader", "load_source")


@pytest.mark.parametrize("path", _python_files(*CHECKED_FOLDERS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_level_sys_path_edit_and_no_file_loaded_by_path(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = path.relative_to(ROOT).as_posix()
    for callee, node in _module_level_calls(tree):
        assert not callee.endswith(SYS_PATH_EDITS), \
            f"{name}:{node.lineno} edits sys.path at module level ({callee}): import the package instead"
    for statement in _module_level(tree):
        for target in (statement.targets if isinstance(statement, ast.Assign) else
                       [statement.target] if isinstance(statement, ast.AugAssign) else []):
            assert ast.unparse(target) not in ("sys.path", "sys.path[:]"), \
                f"{name}:{statement.lineno} assigns sys.path at module level"
    for callee, node in _calls(tree):
        assert not callee.endswith(LOADS_BY_PATH), \
            f"{name}:{node.lineno} loads a project file by path ({callee}): import it as a module"
        if callee == "exec" and node.args and isinstance(node.args[0], ast.Call):
            inner = ast.unparse(node.args[0])
            assert "open(" not in inner and "read_text(" not in inner, \
                f"{name}:{node.lineno} executes a file's text ({inner}): import it as a module"


def test_the_layout_checks_recognise_what_they_forbid(tmp_path):
    tree = ast.parse("import sys\nif True:\n    sys.path.insert(0, 'x')\ndef f():\n    sys.path.append('y')\n")
    assert [callee for callee, _ in _module_level_calls(tree)] == ["sys.path.insert"]
    tree = ast.parse("def f():\n    importlib.util.spec_from_file_location('m', 'm.py')\n")
    assert any(callee.endswith(LOADS_BY_PATH) for callee, _ in _calls(tree))


def _has_main_block(path: Path) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If):
            test = ast.unparse(node.test).replace("'", '"')
            if test in ('__name__ == "__main__"', '"__main__" == __name__'):
                return True
    return False


def test_only_a_packages_main_module_runs_as_main():
    """``python -m aecore ...`` and ``python -m aecore.labs`` run a package's ``__main__.py``; no library module
    has a ``__main__`` block (so none is imported twice, as ``__main__`` and under its name)."""
    offenders = [path.relative_to(ROOT).as_posix() for path in _python_files("aecore")
                 if path.name != "__main__.py" and _has_main_block(path)]
    assert offenders == [], f"library modules with an `if __name__ == \"__main__\"` block: {offenders}; " \
                            "put the command line in the package's __main__.py"


def test_import_aecore_imports_nothing_else_of_the_package_nor_torch():
    """``import aecore`` stays light: nothing else of the package and not torch (2 s) is imported until first
    used, so the book's build and its notebook executor, which never compute, start without torch."""
    code = ("import json, sys, aecore, aecore.book.execution\n"
            "print(json.dumps([sorted(m for m in sys.modules if m.startswith('aecore')), 'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    imported, torch_imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == ["aecore", "aecore.book", "aecore.book.execution"], f"imported eagerly: {imported}"
    assert not torch_imported
