"""What a training objective *is*, as the model cache sees it: a description of the objects in memory.

A model trained with one loss function must never be loaded for another, so the cache key
(:mod:`aecore.cache.keys`) holds :func:`function_identity` of the loss. The identity is read from
the **objects the running code uses**, never from a file on disk (a module edited after it was
imported still runs its old code, and the key follows that code):

* a function by its **code object**: instructions, constants (nested code such as lambdas and
  inner functions by their own code), the names it uses, its arguments; not its line numbers,
  so comments, blank lines, layout and its docstring do not count. The same code on the same
  Python has one identity wherever it is defined (the Python version is part of the key);
* the values it uses: its defaults, its closure cells, the globals it reads, and the functions,
  classes and values it reaches as ``module.fn`` or ``pkg.sub.fn`` through modules of its own,
  all described recursively in the same way;
* a bound method by its function and its instance's state; a callable object or an ``nn.Module``
  by its class (the code of every method: ``__call__``, ``forward``, ...) and its state (the
  parameters **and** buffers, the submodules, the attributes); a ``functools.partial`` by its
  function and bound arguments; a ``staticmethod``/``classmethod``/``lru_cache`` function by the
  function it wraps;
* tensors and NumPy arrays by their contents (dtype, shape and a SHA-256 of the bytes);
  dataclasses, ``SimpleNamespace``\\ s and other instances by their class and state; dicts,
  lists and tuples element by element; sets whatever their order;
* code of installed libraries (the standard library, site-packages: torch, numpy, ...) by its
  qualified name, never by reading it; the versions of the libraries reached are part of the key
  (:func:`describe_with_libraries`, :func:`aecore.cache.keys.describe_run`), so an upgrade changes it.

Where the description meets a value it cannot describe (an open file, a random generator, a
C object without visible state), it raises :class:`UndescribableValueError`, naming the value and
the path to it (``loss -> globals -> W``) and the two ways out: make the value describable, or pass
``cache_token="..."`` to ``fit_or_load`` (then such values enter the key by type only, and the
token stands for them). A value is never silently reduced to its type name.

What it cannot see: what the code reads at run time from outside the objects (files, the
environment, the network), randomness drawn outside torch's seeded generators, attributes reached
with ``getattr(obj, name)`` on a module, and the insides of C extensions.
"""

from __future__ import annotations

import dataclasses
import dis
import enum
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import linecache
import os
import random
import site
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..utils import stable_hash

__all__ = ["function_identity", "describe_function", "describe_value", "describe_with_libraries",
           "UndescribableValueError",
           "library_version", "is_library_module", "stale_source_files"]

_PLAIN = (bool, int, float, str, type(None))
# Functions and classes of these modules are always followed into (their code counts); so are those of
# any module that is not an installed library (see is_library_module).
_FOLLOWED_MODULES = ("__main__", "aecore")
# Deeper than this, a description stops with an error (a structure this deep is a linked chain, not settings).
MAX_DEPTH = 60
# Class attributes that are bookkeeping, not behaviour: left out of a class's description.
_CLASS_BOOKKEEPING = {"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__", "__annotations__",
                      "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__slots__",
                      "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
                      "__abstractmethods__", "_abc_impl"}
_LOADS_OF_NAMES = {"LOAD_GLOBAL", "LOAD_NAME"}
_LOADS_OF_ATTRIBUTES = {"LOAD_ATTR", "LOAD_METHOD"}


class UndescribableValueError(TypeError):
    """A value an objective uses that the cache key cannot describe (see the module docstring)."""


def function_identity(fn: Callable, *, token: str | None = None) -> str:
    """A 16-hex-digit fingerprint of ``fn``'s code and everything it uses (see the module docstring).

    ``token``: a name the caller gives the run (``fit_or_load(cache_token=...)``); with it, values that
    cannot be described enter by their type and the token stands for them. Raises
    :class:`UndescribableValueError` otherwise."""
    return stable_hash(describe_function(fn, token=token))


def describe_function(fn: Callable, *, token: str | None = None, root: str = "loss") -> Any:
    """The plain (JSON-able) description :func:`function_identity` hashes: for a Python function a dict with
    ``code``, ``defaults``, ``kwdefaults``, ``globals`` (the names it reads and the ``module.attribute``
    chains it reaches) and ``closure``; other callables as described in the module docstring."""
    return _Describer(token is not None).describe(fn, root)


