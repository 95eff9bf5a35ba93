"""The student's own exercise functions, kept for later labs (in the spirit of d2l's ``#@save``).

In a student build of aecore (:mod:`aecore.book.student_package`) the reference implementations of unreleased
labs are absent. A later lab that needs an earlier lab's function (Lab 3 takes Lab 1's ``bce_per_image``)
gets the student's own: when an exercise's check passes there, :func:`keep` writes the function (its source,
the imports it needs and the helpers of the notebook it calls) to ``<folder>/<name>.py``, and
:mod:`aecore.lessons` loads it from there (:func:`lesson`). The folder is :func:`aecore.config.lessons_root`:

* on a laptop or a JupyterHub, ``~/aecore-lessons`` (every notebook of the user sees it);
* in Colab, ``aecore-lessons`` in Google Drive when Drive is mounted (each Colab notebook runs in its own
  runtime, so only Drive carries a function from Lab 1's notebook to Lab 3's); without Drive the file lasts
  as long as the runtime, and a later lab's notebook says how to give it the function again;
* ``AECORE_LESSONS=<folder>`` sets another folder, ``AECORE_LESSONS=off`` keeps nothing.

Where the reference is present (the instructor's checkout, a released lab) nothing is kept: the reference is
used. A function is kept only when its check passed, so what a later lab imports always passed its check.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import os
import sys
import sysconfig
import tempfile
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import config
from .framework import EXERCISES

__all__ = ["LessonMissing", "CannotKeep", "keep", "lesson", "kept_path", "function_source", "lab_title",
           "lab_notebook"]

_PLAIN = (bool, int, float, complex, str, bytes, type(None))
_loaded: dict[str, tuple[tuple[int, int], Callable]] = {}


class LessonMissing(ImportError):
    """A later lab asked for an earlier exercise's function that is neither released nor done yet."""


class CannotKeep(ValueError):
    """A function that cannot be written to a file on its own (a lambda, a closure, an object it uses)."""


def lab_title(lab: str) -> str:
    """``"lab3b"`` -> ``"Lab 3b"``."""
    return "Lab " + lab.removeprefix("lab")


def lab_notebook(lab: str) -> str:
    """The notebook stem of lab module ``lab`` (e.g. ``"01_mnist_autoencoder"``)."""
    return str(importlib.import_module(f"aecore.labs.{lab}").NOTEBOOK)


def kept_path(name: str) -> Path | None:
    """Where exercise ``name``'s function is kept (None when keeping is off); the file may not exist."""
    root = config.lessons_root()
    return None if root is None else root / f"{name}.py"


def _global_names(code: types.CodeType) -> list[str]:
    """The global names ``code`` (and the code nested in it) reads, in order of first use."""
    local = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    names = [n for n in code.co_names if n not in local]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += [n for n in _global_names(const) if n not in names]
    return list(dict.fromkeys(names))


