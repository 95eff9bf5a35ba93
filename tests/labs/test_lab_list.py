"""aecore.labs.LABS is the one list of labs, derived from the lab modules: the notebooks, the book's table of
contents (a glob) and the book's lab table (filled in at build time) agree with it."""

import json
import subprocess
import sys
import types

import pytest
import yaml

from aecore import labs
from aecore.book import check, lab_table
from aecore.config import REPO_ROOT


def test_labs_are_the_notebooks_in_book_order():
    stems = [lab.stem for lab in labs.LABS]
    assert stems == sorted(path.stem for path in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert len(set(stems)) == len(stems)


def test_the_table_of_contents_lists_the_labs_in_order():
    toc = yaml.safe_load((REPO_ROOT / "book" / "_toc.yml").read_text())
    files = check.toc_pages(toc, REPO_ROOT / "book")
    notebooks = [name.removeprefix("notebooks/") for name in files if name.startswith("notebooks/")]
    assert notebooks == [lab.stem for lab in labs.LABS], "book/_toc.yml and aecore.labs.LABS disagree"


def test_a_glob_in_the_table_of_contents_gives_its_pages_in_name_order(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("00_tour.ipynb", "02_b.ipynb", "01_a.ipynb", "01_a.md~", "notes.md", ".hidden.ipynb"):
        (tmp_path / "notebooks" / name).write_text("{}")
    toc = {"root": "intro", "parts": [{"chapters": [{"file": "notebooks/00_tour"}]},
                                      {"chapters": [{"glob": "notebooks/0[1-9]*"}, {"file": "data"}]}]}
    assert check.toc_pages(toc, tmp_path) == ["intro", "notebooks/00_tour", "notebooks/01_a", "notebooks/02_b", "data"]


def test_the_books_lab_table_is_generated_from_labs():
    """book/intro.md holds the markers only; the build fills in the table (book/_ext/lab_table.py), so no copy of
    it is kept by hand, and the README points to it instead of copying it."""
    text = (REPO_ROOT / "book" / "intro.md").read_text()
    assert f"{labs.BEGIN}\n{labs.END}\n" in text, "book/intro.md's lab table is typed in: leave its markers empty"
    source = [text]
    lab_table.fill_lab_table(None, "intro", source)
    assert source[0] == labs.with_lab_table(text, "myst")
    for lab in labs.LABS:
        assert lab.stem in source[0] and lab.topic in source[0]
    other = ["unchanged"]
    lab_table.fill_lab_table(None, "data_sources", other)
    assert other == ["unchanged"]
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["lab_table"] == "book/_ext"
    readme = (REPO_ROOT / "README.md").read_text()
    assert not any(lab.topic in readme for lab in labs.LABS), "README.md copies the lab table: point to the book's"
    env = types.SimpleNamespace(found_docs={"intro", "data_sources"})
    assert lab_table.reread_the_table_page(None, env, set(), set(), set()) == ["intro"]


def test_python_m_aecore_labs_prints_the_lab_table():
    out = subprocess.run([sys.executable, "-m", "aecore.labs"], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT).stdout
    assert out == labs.lab_table("github")
    assert "[Getting started: the data](notebooks/00_data_tour.ipynb)" in out


def test_the_lab_table_is_replaced_between_its_markers_only():
    text = f"before\n{labs.BEGIN}\nold table\n{labs.END}\nafter\n"
    new = labs.with_lab_table(text, "github")
    assert new.startswith(f"before\n{labs.BEGIN}\n| Lab |") and new.endswith(f"{labs.END}\nafter\n")
    assert "old table" not in new and "[Getting started: the data](notebooks/00_data_tour.ipynb)" in new
    assert "{doc}`An MNIST autoencoder <notebooks/01_mnist_autoencoder>`" in labs.with_lab_table(text, "myst")
    with pytest.raises(ValueError, match="markers"):
        labs.with_lab_table("no markers", "myst")


def test_labs_are_derived_from_the_lab_modules():
    """Each ``lab<N>`` module of aecore.labs is one chapter, numbered by its name, placed by its notebook's name."""
    import pkgutil
    names = sorted(info.name for info in pkgutil.iter_modules(labs.__path__) if labs.LAB_MODULE.fullmatch(info.name))
    assert sorted(lab.module_name for lab in labs.LABS[1:]) == names and labs.LABS[0] is labs.DATA_TOUR
    for lab in labs.LABS[1:]:
        module = lab.module
        assert (lab.stem, lab.title, lab.topic) == (module.NOTEBOOK, module.TITLE, module.TOPIC)
        assert lab.module_name == f"lab{lab.number}" and lab.module_name in labs.__all__
    assert labs.lab("03b_dogs_ae_vs_vae").number == "3b"
    with pytest.raises(AttributeError, match="aecore.labs.lab9 is a lab module .* lacks NOTEBOOK, TOPIC"):
        labs._chapter(types.SimpleNamespace(__name__="aecore.labs.lab9", TITLE="t"))


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
