"""One training loop for every model here, plus ``fit_or_load`` (train once, then reuse).

What is minimised is an explicit argument, ``loss=``: a function ``loss(model, x, y)`` that
returns one value per image (N,), or a dict of such values with the objective under
``"loss"`` (see :mod:`aecore.objectives`, and the labs, which write theirs). Every entry is
logged per image, averaged over the data: ``train_loss``, ``val_loss``, ``val_kl``, ...
:class:`TrainConfig` holds the optimisation only.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .cache import (
    CacheFileError,
    cache_key,
    data_fingerprint,
    describe_run,
    fetch_into_cache,
    key_of,
    load_check,
    model_file_name,
    models_dir,
    read_model_file,
    record_use,
    save_model_file,
)
from .cache._once import warn_once
from .cache.code_identity import stale_source_files
from .cache.model_files import CacheWriteError, non_finite, remove_stale_temp_files
from .config import pick_device
from .config import seed as global_seed
from .datasets import LabelledImages
from .models import LatentModel, Model, ModelInputError
from .utils import check_number, eval_mode, file_lock, module_device, preferred_memory_format, seed_everything

__all__ = ["TrainConfig", "History", "Loss", "train", "evaluate", "fit_or_load", "training_step", "batch_losses",
           "check_images", "cache_key", "data_fingerprint"]

LR_SCHEDULES = ("constant", "cosine")
# Pixel values this far outside [0, 1] still pass check_images (rounding in preprocessing).
_RANGE_TOLERANCE = 1e-4

Loss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor | dict]
"""A training objective: ``loss(model, x, y)`` -> per-image losses (N,) or a dict of them with ``"loss"``."""


@dataclass(frozen=True)
class TrainConfig:
    """How a model is optimised (and so part of its cache key); the objective is ``loss=`` of :func:`train`.

    Adam with learning rate ``lr`` and its built-in L2 ``weight_decay`` (adds
    ``weight_decay * w`` to each gradient), ``epochs`` passes over the training set in
    shuffled batches of ``batch_size``. ``lr_schedule``: ``"constant"`` or ``"cosine"``
    (down to 0 at the last step); ``warmup`` is the fraction of all steps over which the
    learning rate first rises linearly from ``lr / steps`` to ``lr``. ``hflip`` flips half
    the images of each batch left-right (augmentation for photos). ``seed`` draws the
    initial weights, the batch order and the noise of the objective; it defaults to the
    global seed ``AECORE_SEED`` (0 unless set), so one switch retrains every model with
    another seed.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    hflip: bool = False
    lr_schedule: str = "constant"
    warmup: float = 0.0
    seed: int = field(default_factory=global_seed)

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {LR_SCHEDULES}")
        for name in ("epochs", "batch_size"):
            check_number(name, getattr(self, name), whole=True, minimum=1)
        check_number("seed", self.seed, whole=True)
        for name in ("lr", "weight_decay"):
            check_number(name, getattr(self, name), minimum=0)
        check_number("warmup", self.warmup, minimum=0)
        if self.warmup >= 1:
            raise ValueError(f"warmup is a fraction of the training steps, in [0, 1); got {self.warmup}")


@dataclass
class History:
    """Per-epoch mean losses (``train_loss``, ``val_loss``, ...), wall time and device of a run."""

    metrics: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0
    device: str = "cpu"
    from_cache: bool = False

    def __getitem__(self, key: str) -> list[float]:
        return self.metrics[key]

    def final(self, key: str) -> float:
        """Last-epoch value of a metric."""
        return self.metrics[key][-1]

    def to_dict(self) -> dict:
        return {"metrics": {k: list(v) for k, v in self.metrics.items()}, "seconds": self.seconds,
                "device": self.device}

    @classmethod
    def from_dict(cls, blob: dict, from_cache: bool = True) -> History:
        return cls(defaultdict(list, blob["metrics"]), blob["seconds"], blob["device"], from_cache)