def describe_value(value: Any, *, root: str = "value", token: str | None = None) -> Any:
    """The description of any value, as the key sees it (a function, a class, a tensor, a dataclass, ...)."""
    return _Describer(token is not None).describe(value, root)


def describe_with_libraries(value: Any, *, root: str = "value", token: str | None = None) -> tuple[Any, set[str]]:
    """:func:`describe_value`'s description of ``value`` and the libraries (top-level module names) it reaches,
    whose versions the cache key holds (:func:`library_version`)."""
    describer = _Describer(token is not None)
    return describer.describe(value, root), describer.libraries


# ----------------------------------------------------------------------------- libraries

def is_library_module(name: str) -> bool:
    """Whether the module ``name`` is installed library code (standard library or site-packages), whose code
    enters a key by name and version. A notebook's code (``__main__``), aecore's and that of any module whose
    file lies elsewhere (a student's ``my_losses.py``, even one called ``code.py``) is not."""
    top = name.split(".")[0]
    if top in _FOLLOWED_MODULES or name.startswith("__"):
        return False
    module = sys.modules.get(name) or sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if file:
        return _is_library_file(file)
    # no file: a built-in or frozen module of the standard library, or code made at run time (followed)
    return top in sys.stdlib_module_names or top in sys.builtin_module_names


@functools.lru_cache(maxsize=4096)
def _is_library_file(file: str) -> bool:
    """Whether ``file`` lies in the standard library or a site-packages folder."""
    path = os.path.realpath(file)
    return any(path.startswith(folder) for folder in _library_folders())


