"""What identifies a trained model in the cache: the description of its training run, and its key.

:func:`describe_run` gives a plain dict of what a run depends on: the cache schema, the
model class and its hyper-parameters, the ``TrainConfig`` (as a dict), the objective (its
name and code identity, :func:`aecore.cache.code_identity.function_identity`) and the
fingerprints of the training and validation sets (:func:`data_fingerprint`). The key
(:func:`key_of`, 16 hex digits) is a hash of that dict; the model is kept in
``<cache>/models/<name>-<key>.pt`` (:func:`model_file_name`), a file that holds the same
dict (:mod:`aecore.cache.model_files`), so it can be checked against its own contents.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import cache_root
from ..utils import stable_hash, tensor_fingerprint
from .code_identity import function_identity

# Bump on purpose whenever what a key stands for, or the file layout, changes: every cached
# model is then trained (or fetched) again, never loaded under a meaning it did not have.
# Schema 3: the objective is a function passed to fit_or_load and its code is part of the key
# (TrainConfig lost its loss fields).
CACHE_SCHEMA = 3
MODEL_FILE_SUFFIX = ".pt"


def data_fingerprint(data) -> str:
    """Fingerprint of a :class:`~aecore.datasets.LabelledImages` (memoised on the object).

    Sets that know their origin (``data.origin``, e.g. the Stanford Dogs photos, keyed on the
    source files' content and the preprocessing settings) are identified by it, their image
    shape and their labels; others by the bytes of their images and labels.
    """
    cached = getattr(data, "_fingerprint", None)
    if cached is None:
        origin = getattr(data, "origin", None)
        if origin is not None:
            cached = stable_hash({"origin": origin, "shape": list(data.images.shape),
                                  "labels": tensor_fingerprint(data.labels)})
        else:
            cached = tensor_fingerprint(data.images, data.labels)
        data._fingerprint = cached
    return cached


def loss_description(loss) -> dict[str, str]:
    """How an objective enters a cache key: its name (for people reading the file) and its code
    identity (:func:`aecore.cache.code_identity.function_identity`, what the key depends on)."""
    func = getattr(loss, "func", loss)  # a functools.partial names its function
    return {"name": getattr(func, "__qualname__", type(func).__qualname__), "identity": function_identity(loss)}


def describe_run(model, train_data, val_data, config, loss) -> dict[str, Any]:
    """What identifies a training run: schema, model class and hparams, config (as a dict), the
    objective (:func:`loss_description`) and the data fingerprints."""
    hparams = getattr(model, "hparams", None)
    if hparams is None:
        why = getattr(model, "hparams_problem", "it has no hparams")
        raise ValueError(f"{type(model).__name__} cannot be cached: {why}. Cache models built by an aecore.models "
                         "class from numbers (e.g. MLPAutoencoder(latent_dim=2)), or train it with aecore.train.train.")
    return {
        "schema": CACHE_SCHEMA, "model": type(model).__name__, "hparams": dict(hparams), "config": asdict(config),
        "loss": loss_description(loss),
        "data": {"train": data_fingerprint(train_data),
                 "val": None if val_data is None else data_fingerprint(val_data)},
    }


def key_of(run: dict[str, Any]) -> str:
    """The cache key (16 hex digits) of a :func:`describe_run` dict."""
    return stable_hash({k: run[k] for k in ("schema", "model", "hparams", "config", "loss", "data")})


def cache_key(model, train_data, val_data, config, loss) -> str:
    """Hash of the cache schema, model class + hyper-parameters, training config, objective and data fingerprints."""
    return key_of(describe_run(model, train_data, val_data, config, loss))


def models_dir(cache: Path | str | None = None) -> Path:
    """The folder of cached model files, ``<cache>/models`` (``cache``: by default :func:`aecore.config.cache_root`)."""
    return Path(cache if cache is not None else cache_root()) / "models"


def model_file_name(name: str, key: str) -> str:
    """``<name>-<key>.pt``: the file name of a cached model."""
    return f"{name}-{key}{MODEL_FILE_SUFFIX}"