def batch_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> dict[str, torch.Tensor]:
    """``loss(model, x, y)`` as a dict of per-image losses, each shape (N,), with the objective under ``"loss"``.

    Raises TypeError/ValueError naming the objective when it returns anything else (a scalar: a loss
    averaged over the batch; another shape; no ``"loss"`` entry). An error raised inside the objective
    keeps its type and gets a note naming the objective, the model and the batch (a VAE's objective
    given a plain autoencoder fails inside it); an exercise not written yet (NotImplementedError) and a model's
    own input error (ModelInputError: wrong image size, labels out of range) get none."""
    name = getattr(loss, "__name__", None) or getattr(getattr(loss, "func", None), "__name__", repr(loss))
    try:
        out = loss(model, x, y)
    except Exception as error:
        # notes: Python >= 3.11; a model's own input check (ModelInputError) already says what is wrong
        if hasattr(error, "add_note") and not isinstance(error, (NotImplementedError, ModelInputError)):
            error.add_note(f"(raised inside the objective {name}, given a {type(model).__name__} and a batch of shape "
                           f"{tuple(x.shape)}: is it the objective written for this kind of model, e.g. negative_elbo "
                           "for a VAE, a reconstruction loss for an autoencoder?)")
        raise
    losses = out if isinstance(out, dict) else {"loss": out}
    if "loss" not in losses:
        raise ValueError(f"the objective {name} returned a dict without a 'loss' entry (keys: {sorted(losses)})")
    for key, value in losses.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"the objective {name} returned {type(value).__name__} for {key!r}; "
                            "return a tensor with one value per image")
        if value.shape != (len(x),):
            raise ValueError(f"the objective {name} returned {key!r} of shape {tuple(value.shape)} for a batch of "
                             f"{len(x)} images; it must give one value per image, shape ({len(x)},) (do not average "
                             "or sum over the batch: the training loop takes the mean)")
    return losses


@torch.no_grad()
def evaluate(model: nn.Module, data: LabelledImages, loss: Loss, *, seed: int = 0, device: torch.device | None = None,
             batch_size: int = 1000) -> dict[str, float]:
    """Mean per-image values of every entry of ``loss`` (see :func:`batch_losses`) over ``data``, in eval mode.

    Noise the objective draws (a VAE's sample, a denoiser's input noise) comes from torch's generator
    seeded with ``seed``, in a forked random state, so the result is reproducible and the caller's
    random stream is left as it was. The batches go to ``device``, by default the model's.
    """
    device = device or module_device(model)
    totals: dict[str, float] = defaultdict(float)
    with eval_mode(model), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(data), batch_size):
            x = data.images[start:start + batch_size].to(device)
            y = data.labels[start:start + batch_size].to(device)
            for key, value in batch_losses(model, x, y, loss).items():
                totals[key] += float(value.sum())
    return {key: value / len(data) for key, value in totals.items()}


def check_images(data: LabelledImages, what: str, unit_range: bool = True) -> None:
    """Raise ValueError naming ``what`` (e.g. "training images") unless ``data.images`` are non-empty,
    floating point and finite, and (with ``unit_range``, for autoencoders) within [0, 1]."""
    images = data.images
    if images.numel() == 0:
        raise ValueError(f"{what} are empty (shape {tuple(images.shape)})")
    if not images.is_floating_point():
        raise ValueError(f"{what} are {images.dtype}, not floating point; convert them with "
                         "images.float() / 255 (for 8-bit images)")
    lo, hi = (float(v) for v in torch.aminmax(images))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int((~torch.isfinite(images)).sum())
        raise ValueError(f"{what} contain {bad} NaN or infinite pixel values; fix or drop those images "
                         "before training")
    if unit_range and (lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE):
        raise ValueError(f"{what} have values in [{lo:.4g}, {hi:.4g}], but an autoencoder needs images in [0, 1]; "
                         "divide 8-bit images by 255, or clip them with images.clamp(0, 1)")


def _check_data(model: nn.Module, train_data: LabelledImages, val_data: LabelledImages | None) -> None:
    unit_range = isinstance(model, LatentModel)  # an autoencoder rebuilds images in [0, 1]
    check_images(train_data, "training images", unit_range)
    if val_data is not None:
        check_images(val_data, "validation images", unit_range)


def _check_loss(loss) -> None:
    if not callable(loss):
        raise TypeError(f"loss must be a function loss(model, x, y) returning per-image losses (see "
                        f"aecore.objectives), got {type(loss).__name__}")


# Devices with PyTorch's fused Adam kernels (one kernel per parameter for the whole update).
FUSED_ADAM_DEVICES = ("cpu", "cuda", "mps")


