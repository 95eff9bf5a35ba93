"""Issue 33's editable-module case, end to end in real Jupyter kernels.

A student imports ``loss`` from ``my_losses.py`` next to the notebook and trains. They fix the file (sum ->
mean) and re-run the cell without restarting: the kernel still runs the old code, so the right model is the old
code's (loaded, with a message saying to restart to use the file). A fresh kernel then runs the fixed loss: it
must train a model of its own, never load the old code's, and load its own afterwards. Before the fix the key
was read from the file: the re-run cell trained the old code under the fixed code's key, and every fresh kernel
loaded that model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aecore.book.kernels import BlockingIpcKernelManager
from aecore.config import REPO_ROOT as REPO

SUM = ("from aecore import lessons\n\n\ndef loss(model, x, y):\n"
       "    return lessons.bce_per_image(model(x), x)  # summed over the pixels\n")
MEAN = ("from aecore import lessons\n\n\ndef loss(model, x, y):\n"
        "    return lessons.bce_per_image(model(x), x) / x[0].numel()  # averaged over the pixels\n")

SETUP = """
import json, sys, warnings
sys.path.insert(0, {folder!r})
import torch
from aecore import models, train
from aecore.datasets import LabelledImages
gen = torch.Generator().manual_seed(0)
data = LabelledImages(torch.rand(64, 1, 8, 8, generator=gen), torch.arange(64) % 4, ["a", "b", "c", "d"])
"""

# The notebook's training cell, run as a student runs it (again, after editing the file).
TRAINING_CELL = """
from my_losses import loss
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    history = train.fit_or_load("editable", models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2),
                                data, None, train.TrainConfig(epochs=1, batch_size=32), loss=loss,
                                device=torch.device("cpu"), cache_dir={cache!r}, progress=False)
print("RESULT" + json.dumps({{"from_cache": history.from_cache, "train_loss": history.final("train_loss"),
                              "warnings": [str(w.message) for w in caught]}}))
"""


class Kernel:
    """A Jupyter kernel of this environment (with this checkout's aecore first on its path)."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   AECORE_DEVICE="cpu")
        self.manager = BlockingIpcKernelManager(kernel_name="python3")  # no TCP port that another process can take
        self.manager.start_kernel(env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str) -> str:
        """Execute ``code``; return its printed output (fails on an error)."""
        out: list[str] = []
        reply = self.client.execute_interactive(code, timeout=180, output_hook=lambda msg: out.append(_text(msg)))
        assert reply["content"]["status"] == "ok", "".join(out) + "\n".join(reply["content"].get("traceback", []))
        return "".join(out)

    def train(self, cache: Path) -> dict:
        printed = self.run(TRAINING_CELL.format(cache=str(cache)))
        (line,) = [line for line in printed.splitlines() if line.startswith("RESULT")]
        return json.loads(line[len("RESULT"):])

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def _text(msg: dict) -> str:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return content.get("text", "")
    if msg.get("msg_type") == "error":
        return "\n".join(content.get("traceback", []))
    return ""


def test_a_helper_file_edited_while_the_kernel_runs_never_serves_the_wrong_model(tmp_path):
    folder, cache = tmp_path / "notebook", tmp_path / "cache"
    folder.mkdir()
    helper = folder / "my_losses.py"
    helper.write_text(SUM)
    first = Kernel()
    try:
        first.run(SETUP.format(folder=str(folder)))
        trained_sum = first.train(cache)
        assert not trained_sum["from_cache"] and trained_sum["train_loss"] > 10  # nats per image: a sum

        helper.write_text(MEAN)  # the fix, saved while the kernel runs
        rerun = first.train(cache)  # the cell run again, without a restart: the old (summing) code still runs
        assert rerun["from_cache"] and rerun["train_loss"] == trained_sum["train_loss"]  # the old code's own model
        (message,) = [w for w in rerun["warnings"] if "my_losses.py has changed since it was imported" in w]
        assert "restart the kernel" in message
    finally:
        first.shutdown()

    fresh = Kernel()  # a fresh kernel imports the fixed file
    try:
        fresh.run(SETUP.format(folder=str(folder)))
        trained_mean = fresh.train(cache)
        assert not trained_mean["from_cache"], "the fixed loss loaded the model of the old code"
        assert trained_mean["train_loss"] < 1 and not trained_mean["warnings"]  # per pixel: the mean's scale
        again = fresh.train(cache)
        assert again["from_cache"] and again["train_loss"] == trained_mean["train_loss"]
    finally:
        fresh.shutdown()
    assert len(list(cache.glob("editable-*.pt"))) == 2
