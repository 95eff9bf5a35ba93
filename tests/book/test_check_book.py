"""The built-book check (aecore.book.check, run as tools/check_book.py) on small synthetic notebooks and
build folders (no real book build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aecore.book import check as check_book

PAGE = "notebooks/lab"


def notebook(markdown: list[str] = (), code: list[str] = ()) -> dict:
    """A minimal nbformat-4 notebook (as JSON) with these markdown and code cells."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": text.splitlines(keepends=True)} for text in markdown]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": text}
              for text in code]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def glue_output(name: str, shown: bool = False) -> dict:
    """One entry of the <page>.glue.json myst-nb writes (what myst_nb.glue displays, unprefixed)."""
    prefix = "" if shown else "application/papermill.record/"
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
            "data": {"text/plain": "1.0"}}


def write_book(root: Path, notebooks: dict[str, dict], glued: dict[str, dict[str, bool]] | None) -> Path:
    """book/_toc.yml, the notebooks, their HTML pages and (if ``glued``) their glue.json; returns the HTML dir."""
    book, html, execute = root / "book", root / "_build" / "html", root / "_build" / "jupyter_execute"
    toc = {"format": "jb-book", "root": "intro", "chapters": [{"file": page} for page in notebooks]}
    book.mkdir(parents=True)
    (book / "_toc.yml").write_text(json.dumps(toc))
    for page in ["intro", *notebooks]:
        (html / page).parent.mkdir(parents=True, exist_ok=True)
        (html / f"{page}.html").write_text("<html>ok</html>")
    for page, nb in notebooks.items():
        (book / page).parent.mkdir(parents=True, exist_ok=True)
        (book / f"{page}.ipynb").write_text(json.dumps(nb))
        if glued is not None:
            (execute / page).parent.mkdir(parents=True, exist_ok=True)
            (execute / f"{page}.ipynb").write_text(json.dumps(nb))
            outputs = {name: glue_output(name, shown) for name, shown in glued.get(page, {}).items()}
            if outputs:  # myst-nb writes no glue.json for a notebook that glues nothing
                (execute / f"{page}.glue.json").write_text(json.dumps(outputs))
    return html


def test_cited_names_drop_formats_and_resolve_other_pages():
    nb = notebook(markdown=[
        "PSNR {glue:text}`psnr:.2f` dB, {glue}`count`, {glue:any}`thing` and {glue:md}`note:myst`.",
        "From Lab 0: {glue:text}`00_tour::n_train:,` and {glue:}`/intro::title`.\n\n"
        "```{glue:figure} loss_plot\n:name: fig-loss\n```\n\n:::{glue} table_one\n:::",
        "A `plain code` span and {glue:text} without a name cite nothing.",
    ])
    assert check_book.cited_glue_names(nb, PAGE) == {
        (PAGE, "psnr"), (PAGE, "count"), (PAGE, "thing"), (PAGE, "note"), ("notebooks/00_tour", "n_train"),
        ("intro", "title"), (PAGE, "loss_plot"), (PAGE, "table_one")}


def test_static_names_come_from_glue_calls_fstrings_and_results():
    nb = notebook(code=[
        "%matplotlib inline\nfrom myst_nb import glue\nglue('hidden', 1, display=False)\nglue('figure', fig)",
        "glue_values(epochs=3, **{f'l2_{tag}_{metric}': 1 for tag in tags for metric in metrics})",
        "report.glue_values(**{'psnr': 1, f'n_{split}': 2})\nglue(f'noise_{v}', 0, display=False)",
        "table = Results('design', {'psnr': 'PSNR (dB)'})\nprint(other('not_glued'))",
        "report.show_training_times(model_seconds)",
    ])
    names, patterns = check_book.static_glue_names(nb)
    assert names == {"hidden": False, "figure": True, "epochs": False, "psnr": False, "training_minutes": False}

    def matched(name):
        return any(p.fullmatch(name) for p in patterns)

    assert all(matched(n) for n in ["l2_wd2_w", "n_test", "noise_0.05", "design_plain_psnr"])
    assert not any(matched(n) for n in ["l3_wd2_w", "not_glued", "design_psnr", "l2_wd2"])


