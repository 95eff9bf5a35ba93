"""What does a cached ``fit_or_load`` call cost, and how much of it is the key and the load check?
Writes ``benchmarks/results/load_check_cost.json``.

Since issue 33 a call that loads a model does more than read its file: it hashes the training and
validation sets' contents (:func:`aecore.cache.keys.data_fingerprint`), describes the objective,
the model class and the training loop from the objects in memory
(:func:`aecore.cache.keys.describe_run`), and runs the load check's probe, one forward and
backward pass of a fresh copy of the model on a few images on the CPU
(:func:`aecore.cache.load_check.measure`). This times each part, and the whole call, for two of
the book's models on data of the book's sizes:

* ``lab1``: Lab 1's 784-512-256-2 autoencoder on the 60,000 MNIST training digits and the 10,000
  test digits (real MNIST from the data root), the summed BCE;
* ``lab2``: Lab 2's convolutional autoencoder on 2,430 + 270 random photos of its size (the dog
  labs' budget), MSE + SSIM.

The model file is written once from the untrained model (what is timed is reading, checking and
loading it, which does not depend on the weights' values). Each part is timed ``--rounds`` times
(5 by default), all parts in turn in every round; a row gives the median in milliseconds::

    python -m benchmarks.load_check_cost [--rounds R] [--threads N] ["note on the conditions"]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from statistics import median

import numpy as np
import torch

from aecore import labs, objectives
from aecore.cache import describe_run, key_of, load_check, model_file_name, read_model_file, save_model_file
from aecore.cache.keys import code_fingerprints, data_fingerprint, loss_description
from aecore.datasets import LabelledImages
from aecore.datasets.mnist import load_mnist
from aecore.train import TrainConfig, batch_losses, fit_or_load
from benchmarks._results import local_path, save_benchmark

SEED = 0
CPU = torch.device("cpu")


def cases() -> dict[str, tuple[torch.nn.Module, LabelledImages, LabelledImages, Callable]]:
    """name -> (model, training set, validation set, objective), the book's sizes."""
    lab1 = (labs.lab1.autoencoder(2), load_mnist("train"), load_mnist("test"), objectives.reconstruction_bce)
    conv = labs.lab2.autoencoder()
    size = conv.hparams["image_size"]
    gen = torch.Generator().manual_seed(SEED)

    def photos(n: int) -> LabelledImages:
        return LabelledImages(torch.rand(n, 3, size, size, generator=gen), torch.arange(n) % 5, list("abcde"))

    lab2 = (conv, photos(2430), photos(270), partial(objectives.mse_ssim, ssim_weight=labs.lab2.SSIM_WEIGHT))
    return {"lab1": lab1, "lab2": lab2}


def time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start)


def measure_case(model, train_data, val_data, loss, folder: Path, rounds: int) -> dict[str, float]:
    """Median milliseconds of each part of a cached fit_or_load call, and of the whole call."""
    config = TrainConfig(epochs=1, seed=SEED)
    run = describe_run(model, train_data, val_data, config, loss)
    objective = partial(batch_losses, loss=loss)
    probe = load_check.measure(model, train_data.images, train_data.labels, objective, config.seed)
    path = folder / model_file_name("bench", key_of(run))
    save_model_file(path, "bench", run, model, {"metrics": {}, "seconds": 0.0, "device": "cpu"}, probe)

    def load_file() -> None:
        model.load_state_dict(read_model_file(path, expected_key=key_of(run))["state_dict"])

    parts: dict[str, Callable[[], object]] = {
        "data fingerprints": lambda: (data_fingerprint(train_data), data_fingerprint(val_data)),
        "objective": lambda: loss_description(loss),
        "model and loop code": lambda: code_fingerprints(model),
        "load check": lambda: load_check.measure(model, train_data.images, train_data.labels, objective, config.seed),
        "read and load the file": load_file,
        "whole call": lambda: fit_or_load("bench", model, train_data, val_data, config, loss=loss, device=CPU,
                                          cache_dir=folder, progress=False),
    }
    parts["whole call"]()  # warm-up (and a check that it loads)
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, part in parts.items():
            times[name].append(time_ms(part))
    result = {name: median(values) for name, values in times.items()}
    result["file MB"] = path.stat().st_size / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("note", nargs="?", default="", help="the conditions (e.g. other jobs on the machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, train_data, val_data, loss) in cases().items():
            measured = measure_case(model, train_data, val_data, loss, Path(folder), args.rounds)
            rows.append({"case": name, **measured})
            print(name, {k: round(v, 1) for k, v in measured.items()}, flush=True)
    formats = {k: ".1f" for k in rows[0] if k != "case"}
    path = save_benchmark("load_check_cost", rows, formats,
                          "Median milliseconds of a cached fit_or_load call and of its parts (data fingerprints, "
                          "the objective's and the code's descriptions, the load check, reading the file)",
                          path=local_path("load_check_cost"), rounds=args.rounds, seed=SEED, note=args.note,
                          versions={"python": platform.python_version(), "torch": torch.__version__,
                                    "numpy": np.__version__, "platform": sys.platform})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
