"""What identifies a trained model in the cache: the description of its training run, and its key.

:func:`describe_run` gives a plain dict of what a run depends on:

* ``schema``: :data:`CACHE_SCHEMA`, bumped by hand when what a key means changes;
* ``model`` and ``hparams``: the model's class name and constructor arguments;
* ``config``: the ``TrainConfig`` as a dict (the optimisation);
* ``loss``: the objective's name and identity (:func:`aecore.cache.code_identity.function_identity`:
  its code and every value it uses, read from memory);
* ``data``: the fingerprints of the training and validation sets (:func:`data_fingerprint`: their
  contents, hashed at every call, so a set changed in place gets another fingerprint);
* ``versions``: the release numbers of Python, torch, NumPy (and torchvision, when loaded) and of
  every other library the objective, the model or the loop reaches (e.g. ``pytorch_msssim``);
* ``code``: fingerprints of the code that builds and trains the model: the model's class (every
  method, and what they call), its module tree (the layers as built), and aecore's training loop
  (:func:`aecore.train.train` and what it calls), so an edit of aecore that a forgotten
  ``CACHE_SCHEMA`` bump would miss still changes every key it concerns;
* ``token``: the ``cache_token`` given to ``fit_or_load`` (None without one).

The key (:func:`key_of`, 16 hex digits) is a hash of that dict; the model is kept in
``<cache>/models/<name>-<key>.pt`` (:func:`model_file_name`), a file that holds the same dict
(:mod:`aecore.cache.model_files`), so it can be checked against its own contents.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..config import cache_root
from ..utils import stable_hash
from .code_identity import describe_with_libraries, library_version

# Bump on purpose whenever what a key stands for, or the file layout, changes: every cached
# model is then trained (or fetched) again, never loaded under a meaning it did not have.
# Schema 3: the objective is a function passed to fit_or_load and its code is part of the key
# (TrainConfig lost its loss fields).
# Schema 4: the objective is described from the objects in memory; the key holds the library
# versions and the code of the model class and the training loop; files hold the load check.
CACHE_SCHEMA = 4
MODEL_FILE_SUFFIX = ".pt"
# What key_of hashes; "check" only in a run retrained after a failed load check (aecore.cache.load_check).
KEY_FIELDS = ("schema", "model", "hparams", "config", "loss", "data", "versions", "code", "token")
OPTIONAL_KEY_FIELDS = ("check",)


def data_fingerprint(data) -> str:
    """Fingerprint of a :class:`~aecore.datasets.LabelledImages`, from its contents at this moment.

    The images and labels are hashed (SHA-256 of their bytes, dtypes and shapes) at every call, never
    remembered, so a set changed in place (``images.mul_(0.5)``) gets another fingerprint. Sets that
    know their origin (``data.origin``, e.g. the Stanford Dogs photos, keyed on the source files'
    content and the preprocessing settings, the same on every install whatever its JPEG decoder)
    are identified by it, their image shape and their labels, as long as their pixels are the ones
    first seen in this process; changed since, they are identified by their contents.
    """
    pixels = content_digest(data.images)
    labels = content_digest(data.labels)
    origin = getattr(data, "origin", None)
    if origin is not None:
        first_seen = getattr(data, "_origin_pixels", None)
        if first_seen is None:
            data._origin_pixels = first_seen = pixels
        if first_seen == pixels:
            return stable_hash({"origin": origin, "shape": list(data.images.shape), "labels": labels})
    return stable_hash({"images": pixels, "labels": labels})


def content_digest(tensor: torch.Tensor) -> str:
    """SHA-256 (hex) of a tensor's dtype, shape and bytes (about 0.2 s for MNIST's 188 MB of training images on one
    core: ``benchmarks/load_check_cost.py``)."""
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    digest = hashlib.sha256(f"{tuple(t.shape)} {tensor.dtype}".encode())
    if t.numel():
        digest.update(t.numpy().data.cast("B"))
    return digest.hexdigest()


def loss_description(loss, token: str | None = None) -> dict[str, str]:
    """How an objective enters a cache key: its name (for people reading the file) and its identity
    (:func:`aecore.cache.code_identity.function_identity`, what the key depends on; ``token``: the run's
    ``cache_token``, which lets values that cannot be described enter by type)."""
    func = getattr(loss, "func", loss)  # a functools.partial names its function
    func = getattr(func, "__func__", func)  # a bound method names its function
    description, _ = describe_with_libraries(loss, root="loss", token=token)
    return {"name": getattr(func, "__qualname__", type(func).__qualname__), "identity": stable_hash(description)}


def library_versions(libraries: Iterable[str] = ()) -> dict[str, str]:
    """The release numbers of what a run depends on: Python, torch, NumPy, torchvision when loaded, and
    ``libraries`` (top-level module names, e.g. those an objective reaches), as ``{name: "name version"}``."""
    versions = {"python": f"{sys.version_info.major}.{sys.version_info.minor}",
                "torch": library_version("torch"), "numpy": library_version("numpy")}
    if "torchvision" in sys.modules:
        versions["torchvision"] = library_version("torchvision")
    for library in sorted(libraries):
        if library not in sys.stdlib_module_names and library not in sys.builtin_module_names:
            versions.setdefault(library, library_version(library))
    return versions


def code_fingerprints(model) -> dict[str, str]:
    """Fingerprints of the code that builds and trains ``model``: ``model`` (its class: every method and what
    they call), ``architecture`` (its module tree as built: each layer's type and settings) and ``loop``
    (:data:`aecore.train.TRAINING_LOOP`, i.e. :func:`aecore.train.train`, and what it calls)."""
    return _code_and_libraries(model)[0]


def _code_and_libraries(model) -> tuple[dict[str, str], set[str]]:
    """:func:`code_fingerprints` and the libraries that code reaches."""
    from .. import train as training  # the training loop imports this module

    model_code, model_libraries = describe_with_libraries(type(model), root=type(model).__name__)
    loop_code, loop_libraries = describe_with_libraries(training.TRAINING_LOOP, root="aecore.train.train")
    layers = [[name, f"{type(m).__module__}.{type(m).__qualname__}", m.extra_repr()]
              for name, m in model.named_modules()]
    shapes = [[name, list(t.shape), str(t.dtype)] for name, t in
              list(model.named_parameters()) + list(model.named_buffers())]
    code = {"model": stable_hash(model_code), "architecture": stable_hash({"layers": layers, "tensors": shapes}),
            "loop": stable_hash(loop_code)}
    return code, model_libraries | loop_libraries


def describe_run(model, train_data, val_data, config, loss, token: str | None = None) -> dict[str, Any]:
    """What identifies a training run (see the module docstring): schema, model class and hparams, config (as a
    dict), the objective (:func:`loss_description`), the data fingerprints, library versions, the fingerprints
    of the model's and the training loop's code, and ``token`` (``fit_or_load``'s ``cache_token``)."""
    hparams = getattr(model, "hparams", None)
    if hparams is None:
        why = getattr(model, "hparams_problem", "it has no hparams")
        raise ValueError(f"{type(model).__name__} cannot be cached: {why}. Cache models built by an aecore.models "
                         "class from numbers (e.g. MLPAutoencoder(latent_dim=2)), or train it with aecore.train.train.")
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError(f"cache_token must be a non-empty string naming the run, got {token!r}")
    func = getattr(loss, "func", loss)  # a functools.partial names its function
    func = getattr(func, "__func__", func)  # a bound method names its function
    objective, objective_libraries = describe_with_libraries(loss, root="loss", token=token)
    code, code_libraries = _code_and_libraries(model)
    return {
        "schema": CACHE_SCHEMA, "model": type(model).__name__, "hparams": dict(hparams), "config": asdict(config),
        "loss": {"name": getattr(func, "__qualname__", type(func).__qualname__), "identity": stable_hash(objective)},
        "data": {"train": data_fingerprint(train_data),
                 "val": None if val_data is None else data_fingerprint(val_data)},
        "versions": library_versions(objective_libraries | code_libraries), "code": code, "token": token,
    }


def key_of(run: dict[str, Any]) -> str:
    """The cache key (16 hex digits) of a :func:`describe_run` dict (with ``check`` where it has one)."""
    fields = {k: run[k] for k in KEY_FIELDS}
    fields.update({k: run[k] for k in OPTIONAL_KEY_FIELDS if run.get(k) is not None})
    return stable_hash(fields)


def cache_key(model, train_data, val_data, config, loss, token: str | None = None) -> str:
    """The key of a run (:func:`key_of` of :func:`describe_run`)."""
    return key_of(describe_run(model, train_data, val_data, config, loss, token))


def models_dir(cache: Path | str | None = None) -> Path:
    """The folder of cached model files, ``<cache>/models`` (``cache``: by default :func:`aecore.config.cache_root`)."""
    return Path(cache if cache is not None else cache_root()) / "models"


def model_file_name(name: str, key: str) -> str:
    """``<name>-<key>.pt``: the file name of a cached model."""
    return f"{name}-{key}{MODEL_FILE_SUFFIX}"


