"""Issue 33's cases that need a process of their own: a helper module named like a standard-library module, a
cache write that hits the file-size limit, and a process killed while it saves a model. Two child processes
run them all (each imports torch once); a simulated full disk runs here.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from aecore import models, objectives, train
from aecore.cache import load_check
from aecore.config import REPO_ROOT as REPO
from aecore.datasets import LabelledImages
from aecore.train import TrainConfig

CHILD = textwrap.dedent('''
    import json, os, resource, sys, warnings
    folder, step, cache = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path.insert(0, folder)
    import code  # the student's code.py, imported before anything else could import the standard library's
    import torch
    from losses_with_code_helper import loss
    from aecore import models, train
    from aecore.cache.code_identity import function_identity
    from aecore.datasets import LabelledImages

    def report(**what):
        print(json.dumps(what), flush=True)

    report(code_file=code.__file__, identity=function_identity(loss))
    gen = torch.Generator().manual_seed(0)
    data = LabelledImages(torch.rand(64, 1, 8, 8, generator=gen), torch.arange(64) % 4, ["a", "b", "c", "d"])
    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    before = [p.detach().clone() for p in model.parameters()]
    config = train.TrainConfig(epochs=1, batch_size=32)
    if step == "file-size limit":
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))  # the model file is larger than 4 kB
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                history = train.fit_or_load("limited", model, data, None, config, loss=loss, cache_dir=cache,
                                            device=torch.device("cpu"), progress=False)
                error = None
            except Exception as err:
                history, error = None, f"{type(err).__name__}: {err}"
        report(error=error, trained=history is not None and not history.from_cache,
               changed=any(not torch.equal(a, b) for a, b in zip(before, model.parameters())),
               warnings=[str(w.message) for w in caught], left=sorted(os.listdir(cache)))
    elif step == "killed while saving":
        os.replace = lambda *args: os.kill(os.getpid(), 9)  # killed after writing the file, before renaming it
        train.fit_or_load("killed", model, data, None, config, loss=loss, cache_dir=cache, device=torch.device("cpu"),
                          progress=False)
''')

HELPER = "WEIGHT = {weight}\n\ndef weight():\n    return WEIGHT\n"
LOSS = ("import code\nfrom aecore import lessons\n\n\ndef loss(model, x, y):\n"
        "    return lessons.bce_per_image(model(x), x) * code.weight()\n")


def _child(folder: Path, step: str, cache: Path) -> tuple[list[dict], int]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               AECORE_DEVICE="cpu")
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), step, str(cache)], capture_output=True,
                          text=True, env=env, timeout=300)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the child printed nothing; stderr:\n{done.stderr[-3000:]}"
    return lines, done.returncode


@pytest.fixture(scope="module")
def children(tmp_path_factory):
    """Run the two children: with code.py's WEIGHT = 1.0 the file-size-limit case, then, with WEIGHT = 2.0 (a
    fresh process, as after a restart), the process killed while saving."""
    folder = tmp_path_factory.mktemp("student")
    (folder / "losses_with_code_helper.py").write_text(LOSS)
    caches = {step: tmp_path_factory.mktemp("cache") for step in ("limit", "killed")}
    (folder / "code.py").write_text(HELPER.format(weight=1.0))
    limited, _ = _child(folder, "file-size limit", caches["limit"])
    (folder / "code.py").write_text(HELPER.format(weight=2.0))
    killed, status = _child(folder, "killed while saving", caches["killed"])
    return {"folder": folder, "limited": limited, "killed": killed, "killed status": status, "caches": caches}


def test_a_helper_in_a_student_module_named_like_the_standard_library_counts(children):
    """code.py next to the notebook shadows the standard library's `code`: its code and values are the student's,
    so changing WEIGHT there (and starting afresh) changes the objective's identity."""
    first, second = children["limited"][0], children["killed"][0]
    assert Path(first["code_file"]).parent == children["folder"]
    assert first["identity"] != second["identity"]


def test_a_cache_write_over_the_file_size_limit_keeps_the_trained_model_and_says_how_to_fix_it(children):
    result = children["limited"][1]
    assert result["error"] is None, result["error"]
    assert result["trained"] and result["changed"]  # trained, and the model in memory holds the training
    (message,) = [w for w in result["warnings"] if "cannot be saved" in w]
    assert "file-size limit" in message and "ulimit -f" in message and "kept in memory" in message
    assert not [name for name in result["left"] if name.endswith(".pt") or name.endswith(".tmp")]


def test_the_temporary_file_of_a_process_killed_while_saving_is_removed_at_the_next_use(children, tmp_path):
    assert children["killed status"] in (-9, 137)
    cache = children["caches"]["killed"]
    (orphan,) = [p for p in cache.iterdir() if p.name.endswith(".tmp")]
    assert orphan.stat().st_size > 1000 and not list(cache.glob("*.pt"))
    hour_ago = time.time() - 3600
    os.utime(orphan, (hour_ago, hour_ago))  # killed a while ago
    data = _data()
    history = train.fit_or_load("other", models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(8,), latent_dim=2),
                                data, None, TrainConfig(epochs=1, batch_size=32), loss=objectives.reconstruction_bce,
                                device=torch.device("cpu"), cache_dir=cache, progress=False)
    assert not history.from_cache
    assert not orphan.exists() and len(list(cache.glob("other-*.pt"))) == 1


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    from aecore.cache import model_files

    live = tmp_path / f".m-0123456789abcdef.pt.{model_files._host()}-{os.getpid()}.0a1b2c3d.tmp"
    live.write_bytes(b"being written")
    foreign = tmp_path / ".m-0123456789abcdef.pt.otherhost-1.0a1b2c3d.tmp"
    foreign.write_bytes(b"another machine's, recent")
    hour_ago = time.time() - 3600
    for path in (live, foreign):
        os.utime(path, (hour_ago, hour_ago))
    assert model_files.remove_stale_temp_files(tmp_path, force=True) == []
    assert live.exists() and foreign.exists()


def _data() -> LabelledImages:
    """32 random 8x8 images in 4 classes (seeded)."""
    gen = torch.Generator().manual_seed(0)
    return LabelledImages(torch.rand(32, 1, 8, 8, generator=gen), torch.arange(32) % 4, ["a", "b", "c", "d"])


def test_a_full_disk_keeps_the_trained_model_and_says_how_to_fix_it(tmp_path, monkeypatch):
    """ENOSPC, simulated: every write of a temporary file in the cache fails as on a full disk."""
    real_open = open

    def full_disk(file, mode="r", *args, **kwargs):
        if str(file).endswith(".tmp") and str(tmp_path) in str(file) and "b" in mode and "r" not in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk)
    data = _data()
    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(8,), latent_dim=2)
    with pytest.warns(UserWarning, match=r"cannot be saved.*disk is full.*AECORE_CACHE.*kept in memory"):
        history = train.fit_or_load("full", model, data, None, TrainConfig(epochs=2, batch_size=32),
                                    loss=objectives.reconstruction_bce, device=torch.device("cpu"), cache_dir=tmp_path,
                                    progress=False)
    assert not history.from_cache and len(history["train_loss"]) == 2
    fresh = load_check.fresh_copy(model, seed=0)  # the weights training started from
    assert any(not torch.equal(a, b) for a, b in zip(fresh.parameters(), model.parameters()))  # trained, kept
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".pt", ".tmp")]