def test_built_glue_names_come_from_the_glue_json_myst_nb_writes(tmp_path):
    write_book(tmp_path, {PAGE: notebook(), "notebooks/quiet": notebook()}, {PAGE: {"a": False, "fig": True}})
    execute = tmp_path / "_build" / "jupyter_execute"
    assert check_book.built_glue_names(execute, PAGE) == {"a": False, "fig": True}
    assert check_book.built_glue_names(execute, "notebooks/quiet") == {}  # built, glued nothing
    assert check_book.built_glue_names(execute, "notebooks/never_built") is None


def test_glue_check_reads_the_build_not_the_code(tmp_path):
    # The name is made in a way no static reading sees; the build output knows it.
    nb = notebook(markdown=["{glue:text}`made_at_runtime:.1f` and {glue:text}`missing`"],
                  code=["glue_values(**values)"])
    write_book(tmp_path, {PAGE: nb}, {PAGE: {"made_at_runtime": False, "spare": False, "shown": True}})
    problems, warnings = check_book.check_glue(tmp_path / "book", tmp_path / "_build" / "jupyter_execute", [PAGE])
    assert problems == [f"{PAGE}: the prose cites glue name 'missing', which no cell of {PAGE} defines"]
    assert warnings == [f"{PAGE}: glued but never cited: spare"]  # 'shown' appears where it was glued


def test_glue_check_falls_back_to_the_code_without_a_build(tmp_path):
    nb = notebook(markdown=["{glue:text}`l2_wd2_w:,.0f`, {glue:text}`epochs`, {glue:text}`l3_base_w`"],
                  code=["glue_values(epochs=2, unused=1, **{f'l2_{t}_w': w[t] for t in tags})"])
    write_book(tmp_path, {PAGE: nb}, glued=None)
    problems, warnings = check_book.check_glue(tmp_path / "book", tmp_path / "nowhere", [PAGE])
    assert problems == [f"{PAGE}: the prose cites glue name 'l3_base_w', which no cell of {PAGE} defines"]
    assert warnings[0].startswith(f"{PAGE}: no build output") and warnings[1].endswith("never cited: unused")


def test_names_cited_from_another_page_count_as_cited_there(tmp_path):
    tour = notebook(code=["glue_values(n_train=10)"])
    lab = notebook(markdown=["{glue:text}`tour::n_train:,` photos, {glue}`tour::n_test`"])
    write_book(tmp_path, {"notebooks/tour": tour, PAGE: lab}, {"notebooks/tour": {"n_train": False}})
    problems, warnings = check_book.check_glue(tmp_path / "book", tmp_path / "_build" / "jupyter_execute",
                                               ["notebooks/tour", PAGE])
    assert problems == [f"{PAGE}: the prose cites glue name 'n_test', which no cell of notebooks/tour defines"]
    assert warnings == []


@pytest.mark.parametrize("cited, status", [("defined", 0), ("undefined", 1)])
def test_main_fails_only_when_prose_cites_an_undefined_name(tmp_path, monkeypatch, capsys, cited, status):
    nb = notebook(markdown=[f"value {{glue:text}}`{cited}:.2f`"], code=["glue_values(defined=1.0, extra=2)"])
    html = write_book(tmp_path, {PAGE: nb}, {PAGE: {"defined": False, "extra": False}})
    monkeypatch.setattr(check_book, "ROOT", tmp_path)
    assert check_book.main(html) == status
    out, err = capsys.readouterr()
    assert "glued but never cited: " in out and ("'undefined'" in err) == (status == 1)


def test_main_still_fails_on_a_missing_page(tmp_path, monkeypatch):
    html = write_book(tmp_path, {PAGE: notebook()}, {})
    (html / f"{PAGE}.html").unlink()
    monkeypatch.setattr(check_book, "ROOT", tmp_path)
    assert check_book.main(html) == 1
