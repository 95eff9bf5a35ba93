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
* ``handwritten``: the same training step with its forward and backward pass written out by
  hand (no autograd, no modules), fused Adam: the same work with the least bookkeeping eager
  PyTorch allows, so what separates it from ``aecore`` is the cost of autograd and modules;
* ``matmul``: only the matrix products of the same training step (forward and backward, the
  same shapes, no element-wise work and no optimizer), timed the same way: the rate the
  hardware reaches for this network's own matrix products, the loop's upper limit;
* ``matmuladam``: those products plus a fused Adam update per step, the limit for a loop
  that trains with Adam (whose update streams the weights, gradients and both moments).

Rates are images per second over a whole epoch. Each way runs one untimed warm-up epoch,
then one timed epoch per round, all ways in turn in every round (``--rounds``, 5 by default),
so that a machine that slows down for a while (a shared virtual machine does) slows every way
alike. A row's rate is its median over the rounds, with the slowest and fastest round beside
it. Every ratio (× the seeds' pattern, share of the matmul rate, aecore against the limits) is
taken within each round, and the median of the rounds' ratios is stored. The compiled way
counts its compilation in its first epoch, so it is timed once, without warm-up, and its later
epochs form the ``compiled2`` row. One step costs ``6 * weights`` FLOP per image (forward 2,
backward 4), so each rate also gives GFLOP/s::

    python -m benchmarks.mnist_throughput [--threads N] [--rounds R] ["note on the conditions"]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from statistics import median

import torch
from torch.nn import functional as F
from torchvision import datasets, transforms

import aecore  # noqa: F401  (flushes denormals before any torch work)
from aecore import labs, objectives
from aecore.datasets import mnist
from aecore.train import TrainConfig, train
from benchmarks._results import save_benchmark

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


def linear_layers(model: torch.nn.Module) -> list[tuple[torch.nn.Linear, bool]]:
    """``model``'s fully connected layers in order, each with whether a ReLU follows it."""
    leaves = [m for m in model.modules() if not list(m.children())]
    return [(m, isinstance(after, torch.nn.ReLU)) for m, after in zip(leaves, leaves[1:] + [None])
            if isinstance(m, torch.nn.Linear)]


@torch.no_grad()
def hand_written_step(layers: list[tuple[torch.nn.Linear, bool]], x: torch.Tensor) -> torch.Tensor:
    """Forward and backward pass of the MLP ``layers`` (:func:`linear_layers`) on the flat batch
    ``x`` (N, 784) written out by hand, without autograd or modules: sets every weight's and bias's
    ``.grad`` to that of the summed BCE / N and returns that loss (a scalar tensor)."""
    activations = [x]
    for layer, relu in layers:
        h = torch.addmm(layer.bias, activations[-1], layer.weight.t())
        activations.append(h.relu_() if relu else h)
    logits = activations.pop()
    loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    grad = (torch.sigmoid(logits) - x).div_(len(x))
    for k in range(len(layers) - 1, -1, -1):
        layer, h_in = layers[k][0], activations[k]
        layer.weight.grad, layer.bias.grad = grad.t() @ h_in, grad.sum(0)
        if k:
            grad = grad @ layer.weight
            if layers[k - 1][1]:
                grad.masked_fill_(h_in <= 0, 0)
    return loss


def hand_written_epoch(model: torch.nn.Module, images: torch.Tensor) -> float:
    """One epoch like :func:`in_memory_epoch` with fused Adam, each step's gradients from
    :func:`hand_written_step`: the same work without autograd's and the modules' bookkeeping, the
    limit for a loop in eager PyTorch; returns its seconds."""
    start = time.perf_counter()
    layers = linear_layers(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    order = torch.randperm(len(images))
    total = torch.zeros(())
    for first in range(0, len(images), BATCH):
        total += hand_written_step(layers, images[order[first:first + BATCH]].flatten(1))
        optimizer.step()
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


def interleaved_rounds(runs: Mapping[str, Callable[[], float]], rounds: int, n_images: int) -> dict[str, list[float]]:
    """Seconds of ``rounds`` calls of each of ``runs`` (id -> seconds of one epoch of ``n_images``), the
    ways taking turns within each round, after one untimed warm-up call of each; returns id -> the
    seconds of each round (and prints each round's rates)."""
    for run in runs.values():
        run()
    seconds: dict[str, list[float]] = {row_id: [] for row_id in runs}
    for round_number in range(1, rounds + 1):
        for row_id, run in runs.items():
            seconds[row_id].append(run())
        print(f"round {round_number}: "
              + ", ".join(f"{row_id} {n_images / s[-1]:,.0f}" for row_id, s in seconds.items())
              + " images/s", flush=True)
    return seconds


def rate_range(n_images: int, seconds: list[float]) -> str:
    """The slowest and fastest of a way's rounds as images/s, "12,000–13,000" (one number for one round)."""
    slowest, fastest = (f"{n_images / t:,.0f}" for t in (max(seconds), min(seconds)))
    return slowest if len(seconds) == 1 else f"{slowest}–{fastest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per way, taken in turns (default 5)")
    parser.add_argument("note", nargs="?", default="", help="conditions, added to the caption")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set = mnist.load_mnist("train", download=True)
    images, n = train_set.images, len(train_set)
    mnist_folder = mnist.mnist_root()

    def fresh():
        torch.manual_seed(0)
        return labs.lab1.autoencoder(latent_dim=2)

    flop_per_image = 6 * weight_count(fresh())
    compiled_model = fresh()
    compiled_step = torch.compile(compiled_model)  # compiles lazily, in its first epoch

    def compiled_epoch() -> float:
        return in_memory_epoch(compiled_model, images, {"fused": True}, step_model=compiled_step)

    ways: dict[str, tuple[str, Callable[[], float]]] = {
        "seeds": ("seeds' pattern: torchvision MNIST + ToTensor + DataLoader, .item() per step",
                  lambda: seeds_pattern_epoch(fresh(), mnist_folder)),
        "memory": ("tensors in memory, batches by indexing, Adam as default (for-loop on CPU)",
                   lambda: in_memory_epoch(fresh(), images, {"foreach": False})),
        "foreach": ("+ Adam foreach (one kernel per operation over all parameters)",
                    lambda: in_memory_epoch(fresh(), images, {"foreach": True})),
        "fused": ("+ Adam fused (one kernel per parameter for the whole update)",
                  lambda: in_memory_epoch(fresh(), images, {"fused": True})),
        "compiled": ("+ torch.compile of the model, first epoch (compile time included)", compiled_epoch),
        "compiled2": ("+ torch.compile of the model, later epochs (compiled already)", compiled_epoch),
        "aecore": ("aecore.train.train (epochs=1, batch 128)",
                   lambda: train(fresh(), train_set, config=TrainConfig(epochs=1, batch_size=BATCH, lr=LR),
                                 loss=objectives.reconstruction_bce, progress=False).seconds),
        "handwritten": ("the same step written out by hand, no autograd (the limit in eager PyTorch)",
                        lambda: hand_written_epoch(fresh(), images)),
        "matmul": ("matrix products alone, same shapes (the limit)", lambda: matmul_epoch(fresh(), n)),
        "matmuladam": ("matrix products + fused Adam update (the limit with Adam)",
                       lambda: matmul_adam_epoch(fresh(), n)),
    }
    seconds = {"compiled": [compiled_epoch()]}  # the first epoch, compilation included: once, no warm-up
    seconds |= interleaved_rounds({row_id: run for row_id, (_, run) in ways.items() if row_id != "compiled"},
                                  args.rounds, n)
    typical = {row_id: median(times) for row_id, times in seconds.items()}

    def round_ratios(row_id: str, reference: str) -> list[float]:
        """How many times faster ``row_id`` ran than ``reference`` in each round."""
        return [ref / ours for ref, ours in zip(seconds[reference], seconds[row_id])]

    def speedup(row_id: str, reference: str) -> float:
        """The median of :func:`round_ratios` (the once-timed compiled epoch: against the reference's median)."""
        if len(seconds[row_id]) != len(seconds[reference]):
            return typical[reference] / typical[row_id]
        return median(round_ratios(row_id, reference))

    rows = [{"id": row_id, "loop": label, "images / s": n / typical[row_id],
             "slowest–fastest round": rate_range(n, seconds[row_id]),
             "GFLOP/s": n * flop_per_image / typical[row_id] / 1e9,
             "× seeds' pattern": speedup(row_id, "seeds"),
             "share of matmul rate": speedup(row_id, "matmul")} for row_id, (label, _) in ways.items()]
    ratios = {"aecore_vs_seeds": speedup("aecore", "seeds"), "aecore_vs_matmul": speedup("aecore", "matmul"),
              "aecore_vs_matmul_adam": speedup("aecore", "matmuladam"),
              "aecore_vs_handwritten": speedup("aecore", "handwritten")}
    per_round = {"aecore_vs_seeds": round_ratios("aecore", "seeds")}
    caption = (f"One epoch of {n:,} MNIST digits, 784-512-256-2 autoencoder, batch {BATCH}, "
               f"{flop_per_image / 1e6:.1f} MFLOP per image and step; {torch.get_num_threads()} torch threads; "
               f"median of {args.rounds} rounds" + (f"; {args.note}" if args.note else ""))
    path = save_benchmark("mnist_throughput", rows, {"images / s": ",.0f", "GFLOP/s": ".1f", "× seeds' pattern": ".2f",
                                                     "share of matmul rate": ".0%"},
                          caption, ratios=ratios, ratios_per_round=per_round, seconds_per_round=seconds,
                          flop_per_image=flop_per_image)
    print(f"aecore: {ratios['aecore_vs_seeds']:.2f}× the seeds' pattern (rounds: "
          f"{', '.join(f'{r:.2f}' for r in per_round['aecore_vs_seeds'])}), {ratios['aecore_vs_matmul']:.0%} of the "
          f"matmul rate, {ratios['aecore_vs_matmul_adam']:.0%} of the matmul + Adam rate; wrote {path}")


if __name__ == "__main__":
    main()
