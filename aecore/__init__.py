"""aecore: autoencoders, noise layers, metrics, data, training and plotting for the lab book.

Typical use in a notebook::

    import aecore
    from aecore import choose, datasets, models, objectives, train

    train_set = datasets.load_mnist("train", limit=choose(quick=2000, full=None))
    model = models.MLPAutoencoder(latent_dim=2)
    history = train.fit_or_load("mnist-ae", model, train_set, test_set, train.TrainConfig(epochs=20),
                                loss=objectives.reconstruction_bce)

The package in layers (each a module or subpackage, imported when first used, not all at once):

* the ML core: ``models``, ``noise``, ``metrics``, ``classifier``, ``objectives``, ``train``, ``latent``,
  ``plots``, ``config``, ``utils``;
* ``datasets``: one module per data set (MNIST, Stanford Dogs, wafer maps);
* ``cache``: the model cache (keys, model files, the weights archive);
* ``labs``: one module per lab (its settings, networks, training and cache names) and ``LABS``;
* ``exercises``: one module per lab (each exercise's reference, named mistakes and check);
* ``book``: the book's layer (reporting, claims, the notebook format, the student edition).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__version__ = "0.2.0"

# The subpackages and modules ``aecore.<name>`` gives on first use (PEP 562), so ``import aecore`` stays light.
SUBMODULES = ("book", "cache", "classifier", "config", "datasets", "exercises", "labs", "latent", "lessons", "metrics",
              "models", "noise", "objectives", "plots", "train", "utils")
# aecore.config's helpers, also offered as ``aecore.<name>`` (config imports torch: only on first use).
CONFIG_NAMES = ("cache_root", "choose", "data_root", "pick_device", "profile")

__all__ = [*SUBMODULES, *CONFIG_NAMES, "DENORMALS_FLUSHED", "__version__"]

_DENORMALS: list[bool] = []  # whether the CPU flushes subnormal floats to zero, once asked to (_flush)


class _FlushDenormalsWhenTorchLoads(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``torch`` is first imported, it hands the import to the other finders and has
    torch's loader call :func:`_flush` right after torch's module has run, so before any computation starts
    torch's worker threads."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            _flush(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _flush(torch: ModuleType) -> None:
    """Make the CPU treat subnormal floats (|x| < 1.2e-38) as zero (once; :data:`_DENORMALS` says whether it can).

    Training with BCE pushes background logits towards -inf, so gradients become subnormal numbers, which x86 CPUs
    process up to ~100x slower: without this, an MNIST autoencoder's epochs slow down 4-5x as training goes on.
    Threads created afterwards inherit the setting, so it must come before torch starts its worker threads.
    Results change only below 1.2e-38."""
    if not _DENORMALS:
        _DENORMALS.append(bool(torch.set_flush_denormal(True)))


# Subnormal floats flushed to zero before anything starts torch's worker threads: now if torch is imported, else
# the moment it is. A process that imports aecore but never torch (the book's Sphinx build and its notebook
# executor) does not pay the 2 s of importing torch.
if "torch" in sys.modules:
    _flush(sys.modules["torch"])
elif not any(isinstance(finder, _FlushDenormalsWhenTorchLoads) for finder in sys.meta_path):
    sys.meta_path.insert(0, _FlushDenormalsWhenTorchLoads())


def __getattr__(name: str) -> Any:
    """``aecore.<submodule>`` imported on first use, aecore.config's helpers, and ``DENORMALS_FLUSHED`` (whether
    the CPU flushes subnormal floats to zero; imports torch); anything else is an AttributeError."""
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in CONFIG_NAMES:
        return getattr(importlib.import_module(".config", __name__), name)
    if name == "DENORMALS_FLUSHED":
        import torch

        _flush(torch)
        return _DENORMALS[0]
    raise AttributeError(f"module 'aecore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBMODULES))
