"""Small helpers shared by several modules: seeding, atomic file writes, file locks, hashing, argument checks,
running a module in eval mode and in batches."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import random
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:  # POSIX
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]  # the locks are skipped where fcntl is None
    import msvcrt


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    On any error the temporary file is removed and ``target`` is left untouched, so a
    crash never leaves a half-written cache file behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; cache files are ordinary files
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def file_lock(path: Path, waiting_message: str = "") -> Iterator[None]:
    """Hold an exclusive OS lock on the file ``path`` (created if missing) while the block runs.

    Blocks until no other process or thread holds it; ``waiting_message``, if given, is
    issued as a warning when it has to wait. The lock is released when the block ends
    or the process dies. The (empty) lock file is left in place: deleting it would let
    two holders lock different files. On a file system that cannot lock, the block runs
    unlocked after a warning.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        locked = _acquire(fh, path, waiting_message)
        try:
            yield
        finally:
            if locked:
                _unlock(fh)


def _acquire(fh, path: Path, waiting_message: str) -> bool:
    """Wait for the lock on an open file; return False (after a warning) if the file system cannot lock."""
    try:
        if _try_lock(fh):
            return True
        if waiting_message:
            warnings.warn(waiting_message, stacklevel=4)
        while not _try_lock(fh):
            time.sleep(0.1)
        return True
    except OSError as err:  # e.g. NFS without a lock daemon
        warnings.warn(f"cannot lock {path} ({err}); going on without the lock", stacklevel=4)
        return False


def _try_lock(fh) -> bool:
    """Take the exclusive lock on an open file without blocking; return whether it was taken."""
    try:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        return True
    except (BlockingIOError, PermissionError):  # held by another holder (POSIX; Windows)
        return False


def _unlock(fh) -> None:
    if fcntl is not None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    else:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)


def check_number(name: str, value: Any, *, whole: bool = False, minimum: float | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite real number (not a bool),
    a whole number (``int``) if ``whole``, and at least ``minimum`` if given."""
    kind = "a whole number (int)" if whole else "a finite number"
    bound = "" if minimum is None else f" >= {minimum}"
    wanted = numbers.Integral if whole else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted) or not math.isfinite(value) \
            or (minimum is not None and value < minimum):
        raise ValueError(f"{name} must be {kind}{bound}, got {value!r}")


def without_added_later(items: Mapping[str, Any], added_later: Mapping[str, Any]) -> dict[str, Any]:
    """``items`` as a dict, less the names in ``added_later`` that hold the value given there: options
    added to a model class or a training config after models were cached, at the value that means
    "as before they existed", so that those models keep their cache keys."""
    return {k: v for k, v in items.items() if not (k in added_later and v == added_later[k])}


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable object, independent of dict key order."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def tensor_fingerprint(*tensors: torch.Tensor, length: int = 16) -> str:
    """Hex digest of the shapes, dtypes and bytes of some tensors (identifies a data set)."""
    digest = hashlib.blake2b(digest_size=16)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f"{tuple(t.shape)}{t.dtype}".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.hexdigest()[:length]


def file_digest(path: Path, algorithm: str, chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes with the hashlib ``algorithm`` (``"md5"``, ``"sha256"``), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    """MD5 hex digest of a file (the checksums MNIST and Stanford Dogs publish)."""
    return file_digest(path, "md5")


def module_device(module: torch.nn.Module) -> torch.device:
    """Device of a module's first parameter (CPU for a module without parameters)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Context manager: put ``model`` in eval mode, restore its previous mode afterwards (also on an error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def preferred_memory_format(device: torch.device, images: torch.Tensor) -> torch.memory_format:
    """``channels_last`` for image batches (N, C, H, W) on CPU/CUDA, where oneDNN/cuDNN convolutions
    run faster with it (1.5x measured for training the Lab 2 network on a 2-core CPU, 2x for its
    inference); otherwise contiguous."""
    if images.ndim == 4 and device.type in ("cpu", "cuda"):
        return torch.channels_last
    return torch.contiguous_format


# Images per batch when a network is only applied (no training). A convolutional network on a CPU
# runs fastest on small batches, whose activations stay in the processor's cache: on a 2-core CPU,
# Lab 2's decoder ran 1.7x and the wafer decoder 1.8x faster at 32 images than at 1,000. Fully
# connected networks (matrix products) and every network on a GPU prefer large batches.
CPU_CONV_BATCH = 32
INFERENCE_BATCH = 1000


def inference_batch_size(model: torch.nn.Module) -> int:
    """Images per batch for applying ``model`` (see :func:`apply_in_batches`): :data:`CPU_CONV_BATCH`
    for a model with convolutions whose parameters are on the CPU, else :data:`INFERENCE_BATCH`."""
    convolutional = any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in model.modules())
    return CPU_CONV_BATCH if convolutional and module_device(model).type == "cpu" else INFERENCE_BATCH


def apply_model(model: torch.nn.Module, fn, *tensors: torch.Tensor | None,
                batch_size: int | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """:func:`apply_in_batches` for ``fn``, a function of ``model`` (e.g. ``model.code``): run in eval
    mode, on the model's device, in batches of ``batch_size`` (default :func:`inference_batch_size`)."""
    with eval_mode(model):
        return apply_in_batches(fn, *tensors, device=module_device(model),
                                batch_size=batch_size or inference_batch_size(model))


@torch.no_grad()
def apply_in_batches(fn, *tensors: torch.Tensor | None, device: torch.device,
                     batch_size: int = INFERENCE_BATCH) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Apply ``fn`` to matching slices of ``tensors`` on ``device``; concatenate the results on the CPU.

    ``fn`` may return a tensor or a tuple of tensors; ``None`` entries of ``tensors`` are passed through.
    4-D batches go in laid out as :func:`preferred_memory_format` says (convolutions run faster);
    the results come back contiguous.
    """
    n = len(next(t for t in tensors if t is not None))
    outputs = []
    for start in range(0, n, batch_size):
        args = [None if t is None else t[start:start + batch_size].to(device) for t in tensors]
        args = [a if a is None else a.contiguous(memory_format=preferred_memory_format(device, a)) for a in args]
        out = fn(*args)
        outputs.append(tuple(o.cpu().contiguous() for o in out) if isinstance(out, tuple)
                       else (out.cpu().contiguous(),))
    joined = tuple(torch.cat(parts) for parts in zip(*outputs))
    return joined if len(joined) > 1 else joined[0]
