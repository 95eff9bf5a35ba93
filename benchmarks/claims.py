"""The chapters' claims over several training seeds.

Every sentence of the prose that states a result is guarded by :func:`aecore.book.report.claim`. This
executes the full-profile notebooks once per seed (``AECORE_SEED``) and collects every claim's
verdict and the numbers it compared (through ``AECORE_CLAIMS_LOG``). A claim the prose states as
a fact must hold on every seed; one that cannot is rewritten as what the run shows, with its
wording computed from the numbers.

It writes ``benchmarks/results/claims.json`` (which no chapter reads): one row per claim (notebook, claim, on how
many of the seeds run it held, the seeds it failed on), the same for claims a notebook no longer
makes (``retired``: absent from its latest run, as after a sentence was rewritten), every run's
verdicts and measured numbers (``runs``: notebook -> seed -> claims, errors, seconds, when
recorded) and the provenance. Runs of other notebooks or seeds already in that file are kept, so the
study can be extended a notebook or a seed at a time, and two studies may run at once (each run is merged
into the file under a lock). Exit status
1 if a claim failed on some seed or a cell raised.

    python -m benchmarks.claims [--seeds 0 1 2 3 4] [--notebooks 01_mnist_autoencoder 03_mnist_vae]

The notebooks run with strict mode off, so that a notebook with a failing claim goes on and every
later claim is recorded too; this script is what fails instead (strict for the whole study). A
cell that raises a real error is recorded with its error and the notebook's later cells still run.
Models come from (and go to) the usual model cache: from an empty cache one seed of every
notebook trains about an hour on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from aecore.book.kernels import IpcKernelManager
from aecore.labs import LABS
from benchmarks._results import local_path, provenance, save_benchmark

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = tuple(lab.stem for lab in LABS)
"""Every chapter's notebook, in book order (:data:`aecore.labs.LABS`)."""


def run_notebook(name: str, seed: int, profile: str = "full") -> dict:
    """Execute ``notebooks/<name>.ipynb`` with ``AECORE_SEED=seed``; return ``{"claims": [verdict dicts],
    "errors": ["cell id: error"], "seconds": float, "provenance": this run's}`` (the file's provenance is
    that of its last run; runs kept from earlier ones carry their own)."""
    path = REPO / "notebooks" / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "claims.jsonl"
        os.environ.update(AECORE_SEED=str(seed), AECORE_PROFILE=profile, AECORE_STRICT="0",
                          AECORE_CLAIMS_LOG=str(log), MPLBACKEND="Agg")
        start = time.perf_counter()
        NotebookClient(notebook, timeout=None, allow_errors=True, kernel_manager_class=IpcKernelManager,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
        claims = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    errors = [f"{cell.get('id')}: {output['ename']}: {output['evalue']}" for cell in notebook.cells
              if cell.cell_type == "code" for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    return {"claims": [{k: c[k] for k in ("text", "holds", "measured")} for c in claims], "errors": errors,
            "seconds": round(seconds, 1), "provenance": provenance()}


def current_claims(runs: dict[str, dict]) -> set[str] | None:
    """The claim texts a notebook makes now: those of its latest run (by ``recorded`` time) that raised no error,
    given ``runs`` (seed -> :func:`run_notebook` result). ``None`` (all claims count) when no clean run carries a
    time (runs recorded before it was stored)."""
    clean = [run for run in runs.values() if run.get("recorded") and not run["errors"]]
    if not clean:
        return None
    return {verdict["text"] for verdict in max(clean, key=lambda run: run["recorded"])["claims"]}


def summary_rows(runs: dict[str, dict[str, dict]], retired: bool = False) -> list[dict]:
    """One row per (notebook, claim) over ``runs`` (notebook -> seed -> :func:`run_notebook` result), in
    notebook and first-appearance order: on how many seeds it held and the seeds it failed on. Only the
    claims each notebook still makes (:func:`current_claims`), or with ``retired`` only those it no longer
    makes: a claim dropped from the prose keeps its record there instead of counting against the chapter."""
    rows = []
    for name in sorted(runs):
        verdicts: dict[str, dict[str, bool]] = {}
        for seed in sorted(runs[name], key=int):
            for verdict in runs[name][seed]["claims"]:
                held = verdicts.setdefault(verdict["text"], {})
                held[seed] = held.get(seed, True) and verdict["holds"]  # a claim checked in a loop holds if all do
        current = current_claims(runs[name])
        for text, held in verdicts.items():
            if (current is not None and text not in current) != retired:
                continue
            failed = [seed for seed, ok in held.items() if not ok]
            rows.append({"notebook": name, "claim": text, "held on": f"{len(held) - len(failed)} of {len(held)}",
                         "seeds run": ", ".join(held), "failed on seeds": ", ".join(failed) or "none"})
    return rows


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on ``path`` + ".lock" (created if missing) for the ``with`` block, so that two
    studies run at once (other seeds or notebooks) do not write over each other's runs."""
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def record_run(path: Path, name: str, seed: int, result: dict) -> dict[str, dict[str, dict]]:
    """Add one :func:`run_notebook` result to the study at ``path`` (read afresh under :func:`locked`, so runs
    another process saved meanwhile are kept) and write it back atomically; return all runs."""
    with locked(path):
        runs = json.loads(path.read_text())["runs"] if path.is_file() else {}
        recorded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        runs.setdefault(name, {})[str(seed)] = {**result, "recorded": recorded}
        save_benchmark("claims", summary_rows(runs), formats={},
                       caption="The chapters' claims over training seeds, full profile (python -m benchmarks.claims)",
                       path=path, retired=summary_rows(runs, retired=True), runs=runs)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), choices=NOTEBOOKS)
    args = parser.parse_args()

    path = local_path("claims")
    failed = False
    for seed in args.seeds:
        for name in args.notebooks:
            result = run_notebook(name, seed)
            record_run(path, name, seed, result)  # after every run, so an interrupted study keeps what it measured
            bad = [c["text"] for c in result["claims"] if not c["holds"]]
            failed = failed or bool(bad or result["errors"])
            print(f"{name} seed {seed}: {len(result['claims'])} claims, {len(bad)} not reproduced, "
                  f"{len(result['errors'])} errors, {result['seconds']:.0f} s", flush=True)
            for line in [f"  not reproduced: {text}" for text in bad] + [f"  error: {e}" for e in result["errors"]]:
                print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
