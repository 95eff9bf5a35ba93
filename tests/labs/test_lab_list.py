"""aecore.labs.LABS is the one list of labs: the notebooks, the book's table of contents and the lab tables
of the intro and the README agree with it."""

import json

import pytest
import yaml

from aecore import labs
from aecore.config import REPO_ROOT


def test_labs_are_the_notebooks_in_book_order():
    stems = [lab.stem for lab in labs.LABS]
    assert stems == sorted(path.stem for path in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert len(set(stems)) == len(stems)


def test_the_table_of_contents_lists_the_labs_in_order():
    toc = yaml.safe_load((REPO_ROOT / "book" / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    notebooks = [name.removeprefix("notebooks/") for name in files if name.startswith("notebooks/")]
    assert notebooks == [lab.stem for lab in labs.LABS], "book/_toc.yml and aecore.labs.LABS disagree"


@pytest.mark.parametrize("name", sorted(labs.TABLE_FILES))
def test_the_lab_tables_are_generated_from_labs(name):
    text = (REPO_ROOT / name).read_text()
    assert labs.with_lab_table(text, labs.TABLE_FILES[name]) == text, \
        f"{name}'s lab table differs from aecore.labs.LABS: run `python -m aecore.labs`"
    for lab in labs.LABS:
        assert lab.stem in text and lab.topic in text


def test_the_lab_table_is_replaced_between_its_markers_only():
    text = f"before\n{labs.BEGIN}\nold table\n{labs.END}\nafter\n"
    new = labs.with_lab_table(text, "github")
    assert new.startswith(f"before\n{labs.BEGIN}\n| Lab |") and new.endswith(f"{labs.END}\nafter\n")
    assert "old table" not in new and "[Getting started: the data](notebooks/00_data_tour.ipynb)" in new
    assert "{doc}`An MNIST autoencoder <notebooks/01_mnist_autoencoder>`" in labs.with_lab_table(text, "myst")
    with pytest.raises(ValueError, match="markers"):
        labs.with_lab_table("no markers", "myst")


def test_write_lab_tables_updates_stale_files_only(tmp_path):
    for name in labs.TABLE_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n{labs.BEGIN}\nstale\n{labs.END}\n")
    changed = labs.write_lab_tables(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in changed) == sorted(labs.TABLE_FILES)
    assert labs.write_lab_tables(tmp_path) == []


@pytest.mark.parametrize("lab", labs.LABS, ids=lambda lab: lab.stem)
def test_each_labs_title_is_its_notebooks_heading(lab):
    notebook = json.loads((REPO_ROOT / lab.notebook).read_text())
    heading = next("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    first_line = heading.splitlines()[0].removeprefix("# ")
    assert first_line.lower().endswith(lab.title.lower()), (first_line, lab.title)
    if lab.number:
        assert first_line.startswith(f"Lab {lab.number.rstrip('b')}")
    assert labs.lab(lab.stem) is lab


def test_an_unknown_lab_is_named():
    with pytest.raises(KeyError, match="03_mnist_vae"):
        labs.lab("05_nothing")