def adam(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam over ``model``'s parameters with ``config.lr`` and ``config.weight_decay``, fused on
    :data:`FUSED_ADAM_DEVICES` (the same update as the default implementation up to rounding, and
    faster: see ``benchmarks/mnist_throughput.py``), the default implementation elsewhere."""
    fused: dict[str, Any] = {"fused": True} if device.type in FUSED_ADAM_DEVICES else {}
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, **fused)


def learning_rate_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig,
                           total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-step scheduler of ``config`` (None for a constant rate without warm-up): a linear
    warm-up over ``config.warmup * total_steps`` steps, then constant or cosine down to 0."""
    warmup_steps = round(config.warmup * total_steps)
    if warmup_steps == 0:  # the schedules as they were before warm-up existed, to the last bit
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps) \
            if config.lr_schedule == "cosine" else None

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if config.lr_schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  loss: Loss) -> dict[str, torch.Tensor]:
    """One optimizer step on the batch ``(x, y)``: the batch mean of ``loss``'s ``"loss"`` is minimised;
    returns the per-image losses of the batch (:func:`batch_losses`), each shape (N,), before the step."""
    losses = batch_losses(model, x, y, loss)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].mean().backward()
    optimizer.step()
    return losses


def train(model: nn.Module, train_data: LabelledImages, val_data: LabelledImages | None = None,
          config: TrainConfig = TrainConfig(), *, loss: Loss, device: torch.device | None = None,
          progress: bool = True, reinitialize: bool = True) -> History:
    """Train ``model`` in place with Adam to minimise ``loss`` (a :data:`Loss`); return its :class:`History`.

    With ``reinitialize`` (the default) the weights are first re-drawn from
    ``config.seed``, so the result depends only on the model's hyper-parameters, the
    config and the data (which is what :func:`fit_or_load`'s cache key assumes); pass
    False to continue from the current weights.

    The whole training set is moved to the device once and batched by indexing (no
    DataLoader); Adam is fused where PyTorch has the kernels (:func:`adam`), and the losses are
    summed on the device and read once per epoch. After each epoch the mean training losses (``train_*``) and, with
    ``val_data``, the validation losses (``val_*``) are recorded. The model ends in eval mode.
    """
    _check_loss(loss)
    _check_data(model, train_data, val_data)
    device = device or pick_device()
    generator = seed_everything(config.seed)
    if reinitialize:
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]  # checked by hasattr just above
    memory_format = preferred_memory_format(device, train_data.images)
    model.to(device, memory_format=memory_format)  # type: ignore[call-overload]  # accepted at run time, not in the stubs
    x_all = train_data.images.to(device).contiguous(memory_format=memory_format)
    y_all = train_data.labels.to(device)
    n = len(train_data)
    steps = math.ceil(n / config.batch_size)
    optimizer = adam(model, config, device)
    scheduler = learning_rate_schedule(optimizer, config, config.epochs * steps)
    history = History(device=str(device))
    start_time = time.perf_counter()
    epochs = tqdm(range(config.epochs), desc=f"Training {type(model).__name__}", disable=not progress, leave=False)
    # The loss is checked at the first step (a loss that is not finite before any update is the objective's fault),
    # then every step on the CPU and every _DIVERGENCE_CHECK steps elsewhere (each check waits for the device).
    check_every = 1 if device.type == "cpu" else _DIVERGENCE_CHECK
    for epoch in epochs:
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        totals: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=device))
        for step in range(steps):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            x, y = x_all[index], y_all[index]
            if config.hflip:
                flip = torch.rand(len(x), device=device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            losses = training_step(model, optimizer, x, y, loss)
            if scheduler is not None:
                scheduler.step()
            for key, value in losses.items():
                totals[key] += value.detach().sum()
            done = epoch * steps + step
            if done % check_every == 0 or step == steps - 1:
                _check_finite(losses, totals["loss"], done, epoch, step, steps, config, loss)
        for key, value in totals.items():
            history.metrics[f"train_{key}"].append(float(value) / n)
        if val_data is not None:
            for key, mean in evaluate(model, val_data, loss, seed=config.seed + 1, device=device).items():
                history.metrics[f"val_{key}"].append(mean)
        epochs.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.metrics.items() if k.endswith("loss")})
    bad = non_finite(model.state_dict())
    if bad:
        raise FloatingPointError(
            f"training ended with NaN or infinite weights ({', '.join(bad[:5])}) although every loss was finite: the "
            "last updates' gradients were not finite (e.g. the gradient of sqrt or log at 0, or of a division by a "
            "value near 0). The model is not usable and is not cached. Make the objective's gradient finite (e.g. "
            f"add a small epsilon inside the sqrt or log) or lower the learning rate (now {config.lr}).")
    history.seconds = time.perf_counter() - start_time
    # Back to the default layout, the one a model loaded from the cache has: noise drawn with
    # randn_like follows the memory layout, so otherwise a freshly trained model and its cached
    # copy would draw different latent noise and report slightly different numbers.
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


