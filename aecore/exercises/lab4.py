"""Lab 4's exercise (notebooks/04_wafer_maps.ipynb): its reference implementation, its typical mistakes and
its check, registered by :func:`~aecore.exercises.framework.exercise`.

In the notebook: ``from aecore.exercises import lab4 as exercises``, then
``exercises.check_generate_from_codes(generate_from_codes)``. The lab takes Lab 2's
:func:`~aecore.exercises.lab2.perturb_codes`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..utils import eval_mode
from .cases import CaseSet
from .framework import Mistake, check_random, exercise, share_outside_01
from .lab2 import perturb_codes

__all__ = ["generate_from_codes", "check_generate_from_codes"]


# ----------------------------------------------------------------------------- generate_from_codes

def generate_from_codes(model: nn.Module, class_codes: torch.Tensor, n: int, scale: float) -> torch.Tensor:
    """``n`` new images (n, C, H, W) in [0, 1] like those of one class: pick ``n`` of the class's codes
    ``class_codes`` (M, ...) at random (with replacement), :func:`perturb_codes` them by ``scale``, decode."""
    picked = class_codes[torch.randint(len(class_codes), (n,))]
    with torch.no_grad():
        codes = perturb_codes(picked, scale).to(next(model.parameters()).device)
        with eval_mode(model):
            return torch.sigmoid(model.decode(codes)).cpu()  # type: ignore[operator]  # nn.Module: a LatentModel here


def _pick(codes, n):
    return codes[torch.randint(len(codes), (n,))]


def _absolute_noise(model, codes, n, scale):
    picked = _pick(codes, n)
    return torch.sigmoid(model.decode(picked + scale * torch.randn_like(picked)))


_GENERATE = {
    "noise not scaled by the codes' rms (absolute noise)": Mistake(
        "Perturb with noise relative to each code's size: perturb_codes(picked, scale) (scale * rms(z) * N(0, I)).",
        _absolute_noise,
        example=lambda m, c, n, s: torch.sigmoid(m.decode((p := _pick(c, n)) + s * torch.randn_like(p)))),
    "logits returned instead of images (no sigmoid)": Mistake(
        "decode gives logits: the images are torch.sigmoid(model.decode(z)).",
        lambda m, c, n, s: m.decode(perturb_codes(_pick(c, n), s)),
        example=lambda m, c, n, s: m.decode(perturb_codes(_pick(c, n), s))),
    "the codes decoded without perturbing them": Mistake(
        "Perturb the picked codes before decoding: perturb_codes(picked, scale).",
        lambda m, c, n, s: torch.sigmoid(m.decode(_pick(c, n))),
        example=lambda m, c, n, s: torch.sigmoid(m.decode(_pick(c, n)))),
}


_CLASS_CODES = ((3.0, 4.0), (4.0, -3.0), (-3.0, -4.0), (-4.0, 3.0))


def _generate_inputs(g):
    from ..models import MLPAutoencoder  # not at import time: aecore.models needs aecore.lessons, made from here
    model = MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2)
    return [(model, torch.randn(6, 2, generator=g) * 3 + 1, 5, 0.5), (model, torch.tensor(_CLASS_CODES), 3, 0.2)]


def _generate_features(out, args, context):
    z = context["codes"]  # NaN when the function decoded nothing
    return {"mean of the first coordinate": float(z[:, 0].mean()), "mean of the second": float(z[:, 1].mean()),
            "spread of the codes": float(z.std(0).mean()), "share of values outside [0, 1]": share_outside_01(out),
            "mean value": float(out.mean()), "spread of the values": float(out.std())}


@exercise(_GENERATE, seed=16, features=_generate_features, records_codes=True, inputs=_generate_inputs,
          large=lambda g, inputs: (inputs[0][0], torch.tensor(_CLASS_CODES), 20000, 0.5))
def check_generate_from_codes(fn: Callable, cases: CaseSet) -> None:
    """``fn(model, class_codes, n, scale) -> (n, C, H, W)`` images, on a tiny autoencoder; prints ✓ or raises."""
    check_random("generate_from_codes", fn, cases, _GENERATE)
