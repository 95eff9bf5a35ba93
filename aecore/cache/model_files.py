"""The cache's model files: the self-describing file format, and the inventory of a models folder.

A cache file ``<cache>/models/<name>-<key>.pt`` (:func:`aecore.cache.keys.model_file_name`) is a
plain dict of tensors, numbers and strings, read with ``torch.load(weights_only=True)`` (never
unpickled):

* ``schema``: :data:`~aecore.cache.keys.CACHE_SCHEMA`; ``name``, ``key``;
* ``model``: the class name; ``hparams``: its constructor arguments (rebuild it with
  :func:`aecore.models.build_model`);
* ``config``: the ``TrainConfig`` as a dict; ``loss``: the objective's name and code identity
  (:func:`aecore.cache.code_identity.function_identity`); ``data``: the fingerprints of the training
  and validation sets (:func:`aecore.cache.keys.data_fingerprint`);
* ``state_dict`` (CPU tensors), ``history`` (per-epoch losses, seconds, device) and
  ``versions`` (aecore, torch) and ``created`` (UTC, ISO 8601).

The key is a hash of ``schema``, ``model``, ``hparams``, ``config``, ``loss`` and ``data``
(:func:`aecore.cache.keys.key_of`), so a file can be checked against its own contents without the
notebook that made it.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import torch

from ..utils import atomic_path
from .keys import CACHE_SCHEMA, MODEL_FILE_SUFFIX, key_of, model_file_name, models_dir
from .usage import read_usage


class CacheFileError(ValueError):
    """A cache file that cannot be used: unreadable, of another schema, or not matching its key."""


def save_model_file(path: Path, name: str, run: dict[str, Any], model: torch.nn.Module, history: dict) -> None:
    """Write a self-describing cache file atomically (see the module docstring)."""
    from .. import __version__ as aecore_version

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


# ----------------------------------------------------------------------------- the models folder

def cached_files(folder: Path) -> list[Path]:
    """The model files (``*.pt``, not hidden temporary ones) in a models folder, sorted by name."""
    return sorted(p for p in folder.glob(f"*{MODEL_FILE_SUFFIX}") if not p.name.startswith(".") and p.is_file())


def check_cache_file(path: Path) -> dict[str, Any]:
    """Read a cache file (:func:`read_model_file`), checked against the key in its name; return its dict.

    Raises :class:`CacheFileError` when it cannot be used, also when its name
    and key do not give its file name (``fit_or_load`` would never look for it there).
    """
    key = path.name.removesuffix(MODEL_FILE_SUFFIX).rpartition("-")[2]
    blob = read_model_file(path, expected_key=key)
    expected = model_file_name(blob["name"], blob["key"])
    if expected != path.name:
        raise CacheFileError(f"{path.name} holds the model {expected}, so fit_or_load never looks for it here")
    return blob


def list_models(cache: Path | str | None = None) -> list[dict[str, Any]]:
    """Every model file of the cache, checked: :func:`summarize`'s dict plus ``notebooks``, or, for a
    file that cannot be used, ``{"file", "bytes", "problem", "notebooks"}``."""
    folder = models_dir(cache)
    usage = read_usage(folder)
    return [dict(_describe_file(path), notebooks=usage.get(path.name, [])) for path in cached_files(folder)]


def _describe_file(path: Path) -> dict[str, Any]:
    """:func:`summarize` of a checked cache file, or what is wrong with it (never raises)."""
    try:
        return summarize(path, check_cache_file(path))
    except Exception as err:  # a listing shows every file, whatever is wrong with it
        problem = str(err) if isinstance(err, CacheFileError) else f"{type(err).__name__}: {err}"
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        return {"file": path.name, "bytes": size, "problem": problem}