# The training loop as the cache key sees it (aecore.cache.keys.code_fingerprints): this function's code and what it
# calls (training_step, adam, ...), read when a key is made. A reference of its own, so that a test that replaces
# `train` to catch a retraining does not change the key.
TRAINING_LOOP = train

# On an accelerator the loss is checked for NaN every this many steps (each check waits for the device).
_DIVERGENCE_CHECK = 25


def _check_finite(losses: dict[str, torch.Tensor], total: torch.Tensor, done: int, epoch: int, step: int, steps: int,
                  config: TrainConfig, loss: Loss) -> None:
    """Raise FloatingPointError when the training loss is no longer finite, with the advice that fits: a loss not
    finite at the first step is the objective's fault (no update has happened), later the optimisation diverged."""
    if bool(torch.isfinite(total)):
        return
    name = getattr(loss, "__name__", None) or getattr(getattr(loss, "func", None), "__name__", repr(loss))
    if done == 0:
        entries = [k for k, v in losses.items() if not bool(torch.isfinite(v).all())]
        raise FloatingPointError(
            f"the objective {name} gave NaN or infinite values ({', '.join(entries)}) on the first batch, before any "
            "weight was updated, so the learning rate is not the cause: the objective itself is not finite on these "
            "images (e.g. the log of 0, a division by 0, the sqrt of a negative number, or an exp that overflows). "
            "Check it on one batch with aecore.train.batch_losses(model, x, y, loss).")
    raise FloatingPointError(
        f"training diverged at epoch {epoch + 1}, step {step + 1} of {steps}: the loss became NaN or infinite after "
        f"finite values; lower the learning rate (now {config.lr}), or make the objective safe where it can "
        "overflow (e.g. use logits with binary_cross_entropy_with_logits instead of log(sigmoid)).")


def fit_or_load(name: str, model: Model, train_data: LabelledImages, val_data: LabelledImages | None = None,
                config: TrainConfig = TrainConfig(), *, loss: Loss, device: torch.device | None = None,
                cache_dir: Path | None = None, retrain: bool = False, progress: bool = True,
                cache_token: str | None = None) -> History:

    """Load ``model``'s weights from the cache if this exact run was trained before, else train and save.

    The cache file is ``<cache>/models/<name>-<key>.pt`` where ``key`` is
    :func:`aecore.cache.cache_key`; it describes itself (model, hparams, config, the
    objective's code identity, data fingerprints, schema: see :mod:`aecore.cache`), so a
    different ``loss`` (another function, or the same one edited) trains its own model and
    never loads or overwrites the one trained with the first. Files are read with
    ``torch.load(weights_only=True)``; a corrupt or mismatching file is reported with a
    warning and the model is retrained (never silently used). The data is checked first
    (:func:`check_images`). Training holds the lock file ``<name>-<key>.pt.lock``, so a
    second caller (another notebook) waits and then loads the model instead of training it
    again. Before training (unless ``retrain``), a model missing from the cache is taken from
    the ``AECORE_WEIGHTS`` archive if that holds it, checked (SHA-256, schema, key) and loaded
    (:func:`aecore.cache.archive.fetch_into_cache`); otherwise, or if the archive cannot be read, it
    is trained. Writes are atomic. The current notebook (:func:`aecore.config.current_notebook`)
    is recorded as a user of the file (:func:`aecore.cache.usage.record_use`). Returns the run's
    :class:`History` (``from_cache`` tells whether it was loaded, from the cache or an archive).

    The key describes the objective from the objects in memory (:mod:`aecore.cache.code_identity`); a value it
    cannot describe raises :class:`~aecore.cache.code_identity.UndescribableValueError` naming it, unless
    ``cache_token`` (a string you change whenever such a value changes) names the run. A model that comes from
    the cache or an archive must pass the load check (:mod:`aecore.cache.load_check`): this run's objective, on a
    few training images at the fresh initialisation, must compute what the file records; otherwise a warning
    says so and the model is trained under another key, never loaded. A model that cannot be written to the
    cache (a full disk, the file-size limit) stays trained in ``model``, with a warning that says how to keep it.
    A training whose loss or weights become NaN raises FloatingPointError and caches nothing.
    """
    if not name or any(c in name for c in "/\\"):
        raise ValueError(f"name must be a non-empty file-name part without slashes, got {name!r}")
    _check_loss(loss)
    _check_data(model, train_data, val_data)
    device = device or pick_device()
    run = describe_run(model, train_data, val_data, config, loss, cache_token)
    folder = Path(cache_dir) if cache_dir else models_dir()
    remove_stale_temp_files(folder)
    _warn_about_edited_files(loss)
    probe = load_check.measure(model, train_data.images, train_data.labels, partial(batch_losses, loss=loss),
                               config.seed)
    result = _fit_or_load_at(folder, name, run, probe, model, train_data, val_data, config, loss, device, retrain,
                             progress)
    if isinstance(result, History):
        return result
    own = dict(run, check=load_check.check_salt(probe))
    warn_once(("load check", result[0]),
              f"the cached model {result[0]} is not loaded: it does not fit this run. Its file records what its "
              "objective computed on a few training images at the start of training, and this run computes "
              f"something else ({result[1]}). The cache key saw no difference, so what differs is something the "
              "key cannot see: a file or setting your objective reads, randomness drawn outside torch, or a "
              "library that computes differently. This run gets a model of its own (key "
              f"{key_of(own)}), trained once and then loaded; the other file is left as it is.")
    result = _fit_or_load_at(folder, name, own, probe, model, train_data, val_data, config, loss, device, retrain,
                             progress)
    if not isinstance(result, History):  # only if the file was replaced meanwhile by one of another run
        raise RuntimeError(f"the cached model {result[0]} fails the load check it was saved with ({result[1]}); "
                           "delete it and run again")
    return result


