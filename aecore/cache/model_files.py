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
* ``versions`` (Python, torch, NumPy...) and ``code`` (fingerprints of the model class, its layers
  and the training loop), ``token`` (``fit_or_load``'s ``cache_token``), and ``check`` in a run
  retrained after a failed load check;
* ``probe``: the load check's numbers (:mod:`aecore.cache.load_check`);
* ``state_dict`` (CPU tensors, all finite), ``history`` (per-epoch losses, seconds, device),
  ``saved_with`` (aecore, torch) and ``created`` (UTC, ISO 8601).

The key is a hash of the fields :data:`aecore.cache.keys.KEY_FIELDS` (:func:`aecore.cache.keys.key_of`),
so a file can be checked against its own contents without the notebook that made it. A file whose
weights hold NaN or infinite values is refused (it is what a diverged training leaves).

Writes are atomic: the bytes go to a hidden temporary file ``.<file>.<host>-<pid>.<random>.tmp``,
renamed when complete. A write that fails (a full disk, the file-size limit) removes it and raises
:class:`CacheWriteError`, which says why and what to do; one killed half-way leaves it, and
:func:`remove_stale_temp_files` removes it at the next use of the cache once its process is gone.
"""

from __future__ import annotations

import datetime as _dt
import errno
import io
import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import torch

from .keys import CACHE_SCHEMA, MODEL_FILE_SUFFIX, key_of, model_file_name, models_dir
from .usage import read_usage

# A temporary file of a process of another machine (or of unknown origin) is stale after this long.
STALE_SECONDS = 6 * 3600
# A temporary file of a dead process of this machine is removed once untouched this long.
DEAD_WRITER_GRACE_SECONDS = 60
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")
_cleaned: set[str] = set()


class CacheFileError(ValueError):
    """A cache file that cannot be used: unreadable, of another schema, not matching its key, or with NaN weights."""


class CacheWriteError(OSError):
    """A model file that could not be written (the message says why and what to do); nothing was left behind."""


def save_model_file(path: Path, name: str, run: dict[str, Any], model: torch.nn.Module, history: dict,
                    probe: dict[str, Any] | None = None) -> None:
    """Write a self-describing cache file atomically (see the module docstring); ``probe``: the load check's
    numbers (:func:`aecore.cache.load_check.measure`).

    Raises :class:`CacheFileError` for weights holding NaN or infinite values (nothing is written), and
    :class:`CacheWriteError` when the file cannot be written (nothing is left behind)."""
    from .. import __version__ as aecore_version

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = non_finite(state)
    if bad:
        raise CacheFileError(f"the weights of {name} hold NaN or infinite values ({', '.join(bad[:5])}); "
                             "such a model is not saved")
    blob = dict(run, name=name, key=key_of(run), state_dict=state, probe=probe, history=history,
                saved_with={"aecore": str(aecore_version), "torch": str(torch.__version__)},
                created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    write_atomically(Path(path), buffer.getbuffer())


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors of a state dict that hold a NaN or an infinite value."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def write_atomically(target: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``target`` through a temporary file beside it, renamed when complete.

    Raises :class:`CacheWriteError` naming the reason (a full disk or quota, the file-size limit, a folder that
    cannot be written) and the fix; the temporary file is removed and ``target`` left as it was."""
    tmp = target.with_name(f".{target.name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as err:
        _remove_quietly(tmp)
        raise CacheWriteError(err.errno, f"cannot write {target} ({why_not_written(err)})") from err
    except BaseException:  # interrupted (Ctrl-C): nothing half-written stays
        _remove_quietly(tmp)
        raise


def why_not_written(err: OSError) -> str:
    """A failed write's cause in words, with what to do."""
    reasons = {
        errno.ENOSPC: "the disk is full: free some space, or point AECORE_CACHE at a folder on a disk with room",
        errno.EDQUOT: "your disk quota is used up: free some space, or point AECORE_CACHE at a folder with room",
        errno.EFBIG: "the file is larger than this process may write (the file-size limit, see `ulimit -f`): "
                     "raise the limit, or point AECORE_CACHE at a file system without one",
        errno.EROFS: "the file system is read-only: point AECORE_CACHE at a folder you can write",
        errno.EACCES: "permission denied: point AECORE_CACHE at a folder you can write",
        errno.EPERM: "permission denied: point AECORE_CACHE at a folder you can write",
    }
    return f"{err.strerror or err}; {reasons.get(err.errno or 0, 'check that the cache folder can be written')}"


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def remove_stale_temp_files(folder: Path, *, force: bool = False) -> list[str]:
    """Remove the temporary files a killed writer left in a models folder; return their names.

    A file named by :func:`write_atomically` goes once the process that wrote it is gone (same machine) and
    it has not changed for :data:`DEAD_WRITER_GRACE_SECONDS`; any other hidden ``.*.tmp`` file (another
    machine's, or an older aecore's) once it has not changed for :data:`STALE_SECONDS`. A live writer's file
    is never touched. Runs once per folder and process unless ``force``."""
    folder = Path(folder)
    if not force and str(folder) in _cleaned:
        return []
    _cleaned.add(str(folder))
    removed = []
    now = time.time()
    try:
        candidates = [p for p in folder.glob(".*.tmp") if p.is_file()]
    except OSError:
        return []
    for path in candidates:
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        match = _TEMP_NAME.match(path.name)
        if match and match["host"] == _host():
            stale = age > DEAD_WRITER_GRACE_SECONDS and not _process_alive(int(match["pid"]))
        else:
            stale = age > STALE_SECONDS
        if stale:
            try:
                path.unlink()
                removed.append(path.name)
            except OSError:
                continue
    return removed


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (True where that cannot be told)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


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
        elif schema == 3:
            schema = "3 (its key was read from the objective's source file, before keys covered what runs)"
        raise CacheFileError(f"{path.name} has cache schema {schema}, this aecore reads schema {CACHE_SCHEMA}")
    missing = [k for k in ("name", "key", "model", "hparams", "config", "loss", "data", "versions", "code", "token",
                           "probe", "state_dict", "history") if k not in blob]
    if missing:
        raise CacheFileError(f"{path.name} lacks {', '.join(missing)}")
    if key_of(blob) != blob["key"]:
        raise CacheFileError(f"{path.name}: its key {blob['key']} does not match its contents ({key_of(blob)})")
    if expected_key is not None and blob["key"] != expected_key:
        raise CacheFileError(f"{path.name} holds key {blob['key']}, expected {expected_key}")
    state = blob["state_dict"]
    bad = non_finite(state) if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()) \
        else ["state_dict is not a dict of tensors"]
    if bad:
        raise CacheFileError(f"{path.name} holds NaN or infinite weights ({', '.join(bad[:5])}): the training that "
                             "wrote it diverged. Delete the file; fit_or_load trains the model again")
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
