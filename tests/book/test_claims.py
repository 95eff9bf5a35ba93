"""Named claims (aecore.book.claims): strict mode raises, otherwise a visible warning; the book reports them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from aecore import config
from aecore.book import check as check_book
from aecore.book import claims
from aecore.book.report import ClaimNotReproduced, claim
from aecore.config import REPO_ROOT


@pytest.fixture
def shown(monkeypatch):
    """What IPython.display.display was asked to show (the objects, in order)."""
    import IPython.display

    displayed = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects, **_: displayed.extend(objects))
    return displayed


def test_a_claim_that_holds_shows_nothing_and_is_recorded(monkeypatch, shown):
    monkeypatch.setenv("AECORE_STRICT", "1")
    assert claim("the 32-D denoiser beats the 2-D one", torch.tensor(20.1) > 14.7,
                 psnr_2d=torch.tensor(14.7), psnr_32d=np.float32(20.1)) is None  # no Out[] on the page
    assert shown == []
    last = claims.verdicts()[-1]
    assert last.text == "the 32-D denoiser beats the 2-D one" and last.holds
    assert last.measured == {"psnr_2d": pytest.approx(14.7), "psnr_32d": pytest.approx(20.1)}
    assert all(type(v) is float for v in last.measured.values())  # plain numbers, not tensors


def test_strict_mode_raises_with_the_claim_and_its_numbers(monkeypatch, shown):
    monkeypatch.setenv("AECORE_STRICT", "1")
    with pytest.raises(ClaimNotReproduced, match=r"digits 1 and 7 lie farthest out; measured radius_1=2\.75, "
                                                 r"radius_7=2\.091, order=\[7, 1, 0\]"):
        claim("digits 1 and 7 lie farthest out", False, radius_1=2.75, radius_7=2.0911, order=[7, 1, 0])
    assert shown == []
    assert isinstance(ClaimNotReproduced("x"), AssertionError)  # fails a test run as an assert does


def test_default_mode_warns_on_the_page_and_goes_on(monkeypatch, shown):
    monkeypatch.delenv("AECORE_STRICT", raising=False)
    claim("its KL does not grow from 1,024 to 4,096 numbers", False, kl={"c16": 904.0, "c64": 981.2})
    (warning,) = shown
    assert repr(warning) == ("Not reproduced in this run: its KL does not grow from 1,024 to 4,096 numbers; "
                             "measured kl={c16: 904, c64: 981.2}")
    assert claims.WARNING_CLASS in warning.data and "admonition warning" in warning.data
    assert check_book.claims_not_reproduced(warning.data) == [
        "its KL does not grow from 1,024 to 4,096 numbers; measured kl={c16: 904, c64: 981.2}"]
    assert claims.verdicts()[-1].holds is False


def test_every_verdict_goes_to_the_claims_log(monkeypatch, tmp_path, shown):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("AECORE_CLAIMS_LOG", str(log))
    monkeypatch.setenv("AECORE_SEED", "3")
    monkeypatch.delenv("AECORE_STRICT", raising=False)
    claim("first holds", True, a=1)
    claim("second does not", 1 > 2, b=[1.5, 2])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["text"], r["holds"], r["measured"], r["seed"]) for r in records] == [
        ("first holds", True, {"a": 1}, 3), ("second does not", False, {"b": [1.5, 2]}, 3)]


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("no", False), ("1", True), ("TRUE", True)])
def test_strict_mode_setting(monkeypatch, value, expected):
    monkeypatch.setenv("AECORE_STRICT", value)
    assert config.strict() is expected


def test_bad_settings_and_claims_are_named(monkeypatch):
    monkeypatch.setenv("AECORE_STRICT", "maybe")
    with pytest.raises(ValueError, match="AECORE_STRICT='maybe'"):
        config.strict()
    with pytest.raises(ValueError, match="a claim needs its sentence"):
        claim("  ", True)


def _small_book(root: Path) -> Path:
    """A Jupyter Book with one notebook whose (input-hidden) claim cell does not hold."""
    book = root / "book"
    book.mkdir()
    # as the real book: executed by book/_ext/parallel_execution.py, which makes strict mode a build input
    (book / "_config.yml").write_text(textwrap.dedent(f"""
        title: claims
        execute:
          execute_notebooks: cache
        sphinx:
          local_extensions:
            parallel_execution: {REPO_ROOT / "book" / "_ext"}
          config:
            aecore_notebook_workers: 1
            nb_execution_raise_on_error: true
    """))
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: lab\n")
    (book / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Lab\n\nThe prose states that 2 exceeds 3."),
        nbformat.v4.new_code_cell("from aecore.book.report import claim\n"
                                  "claim('two exceeds three', 2 > 3, two=2, three=3)",
                                  metadata={"tags": ["remove-input"]}),
        nbformat.v4.new_markdown_cell("The rest of the page."),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "lab.ipynb")
    return book


def _jupyter_book(book: Path, strict: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "AECORE_STRICT": "1" if strict else "0", "AECORE_CACHE": str(book.parent / "cache")}
    return subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(book)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=book.parent)


def test_a_book_with_a_failing_claim_warns_by_default_and_fails_in_strict_mode(tmp_path, monkeypatch, capsys):
    book = _small_book(tmp_path)
    result = _jupyter_book(book, strict=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    page = (book / "_build" / "html" / "lab.html").read_text()
    assert "Not reproduced in this run" in page and "two exceeds three" in page and "The rest of the page." in page
    assert check_book.claims_not_reproduced(page) == ["two exceeds three; measured two=2, three=3"]

    monkeypatch.setenv("AECORE_STRICT", "0")
    assert check_book.main(book / "_build" / "html", book) == 0
    assert "not reproduced in this run: lab: two exceeds three; measured two=2, three=3" in capsys.readouterr().out
    monkeypatch.setenv("AECORE_STRICT", "1")
    assert check_book.main(book / "_build" / "html", book) == 1  # the same pages fail a strict check

    strict = _jupyter_book(book, strict=True)  # the strict setting alone re-executes the notebook
    assert strict.returncode != 0
    assert "ClaimNotReproduced" in strict.stdout + strict.stderr
