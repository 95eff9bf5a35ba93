"""The grading sandbox: a process that runs a submission's code (a grading kernel, or the clean re-check of
its functions) with operating-system limits and an audit hook. Standalone: it imports only the standard
library before it has set itself up, and is run as a script copied out of the checkout with a last line
``main(sys.argv[1:])`` added (:func:`aecore.grading.sandbox.install_script`; ``python -I aecore_sandbox.py
CONFIG.json kernel|confirm [kernel arguments]``), so that nothing of the instructor's checkout is on its
``sys.path``.

What it does, in order (CONFIG is written by :mod:`aecore.grading.sandbox`):

1. limits (``resource.setrlimit``): address space (``RLIMIT_AS``), CPU seconds (``RLIMIT_CPU``), the size of a
   file it writes (``RLIMIT_FSIZE``) and core dumps (none);
2. imports: the editable install of the instructor's ``aecore`` is taken off ``sys.meta_path`` and
   ``sys.path_hooks``, and the grading build (the student package with its hidden cases) goes first on
   ``sys.path``; bytecode is not written;
3. the environment is replaced by CONFIG's (no ``PYTHONPATH``, ``HOME`` and ``TMPDIR`` in its own folder) and
   the working directory is its own folder;
4. after the modules a lab needs are imported, an audit hook (``sys.addaudithook``; it cannot be removed)
   refuses, with PermissionError: writing, renaming or deleting outside its folder; reading the folders it is
   told to keep out of (the instructor's checkout, the other submissions); starting processes, sending
   signals, opening sockets and SQLite databases, and loading native code through ctypes. Each refusal is
   written to the violations log (a file it cannot otherwise reach) with the number of the cell running.

``kernel`` then starts an IPython kernel (ipykernel) on the connection file given. ``confirm`` runs the
grading-setup cells, then only the *definitions* of the submission's solution cells (imports, functions,
classes, assignments to names), then each test cell, and records per test whether it passed; it checks that
nothing of torch, aecore or the standard modules that the checks use was changed (before the tests, after
each call of the student's functions, after each test) and that the student's functions return plain values
(no tensor subclass). Results go to CONFIG's result file.
"""

from __future__ import annotations

import json
import os
import resource
import sys

_DENY_ALWAYS = {
    "subprocess.Popen": "start a process", "os.system": "start a process", "os.exec": "start a process",
    "os.posix_spawn": "start a process", "os.spawn": "start a process", "os.fork": "start a process",
    "os.forkpty": "start a process", "pty.spawn": "start a process", "os.startfile": "start a process",
    "os.kill": "send a signal", "os.killpg": "send a signal", "signal.pthread_kill": "send a signal",
    "socket.connect": "use the network", "socket.bind": "use the network", "socket.sendto": "use the network",
    "socket.sendmsg": "use the network", "socket.getaddrinfo": "use the network",
    "sqlite3.connect": "open a database", "ctypes.dlopen": "load native code", "ctypes.dlsym": "load native code",
    "ctypes.call_function": "call native code", "sys.settrace": "trace the grader", "sys.setprofile":
    "trace the grader", "gc.get_referrers": "inspect the grader's memory", "gc.get_objects":
    "inspect the grader's memory", "sys._current_frames": "inspect the grader's memory",
}
"""Audit events refused once the sandbox is set up, with what the submission tried to do."""

_PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.replace": (0, 1),
    "os.symlink": (0, 1), "os.link": (0, 1), "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,),
    "os.utime": (0,), "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.move": (0, 1),
}
"""Audit events that change a path: the positions of their path arguments (all must lie in the folder)."""

_LIST_EVENTS = ("os.listdir", "os.scandir", "glob.glob")


class Tampered(BaseException):
    """The submission changed the grader (a check, torch, a standard module): not an Exception, so that no check
    turns it into an ordinary mistake."""


def _limit(limits: dict) -> None:
    """Apply the resource limits (bytes, seconds); a limit the system refuses to lower is left as it is."""
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_CPU", "cpu_seconds"), ("RLIMIT_FSIZE", "file_bytes"),
                      ("RLIMIT_CORE", "core_bytes")):
        value = limits.get(key)
        which = getattr(resource, name, None)
        if value is None or which is None:
            continue
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(int(value), hard)
        # CPU: SIGXCPU at the soft limit, then SIGKILL 5 s later (a kernel that ignores SIGXCPU still stops)
        top = value + 5 if name == "RLIMIT_CPU" else value
        if hard != resource.RLIM_INFINITY:
            top = min(top, hard)
        try:
            resource.setrlimit(which, (int(value), int(top)))
        except (ValueError, OSError):
            pass


