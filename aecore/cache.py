"""The model cache: what identifies a trained model (its key) and the self-describing file it is kept in.

A cache file ``<cache>/models/<name>-<key>.pt`` is a plain dict of tensors, numbers and
strings, read with ``torch.load(weights_only=True)`` (never unpickled):

* ``schema``: :data:`CACHE_SCHEMA`; ``name``, ``key``;
* ``model``: the class name; ``hparams``: its constructor arguments (rebuild it with
  :func:`aecore.models.build_model`);
* ``config``: the ``TrainConfig`` as a dict; ``loss``: the objective's name and code identity
  (:func:`aecore.code_identity.function_identity`); ``data``: the fingerprints of the training
  and validation sets (:func:`data_fingerprint`);
* ``state_dict`` (CPU tensors), ``history`` (per-epoch losses, seconds, device) and
  ``versions`` (aecore, torch) and ``created`` (UTC, ISO 8601).

The key is a hash of ``schema``, ``model``, ``hparams``, ``config``, ``loss`` and ``data``, so a
file can be checked against its own contents without the notebook that made it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .config import cache_root
from .code_identity import function_identity
from .utils import atomic_path, stable_hash, tensor_fingerprint

# Bump on purpose whenever what a key stands for, or the file layout, changes: every cached
# model is then trained (or fetched) again, never loaded under a meaning it did not have.
# Schema 3: the objective is a function passed to fit_or_load and its code is part of the key
# (TrainConfig lost its loss fields).
CACHE_SCHEMA = 3
MODEL_FILE_SUFFIX = ".pt"


class CacheFileError(ValueError):
    """A cache file that cannot be used: unreadable, of another schema, or not matching its key."""


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
        data._fingerprint = cached  # type: ignore[attr-defined]
    return cached


def loss_description(loss) -> dict[str, str]:
    """How an objective enters a cache key: its name (for people reading the file) and its code
    identity (:func:`aecore.code_identity.function_identity`, what the key depends on)."""
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


def save_model_file(path: Path, name: str, run: dict[str, Any], model: torch.nn.Module, history: dict) -> None:
    """Write a self-describing cache file atomically (see the module docstring)."""
    from . import __version__ as aecore_version

    blob = dict(run, name=name, key=key_of(run),
                state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                history=history, versions={"aecore": str(aecore_version), "torch": str(torch.__version__)},
                created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def read_model_file(path: Path, expected_key: str | None = None) -> dict[str, Any]:
    """Read and check a cache file (``weights_only``); return its dict.

    Raises :class:`CacheFileError` naming the problem when the file cannot be read, is of
    another schema, its key does not match its contents, or (with ``expected_key``) it holds
    another key.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CacheFileError(f"{path.name} cannot be read ({type(err).__name__}: {err})") from err
    if not isinstance(blob, dict) or blob.get("schema") != CACHE_SCHEMA:
        schema = blob.get("schema", "none (written before aecore 0.1's schema 2)") if isinstance(blob, dict) else "none"
        if schema in (1, 2):
            schema = f"{schema} (its objective was a TrainConfig field, before losses were functions)"
        raise CacheFileError(f"{path.name} has cache schema {schema}, this aecore reads schema {CACHE_SCHEMA}")
    missing = [k for k in ("name", "key", "model", "hparams", "config", "loss", "data", "state_dict", "history")
               if k not in blob]
    if missing:
        raise CacheFileError(f"{path.name} lacks {', '.join(missing)}")
    if key_of(blob) != blob["key"]:
        raise CacheFileError(f"{path.name}: its key {blob['key']} does not match its contents ({key_of(blob)})")
    if expected_key is not None and blob["key"] != expected_key:
        raise CacheFileError(f"{path.name} holds key {blob['key']}, expected {expected_key}")
    return blob


def summarize(path: Path, blob: dict[str, Any]) -> dict[str, Any]:
    """One line's worth of a cache file: name, model, key, size (bytes), training seconds, device, epochs."""
    config, history = blob["config"], blob["history"]
    return {"name": blob["name"], "model": blob["model"], "key": blob["key"], "bytes": path.stat().st_size,
            "seconds": float(history.get("seconds", 0.0)), "device": history.get("device", "?"),
            "epochs": config.get("epochs"), "loss": blob.get("loss", {}).get("name"), "file": path.name}
