"""Setting up the grading sandbox (:mod:`aecore.grading.sandbox_main`) for one submission: its limits, the
folders it may write and read, its environment, and the Jupyter kernel spec that starts a grading kernel in it.

The sandbox script is copied out of the checkout (:func:`install_script`) and run with ``python -I``, so the
kernel's ``sys.path`` holds the grading build and the installed libraries, never the instructor's checkout.
"""

from __future__ import annotations

import json
import os
import site
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import config

KERNEL_NAME = "aecore-grading"
"""The Jupyter kernel name of a grading kernel (its spec lies in the submission's own Jupyter path)."""

PRELOAD = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "matplotlib.pyplot", "PIL.Image",
           "ipykernel.kernelapp", "IPython.display", "myst_nb", "aecore", "aecore.exercises", "aecore.labs",
           "aecore.train", "aecore.plots", "aecore.book.report")
"""Modules a sandbox imports before its audit hook is on: some load native code through ctypes on import (torchvision's
operators), which the hook refuses afterwards. One that does not exist (in a smaller build) is skipped."""

GiB = 2 ** 30


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``memory_bytes``: address space of each of its processes (RLIMIT_AS; a
    kernel with torch, torchvision, matplotlib and aecore imported maps about 3.5 GiB, 0.8 GiB of it resident);
    ``cpu_seconds``: CPU time of each process (RLIMIT_CPU); ``file_bytes``: the largest file it may write
    (RLIMIT_FSIZE); ``cell_seconds``: nbgrader's per-cell timeout; ``submission_seconds``: the wall time of the
    whole grading of one submission, after which its processes are killed."""
    memory_bytes: int = 6 * GiB
    cpu_seconds: int = 600
    file_bytes: int = 64 * 2 ** 20
    core_bytes: int = 0
    cell_seconds: int = 60
    submission_seconds: int = 900


def install_script(run_dir: Path) -> Path:
    """Write the sandbox script, :mod:`aecore.grading.sandbox_main` with a last line that runs its ``main``, into
    ``run_dir/bin`` (outside the checkout); return its path."""
    target = run_dir / "bin" / "aecore_sandbox.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).with_name("sandbox_main.py").read_text(encoding="utf-8")
    target.write_text(source + "\n\nmain(sys.argv[1:])\n", encoding="utf-8")
    return target


def instructor_folders() -> list[Path]:
    """The folders that hold the references and the solution notebooks: the checkout this aecore comes from,
    and the checkout an editable install of aecore points to (if another)."""
    folders = {config.REPO_ROOT.resolve()}
    for path in map(Path, sys.path):
        for finder in path.glob("__editable___aecore_*_finder.py") if path.is_dir() else ():
            text = finder.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                if line.startswith("MAPPING"):
                    for value in json.loads(line.split("=", 1)[1].strip().replace("'", '"')).values():
                        folders.add(Path(value).resolve().parent)
    return sorted(folders)


def library_folders() -> list[Path]:
    """The folders of the Python installation and its libraries (readable by a submission)."""
    places = {sys.prefix, sys.base_prefix, *site.getsitepackages()}
    return sorted({Path(p).resolve() for p in places})


def clean_env(folder: Path, cache: Path) -> dict[str, str]:
    """The whole environment of a sandboxed process: no PYTHONPATH, HOME and temporary files in ``folder``,
    aecore's data where the instructor's is, its cache in ``cache``, one thread, Agg plots."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "TMPDIR": str(folder),
           "LANG": os.environ.get("LANG", "C.UTF-8"), "AECORE_DATA": str(config.data_root()),
           "AECORE_CACHE": str(cache), "AECORE_PROFILE": config.profile(), "AECORE_DEVICE": "cpu",
           "AECORE_SEED": str(config.seed()), "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(folder / ".matplotlib"),
           "IPYTHONDIR": str(folder / ".ipython"), "XDG_CACHE_HOME": str(folder / ".cache"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    return env


@dataclass(frozen=True)
class Sandbox:
    """One sandboxed process's settings: ``folder`` (working directory, the only place it writes), ``package``
    (the grading build, first on sys.path), ``hidden`` (folders it may not read), ``readable`` (exceptions to
    them), ``cache`` (its aecore cache), ``log`` (where refusals are logged) and ``limits``."""
    script: Path
    folder: Path
    package: Path
    hidden: tuple[Path, ...]
    readable: tuple[Path, ...]
    cache: Path
    log: Path
    limits: Limits

    def config(self, **extra: Any) -> dict[str, Any]:
        """The JSON-able configuration the sandbox script reads."""
        return {"folder": str(self.folder), "package": str(self.package), "hidden": [str(p) for p in self.hidden],
                "readable": [str(p) for p in self.readable], "env": clean_env(self.folder, self.cache),
                "log": str(self.log), "limits": asdict(self.limits), "preload": list(PRELOAD), **extra}

    def command(self, config_path: Path, mode: str) -> list[str]:
        """The command line that runs the sandbox script in ``mode`` ("kernel" or "confirm") with ``config_path``."""
        return [sys.executable, "-I", str(self.script), str(config_path), mode]

    def write_kernel_spec(self, jupyter_dir: Path) -> Path:
        """Write ``jupyter_dir/kernels/aecore-grading/kernel.json`` (put ``jupyter_dir`` on JUPYTER_PATH) and the
        kernel's configuration beside it; return the spec's folder."""
        spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True, exist_ok=True)
        config_path = spec_dir / "sandbox.json"
        config_path.write_text(json.dumps(self.config(), indent=1))
        spec = {"argv": [*self.command(config_path, "kernel"), "-f", "{connection_file}"],
                "display_name": "aecore grading sandbox", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        return spec_dir


def mirror_cache(warm: Path, cache: Path) -> None:
    """Make ``cache`` a tree of symbolic links to the files of ``warm`` (the data a lab's setup cells loaded once),
    so that each submission reads them without a copy and cannot change them (writes land in its own folder)."""
    for path in warm.rglob("*"):
        target = cache / path.relative_to(warm)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