def _clean_imports(package: str) -> None:
    """Take the editable install of the instructor's checkout off the import system; put ``package`` first."""
    sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]
    sys.path_hooks[:] = [h for h in sys.path_hooks
                         if not str(getattr(h, "__module__", "") or getattr(getattr(h, "__self__", None), "__module__",
                                                                            "")).startswith("__editable__")]
    for name in [n for n in sys.modules if n.startswith("__editable__") or n == "aecore" or n.startswith("aecore.")]:
        del sys.modules[name]
    sys.path[:] = [package] + [p for p in sys.path if p and "__editable__" not in p]
    sys.path_importer_cache.clear()
    sys.dont_write_bytecode = True


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


class Guard:
    """The audit hook: refuses what :data:`_DENY_ALWAYS` lists, writes outside ``folder`` and reads of ``hidden``
    folders (except those ``readable``), and logs each refusal to ``log_fd`` with the current ``cell``."""

    def __init__(self, folder: str, hidden: list[str], readable: list[str], log_fd: int):
        self.writable = [os.path.realpath(folder), "/dev/null"]
        self.hidden = [os.path.realpath(p) for p in hidden]
        self.readable = [os.path.realpath(p) for p in readable] + self.writable
        self.log_fd = log_fd
        self.cell: object = None
        self.active = False

    def refuse(self, what: str, detail: str) -> None:
        record = json.dumps({"cell": self.cell, "what": what, "detail": detail}) + "\n"
        try:
            os.write(self.log_fd, record.encode())
        except OSError:
            pass
        raise PermissionError(f"the grading sandbox does not let a submission {what}: {detail}")

    @staticmethod
    def _path(value: object) -> str | None:
        if isinstance(value, int) or value is None:
            return None
        try:
            raw = os.fsdecode(os.fspath(value))  # type: ignore[call-overload]
        except TypeError:
            return None
        return os.path.realpath(raw)

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path = self._path(args[0])
            if path is None:
                return
            mode, flags = args[1] or "", args[2] or 0
            writing = any(c in str(mode) for c in "wax+") or bool(
                flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if writing and not _under(path, self.writable):
                self.refuse("write outside its folder", path)
            if not writing and _under(path, self.hidden) and not _under(path, self.readable):
                self.refuse("read the grader's files", path)
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                path = self._path(args[i]) if i < len(args) else None
                if path is not None and not _under(path, self.writable):
                    self.refuse("change files outside its folder", f"{event} {path}")
        elif event in _LIST_EVENTS:
            path = self._path(args[0] if args else ".")
            if path is not None and _under(path, self.hidden) and not _under(path, self.readable):
                self.refuse("read the grader's files", path)
        elif event in _DENY_ALWAYS:
            self.refuse(_DENY_ALWAYS[event], event)


def _exit_with_parent() -> None:
    """Exit when the process that started this one is gone (a grading worker killed at its time limit)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="sandbox-watchdog").start()


def _setup(config: dict, log_fd: int) -> Guard:
    _exit_with_parent()
    _limit(config["limits"])
    _clean_imports(config["package"])
    parent = {k: v for k, v in os.environ.items() if k.startswith("JPY_")}   # the kernel's manager (no banner)
    os.environ.clear()
    os.environ.update(config["env"], **parent)
    os.chdir(config["folder"])
    for name in config.get("preload", []):
        try:
            __import__(name)
        except ImportError:
            pass
    guard = Guard(config["folder"], config["hidden"], config["readable"], log_fd)
    sys.addaudithook(guard)
    return guard


def _kernel(config: dict, guard: Guard, argv: list[str]) -> None:
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)
    shell = app.shell
    assert shell is not None

    def count_cell(info: object) -> None:
        guard.cell = shell.execution_count   # the execution count the cell will get (nbclient keeps history)

    shell.events.register("pre_run_cell", count_cell)
    guard.active = True
    app.start()


# ----------------------------------------------------------------------------- the clean re-check

_WATCHED_PREFIXES = ("torch", "aecore", "numpy")
_WATCHED = ("builtins", "math", "functools", "inspect", "copy", "operator", "numbers", "contextlib")


def _watched_modules() -> dict[str, object]:
    return {name: module for name, module in list(sys.modules.items())
            if module is not None and (name in _WATCHED or name.split(".")[0] in _WATCHED_PREFIXES)}


def _behaviour(value: object) -> bool:
    """Whether an attribute is behaviour (a function, class, module or descriptor) rather than data such as a
    counter or a cache, which torch and the standard library change as they run."""
    return callable(value) or isinstance(value, type(sys)) or hasattr(type(value), "__get__")


def _snapshot() -> dict[str, dict[str, int]]:
    """Identity of the attributes of the watched modules and of the classes they define: every attribute of
    aecore's (its tolerances are data), the behaviour of the others'."""
    snap: dict[str, dict[str, int]] = {}
    for name, module in _watched_modules().items():
        space = getattr(module, "__dict__", {})
        every = name.split(".")[0] == "aecore"
        snap[name] = {k: id(v) for k, v in list(space.items()) if every or _behaviour(v)}
        for key, value in list(space.items()):
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                snap[f"{name}.{key}"] = {k: id(v) for k, v in list(vars(value).items()) if every or _behaviour(v)}
    snap["<sys>"] = {"trace": id(sys.gettrace()), "profile": id(sys.getprofile())}
    return snap


def _changes(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> list[str]:
    changed = []
    for space, names in before.items():
        now = after.get(space, {})
        for key, ident in names.items():
            if now.get(key) != ident:
                changed.append(f"{space}.{key}")
    for space, names in after.items():
        if space in before:
            # a new attribute counts, except a submodule imported on first use and Python's own caches
            added = [key for key in names if key not in before[space] and not key.startswith("__")
                     and not _is_module(space, key)]
            changed += [f"{space}.{key}" for key in added]
    return changed


def _is_module(space: str, key: str) -> bool:
    module = sys.modules.get(space)
    return isinstance(getattr(module, key, None), type(sys)) if module is not None else False


def _plain(value: object, torch: object) -> bool:
    """Whether a returned value is made of plain types only (no subclass that could fool a comparison)."""
    tensor, parameter = torch.Tensor, torch.nn.Parameter  # type: ignore[attr-defined]
    if isinstance(value, (list, tuple)):
        return type(value) in (list, tuple, torch.Size) and all(_plain(v, torch) for v in value)  # type: ignore[attr-defined]
    if isinstance(value, tensor):
        return type(value) in (tensor, parameter)
    if type(value).__module__ == "numpy":
        return True
    if isinstance(value, (int, float, complex, str, bytes)):
        return type(value) in (int, float, complex, str, bytes, bool)
    return True


def _confirm(config: dict, guard: Guard, result_fd: int) -> None:
    import ast
    import types

    import torch

    namespace: dict[str, object] = {"__name__": "__main__"}
    outcome: dict[str, dict] = {}
    for source in config["setup"]:
        exec(compile(source, "<grading-setup>", "exec"), namespace)
    before = _snapshot()
    guard.active = True
    definitions_failed = {}
    for cell in config["definitions"]:
        guard.cell = cell["grade_id"]
        try:
            exec(compile(ast.parse(cell["source"]), f"<{cell['grade_id']}>", "exec"), namespace)
        except BaseException as err:
            definitions_failed[cell["grade_id"]] = f"{type(err).__name__}: {err}"
    tampered_at_definition = _changes(before, _snapshot())
    user_functions = {k: v for k, v in namespace.items() if isinstance(v, types.FunctionType)
                      and getattr(v, "__module__", None) == "__main__" and k in config["functions"]}

    def guarded(name: str, fn: types.FunctionType) -> object:
        def call(*args: object, **kwargs: object) -> object:
            value = fn(*args, **kwargs)
            changed = _changes(before, _snapshot())
            if changed:
                raise Tampered(f"calling {name} changed {', '.join(changed[:3])}")
            if not _plain(value, torch):
                raise Tampered(f"{name} returned a {type(value).__name__}, not a plain value")
            return value
        call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        call.__signature__ = __import__("inspect").signature(fn)  # type: ignore[attr-defined]
        return call

    for test in config["tests"]:
        gid = test["grade_id"]
        guard.cell = gid
        if tampered_at_definition:
            outcome[gid] = {"status": "tampered", "detail": "the solution cells change "
                            + ", ".join(tampered_at_definition[:3])}
            continue
        namespace.update({k: guarded(k, v) for k, v in user_functions.items()})
        try:
            exec(compile(test["source"], f"<{gid}>", "exec"), namespace)
            changed = _changes(before, _snapshot())
            outcome[gid] = ({"status": "tampered", "detail": "changed " + ", ".join(changed[:3])} if changed
                            else {"status": "passed", "detail": ""})
        except Tampered as err:
            outcome[gid] = {"status": "tampered", "detail": str(err)}
        except BaseException as err:
            outcome[gid] = {"status": "failed", "detail": f"{type(err).__name__}: {err}"}
        finally:
            namespace.update(user_functions)
    os.write(result_fd, json.dumps({"tests": outcome, "definitions_failed": definitions_failed}).encode())


def main(argv: list[str]) -> None:
    """``argv``: [CONFIG.json, "kernel" | "confirm", kernel arguments...]."""
    with open(argv[0]) as fh:
        config = json.load(fh)
    log_fd = os.open(config["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    result_fd = (os.open(config["result"], os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
                 if argv[1] == "confirm" else -1)
    guard = _setup(config, log_fd)
    if argv[1] == "kernel":
        _kernel(config, guard, argv[2:])
    else:
        _confirm(config, guard, result_fd)

