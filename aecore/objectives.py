"""Training objectives: what :func:`aecore.train.train` minimises, passed as ``loss=``.

An objective is any function ``loss(model, x, y)`` of a model, a batch of images ``x``
(N, C, H, W) in [0, 1] and their int64 labels ``y`` (N,) that returns the loss of each
image, shape (N,), or a dict of such tensors with the objective under ``"loss"`` and
further parts to log (``"recon"``, ``"kl"``, ...). The training loop minimises the batch
mean of ``"loss"``; :func:`aecore.train.evaluate` averages every entry over a data set.

The labs write their own objectives in the notebooks from the functions of
:mod:`aecore.lessons`; these are the same objectives for code outside the notebooks
(the lab modules of :mod:`aecore.labs`, benchmarks, tests). Objectives with settings take
them as keyword arguments: bind them with ``functools.partial`` (e.g.
``partial(denoising_bce, noise_factor=0.4)``), so that the settings are part of the model's
cache key (:mod:`aecore.cache.code_identity`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from . import lessons, metrics

__all__ = ["reconstruction_bce", "reconstruction_mse", "denoising_bce", "penalised_bce", "mse_ssim",
           "negative_elbo", "gaussian_negative_elbo", "cross_entropy"]


def reconstruction_bce(model, x, y):
    """The summed BCE of each image's reconstruction (nats/image)."""
    return lessons.bce_per_image(model(x), x)


def reconstruction_mse(model, x, y):
    """The squared error of each image's reconstruction, averaged over its pixels."""
    return (torch.sigmoid(model(x)) - x).pow(2).flatten(1).mean(1)


def denoising_bce(model, x, y, *, noise_factor):
    """The summed BCE of the clean ``x`` rebuilt from ``x + noise_factor * N(0, 1)`` clipped to [0, 1]."""
    return lessons.bce_per_image(model(lessons.noisy_input(x, noise_factor)), x)


def penalised_bce(model, x, y, *, strength):
    """``loss``: the summed BCE plus ``strength`` times the squared weights (:func:`aecore.lessons.l2_penalty`),
    the same for every image of the batch; ``bce``: the BCE alone."""
    bce = lessons.bce_per_image(model(x), x)
    return {"loss": bce + strength * lessons.l2_penalty(model), "bce": bce}


def mse_ssim(model, x, y, *, ssim_weight):
    """``loss``: the per-pixel MSE plus ``ssim_weight * (1 - SSIM)``; ``mse`` and ``ssim``: its parts."""
    logits = model(x)
    loss = lessons.mse_ssim_per_image(logits, x, ssim_weight)
    with torch.no_grad():  # the two parts, logged only
        decoded = torch.sigmoid(logits)
        parts = {"mse": F.mse_loss(decoded, x, reduction="none").flatten(1).mean(1), "ssim": metrics.ssim(decoded, x)}
    return {"loss": loss, **parts}


def _posterior_and_logits(model, x, y):
    mu, logvar = model.encode(x, y)
    return model.decode(lessons.reparameterize(mu, logvar), y), mu, logvar


def negative_elbo(model, x, y):
    """A (conditional) VAE's negative ELBO with the summed BCE: ``loss`` = ``recon`` + ``kl`` (nats/image)."""
    logits, mu, logvar = _posterior_and_logits(model, x, y)
    recon, kl = lessons.bce_per_image(logits, x), lessons.kl_divergence(mu, logvar)
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def gaussian_negative_elbo(model, x, y, *, sigma):
    """A VAE's negative ELBO with Gaussian pixels N(sigmoid(logits), sigma**2): ``loss``, ``recon``, ``kl``."""
    logits, mu, logvar = _posterior_and_logits(model, x, y)
    kl = lessons.kl_divergence(mu, logvar)
    loss = lessons.gaussian_negative_elbo(logits, x, mu, logvar, sigma)
    return {"loss": loss, "recon": loss - kl, "kl": kl}


def cross_entropy(model, x, y):
    """A classifier's cross-entropy against the labels (``loss``, nats/image) and its accuracy (``acc``, 0 or 1)."""
    logits = model(x)
    return {"loss": F.cross_entropy(logits, y, reduction="none"), "acc": (logits.argmax(1) == y).float()}
