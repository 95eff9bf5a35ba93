"""Lab 2 design study: which convolutional autoencoder reaches the best test PSNR on the dogs
in a short, fixed training budget? Writes aecore/benchmark_results/lab2_architecture.json, which the
Lab 2 chapter shows as its design table.

Every variant has the lab's 8x8x16 power-normalised code and is trained with MSE on the same
train/test split; runs go through ``fit_or_load``, so re-running only trains what changed.
Run it on a quiet machine (timings are wall-clock):

    python benchmarks/lab2_architecture.py ["note on the conditions, added to the caption"]
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aecore  # noqa: E402  (first: flushes denormals before any torch work)
from aecore import metrics, models, recipes  # noqa: E402
from aecore.train import TrainConfig, fit_or_load  # noqa: E402
from benchmarks._results import save_benchmark  # noqa: E402

PLAIN = recipes.DOGS_ARCHITECTURE
SHORT = TrainConfig(epochs=4, batch_size=32, lr=2e-3, loss="mse", hflip=True, lr_schedule="cosine")
# The recipe the Lab 2 chapter trains (same name and settings, so this reuses its cached model).
CHAPTER = ("dogs-cae-noise0", recipes.dogs_config(epochs=10))

# (cache name, variant, model keyword arguments, training config)
VARIANTS = [
    ("lab2-design-plain", "plain: batch 32, lr 2e-3, constant", PLAIN,
     TrainConfig(epochs=4, batch_size=32, lr=2e-3, loss="mse")),
    ("lab2-design-schedule", "+ cosine schedule, flips", PLAIN, SHORT),
    ("lab2-design-residual", "+ a residual block per stage", dict(PLAIN, blocks=1), SHORT),
    ("lab2-design-batch16", "plain + schedule, flips, batch 16, lr 1e-3", PLAIN,
     replace(SHORT, batch_size=16, lr=1e-3)),
    ("lab2-design-batch8", "plain + schedule, flips, batch 8, lr 1e-3", PLAIN, replace(SHORT, batch_size=8, lr=1e-3)),
    (CHAPTER[0], "chapter: batch 8, lr 1e-3, 10 epochs", PLAIN, CHAPTER[1]),
]


def main() -> None:
    train_set, test_set = recipes.dogs_sets()
    rows = []
    for name, variant, kwargs, config in VARIANTS:
        model = models.ConvAutoencoder(**kwargs, latent_noise=0.0)
        history = fit_or_load(name, model, train_set, test_set, config)
        psnr = metrics.mean_psnr(models.reconstruct(model, test_set.images), test_set.images)
        rows.append({"variant": variant, "parameters": models.count_parameters(model),
                     "epochs": config.epochs, "s / epoch": history.seconds / config.epochs, "test PSNR (dB)": psnr})
        print(rows[-1], flush=True)
    path = save_benchmark("lab2_architecture", rows, {"parameters": ",", "s / epoch": ".0f", "test PSNR (dB)": ".2f"},
                          f"Runs on {len(train_set):,} training photos, test PSNR on {len(test_set):,}; s / epoch "
                          "includes the per-epoch validation pass" + (f"; {sys.argv[1]}" if len(sys.argv) > 1 else ""))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
