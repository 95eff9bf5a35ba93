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
from typing import Any

from . import config

# Before anything starts torch's worker threads, so that they inherit the setting.
DENORMALS_FLUSHED = config.flush_denormals()

from .config import cache_root, choose, data_root, pick_device, profile  # noqa: E402  (after the denormals)

__version__ = "0.2.0"

# The subpackages and modules ``aecore.<name>`` gives on first use (PEP 562), so ``import aecore`` stays light.
SUBMODULES = ("book", "cache", "classifier", "config", "datasets", "exercises", "labs", "latent", "lessons", "metrics",
              "models", "noise", "objectives", "plots", "train", "utils")

__all__ = [*SUBMODULES, "cache_root", "choose", "data_root", "pick_device", "profile", "DENORMALS_FLUSHED",
           "__version__"]


def __getattr__(name: str) -> Any:
    """``aecore.<submodule>`` imported on first use; anything else is an AttributeError."""
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'aecore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBMODULES))
