"""The course's quality targets, checked over several training seeds.

The notebooks assert only what their prose claims (orderings, "X beats Y"); the course's
numeric targets live in the lab modules (``TARGETS`` of :mod:`aecore.labs.lab1` etc.), because a
number such as "test BCE <= 132" moves with the seed, the device and the library versions by more
than its margin. For each seed this trains (or loads from the model cache) the chapters' own
models through their lab modules: the same networks, training configs and cache names as the
notebooks, so the two cannot drift. Where a chapter trains with an objective of
:mod:`aecore.objectives` (the digit classifier, with cross-entropy) the study loads the chapter's
own cache file; where a chapter writes its objective in the notebook (``ae_loss``,
``denoising_loss``, ``dogs_loss``, ``vae_loss``, ``cvae_loss``: the exercises' subject) this uses
the reference objective of :mod:`aecore.objectives` that computes the same loss, and an
objective's code is part of a model's cache key, so that model has its own cache file.

* Lab 1: the 2-D autoencoder (test BCE <= 132 nats) and the 2-D and 32-D denoisers
  (test PSNR >= 14.5 and >= 20 dB);
* Lab 2: the sigma^2 = 0 baseline (test PSNR >= 25 dB);
* Lab 3: the 20-D VAE (test -ELBO <= 106 nats), the CVAE (>= 90 % of its samples read as the
  digit asked for) and the digit classifier that judges it (>= 98 % test accuracy).

It writes ``aecore/benchmark_results/quality_targets.json``: one row per quantity with every seed's
value, mean, range and how many seeds met the target, the raw numbers per seed, and the
provenance (device, torch, date, machine, commit). Exit status 1 if a target was missed.

    python -m benchmarks.quality_targets [--seeds 0 1 2] [--labs 1 2 3]

With ``--labs`` naming only some labs, the other labs' numbers are kept from the existing
results file when it holds the same seeds and profile (so one lab's recipe can change without
retraining the others); their provenance is then the new run's, with a note in the caption.

Runs in the full profile (the chapters' settings) unless AECORE_PROFILE says otherwise.
From an empty cache each seed trains about 20 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace

import torch

import aecore  # first: flushes denormals before any torch work
from aecore import classifier, latent, metrics, models, noise, objectives
from aecore.book.report import load_benchmark
from aecore.labs import LABS, common, lab1, lab2, lab3
from aecore.train import evaluate, fit_or_load
from benchmarks._results import save_benchmark

# quantity -> (label, lab, comparison, target, format), from the lab modules in book order
TARGETS = {key: (label, entry.number, comparison, target, fmt)
           for entry in LABS if entry.module is not None
           for key, (label, comparison, target, fmt) in entry.module.TARGETS.items()}


def measure_lab1(seed: int) -> dict[str, float]:
    """Lab 1's target quantities for one seed (plus the claims' inputs: noisy PSNR, BCE baseline)."""
    train_set, test_set = common.mnist_sets()
    config = replace(lab1.train_config(), seed=seed)
    ae2 = lab1.autoencoder(latent_dim=2)
    fit_or_load(lab1.ae_run(2), ae2, train_set, test_set, config, loss=objectives.reconstruction_bce, progress=False)
    denoising = lab1.denoising_objective()  # the denoisers train with the lab's train_config too
    noisy = noise.add_input_noise(test_set.images, lab1.DENOISING_NOISE, clip=True,
                                  generator=torch.Generator().manual_seed(0))  # the chapter's noisy test set
    psnr = {}
    for dim in (2, 32):
        dae = lab1.autoencoder(latent_dim=dim)
        fit_or_load(lab1.dae_run(dim), dae, train_set, test_set, config, loss=denoising, progress=False)
        psnr[dim] = metrics.mean_psnr(models.reconstruct(dae, noisy), test_set.images)
    return {"lab1_test_bce": evaluate(ae2, test_set, objectives.reconstruction_bce)["loss"], "lab1_psnr_den2": psnr[2],
            "lab1_psnr_den32": psnr[32], "lab1_psnr_noisy": metrics.mean_psnr(noisy, test_set.images)}


def measure_lab2(seed: int) -> dict[str, float]:
    """Lab 2's baseline for one seed: test PSNR/SSIM and the final training and validation MSE."""
    train_set, test_set = common.dogs_sets()
    model = lab2.autoencoder(latent_noise=0.0)
    history = fit_or_load(lab2.noise_run(0.0), model, train_set, test_set, replace(lab2.train_config(), seed=seed),
                          loss=lab2.objective(), progress=False)
    reconstructions = models.reconstruct(model, test_set.images)
    return {"lab2_test_psnr": metrics.mean_psnr(reconstructions, test_set.images),
            "lab2_test_ssim": metrics.mean_ssim(reconstructions, test_set.images),
            "lab2_final_train_mse": history.final("train_mse"), "lab2_final_val_mse": history.final("val_mse"),
            "lab2_train_seconds": history.seconds}


