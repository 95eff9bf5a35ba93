"""Lab 2 design study: which convolutional autoencoder reaches the best test PSNR on the dogs
in a short, fixed training budget? Writes aecore/benchmark_results/lab2_architecture.json, which the
Lab 2 chapter shows as its design table.

Every variant has the lab's 8x8x16 power-normalised code and is trained on the same
train/test split; runs go through ``fit_or_load``, so re-running only trains what changed.
Each row has a short ``id`` the chapter refers to. Every run trains 10 epochs with batches of
8 photos, a cosine schedule and random flips, as the chapter does. From the chapter's first
recipe, the rows add one at a time what took it to the chapter's recipe (activations between
the stages, a warm-up to a higher learning rate, an SSIM term in the loss), plus a wider
8x8 stage. (An earlier four-epoch study, in this script's history, chose the batch size,
schedule and flips and found residual blocks not worth their cost.) Run it on a quiet machine (timings are
wall-clock):

    python -m benchmarks.lab2_architecture ["note on the conditions, added to the caption"]
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import torch

import aecore  # noqa: F401  (flushes denormals before any torch work)
from aecore import labs, metrics, models, objectives
from aecore.train import Loss, TrainConfig, adam, fit_or_load, training_step
from aecore.utils import preferred_memory_format
from benchmarks._results import save_benchmark

PLAIN = labs.lab2.PLAIN_ARCHITECTURE
ACTIVE = labs.lab2.ARCHITECTURE
FIRST_RECIPE = labs.lab2.plain_config(epochs=10)
WARMUP = replace(FIRST_RECIPE, lr=3e-3, warmup=0.05)
CHAPTER = labs.lab2.train_config(epochs=10)
MSE = objectives.reconstruction_mse
MSE_SSIM = labs.lab2.objective()  # MSE + 0.05 (1 - SSIM)

# (id, cache name, variant, model keyword arguments, training config, objective). The chapter's runs
# keep the chapter's cache names, so this reuses its models (and the chapter reuses these) as long as
# the chapter trains with the same objective (the same code: see aecore.cache.code_identity).
VARIANTS = [
    ("first", "dogs-cae-noise0", "first recipe: no activations, lr 1e-3", PLAIN, FIRST_RECIPE, MSE),
    ("activations", "lab2-design-activations", "+ batch norm and SiLU after every inner convolution", ACTIVE,
     FIRST_RECIPE, MSE),
    ("warmup", "lab2-design-warmup", "+ lr 3e-3 after a 5 % linear warm-up", ACTIVE, WARMUP, MSE),
    ("chapter", "dogs-cae-noise0", "+ loss MSE + 0.05 (1 - SSIM): the chapter's recipe", ACTIVE, CHAPTER, MSE_SSIM),
    ("wide", "lab2-design-wide", "chapter's recipe, 256 channels at 8x8", dict(ACTIVE, channels=(32, 64, 256)),
     CHAPTER, MSE_SSIM),
]


def seconds_per_step(kwargs: dict, config: TrainConfig, loss: Loss, images: torch.Tensor, steps: int = 8,
                     rounds: int = 5) -> float:
    """Wall-clock seconds of one training step (forward, loss, backward, Adam) of a fresh
    ``ConvAutoencoder(**kwargs)`` minimising ``loss`` on batches of ``config.batch_size`` photos, laid out and
    optimised as :func:`aecore.train.train` does it: after 3 warm-up steps, the fastest of
    ``rounds`` rounds of ``steps`` steps, divided by ``steps`` (the fastest round is the one
    least disturbed by other work). Timed back to back for every variant, so the variants'
    costs compare even where their training runs did not share the same conditions."""
    model = models.ConvAutoencoder(**kwargs, latent_noise=0.0)
    device = torch.device("cpu")
    memory_format = preferred_memory_format(device, images)
    model.to(memory_format=memory_format).train()
    optimizer = adam(model, config, device)
    labels = torch.zeros(config.batch_size, dtype=torch.long)
    batches = images[:config.batch_size * 4].contiguous(memory_format=memory_format)
    def step(i: int) -> None:
        training_step(model, optimizer, batches[(i % 4) * config.batch_size:(i % 4 + 1) * config.batch_size], labels,
                      loss)

    for i in range(3):
        step(i)
    fastest = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest / steps


def main() -> None:
    train_set, test_set = labs.common.dogs_sets()
    rows = []
    for row_id, name, variant, kwargs, config, loss in VARIANTS:
        model = models.ConvAutoencoder(**kwargs, latent_noise=0.0)
        history = fit_or_load(name, model, train_set, test_set, config, loss=loss)
        reconstructions = models.reconstruct(model, test_set.images)
        steps_per_epoch = -(-len(train_set) // config.batch_size)
        rows.append({"id": row_id, "variant": variant, "parameters": models.count_parameters(model),
                     "epochs": config.epochs, "s / epoch": history.seconds / config.epochs,
                     "step cost, s / epoch": steps_per_epoch * seconds_per_step(kwargs, config, loss,
                                                                               train_set.images),
                     "test PSNR (dB)": metrics.mean_psnr(reconstructions, test_set.images),
                     "test SSIM": metrics.mean_ssim(reconstructions, test_set.images)})
        print(rows[-1], flush=True)
    path = save_benchmark("lab2_architecture", rows, {"parameters": ",", "s / epoch": ".0f",
                                                       "step cost, s / epoch": ".0f",
                                                       "test PSNR (dB)": ".2f", "test SSIM": ".3f"},
                          f"Runs on {len(train_set):,} training photos, test PSNR and SSIM on {len(test_set):,}. "
                          "s / epoch: the training run's own time (with its per-epoch validation pass), as it was "
                          "first trained; step cost: the fastest of 5 rounds of 8 training steps of each variant, "
                          "timed back to back by this script, times the steps of an epoch"
                          + (f"; {sys.argv[1]}" if len(sys.argv) > 1 else ""))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
