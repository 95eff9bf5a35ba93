"""The book's rebuild fingerprint (aecore.book.build_inputs): it follows aecore's code and the results the
chapters read, and no results file that no chapter reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aecore.book import build_inputs
from aecore.book.report import benchmark_path


def _notebook(path: Path, *code: str) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": text} for i, text in enumerate(code)]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_results_read_are_the_results_a_notebook_cell_names(tmp_path):
    _notebook(tmp_path / "01_lab.ipynb", 'benchmark_table("speed", drop=("id",))\nx = 1',
              "rows = load_benchmark('sizes')['rows']")
    _notebook(tmp_path / "02_lab.ipynb", 'r = benchmark_results(\n    "speed", "loop", {"rate": "images/s"})')
    _notebook(tmp_path / "03_lab.ipynb", "# benchmarks/claims.py checks these claims")
    assert build_inputs.results_read(tmp_path) == ["sizes", "speed"]
    assert build_inputs.results_read(tmp_path / "none") == []


def test_the_chapters_read_their_benchmark_results_and_not_the_claims():
    read = build_inputs.results_read()
    assert {"mnist_throughput", "lab2_architecture", "quality_targets"} <= set(read)
    assert "claims" not in read
    assert all(benchmark_path(name).is_file() for name in read)


def _package(root: Path) -> tuple[Path, Path, Path]:
    """A small package: a module, a results file a chapter reads and one no chapter reads."""
    (root / "sub").mkdir(parents=True)
    (root / "results").mkdir()
    module = root / "sub" / "recipes.py"
    module.write_text("EPOCHS = 20\n")
    read, unread = root / "results" / "speed.json", root / "results" / "claims.json"
    read.write_text('{"rows": [1]}')
    unread.write_text('{"claims": [1]}')
    return module, read, unread


def test_the_fingerprint_follows_code_and_read_results_but_not_unread_results(tmp_path):
    package = tmp_path / "pkg"
    module, read, unread = _package(package)
    before = build_inputs.code_digest(package, [read])
    assert build_inputs.code_digest(package, [read]) == before  # deterministic

    unread.write_text('{"claims": [1, 2]}')  # results no chapter reads: nothing to re-execute
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "recipes.cpython-311.pyc").write_bytes(b"\0")
    assert build_inputs.code_digest(package, [read]) == before

    read.write_text('{"rows": [2]}')  # results a chapter shows
    after_results = build_inputs.code_digest(package, [read])
    assert after_results != before

    module.write_text("EPOCHS = 21\n")  # code (recipes among it)
    assert build_inputs.code_digest(package, [read]) != after_results

    read.unlink()
    assert build_inputs.code_digest(package, [read]) not in (before, after_results)


def test_the_real_fingerprint_leaves_out_unread_package_files(tmp_path, monkeypatch):
    digest = build_inputs.code_digest()
    unread = build_inputs.PACKAGE_DIR / "benchmark_results" / "never_read_by_a_chapter.json"
    try:
        unread.write_text("{}")
        assert build_inputs.code_digest() == digest
    finally:
        unread.unlink()
    assert build_inputs.build_inputs()["code"] == digest[:16]


@pytest.mark.parametrize("variable, value", [("AECORE_SEED", "5"), ("AECORE_DOGS", "300"), ("AECORE_PROFILE", "full"),
                                             ("AECORE_STRICT", "0")])
def test_every_setting_a_run_reads_changes_the_build_fingerprint(monkeypatch, variable, value):
    """A rebuild re-executes the notebooks when the fingerprint changes (test_parallel_execution builds it for the
    seed and the code); each setting that changes what a notebook computes or checks must change it."""
    for name, default in (("AECORE_SEED", "0"), ("AECORE_DOGS", "budget"), ("AECORE_PROFILE", "quick"),
                          ("AECORE_STRICT", "1")):
        monkeypatch.setenv(name, default)
    before = build_inputs.build_fingerprint()
    assert build_inputs.build_fingerprint() == before
    monkeypatch.setenv(variable, value)
    assert build_inputs.build_fingerprint() != before
