"""Scale test: the dog labs on a full-size Stanford Dogs download (about 20,000 photos).

A student who runs ``load_dogs(download=True)`` gets all 20,580 photos; the course copy has a
subset. This script builds a stand-in for the full archive and measures what a student meets:

1. It writes a ~20,000-photo breed folder (120 breeds) into a temporary directory: seeded
   random crops and left-right flips of the photos under ``$AECORE_DATA/stanford_dogs``,
   saved as JPEGs, so that decoding costs what real photos cost.
2. In fresh processes (so that peak memory is each step's own) it measures:
   the first load, which decodes every photo and caches the tensor; a cached load of the
   labs' budget (the default ``AECORE_DOGS``); a cached load of every photo
   (``AECORE_DOGS=all``); the full profile's training budget (photos and steps per epoch
   of the Lab 2 recipe), which must be the same as on the course copy; and, with
   ``AECORE_DOGS=all`` in the quick profile, one training epoch of the Lab 2 network.
3. It writes ``aecore/benchmark_results/dogs_scale.json`` with provenance.

    python -m benchmarks.dogs_scale [--photos 20000] [--breeds 120]

About 10 minutes on 2 CPU cores; needs ~1 GB of temporary disk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter for each measurement; prints one JSON line.
PROBE = r"""
import json, resource, sys, time
start = time.perf_counter()
import aecore
from aecore import datasets, labs
from aecore.train import fit_or_load
import_seconds = time.perf_counter() - start
import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
step = sys.argv[1]
result = {}
start = time.perf_counter()
if step == "train_quick_epoch":
    train_set, test_set = labs.common.dogs_sets()
    result["load_seconds"] = time.perf_counter() - start
    config = labs.lab2.train_config()
    history = fit_or_load("scale-quick-epoch", labs.lab2.autoencoder(latent_noise=0.0), train_set, test_set, config,
                          loss=labs.lab2.objective(), progress=False)
    result.update(epochs=config.epochs, train_photos=len(train_set), epoch_seconds=history.seconds / config.epochs,
                  final_train_mse=history.final("train_mse"))
else:
    train_set, test_set = datasets.load_dogs("train", download=False), datasets.load_dogs("test")
    result["load_seconds"] = time.perf_counter() - start
    config = labs.lab2.train_config()
    result.update(train_photos=len(train_set), test_photos=len(test_set), epochs=config.epochs,
                  steps_per_epoch=-(-len(train_set) // config.batch_size), breeds=len(train_set.classes),
                  photos_on_disk=datasets.count_dog_photos(),
                  float_megabytes=(train_set.images.nbytes + test_set.images.nbytes) / 2**20)
result["peak_rss_megabytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
result.update(import_seconds=import_seconds, import_rss_megabytes=import_rss)
print("RESULT " + json.dumps(result))
"""


def source_photos(data_root: Path) -> list[Path]:
    """Every JPEG under ``<data_root>/stanford_dogs/Images``."""
    folder = data_root / "stanford_dogs" / "Images"
    photos = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        raise SystemExit(f"no Stanford Dogs photos under {folder}: set AECORE_DATA to a folder that has them")
    return photos


def write_stand_in(sources: list[Path], target: Path, n_photos: int, n_breeds: int, seed: int = 0) -> float:
    """Write ``n_photos`` seeded crops/flips of ``sources`` into ``n_breeds`` breed folders; return seconds taken."""
    start = time.perf_counter()
    rng = random.Random(seed)
    per_source = math.ceil(n_photos / len(sources))
    written = 0
    for index, path in enumerate(sources):
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            for copy in range(per_source):
                if written == n_photos:
                    break
                scale = rng.uniform(0.7, 1.0)
                cw, ch = max(16, int(w * scale)), max(16, int(h * scale))
                left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
                crop = img.crop((left, top, left + cw, top + ch))
                if rng.random() < 0.5:
                    crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                breed = target / f"n{written % n_breeds:08d}-breed_{written % n_breeds}"
                breed.mkdir(parents=True, exist_ok=True)
                crop.save(breed / f"photo_{index}_{copy}.jpg", quality=90)
                written += 1
    return time.perf_counter() - start


def probe(step: str, env: dict[str, str]) -> dict:
    """Run :data:`PROBE` for ``step`` in a fresh interpreter; return its measurements plus the wall time."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, step], env=env, capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-3000:]}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]) | {"wall_seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--breeds", type=int, default=120)
    args = parser.parse_args()

    import aecore
    from benchmarks._results import save_benchmark

    sources = source_photos(aecore.data_root())
    with tempfile.TemporaryDirectory(prefix="aecore-dogs-scale-") as tmp:
        root = Path(tmp)
        generate_seconds = write_stand_in(sources, root / "data" / "stanford_dogs" / "Images", args.photos, args.breeds)
        print(f"wrote {args.photos:,} photos in {generate_seconds:.0f} s", flush=True)
        env = dict(os.environ, AECORE_DATA=str(root / "data"), AECORE_CACHE=str(root / "cache"), AECORE_PROFILE="full",
                   PYTHONPATH=str(REPO))
        env.pop("AECORE_DOGS", None)
        steps = {
            "first load (decode and cache every photo), budget": ("load", env),
            "cached load, budget (default)": ("load", env),
            "cached load, AECORE_DOGS=all": ("load", env | {"AECORE_DOGS": "all"}),
            "quick profile, AECORE_DOGS=all: one training epoch": (
                "train_quick_epoch", env | {"AECORE_DOGS": "all", "AECORE_PROFILE": "quick"}),
        }
        results = {}
        for name, (step, step_env) in steps.items():
            results[name] = probe(step, step_env)
            print(name, results[name], flush=True)

    rows = [{"step": name, "photos": r.get("train_photos", 0) + r.get("test_photos", 0),
             "load (s)": r["load_seconds"], "wall (s)": r["wall_seconds"], "peak RSS (MB)": r["peak_rss_megabytes"],
             "peak RSS above import (MB)": r["peak_rss_megabytes"] - r["import_rss_megabytes"],
             "steps / epoch": r.get("steps_per_epoch", ""), "epoch (s)": r.get("epoch_seconds", "")}
            for name, r in results.items()]
    budget = results["cached load, budget (default)"]
    path = save_benchmark(
        "dogs_scale", rows, {"photos": ",", "load (s)": ".2f", "wall (s)": ".1f", "peak RSS (MB)": ",.0f",
                             "peak RSS above import (MB)": ",.0f", "epoch (s)": ".1f"},
        f"A {args.photos:,}-photo, {args.breeds}-breed stand-in for the full Stanford Dogs archive (seeded crops and "
        f"flips of the course copy's {len(sources):,} photos, written in {generate_seconds:.0f} s); each step in a "
        "fresh process; photos = training + test photos loaded; the training step uses the quick profile's "
        "256-photo limit",
        photos_on_disk=budget["photos_on_disk"], full_profile_budget={
            "train_photos": budget["train_photos"], "test_photos": budget["test_photos"],
            "steps_per_epoch": budget["steps_per_epoch"], "epochs": budget["epochs"], "breeds": budget["breeds"]},
        raw=results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