@functools.cache
def _library_folders() -> tuple[str, ...]:
    """The folders of installed code: the standard library and every site-packages."""
    paths = sysconfig.get_paths()
    folders = {paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders.update(getattr(site, "getsitepackages", lambda: [])())
    folders.add(getattr(site, "getusersitepackages", lambda: None)())
    return tuple(sorted(os.path.join(os.path.realpath(f), "") for f in folders if f))


@functools.cache
def library_version(top: str) -> str:
    """``"<name> <version>"`` of the installed library ``top`` (a top-level module name); the Python version for
    the standard library; ``"<name> (version unknown)"`` where neither says."""
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return f"python {sys.version_info.major}.{sys.version_info.minor}"
    version = getattr(sys.modules.get(top), "__version__", None)
    if not isinstance(version, str):
        try:
            version = importlib.metadata.version(top)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            names = importlib.metadata.packages_distributions().get(top, [])
            version = importlib.metadata.version(names[0]) if names else None
    if not version:
        return f"{top} (version unknown)"
    return f"{top} {version.split('+')[0]}"  # a CPU and a CUDA build of one release run the same code


def _module_of(obj: Any) -> str:
    """The module ``obj`` was defined in; ``"<run time>"`` for a function made by exec without a module name."""
    module = getattr(obj, "__module__", None)
    if isinstance(obj, types.FunctionType) and not isinstance(module, str):
        return "<run time>"
    if not isinstance(module, str):
        module = type(obj).__module__
    return module or "__main__"


def _qualified_name(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{_module_of(obj)}.{name}"


def _library_of(obj: Any) -> str:
    """The top-level module name of the library ``obj`` (a module, function or class) belongs to."""
    module = obj.__name__ if isinstance(obj, types.ModuleType) else _module_of(obj)
    return module.split(".")[0]


# ----------------------------------------------------------------------------- code objects

@functools.lru_cache(maxsize=4096)
def _code(code: types.CodeType, doc: str | None = None) -> dict[str, Any]:
    """A code object without its line numbers: instructions, constants (nested code by its own description;
    the docstring ``doc`` as None), names, arguments and flags."""
    consts = list(code.co_consts)
    if doc is not None and consts and consts[0] == doc:
        consts[0] = None
    return {"bytecode": code.co_code.hex(), "consts": [_constant(c) for c in consts], "names": list(code.co_names),
            "varnames": list(code.co_varnames), "freevars": list(code.co_freevars),
            "cellvars": list(code.co_cellvars), "argcount": code.co_argcount,
            "posonly": code.co_posonlyargcount, "kwonly": code.co_kwonlyargcount,
            "flags": code.co_flags & ~inspect.CO_NESTED}  # defined inside another function or not: the same code


def _constant(const: Any) -> Any:
    if isinstance(const, types.CodeType):
        return {"code": _code(const)}
    if isinstance(const, (tuple, frozenset)):
        items = [_constant(c) for c in const]
        if isinstance(const, frozenset):
            return {"frozenset": sorted(items, key=lambda item: stable_hash(item))}
        return {"tuple": items}
    if isinstance(const, complex):
        return {"complex": repr(const)}
    if isinstance(const, bytes):
        return {"bytes": const.hex()}
    if const is Ellipsis:
        return {"ellipsis": True}
    return const


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    """``code`` and every code object nested in it (lambdas, inner functions, comprehensions)."""
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _code_objects(const)
    return found


@functools.lru_cache(maxsize=4096)
def _names_read(code: types.CodeType) -> tuple[set[str], set[tuple[str, ...]]]:
    """The global names ``code`` (and its nested code) reads, and the attribute chains read from them
    (``("lessons", "bce_per_image")`` for ``lessons.bce_per_image``, ``("pkg", "sub", "fn")``)."""
    names: set[str] = set()
    chains: set[tuple[str, ...]] = set()
    for part in _code_objects(code):
        chain: list[str] = []
        for instruction in dis.get_instructions(part):
            if instruction.opname in _LOADS_OF_NAMES:
                if len(chain) > 1:
                    chains.add(tuple(chain))
                names.add(instruction.argval)
                chain = [instruction.argval]
            elif instruction.opname in _LOADS_OF_ATTRIBUTES and chain:
                chain.append(instruction.argval)
            else:
                if len(chain) > 1:
                    chains.add(tuple(chain))
                chain = []
        if len(chain) > 1:
            chains.add(tuple(chain))
    return names, chains


@functools.lru_cache(maxsize=4096)
def _imports(code: types.CodeType) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """The imports made inside ``code`` (and its nested code): (level, module name, names imported from it),
    e.g. ``(0, "pytorch_msssim", ("ssim",))`` for ``from pytorch_msssim import ssim``."""
    found = []
    for part in _code_objects(code):
        instructions = list(dis.get_instructions(part))
        for i, instruction in enumerate(instructions):
            if instruction.opname != "IMPORT_NAME":
                continue
            level = instructions[i - 2].argval if i >= 2 and isinstance(instructions[i - 2].argval, int) else 0
            names = []
            for following in instructions[i + 1:]:
                if following.opname == "IMPORT_FROM":
                    names.append(following.argval)
                elif following.opname not in ("STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF", "COPY",
                                               "SWAP", "POP_TOP"):
                    break
            found.append((level, instruction.argval, tuple(names)))
    return tuple(sorted(set(found)))


def _imported_module(level: int, name: str, fn: types.FunctionType) -> types.ModuleType | None:
    """The module an import inside ``fn`` names (imported now if it was not yet: the function imports it anyway)."""
    try:
        absolute = importlib.util.resolve_name("." * level + name, fn.__globals__.get("__package__")) if level \
            else name
        return importlib.import_module(absolute)
    except (ImportError, ValueError):
        return None


# ----------------------------------------------------------------------------- the describer

class _Describer:
    """One description: remembers what it has described (shared objects and cycles become references)."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient  # a cache_token was given: undescribable values enter by type
        self.paths: dict[int, str] = {}  # id(object) -> the path where it was first described
        self.keep: list[Any] = []  # keeps described objects alive, so that their ids stay theirs
        self.libraries: set[str] = set()  # the libraries met (top-level module names)

    def describe(self, value: Any, path: str, depth: int = 0) -> Any:
        if isinstance(value, _PLAIN):
            return value
        if depth > MAX_DEPTH:
            return self._undescribable(value, path, f"it is nested more than {MAX_DEPTH} levels deep")
        if type(value) in (tuple, frozenset):  # immutable: described where met (a cycle passes a mutable object)
            return self._describe_new(value, path, depth + 1)
        first = self.paths.get(id(value))
        if first is not None:  # described before (a shared object, or a cycle): a reference to it
            return {"same as": first}
        self.paths[id(value)] = path
        self.keep.append(value)
        return self._describe_new(value, path, depth + 1)

    def _describe_new(self, value: Any, path: str, depth: int) -> Any:
        d = self.describe
        if isinstance(value, (bytes, bytearray)):
            return {"bytes": hashlib.sha256(value).hexdigest()}
        if isinstance(value, complex):
            return {"complex": repr(value)}
        if isinstance(value, torch.Tensor):
            return _tensor(value, path)
        if isinstance(value, np.ndarray):
            return self._array(value, path, depth)
        if isinstance(value, np.generic):
            return {"numpy": str(value.dtype), "value": value.tobytes().hex()}
        if isinstance(value, enum.Enum):
            return {"enum": d(type(value), f"{path} -> type", depth), "value": d(value.value, path, depth)}
        if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format, range, slice)):
            return {type(value).__name__: repr(value)}
        if isinstance(value, torch.Size):
            return {"size": list(value)}
        if value is Ellipsis or value is NotImplemented:
            return {"singleton": repr(value)}
        if isinstance(value, types.ModuleType):
            return self._external(value) if is_library_module(value.__name__) else {"module": value.__name__}
        if isinstance(value, random.Random):
            return {"random": _qualified_name(type(value)), "state": d(value.getstate(), f"{path} -> state", depth)}
        if isinstance(value, weakref.ref):
            return {"weakref": d(value(), f"{path} -> referent", depth)}
        if isinstance(value, (tuple, list, dict, types.MappingProxyType, set, frozenset)):
            return self._container(value, path, depth)
        if isinstance(value, functools.partial):
            return {"partial": d(value.func, f"{path} -> func", depth),
                    "args": [d(a, f"{path} -> args[{i}]", depth) for i, a in enumerate(value.args)],
                    "keywords": self._mapping(value.keywords, f"{path} -> keywords", depth)}
        if isinstance(value, (staticmethod, classmethod)):
            return {type(value).__name__: d(value.__func__, path, depth)}
        if isinstance(value, property):
            return {"property": [d(f, f"{path} -> {n}", depth) for n, f in
                                 (("fget", value.fget), ("fset", value.fset), ("fdel", value.fdel))]}
        if isinstance(value, types.MethodType):
            return {"method": d(value.__func__, f"{path} -> function", depth),
                    "self": d(value.__self__, f"{path} -> self", depth)}
        if isinstance(value, types.FunctionType):
            return self._function(value, path, depth)
        if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            owner = value.__self__
            if owner is None or isinstance(owner, (types.ModuleType, type)):
                self.libraries.add(_library_of(value))
                return {"builtin": _qualified_name(value), "library": _library_of(value)}
            return {"builtin": value.__name__, "self": d(owner, f"{path} -> self", depth)}
        if isinstance(value, (types.MethodWrapperType, types.WrapperDescriptorType, types.MethodDescriptorType,
                              types.ClassMethodDescriptorType, types.GetSetDescriptorType,
                              types.MemberDescriptorType)):
            owner = getattr(value, "__objclass__", None) or type(getattr(value, "__self__", None))
            return {"slot": f"{_qualified_name(owner)}.{value.__name__}"}
        if isinstance(value, type):
            return self._class(value, path, depth)
        if hasattr(value, "__wrapped__") and callable(value) and not isinstance(value, torch.nn.Module):
            # functools.lru_cache / cache and other wrappers that name what they wrap
            return {"wraps": d(value.__wrapped__, f"{path} -> __wrapped__", depth),
                    "wrapper": d(type(value), f"{path} -> type", depth)}
        return self._instance(value, path, depth)

    # ----------------------------------------------------------------- kinds of values

    def _external(self, obj: Any) -> dict[str, str]:
        """A library's function, class or module: by qualified name and library (its version is noted in
        ``self.libraries``, for the key's ``versions``)."""
        library = _library_of(obj)
        self.libraries.add(library)
        if isinstance(obj, types.ModuleType):
            return {"module": obj.__name__, "library": library}
        return {"external": _qualified_name(obj), "library": library}

    def _container(self, value: Any, path: str, depth: int) -> Any:
        """Tuples, lists, dicts and sets element by element (sets whatever their order); a subclass (a namedtuple,
        an OrderedDict) also by its class and its own attributes."""
        d = self.describe
        if isinstance(value, (dict, types.MappingProxyType)):
            items: Any = self._mapping(value, path, depth)
        elif isinstance(value, (set, frozenset)):
            elements = [d(v, f"{path} -> an element", depth) for v in value]
            items = {"set": sorted(elements, key=lambda item: stable_hash(item))}
        else:
            elements = [d(v, f"{path}[{i}]", depth) for i, v in enumerate(value)]
            items = {"tuple": elements} if isinstance(value, tuple) else elements
        if type(value) in (tuple, list, dict, types.MappingProxyType, set, frozenset):
            return items
        state = _state(value) or {}
        return {"instance": d(type(value), f"{path} -> type", depth), "items": items,
                "state": self._mapping(state, path, depth)}

    def _mapping(self, mapping: Any, path: str, depth: int) -> dict[str, Any]:
        items = []
        for key, item in mapping.items():
            described_key = self.describe(key, f"{path} -> key {key!r}", depth) if not isinstance(key, str) else key
            items.append((stable_hash(described_key) if not isinstance(key, str) else key, described_key,
                          self.describe(item, f"{path} -> {key}", depth)))
        items.sort(key=lambda item: item[0])
        if all(isinstance(k, str) for _, k, _ in items):
            return {"dict": {k: v for _, k, v in items}}
        return {"dict items": [[k, v] for _, k, v in items]}

    def _array(self, array: np.ndarray, path: str, depth: int) -> Any:
        if array.dtype.hasobject:
            return {"object array": list(array.shape),
                    "items": [self.describe(v, f"{path}[{i}]", depth) for i, v in enumerate(array.ravel().tolist())]}
        return {"array": str(array.dtype), "shape": list(array.shape), "sha256": _sha256(array)}

    def _function(self, fn: types.FunctionType, path: str, depth: int) -> Any:
        if is_library_module(_module_of(fn)):
            return self._external(fn)
        code = fn.__code__
        names, chains = _names_read(code)
        d = self.describe
        used: dict[str, Any] = {}
        for name in sorted(names):
            if name in fn.__globals__:  # builtins are not globals: they drop out (they are Python's)
                used[name] = d(fn.__globals__[name], f"{path} -> globals -> {name}", depth)
        for chain in sorted(chains):
            value = fn.__globals__.get(chain[0])
            for i, attribute in enumerate(chain[1:], start=1):
                if not isinstance(value, types.ModuleType) or is_library_module(value.__name__) \
                        or not hasattr(value, attribute):
                    break  # an attribute of a value (covered by its state) or of a library module (by its version)
                value = getattr(value, attribute)
                dotted = ".".join(chain[:i + 1])
                if dotted not in used:
                    used[dotted] = d(value, f"{path} -> globals -> {dotted}", depth)
        for level, module_name, imported in _imports(code):
            module = _imported_module(level, module_name, fn)
            label = f"import {'.' * level}{module_name}"
            if module is None:
                used[label] = {"not importable": module_name}
                continue
            used[label] = d(module, f"{path} -> {label}", depth)
            if not is_library_module(module.__name__):
                for name in imported:
                    if hasattr(module, name):
                        used[f"{label}.{name}"] = d(getattr(module, name), f"{path} -> {label}.{name}", depth)
        closure = {}
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell: the variable is not assigned yet
                closure[name] = {"unassigned": name}
                continue
            closure[name] = d(contents, f"{path} -> closure -> {name}", depth)
        return {"function": fn.__name__, "code": _code(code, fn.__doc__),
                "defaults": d(fn.__defaults__ or (), f"{path} -> defaults", depth),
                "kwdefaults": d(fn.__kwdefaults__ or {}, f"{path} -> defaults", depth),
                "globals": used, "closure": closure}

    def _class(self, cls: type, path: str, depth: int) -> Any:
        if is_library_module(_module_of(cls)):
            return self._external(cls)
        attributes = {}
        for name, value in sorted(vars(cls).items()):
            if name in _CLASS_BOOKKEEPING or (name.startswith("__") and name.endswith("__") and not callable(value)
                                              and not isinstance(value, (staticmethod, classmethod, property))):
                continue
            attributes[name] = self.describe(value, f"{path}.{name}", depth)
        return {"class": _qualified_name(cls),
                "bases": [self.describe(base, f"{path} -> base {base.__name__}", depth) for base in cls.__bases__],
                "attributes": attributes}

    def _instance(self, value: Any, path: str, depth: int) -> Any:
        state = _state(value)
        if state is None:
            return self._undescribable(value, path, "it shows no state aecore can read (no __dict__ or __slots__)")
        return {"instance": self.describe(type(value), f"{path} -> type", depth),
                "state": self._mapping(state, path, depth)}

    def _undescribable(self, value: Any, path: str, why: str) -> Any:
        if self.lenient:
            return {"undescribed": _qualified_name(type(value))}
        raise UndescribableValueError(
            f"the model cache cannot describe the value at {path} (a {_qualified_name(type(value))}): {why}. "
            "The cache key must change whenever anything the objective uses changes, so aecore cannot tell which "
            "cached model fits this run. Either make the value one it can describe (numbers, strings, tensors, "
            "arrays, lists, dicts, dataclasses, functions, modules...), or name the run yourself with "
            "fit_or_load(..., cache_token=\"<a name>\") and change the token whenever that value changes.")


def _tensor(tensor: torch.Tensor, path: str) -> dict[str, Any]:
    """A tensor by dtype, shape and a SHA-256 of its bytes (sparse and other layouts through their dense form)."""
    t = tensor.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.device.type == "meta":
        return {"tensor": str(t.dtype), "shape": list(t.shape), "meta": True}
    t = t.cpu().contiguous()
    if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2) or t.is_complex():
        raw = t.view(torch.uint8) if t.dtype != torch.bfloat16 else t.view(torch.int16)
    else:
        raw = t
    return {"tensor": str(tensor.dtype), "shape": list(tensor.shape), "sha256": _sha256(raw.numpy())}


def _sha256(array: np.ndarray) -> str:
    """SHA-256 (hex) of an array's bytes in C order, read in place where it is contiguous."""
    data = np.ascontiguousarray(array)
    return hashlib.sha256(data.data.cast("B") if data.size else b"").hexdigest()


def _state(value: Any) -> dict[str, Any] | None:
    """An instance's attributes (``__dict__`` and ``__slots__``), or None for an object with neither
    (a C object whose state Python cannot see)."""
    state: dict[str, Any] = {}
    found = False
    if hasattr(value, "__dict__") and isinstance(vars(value), dict):
        state.update(vars(value))
        found = True
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            found = True
            try:
                state[f"slot {slot}"] = getattr(value, slot)
            except AttributeError:
                state[f"slot {slot}"] = {"unset": slot}
    if not found:
        if dataclasses.is_dataclass(value):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return None
    return state


# ----------------------------------------------------------------------------- files that changed since import

def stale_source_files(fn: Callable) -> list[str]:
    """The source files of ``fn`` and of the functions it reaches whose code on disk no longer matches the code
    in memory (the file was edited after it was imported): the key follows the memory, but a reader of the file
    would expect the file's code. Functions without a file (notebook cells) are skipped."""
    stale: list[str] = []
    seen: set[int] = set()
    _collect_stale(fn, stale, seen, 0)
    return sorted(set(stale))


def _collect_stale(value: Any, stale: list[str], seen: set[int], depth: int) -> None:
    if depth > MAX_DEPTH or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, functools.partial):
        _collect_stale(value.func, stale, seen, depth + 1)
        return
    if isinstance(value, types.MethodType):
        value = value.__func__
    value = getattr(value, "__wrapped__", value)
    if not isinstance(value, types.FunctionType) or is_library_module(_module_of(value)):
        return
    code = value.__code__
    if not _matches_file(code):
        stale.append(code.co_filename)
    names, chains = _names_read(code)
    for name in names:
        target = value.__globals__.get(name)
        if isinstance(target, (types.FunctionType, functools.partial)):
            _collect_stale(target, stale, seen, depth + 1)
    for chain in chains:
        target = value.__globals__.get(chain[0])
        for attribute in chain[1:]:
            if not isinstance(target, types.ModuleType) or is_library_module(target.__name__):
                break
            target = getattr(target, attribute, None)
        if isinstance(target, types.FunctionType):
            _collect_stale(target, stale, seen, depth + 1)


def _matches_file(code: types.CodeType) -> bool:
    """Whether the file ``code`` came from still compiles to a code object with the same instructions, constants
    and names (True where there is no file to compare with)."""
    filename = code.co_filename
    if not os.path.isfile(filename):
        return True
    compiled = _compiled_file(filename, os.stat(filename).st_mtime_ns)
    if compiled is None:
        return False  # the file no longer compiles: it changed
    wanted = (code.co_code, code.co_names, [_constant(c) for c in code.co_consts[1:]])
    return any((c.co_code, c.co_names, [_constant(k) for k in c.co_consts[1:]]) == wanted
               for c in compiled if c.co_name == code.co_name)


@functools.lru_cache(maxsize=64)
def _compiled_file(filename: str, mtime_ns: int) -> list[types.CodeType] | None:
    """Every code object of the file as it is now on disk (None if it does not compile)."""
    linecache.checkcache(filename)
    try:
        with open(filename, "rb") as fh:
            source = fh.read()
        return _code_objects(compile(source, filename, "exec", dont_inherit=True))
    except (OSError, SyntaxError, ValueError):
        return None