def measure_lab3(seed: int) -> dict[str, float]:
    """Lab 3's target quantities for one seed: 20-D VAE -ELBO, CVAE sample accuracy, classifier accuracy."""
    train_set, test_set = common.mnist_sets()
    config = replace(lab3.train_config(), seed=seed)
    vae20 = lab3.vae(latent_dim=20)
    fit_or_load(lab3.main_run("vae", latent_dim=20), vae20, train_set, test_set, config,
                loss=objectives.negative_elbo, progress=False)
    nelbo = evaluate(vae20, test_set, objectives.negative_elbo, seed=0)["loss"]  # one sampled z per image
    cvae = lab3.cvae()
    fit_or_load(lab3.main_run("cvae"), cvae, train_set, test_set, config, loss=objectives.negative_elbo,
                progress=False)
    judge, _ = common.digit_classifier(train_set, seed=seed)
    n_per_digit = lab3.FULL.n_per_digit  # the full chapter's 100 codes per digit, drawn as the chapter draws them
    z_style = torch.randn(n_per_digit, lab3.LATENT, generator=torch.Generator().manual_seed(2))
    samples, asked = latent.decode_per_class(cvae, z_style, num_classes=10)
    share = (classifier.predict_proba(judge, samples).argmax(1) == asked).float().mean().item()
    return {"lab3_vae20_nelbo": nelbo, "lab3_cvae_share": 100 * share,
            "lab3_classifier_accuracy": 100 * classifier.accuracy(judge, test_set.images, test_set.labels)}


MEASURES = {"1": measure_lab1, "2": measure_lab2, "3": measure_lab3}
"""Lab number (:attr:`aecore.labs.Lab.number`) -> the function that measures its targets for one seed."""


def lab_of(key: str) -> str:
    """The lab a per-seed number belongs to: ``"lab2_test_psnr"`` -> ``"2"``."""
    return key.split("_")[0].removeprefix("lab")


def keep_other_labs(per_seed: dict[int, dict[str, float]], labs: list[str],
                    seeds: list[int]) -> tuple[list[str], str]:
    """Add to ``per_seed`` (in place) the numbers of the labs not in ``labs`` from the existing
    results file, if it was made with the same ``seeds`` and profile; return the labs kept and
    the date of that file."""
    try:
        previous = load_benchmark("quality_targets")
    except (FileNotFoundError, ValueError):
        return [], ""
    if previous.get("seeds") != seeds or previous.get("profile") != aecore.profile():
        return [], ""
    kept = sorted({lab_of(key) for numbers in previous["per_seed"].values() for key in numbers} - set(labs))
    for seed in seeds:
        per_seed[seed].update({key: value for key, value in previous["per_seed"][str(seed)].items()
                               if lab_of(key) in kept})
    return kept, previous["provenance"]["date"]


def met(value: float, comparison: str, target: float) -> bool:
    """Whether ``value`` meets ``target`` under ``comparison`` ("<=" or ">=")."""
    return value <= target if comparison == "<=" else value >= target


def summarise(per_seed: dict[int, dict[str, float]]) -> list[dict]:
    """One table row per target quantity: each seed's value, mean, range, target and seeds that met it."""
    rows = []
    for key, (label, _, comparison, target, _) in TARGETS.items():
        values = {seed: numbers[key] for seed, numbers in per_seed.items() if key in numbers}
        if not values:
            continue
        row = {"quantity": label, "target": f"{comparison} {target:g}"}
        row.update({f"seed {seed}": value for seed, value in values.items()})
        row.update({"mean": statistics.fmean(values.values()), "range": max(values.values()) - min(values.values()),
                    "met": f"{sum(met(v, comparison, target) for v in values.values())}/{len(values)}"})
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labs", nargs="+", default=list(MEASURES), choices=list(MEASURES))
    args = parser.parse_args()
    per_seed = {}
    for seed in args.seeds:
        per_seed[seed] = {}
        for lab in args.labs:
            numbers = MEASURES[lab](seed)
            per_seed[seed].update(numbers)
            print(f"seed {seed}, lab {lab}: {numbers}", flush=True)
    kept, kept_from = keep_other_labs(per_seed, args.labs, args.seeds)
    rows = summarise(per_seed)
    formats = {f"seed {seed}": ".2f" for seed in args.seeds} | {"mean": ".2f", "range": ".2f"}
    path = save_benchmark(
        "quality_targets", rows, formats,
        f"Course targets over training seeds {', '.join(map(str, args.seeds))} (AECORE_SEED), "
        f"{aecore.profile()} profile; range = largest minus smallest value"
        + (f"; labs {', '.join(kept)} kept from the run of {kept_from}" if kept else ""),
        per_seed={str(seed): numbers for seed, numbers in per_seed.items()}, profile=aecore.profile(),
        seeds=args.seeds)
    print(f"wrote {path}")
    missed = [f"{label}, seed {seed}: {numbers[key]:{fmt}}"
              for key, (label, _, comparison, target, fmt) in TARGETS.items()
              for seed, numbers in per_seed.items() if key in numbers and not met(numbers[key], comparison, target)]
    for miss in missed:
        print(f"target missed: {miss}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
