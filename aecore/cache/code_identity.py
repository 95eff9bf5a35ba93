"""What a training objective *is*, as the model cache sees it: a fingerprint of its code.

A model trained with one loss function must never be loaded for another, so the cache key
(:mod:`aecore.cache.keys`) holds :func:`function_identity` of the loss. The fingerprint is taken
from the function's **source text**, parsed and printed again (``ast.unparse``), so comments,
blank lines, docstrings and formatting do not count, but every token of the code does.
It follows what the function uses:

* the values of its default arguments, of the variables it closes over and of the global
  names it reads that hold numbers, strings, None or tuples of them (e.g. ``NOISE = 0.4``);
* the fingerprints of the functions it calls that are written in a notebook, in aecore or in
  any other module that is not an installed library (a ``.py`` file of one's own, a test
  module), recursively, also as ``lessons.bce_per_image`` through such a module, so editing a
  helper changes the key too; functions of installed libraries (the standard library and
  site-packages: torch, ...) enter by their qualified name only;
* for a ``functools.partial``, the fingerprint of its function and its bound arguments.

Two functions with the same code, the same values and the same helpers have the same
identity wherever they are defined, so the solution notebook's ``negative_elbo`` and a
student's identical one share a model, and any other code gets its own.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import site
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable
from typing import Any

from ..utils import stable_hash

__all__ = ["function_identity", "describe_function"]

_PLAIN = (bool, int, float, str, type(None))
# Functions from these modules are followed into (their code counts), and so are those of any module
# that is not an installed library (see _followed_module); the libraries' count by name only.
_FOLLOWED_MODULES = ("__main__", "aecore")


def function_identity(fn: Callable) -> str:
    """A 16-hex-digit fingerprint of ``fn``'s code and what it uses (see the module docstring)."""
    return stable_hash(describe_function(fn))


def describe_function(fn: Callable, _seen: frozenset = frozenset()) -> Any:
    """The plain (JSON-able) description :func:`function_identity` hashes: for a function, its
    normalised source, the values it uses and the descriptions of the helpers it calls."""
    if isinstance(fn, functools.partial):
        return {"partial": describe_function(fn.func, _seen), "args": [_value(a, _seen) for a in fn.args],
                "keywords": {k: _value(v, _seen) for k, v in sorted(fn.keywords.items())}}
    if isinstance(fn, types.MethodType):
        return {"method": describe_function(fn.__func__, _seen), "of": type(fn.__self__).__qualname__}
    if not isinstance(fn, types.FunctionType):
        if callable(fn) and not isinstance(fn, type) and callable(type(fn)) \
                and not isinstance(fn, types.BuiltinFunctionType):
            call = type(fn).__call__
            if isinstance(call, types.FunctionType):
                return {"callable": type(fn).__qualname__, "call": describe_function(call, _seen),
                        "state": _value(getattr(fn, "__dict__", {}), _seen)}
        return {"external": _qualified_name(fn)}
    if not _followed(fn):
        return {"external": _qualified_name(fn)}
    if fn in _seen:  # recursion: name it, do not follow it again
        return {"recursive": fn.__qualname__}
    seen = _seen | {fn}
    code = fn.__code__
    used: dict[str, Any] = {}
    for name in sorted(_global_names(code)):
        if name in fn.__globals__:  # attribute names (x.sum) and builtins are not globals: they drop out
            used[name] = _value(fn.__globals__[name], seen)
    for module_name, attribute in sorted(_module_attributes(fn)):
        module = fn.__globals__.get(module_name)
        if isinstance(module, types.ModuleType) and _followed_module(module.__name__) and hasattr(module, attribute):
            used[f"{module_name}.{attribute}"] = _value(getattr(module, attribute), seen)
    closure = {}
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            closure[name] = _value(cell.cell_contents, seen)
        except ValueError:  # an empty cell: the variable is not assigned yet
            closure[name] = {"unassigned": name}
    return {"source": _normalised_source(fn), "defaults": _value(fn.__defaults__ or (), seen),
            "kwdefaults": _value(fn.__kwdefaults__ or {}, seen), "globals": used, "closure": closure}


def _followed(fn: types.FunctionType) -> bool:
    return _followed_module(fn.__module__ or "__main__")


def _followed_module(name: str) -> bool:
    """Whether the code of the module ``name`` counts: a notebook's (``__main__``, or code run without a
    module), aecore's, or that of any module that is not part of an installed library (one whose file lies
    outside the standard library and site-packages, e.g. a student's ``my_losses.py`` or a test module)."""
    top = name.split(".")[0]
    if top in _FOLLOWED_MODULES or name.startswith("__"):
        return True
    if top in sys.stdlib_module_names:
        return False
    file = getattr(sys.modules.get(name), "__file__", None)
    if not file:  # not a module with a file (code made at run time): count its code
        return True
    path = os.path.realpath(file)
    return not any(path.startswith(folder) for folder in _library_folders())


@functools.cache
def _library_folders() -> tuple[str, ...]:
    """The folders of installed code: the standard library and every site-packages."""
    paths = sysconfig.get_paths()
    folders = {paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders.update(getattr(site, "getsitepackages", lambda: [])())
    folders.add(getattr(site, "getusersitepackages", lambda: None)())
    return tuple(sorted(os.path.join(os.path.realpath(f), "") for f in folders if f))


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{module}.{name}"


def _value(value: Any, seen: frozenset) -> Any:
    """A value a function uses, as it enters the fingerprint."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)):
        return [_value(v, seen) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v, seen) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, (types.FunctionType, functools.partial, types.MethodType)):
        return describe_function(value, seen)
    if isinstance(value, type):
        return {"class": _qualified_name(value)}
    # anything else (a tensor, a model, ...) by its type: its contents are not part of the code
    return {"object": _qualified_name(type(value))}


def _global_names(code: types.CodeType) -> set[str]:
    """Global names read by ``code`` and the code objects nested in it (lambdas, inner functions)."""
    names = set()
    local = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    for name in code.co_names:
        if name not in local:
            names.add(name)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _module_attributes(fn: types.FunctionType) -> set[tuple[str, str]]:
    """``(name, attribute)`` for every ``name.attribute`` in ``fn``'s source (e.g. ``lessons.kl_divergence``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {(node.value.id, node.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}


def _normalised_source(fn: types.FunctionType) -> str:
    """The function's source parsed and printed again, without docstrings, comments or decorators."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):  # no source (e.g. defined by exec): fall back to the bytecode
        return f"bytecode:{_bytecode(fn.__code__)}"
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda inside an expression: keep the raw text
        return source.strip()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.decorator_list = []
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _bytecode(code: types.CodeType) -> str:
    """A code object's instructions, the names they use and their constants (nested code objects, e.g.
    lambdas, by their own instructions: their repr holds a memory address), for code without source."""
    consts = [_bytecode(c) if isinstance(c, types.CodeType)
              else repr(sorted(map(repr, c))) if isinstance(c, frozenset) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}:{code.co_names!r}:{consts!r}"