def _installed(module: str) -> bool:
    """Whether ``module`` is aecore's or an installed library's (the standard library, site-packages), which a later
    lab imports as it is; a notebook's or a student's own file is not (its code goes into the kept file)."""
    top = module.split(".")[0]
    if top == "aecore" or top in sys.stdlib_module_names or top == "builtins":
        return True
    file = getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return False
    folders = [sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    path = os.path.realpath(file)
    return any(path.startswith(os.path.join(os.path.realpath(folder), "")) for folder in folders)


def _importable(value: Any) -> str | None:
    """``from <module> import <name>`` for ``value`` when its module, an installed one, gives it back by its
    qualified name."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname or "." in qualname or not _installed(module):
        return None
    if getattr(sys.modules.get(module), qualname, None) is not value:
        return None
    return f"from {module} import {qualname}"


def function_source(name: str, fn: Callable) -> str:
    """A module's text that defines ``fn`` under ``name`` on its own: the imports of the modules, library
    functions and earlier exercises it uses, the values and notebook helpers it reads, then its source.
    Raises :class:`CannotKeep` saying why when that cannot be written."""
    header: list[str] = []
    bodies: list[str] = []
    done: set[int] = set()

    def add(f: Any, as_name: str, top: bool) -> None:
        if not isinstance(f, types.FunctionType):
            raise CannotKeep(f"{as_name} is a {type(f).__name__}, not a function written with def")
        if f.__name__ == "<lambda>":
            raise CannotKeep(f"{as_name} is a lambda: write it with def")
        if f.__closure__:
            raise CannotKeep(f"{as_name} uses variables of an enclosing function "
                             f"({', '.join(f.__code__.co_freevars)}): define it at the top level of a cell")
        if id(f) in done:
            return
        done.add(id(f))
        try:
            source = textwrap.dedent(inspect.getsource(f))
        except (OSError, TypeError) as error:
            raise CannotKeep(f"the source of {as_name} cannot be read ({error})") from None
        for global_name in _global_names(f.__code__):
            if global_name not in f.__globals__:
                continue  # a builtin, or a name assigned later
            value = f.__globals__[global_name]
            if global_name in EXERCISES and global_name != name and callable(value):
                line = f"from aecore.lessons import {global_name}"
            elif isinstance(value, types.ModuleType):
                line = f"import {value.__name__}" if value.__name__ == global_name \
                    else f"import {value.__name__} as {global_name}"
            elif isinstance(value, _PLAIN) or (isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value)):
                line = f"{global_name} = {value!r}"
            elif (importable := _importable(value)) is not None:
                line = importable if getattr(value, "__qualname__", None) == global_name \
                    else f"{importable} as {global_name}"
            elif isinstance(value, types.FunctionType):
                add(value, global_name, False)  # a helper of the notebook: kept with it
                continue
            elif getattr(builtins, global_name, None) is value:
                continue
            else:
                raise CannotKeep(f"{as_name} uses {global_name}, a {type(value).__name__} of the notebook, which "
                                 "cannot be written to a file: pass it as an argument or compute it inside")
            if line not in header:
                header.append(line)
        bodies.append(source.rstrip() + "\n" + (f"\n\n{as_name} = {f.__name__}\n" if f.__name__ != as_name else ""))

    add(fn, name, True)
    return "\n".join(header) + ("\n\n\n" if header else "") + "\n\n".join(bodies)


def keep(name: str, fn: Callable) -> Path | None:
    """Keep the student's ``fn``, whose check of exercise ``name`` just passed, for later labs; print where (or
    why it was not kept: it never fails the check). Returns the file, or None."""
    path = kept_path(name)
    if path is None:
        return None
    lab = EXERCISES[name].lab
    try:
        text = (f"# {name}: your function from {lab_title(lab)} (notebook {lab_notebook(lab)}), kept by aecore when "
                "its check passed.\n# Later labs import it with `from aecore.lessons import "
                f"{name}`; to change it, change the notebook and run the check again.\n\n" + function_source(name, fn))
        compile(text, str(path), "exec")
    except (CannotKeep, SyntaxError) as error:
        print(f"  (not kept for later labs: {error})")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}-", suffix=".py", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    _loaded.pop(name, None)
    where = "" if not str(path).startswith("/content/") or str(path).startswith(str(config.COLAB_DRIVE)) else \
        " (this Colab runtime only: mount Google Drive to keep it for the later labs' notebooks)"
    print(f"  kept for later labs: {path}{where}")
    return path


def _missing(name: str, detail: str = "") -> LessonMissing:
    lab = EXERCISES[name].lab
    title, notebook = lab_title(lab), lab_notebook(lab)
    path = kept_path(name)
    where = (f"when its check passes, aecore keeps your function in {path.parent} for the later labs"
             if path is not None else "keeping your functions is off here (AECORE_LESSONS=off)")
    return LessonMissing(
        f"{name}: finish exercise {name} of {title} first (notebook {notebook}): {where}. The solutions of "
        f"{title} are not released yet.{detail} In Colab, mount Google Drive before running {title} "
        "(from google.colab import drive; drive.mount('/content/drive')), or define your own "
        f"{name} in a cell here and run `from aecore.exercises import {lab}; {lab}.check_{name}({name})`.")


def lesson(name: str) -> Callable:
    """The student's kept function of exercise ``name``; :class:`LessonMissing` saying which exercise of which
    lab to finish first when there is none (or it no longer loads)."""
    path = kept_path(name)
    if path is None or not path.is_file():
        raise _missing(name)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _loaded.get(name)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    namespace: dict[str, Any] = {"__name__": "aecore_kept", "__file__": str(path)}
    try:
        # The kept file is the student's own code in their folder, not a module of a package: it is read and run
        # here (the file name makes inspect.getsource and the model cache's fingerprint read it from disk).
        source = path.read_text(encoding="utf-8")
        exec(compile(source, str(path), "exec"), namespace)
        fn = namespace[name]
    except LessonMissing:
        raise
    except Exception as error:
        raise _missing(name, f" (Your kept {name} in {path} does not load: {type(error).__name__}: {error}.)") \
            from error
    _loaded[name] = (stamp, fn)
    return fn
