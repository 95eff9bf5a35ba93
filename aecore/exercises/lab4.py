"""Lab 4's exercise (notebooks/04_wafer_maps.ipynb): its reference implementation, its typical mistakes and
its check, registered by :func:`~aecore.exercises.framework.exercise`.

In the notebook: ``from aecore.exercises import lab4 as exercises``, then
``exercises.check_generate_from_codes(generate_from_codes)``. The lab takes Lab 2's
:func:`~aecore.exercises.lab2.perturb_codes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..utils import eval_mode
from .framework import Mistake, check_random, decoding, exercise, generator, share_outside_01
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


@exercise(generate_from_codes, _GENERATE)
def check_generate_from_codes(fn: Callable) -> None:
    """``fn(model, class_codes, n, scale) -> (n, C, H, W)`` images, on a tiny autoencoder; prints ✓ or raises."""
    from ..models import MLPAutoencoder  # not at import time: aecore.models needs aecore.lessons, made from here
    torch.manual_seed(16)
    model = MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2)
    g = generator(16)
    codes: list = []

    def features(out, args):
        z = codes[-1] if codes else torch.full((1, 2), math.nan)
        codes.clear()
        return {"mean of the first coordinate": float(z[:, 0].mean()), "mean of the second": float(z[:, 1].mean()),
                "spread of the codes": float(z.std(0).mean()), "share of values outside [0, 1]": share_outside_01(out),
                "mean value": float(out.mean()), "spread of the values": float(out.std())}
    class_codes = torch.tensor([[3.0, 4.0], [4.0, -3.0], [-3.0, -4.0], [-4.0, 3.0]])
    cases = [(model, torch.randn(6, 2, generator=g) * 3 + 1, 5, 0.5), (model, class_codes, 3, 0.2)]
    mistakes = {k: m._replace(variant=decoding(m.variant, codes))  # type: ignore[arg-type]  # each has a variant
                for k, m in _GENERATE.items()}
    check_random("generate_from_codes", decoding(fn, codes), cases, mistakes, (model, class_codes, 20000, 0.5),
                 features, decoding(generate_from_codes, codes))
