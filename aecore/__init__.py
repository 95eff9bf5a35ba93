"""aecore: autoencoders, noise layers, metrics, data, training and plotting for the lab book.

Typical use in a notebook::

    import aecore
    from aecore import choose, data, models, objectives, train

    train_set = data.load_mnist("train", limit=choose(quick=2000, full=None))
    model = models.MLPAutoencoder(latent_dim=2)
    history = train.fit_or_load("mnist-ae", model, train_set, test_set, train.TrainConfig(epochs=20),
                                loss=objectives.reconstruction_bce)

The labs write their objectives from :mod:`aecore.lessons` (the reference implementations of the
exercises, which :mod:`aecore.checks` checks a student's version against).
"""

from . import config

# Before anything starts torch's worker threads, so that they inherit the setting.
DENORMALS_FLUSHED = config.flush_denormals()

from . import (claims, classifier, data, latent, lessons, metrics, models, noise, objectives, plots, labs, report,
               train, utils, wafer, wafer_synthetic)
from .config import cache_root, choose, data_root, pick_device, profile

__version__ = "0.2.0"

__all__ = [
    "claims", "classifier", "config", "data", "latent", "lessons", "metrics", "models", "noise", "objectives", "plots",
    "labs", "report", "train", "utils",
    "wafer", "wafer_synthetic",
    "cache_root", "choose", "data_root", "pick_device", "profile", "DENORMALS_FLUSHED", "__version__",
]