def _fit_or_load_at(folder: Path, name: str, run: dict, probe: dict, model: nn.Module, train_data: LabelledImages,
                    val_data: LabelledImages | None, config: TrainConfig, loss: Loss, device: torch.device,
                    retrain: bool, progress: bool) -> History | tuple[str, str]:
    """Load the model of ``run`` (its key's file, or the weights archive's) if it passes the load check, else
    train and save it; return its History, or (file name, what differs) when a file fails the load check."""
    key = key_of(run)
    path = folder / model_file_name(name, key)
    seen = None
    if not retrain:
        history, seen, mismatch = _load_cached(path, key, model, device, None, probe)
        if mismatch:
            return path.name, mismatch
        if history is not None:
            record_use(path)
            return history
    waiting = f"{path.name} is being trained by another process; waiting for it (lock file {path}.lock)"
    with file_lock(path.with_name(path.name + ".lock"), waiting):
        if not retrain:  # another process may have trained it meanwhile, or the weights archive holds it
            history, _, mismatch = _load_cached(path, key, model, device, seen, probe)
            if history is None and not mismatch and fetch_into_cache(path, key, progress=progress):
                history, _, mismatch = _load_cached(path, key, model, device, None, probe)
            if mismatch:
                return path.name, mismatch
            if history is not None:
                record_use(path)
                return history
        history = train(model, train_data, val_data, config, loss=loss, device=device, progress=progress)
        try:
            save_model_file(path, name, run, model, history.to_dict(), probe)
        except CacheWriteError as err:
            warnings.warn(f"the model was trained but cannot be saved in the cache: {err}. The trained model is kept "
                          "in memory for this session (the model you passed holds it); after fixing this, run the cell "
                          "again to train and save it.", stacklevel=3)
            return history
    record_use(path)
    return history


def _warn_about_edited_files(loss: Loss) -> None:
    """Warn (once per file) when a source file of the objective was edited after it was imported."""
    for file in stale_source_files(loss):
        warn_once(("edited source", file),
                  f"{file} has changed since it was imported: this session still runs the code it imported, and the "
                  "model cache follows that code (it trains or loads the model of the code that runs). To use the "
                  "file as it is now, restart the kernel (or importlib.reload the module) and run the cells again.")


def _load_cached(path: Path, key: str, model: nn.Module, device: torch.device, skip: tuple | None,
                 probe: dict) -> tuple[History | None, tuple | None, str | None]:
    """Load a cached run into ``model``: (its History or None, the file's identity, what fails the load check).

    The identity is (inode, size, mtime) of ``path``, None if there is no file. A file
    whose identity equals ``skip`` (one that already failed) is not read again; a file
    that cannot be used is reported with a warning; one whose load check does not match ``probe``
    (:func:`aecore.cache.load_check.compare`) is not loaded, and the difference returned.
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None, None, None
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if identity == skip:
        return None, identity, None
    try:
        blob = read_model_file(path, expected_key=key)
        mismatch = load_check.compare(blob["probe"], probe)
        if mismatch:
            return None, identity, mismatch
        model.load_state_dict(blob["state_dict"])
        model.to(device).eval()
        return History.from_dict(blob["history"], from_cache=True), identity, None
    except (CacheFileError, RuntimeError) as err:
        warnings.warn(f"cached model {path} could not be used ({type(err).__name__}: {err}); retraining it.",
                      stacklevel=2)
        return None, identity, None
