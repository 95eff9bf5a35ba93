"""How fast does the MNIST training loop run, against the usual DataLoader pattern and against
the machine's own matrix-multiply rate? Writes aecore/benchmark_results/mnist_throughput.json.

Everything trains Lab 1's 784-512-256-2 autoencoder with the summed BCE, Adam (lr 1e-3) and
batches of 128 on the 60,000 MNIST training digits, one epoch per run, side by side in one
process:

* ``seeds``: the course seeds' pattern: torchvision ``MNIST`` + ``ToTensor`` + a shuffling
  ``DataLoader``, the loss read back with ``.item()`` after every step;
* the steps from that to :func:`aecore.train.train`, each added on top of the previous one
  (tensors indexed in memory instead of a DataLoader; Adam's foreach, then fused kernels;
  ``torch.compile``, its compile time included), then ``aecore.train.train`` itself;
* ``matmul``: only the matrix products of the same training step (forward and backward, the
  same shapes, no element-wise work and no optimizer), timed the same way: the rate the
  hardware reaches for this network's own matrix products, the loop's upper limit;
* ``matmuladam``: those products plus a fused Adam update per step, the limit for a loop
  that trains with Adam (whose update streams the weights, gradients and both moments).

Rates are images per second over a whole epoch (after one warm-up epoch, except that the
compiled run counts its compilation). One step costs ``6 * weights`` FLOP per image (forward
2, backward 4), so each rate also gives GFLOP/s. Run it on a quiet machine::

    python benchmarks/mnist_throughput.py [--threads N] ["note on the conditions"]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aecore  # noqa: E402  (first: flushes denormals before any torch work)
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torchvision import datasets, transforms  # noqa: E402

from aecore import data, recipes  # noqa: E402
from aecore.train import TrainConfig, train  # noqa: E402
from benchmarks._results import save_benchmark  # noqa: E402

BATCH = 128
LR = 1e-3


def weight_count(model: torch.nn.Module) -> int:
    """Multiply-accumulates per image of one forward pass: the entries of the weight matrices."""
    return sum(p.numel() for p in model.parameters() if p.ndim == 2)


def seeds_pattern_epoch(model: torch.nn.Module, mnist_folder: Path) -> float:
    """One epoch in the seeds' pattern; returns its seconds."""
    dataset = datasets.MNIST(str(mnist_folder), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    total = 0.0
    for x, _ in loader:
        loss = F.binary_cross_entropy_with_logits(model(x), x, reduction="sum") / len(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return time.perf_counter() - start


def in_memory_epoch(model: torch.nn.Module, images: torch.Tensor, adam: dict,
                    step_model: Callable | None = None) -> float:
    """One epoch over ``images`` (N, 1, 28, 28) batched by indexing, Adam built with ``adam``
    (e.g. ``{"foreach": True}``), losses summed on the device and read once; returns its seconds.
    ``step_model``: ``torch.compile(model)`` to run instead of ``model``; it compiles in its first
    epoch, so that epoch's time includes the compilation."""
    start = time.perf_counter()
    step_model = model if step_model is None else step_model
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, **adam)
    order = torch.randperm(len(images))
    total = torch.zeros(())
    for first in range(0, len(images), BATCH):
        x = images[order[first:first + BATCH]]
        loss = F.binary_cross_entropy_with_logits(step_model(x), x, reduction="sum") / len(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    float(total)
    return time.perf_counter() - start


def matmul_epoch(model: torch.nn.Module, n_images: int) -> float:
    """The matrix products of one epoch of training steps alone (forward: x W^T per layer;
    backward: the gradient w.r.t. each layer's input, except the first, and w.r.t. each weight)."""
    weights = [p.detach() for p in model.parameters() if p.ndim == 2]
    inputs = [torch.rand(BATCH, w.shape[1]) for w in weights]
    grads = [torch.rand(BATCH, w.shape[0]) for w in weights]
    start = time.perf_counter()
    for _ in range(0, n_images, BATCH):
        for i, (w, x, g) in enumerate(zip(weights, inputs, grads)):
            torch.mm(x, w.t())
            if i:
                torch.mm(g, w)
            torch.mm(g.t(), x)
    return time.perf_counter() - start


def matmul_adam_epoch(model: torch.nn.Module, n_images: int) -> float:
    """:func:`matmul_epoch` plus a fused Adam update of all of ``model``'s parameters per step: the
    limit for any loop that trains with Adam, whose update reads and writes four numbers per weight."""
    parameters = [p for p in model.parameters()]
    for p in parameters:
        p.grad = torch.rand_like(p)
    optimizer = torch.optim.Adam(parameters, lr=LR, fused=True)
    start = time.perf_counter()
    matmul_epoch(model, n_images)
    for _ in range(0, n_images, BATCH):
        optimizer.step()
    return time.perf_counter() - start


def timed(run: Callable[[], float], warmup: bool = True) -> float:
    """Seconds of ``run()`` (one epoch) after one untimed warm-up call if ``warmup``."""
    if warmup:
        run()
    return run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("note", nargs="?", default="", help="conditions, added to the caption")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set = data.load_mnist("train", download=True)
    images, n = train_set.images, len(train_set)
    mnist_folder = data.mnist_root()

    def fresh():
        torch.manual_seed(0)
        return recipes.digit_autoencoder(latent_dim=2)

    flop_per_image = 6 * weight_count(fresh())
    runs = [
        ("seeds", "seeds' pattern: torchvision MNIST + ToTensor + DataLoader, .item() per step",
         lambda: seeds_pattern_epoch(fresh(), mnist_folder), True),
        ("memory", "tensors in memory, batches by indexing, Adam as default (for-loop on CPU)",
         lambda: in_memory_epoch(fresh(), images, {"foreach": False}), True),
        ("foreach", "+ Adam foreach (one kernel per operation over all parameters)",
         lambda: in_memory_epoch(fresh(), images, {"foreach": True}), True),
        ("fused", "+ Adam fused (one kernel per parameter for the whole update)",
         lambda: in_memory_epoch(fresh(), images, {"fused": True}), True),
        ("compiled", "+ torch.compile of the model, first epoch (compile time included)",
         lambda: in_memory_epoch(compiled[0], images, {"fused": True}, step_model=compiled[1]), False),
        ("compiled2", "+ torch.compile of the model, second epoch (compiled already)",
         lambda: in_memory_epoch(compiled[0], images, {"fused": True}, step_model=compiled[1]), False),
        ("aecore", "aecore.train.train (epochs=1, batch 128)",
         lambda: train(fresh(), train_set, config=TrainConfig(epochs=1, batch_size=BATCH, lr=LR, loss="bce"),
                       progress=False).seconds, True),
        ("matmul", "matrix products alone, same shapes (the limit)", lambda: matmul_epoch(fresh(), n), True),
        ("matmuladam", "matrix products + fused Adam update (the limit with Adam)",
         lambda: matmul_adam_epoch(fresh(), n), True),
    ]
    compiled_model = fresh()
    compiled = (compiled_model, torch.compile(compiled_model))  # compiles lazily, in its first epoch
    seconds = {}
    for row_id, _, run, warmup in runs:
        seconds[row_id] = timed(run, warmup)
        print(f"{row_id}: {n / seconds[row_id]:,.0f} images/s", flush=True)
    rows = [{"id": row_id, "loop": label, "images / s": n / seconds[row_id],
             "GFLOP/s": n * flop_per_image / seconds[row_id] / 1e9,
             "× seeds' pattern": seconds["seeds"] / seconds[row_id],
             "share of matmul rate": seconds["matmul"] / seconds[row_id]} for row_id, label, _, _ in runs]
    ratios = {"aecore_vs_seeds": seconds["seeds"] / seconds["aecore"],
              "aecore_vs_matmul": seconds["matmul"] / seconds["aecore"],
              "aecore_vs_matmul_adam": seconds["matmuladam"] / seconds["aecore"]}
    caption = (f"One epoch of {n:,} MNIST digits, 784-512-256-2 autoencoder, batch {BATCH}, "
               f"{flop_per_image / 1e6:.1f} MFLOP per image and step; {torch.get_num_threads()} torch threads"
               + (f"; {args.note}" if args.note else ""))
    path = save_benchmark("mnist_throughput", rows, {"images / s": ",.0f", "GFLOP/s": ".1f", "× seeds' pattern": ".2f",
                                                     "share of matmul rate": ".0%"},
                          caption, ratios=ratios, flop_per_image=flop_per_image)
    print(f"aecore: {ratios['aecore_vs_seeds']:.2f}× the seeds' pattern, {ratios['aecore_vs_matmul']:.0%} of the "
          f"matmul rate, {ratios['aecore_vs_matmul_adam']:.0%} of the matmul + Adam rate; wrote {path}")


if __name__ == "__main__":
    main()
