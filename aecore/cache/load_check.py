"""The load check: a cached model is used only if the run that asks for it computes what the run that made it did.

The cache key (:mod:`aecore.cache.keys`) describes a run; this check tests it. Before a model is
trained, :func:`measure` runs the objective once on a fixed **probe batch** (the first
:data:`PROBE_IMAGES` training images) with a **fresh copy** of the model initialised from the run's
seed, on the CPU: the per-image values of every entry the objective returns, and the norm of the
gradient of the batch loss for each parameter of the network's last layer (the layer that makes
its output; only the objective and that layer are differentiated, which keeps the check cheap).
The model file keeps these numbers. When the model
is later loaded (from the cache or from a weights archive), :func:`measure` runs again for the
asking run, and :func:`compare` holds them against the file's within a tolerance that absorbs
rounding across machines and thread counts (relative :data:`VALUE_RTOL` for the losses,
:data:`GRADIENT_RTOL` for the gradient norms), far below what a changed objective, model or
library gives. A mismatch means that something the key cannot see differs, and the model is not
loaded (``fit_or_load`` warns and trains one under another key).

It costs a copy of the model and one forward pass of a few images on the CPU (plus the backward
pass of the objective and the last layer), per ``fit_or_load`` call (``benchmarks/load_check_cost.py``
measures it).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..utils import stable_hash

PROBE_IMAGES = 2
VALUE_RTOL, VALUE_ATOL = 1e-3, 1e-5
GRADIENT_RTOL, GRADIENT_ATOL = 1e-2, 1e-6
# The probe's noise (a VAE's sample, a denoiser's input noise) comes from this offset of the run's seed.
PROBE_SEED_OFFSET = 7919


def fresh_copy(model: nn.Module, seed: int) -> nn.Module:
    """A CPU copy of ``model`` with its weights drawn again from ``seed`` (every submodule's ``reset_parameters``,
    as training starts), in training mode; ``model`` and the global random state are left as they were."""
    clone = copy.deepcopy(model).to("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in clone.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]  # checked by hasattr just above
    return clone.train()


def measure(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, objective: Callable[..., dict],
            seed: int) -> dict[str, Any]:
    """The probe: ``objective(clone, x, y)`` (a function returning the dict of per-image losses, e.g.
    ``lambda m, x, y: aecore.train.batch_losses(m, x, y, loss)``) on the first :data:`PROBE_IMAGES` images
    (N, C, H, W) and labels (N,), with :func:`fresh_copy` of ``model`` from ``seed``, on the CPU.

    Returns ``{"values": {entry: [N floats]}, "gradient_norms": [one float per parameter of the last layer
    (:func:`last_layer_parameters`), None where the loss does not reach it], "images": N}``, or
    ``{"unavailable": why}`` when the objective cannot run on the CPU (e.g. it holds a tensor on a GPU).
    """
    x = images[:PROBE_IMAGES].detach().to("cpu", torch.float32 if images.is_floating_point() else images.dtype)
    if x.ndim == 4:  # image batches run channels_last on the CPU, as in training (faster convolutions)
        x = x.contiguous(memory_format=torch.channels_last)
    y = labels[:PROBE_IMAGES].detach().to("cpu")
    try:
        clone = fresh_copy(model, seed)
        if x.ndim == 4:
            clone.to(memory_format=torch.channels_last)
        parameters = last_layer_parameters(clone)
        clone.requires_grad_(False)
        for parameter in parameters:
            parameter.requires_grad_(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + PROBE_SEED_OFFSET)
            losses = objective(clone, x, y)
            gradients = torch.autograd.grad(losses["loss"].mean(), parameters, allow_unused=True) \
                if parameters and losses["loss"].requires_grad else [None] * len(parameters)
    except (RuntimeError, TypeError, ValueError) as err:
        return {"unavailable": f"{type(err).__name__}: {err}"[:500]}
    return {"values": {k: [float(v) for v in value.detach()] for k, value in sorted(losses.items())},
            "gradient_norms": [None if g is None else float(g.norm()) for g in gradients], "images": len(x)}


def last_layer_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model``'s last module (in registration order) that holds parameters of its own: for
    the networks here, the layer that makes the output."""
    holders = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    return list(holders[-1].parameters(recurse=False)) if holders else []


def compare(stored: dict[str, Any] | None, current: dict[str, Any]) -> str | None:
    """None if the probe ``current`` (this run's :func:`measure`) matches ``stored`` (the model file's) within the
    tolerances, else a sentence saying what differs (largest difference first, in numbers)."""
    if not isinstance(stored, dict):
        return "the file holds no load check"
    if "unavailable" in stored or "unavailable" in current:
        if "unavailable" in stored and "unavailable" in current:
            return None  # neither run could compute it on the CPU: nothing to compare
        return ("the objective ran on the CPU in one run and not in the other "
                f"({stored.get('unavailable') or current.get('unavailable')})")
    values, their_values = current.get("values", {}), stored.get("values", {})
    if sorted(values) != sorted(their_values):
        return f"the objective returns the entries {sorted(values)}, the file's returned {sorted(their_values)}"
    for entry in sorted(values):
        problem = _differ(values[entry], their_values[entry], VALUE_RTOL, VALUE_ATOL, f"the objective's {entry!r}")
        if problem:
            return problem
    return _differ(current.get("gradient_norms", []), stored.get("gradient_norms", []), GRADIENT_RTOL, GRADIENT_ATOL,
                   "the gradient norm")


def _differ(mine: list, theirs: list, rtol: float, atol: float, what: str) -> str | None:
    """A sentence on the largest difference between two lists of numbers (None entries: unused), or None."""
    if len(mine) != len(theirs):
        return f"{what} has {len(mine)} values here and {len(theirs)} in the file"
    worst, at = 0.0, -1
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if (a is None) != (b is None):
            return f"{what} of parameter {i} is {'unused' if a is None else 'used'} here, not in the file"
        if a is None or (math.isnan(a) and math.isnan(b)):
            continue
        excess = abs(a - b) / (atol + rtol * abs(b)) if math.isfinite(a) and math.isfinite(b) else math.inf
        if a != b and excess > worst:
            worst, at = excess, i
    if worst <= 1:
        return None
    return f"{what} is {mine[at]:.6g} here and {theirs[at]:.6g} in the file (item {at})"


def check_salt(probe: dict[str, Any]) -> str:
    """A short hash of a probe (values rounded to 4 significant digits): the ``check`` a run retrained after a
    failed load check adds to its key, so that it gets a file of its own."""
    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.4g}") if math.isfinite(value) else repr(value)
        if isinstance(value, list):
            return [rounded(v) for v in value]
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value
    return stable_hash(rounded(probe))
