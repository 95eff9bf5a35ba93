"""Colab and other hosted Jupyter: the notebooks' bootstrap cell, the book's buttons, an installed aecore.

The bootstrap cell's code is executed here with pip (subprocess.run) recorded instead of run, and
with aecore made to look missing through a patched importlib.util.find_spec. The real install
into a fresh environment, from a copy of a notebook written with ``bootstrap_cell.py --source``,
is tools/check_bootstrap.sh (`make check-bootstrap`, minutes, not part of `make test`).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jupyter_book.config import get_final_config

from aecore import config
from aecore.book import bootstrap
from aecore.book import repository_buttons as buttons

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


URL_REQUIREMENT = bootstrap.install_requirement("https://github.com/some-course/labs/", "main")


# --- the cell in the notebooks ----------------------------------------------------------------

def test_install_requirement_is_built_from_the_repository_url_and_branch():
    assert URL_REQUIREMENT == "aecore @ git+https://github.com/some-course/labs@main"
    assert bootstrap.install_requirement("", "main") == ""
    assert bootstrap.repository(ROOT / "_config.yml")[1] == "main"


def assert_notebooks_start_with_the_current_cell(paths: list[Path]):
    """What the every-notebook test checks, for ``paths``."""
    for path in paths:
        first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
        assert first["id"] == "colab-bootstrap" and first["cell_type"] == "code", path.name
        assert first["metadata"]["tags"] == ["remove-cell"], path.name  # hidden from the book
        assert first["outputs"] == [] and first["execution_count"] is None, path.name
        assert len(first["source"]) <= 4, path.name  # what a student sees first in Colab
        source = "".join(first["source"])
        assert source.startswith("# Colab: "), path.name
        assert "AECORE_INSTALL_FROM" not in source and "environ" not in source, path.name
        compile(source, path.name, "exec")


def test_every_notebook_starts_with_the_current_bootstrap_cell():
    assert NOTEBOOKS, "no notebooks found"
    assert bootstrap.main(["--check"]) == 0, "run: python tools/bootstrap_cell.py"
    assert_notebooks_start_with_the_current_cell(NOTEBOOKS)


def cells_after_the_first(text: str) -> str:
    """The text of a stored notebook from the end of its first cell on."""
    start = text.index('\n "cells": [\n  ') + len('\n "cells": [\n  ')
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[end:]


def test_the_tool_on_a_copy_of_the_notebooks_changes_only_their_first_cell(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for path in NOTEBOOKS:
        shutil.copyfile(path, folder / path.name)
    copies = sorted(folder.glob("*.ipynb"))
    assert bootstrap.main(["--notebooks", str(folder)]) == 0
    assert bootstrap.main(["--check", "--notebooks", str(folder)]) == 0
    assert_notebooks_start_with_the_current_cell(copies)
    for path, copy_path in zip(NOTEBOOKS, copies):
        original, rewritten = path.read_text(encoding="utf-8"), copy_path.read_text(encoding="utf-8")
        assert cells_after_the_first(rewritten) == cells_after_the_first(original), path.name  # same bytes
        assert rewritten[:rewritten.index('"cells"')] == original[:original.index('"cells"')], path.name
        assert json.loads(rewritten)["cells"][0] == bootstrap.current_cell(), path.name
    before = {p.name: p.read_bytes() for p in copies}
    capsys.readouterr()
    assert bootstrap.main(["--notebooks", str(folder)]) == 0  # idempotent: nothing to update
    assert capsys.readouterr().out == ""
    assert {p.name: p.read_bytes() for p in copies} == before


def test_the_tool_inserts_then_updates_the_cell_and_leaves_the_rest_byte_identical(tmp_path):
    stored = NOTEBOOKS[0].read_text(encoding="utf-8")
    assert bootstrap.dumps(json.loads(stored)) == stored  # this notebook is in the stored format
    notebook = json.loads(stored)
    without = {**notebook, "cells": [c for c in notebook["cells"] if c.get("id") != "colab-bootstrap"]}
    bare = bootstrap.dumps(without)
    expected = bootstrap.dumps(bootstrap.with_bootstrap(without, bootstrap.current_cell()))
    path = tmp_path / "nb.ipynb"
    path.write_text(bare, encoding="utf-8")

    assert bootstrap.main(["--check", str(path)]) == 1  # missing
    assert path.read_text(encoding="utf-8") == bare  # --check changes nothing
    assert bootstrap.main([str(path)]) == 0
    inserted = path.read_text(encoding="utf-8")
    assert inserted == expected  # the stored format: cell first, the rest untouched
    assert bootstrap.main(["--check", str(path)]) == 0
    assert bootstrap.main([str(path)]) == 0 and path.read_text(encoding="utf-8") == inserted  # idempotent

    stale = json.loads(inserted)
    stale["cells"][0]["source"] = ["# an older bootstrap cell\n"]
    stale["cells"].insert(3, copy.deepcopy(stale["cells"][0]))  # and a stray copy further down
    path.write_text(bootstrap.dumps(stale), encoding="utf-8")
    assert bootstrap.main(["--check", str(path)]) == 1
    assert bootstrap.main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == expected


def test_other_cells_keep_their_bytes_even_when_not_in_the_stored_format(tmp_path):
    notebook = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    notebook["cells"][0] = bootstrap.bootstrap_cell("aecore @ git+https://example.org/old@main")  # stale
    texts = [json.dumps(c, indent=1, sort_keys=True) for c in notebook["cells"]]
    texts[2] = json.dumps(dict(reversed(notebook["cells"][2].items())), indent=1)  # as another editor may write it
    cells = '"cells": [\n  ' + ",\n  ".join(t.replace("\n", "\n  ") for t in texts) + "\n ]"
    text = bootstrap.dumps({**notebook, "cells": []}).replace('"cells": []', cells)
    assert text != bootstrap.dumps(notebook) and json.loads(text) == notebook
    path = tmp_path / "nb.ipynb"
    path.write_text(text, encoding="utf-8")
    assert bootstrap.main([str(path)]) == 0
    rewritten = path.read_text(encoding="utf-8")
    assert json.loads(rewritten)["cells"][0] == bootstrap.current_cell()
    assert cells_after_the_first(rewritten) == cells_after_the_first(text)  # the odd cell's bytes included


class Pip:
    """Stands in for subprocess.run in the cell: records the command and its keywords; a successful
    install makes aecore findable, as a real one does."""

    def __init__(self, returncode: int = 0):
        self.calls, self.kwargs, self.returncode, self.installed = [], [], returncode, False

    def __call__(self, command, **kwargs):
        self.calls.append(command)
        self.kwargs.append(kwargs)
        self.installed = self.returncode == 0
        if kwargs.get("check") and self.returncode:
            raise subprocess.CalledProcessError(self.returncode, command)
        return subprocess.CompletedProcess(command, self.returncode)


def run_source(monkeypatch, source: str, *, aecore_installed: bool, pip: Pip | None = None) -> Pip:
    """Execute the cell code ``source``; return the Pip recorder."""
    pip = pip or Pip()
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "aecore" and not (aecore_installed or pip.installed):
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", pip)
    exec(compile(source, "bootstrap-cell", "exec"), {})
    return pip


def run_cell(monkeypatch, requirement: str, *, aecore_installed: bool, pip: Pip | None = None) -> Pip:
    """Execute the bootstrap cell for ``requirement``; return the Pip recorder."""
    return run_source(monkeypatch, bootstrap.cell_source(requirement), aecore_installed=aecore_installed, pip=pip)


LOCAL_CHECKOUT = str(Path("some", "checkout with spaces", "aecore").resolve())


@pytest.mark.parametrize("requirement", [URL_REQUIREMENT, "", LOCAL_CHECKOUT])
def test_the_cell_has_at_most_four_short_lines(requirement):
    lines = bootstrap.cell_source(requirement).splitlines()
    assert 2 <= len(lines) <= 4 and lines[0].startswith("# Colab: ")
    assert all(len(line) <= 120 for line in lines if requirement not in line)  # a long requirement may exceed
    assert "AECORE_INSTALL_FROM" not in bootstrap.cell_source(requirement)
    assert len(bootstrap.bootstrap_cell(requirement)["source"]) == len(lines)


@pytest.mark.parametrize("requirement", [URL_REQUIREMENT, "", LOCAL_CHECKOUT])
def test_the_cell_does_nothing_where_aecore_is_importable(monkeypatch, capsys, requirement):
    pip = run_cell(monkeypatch, requirement, aecore_installed=True)
    assert pip.calls == []
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("requirement", [URL_REQUIREMENT, LOCAL_CHECKOUT])
def test_without_aecore_the_cell_pip_installs_the_requirement(monkeypatch, requirement):
    pip = run_cell(monkeypatch, requirement, aecore_installed=False)
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "-q", requirement]]
    assert pip.kwargs == [{"check": True}]  # a failed install stops the notebook with pip's error


def test_a_failed_install_stops_the_notebook(monkeypatch):
    with pytest.raises(subprocess.CalledProcessError):
        run_cell(monkeypatch, URL_REQUIREMENT, aecore_installed=False, pip=Pip(returncode=1))


def test_without_a_repository_the_cell_says_how_to_install_by_hand(monkeypatch, capsys):
    with pytest.raises(ModuleNotFoundError) as raised:
        run_cell(monkeypatch, "", aecore_installed=False)
    message = str(raised.value)
    assert "\n" not in message
    assert "aecore is missing" in message and "by hand with pip" in message and "ask your course" in message
    assert capsys.readouterr() == ("", "")


def test_the_cell_ignores_aecore_install_from(monkeypatch):
    monkeypatch.setenv("AECORE_INSTALL_FROM", "/path/to/a/checkout")
    assert run_cell(monkeypatch, URL_REQUIREMENT, aecore_installed=False).calls[0][-1] == URL_REQUIREMENT
    with pytest.raises(ModuleNotFoundError):
        run_cell(monkeypatch, "", aecore_installed=False)


def test_source_writes_a_copy_that_installs_from_it_and_leaves_the_notebook_alone(monkeypatch, tmp_path, capsys):
    notebook = NOTEBOOKS[0]
    before, mtime = notebook.read_bytes(), notebook.stat().st_mtime_ns
    out = tmp_path / "run"
    assert bootstrap.main(["--source", LOCAL_CHECKOUT, "--out", str(out), str(notebook)]) == 0
    assert notebook.read_bytes() == before and notebook.stat().st_mtime_ns == mtime
    assert [p.name for p in out.iterdir()] == [notebook.name]
    text = (out / notebook.name).read_text(encoding="utf-8")
    assert cells_after_the_first(text) == cells_after_the_first(before.decode("utf-8"))
    first = json.loads(text)["cells"][0]
    assert first == bootstrap.bootstrap_cell(LOCAL_CHECKOUT)
    pip = run_source(monkeypatch, "".join(first["source"]), aecore_installed=False)
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "-q", LOCAL_CHECKOUT]]
    assert str(out / notebook.name) in capsys.readouterr().out


def test_source_never_rewrites_the_notebooks_themselves(tmp_path):
    path = tmp_path / "nb.ipynb"
    shutil.copyfile(NOTEBOOKS[0], path)
    before = path.read_bytes()
    with pytest.raises(SystemExit):
        bootstrap.main(["--source", LOCAL_CHECKOUT, str(path)])  # no --out
    with pytest.raises(SystemExit):
        bootstrap.main(["--source", LOCAL_CHECKOUT, "--out", str(tmp_path), str(path)])  # --out is its folder
    with pytest.raises(SystemExit):
        bootstrap.main(["--check", "--out", str(tmp_path / "x"), str(path)])
    assert path.read_bytes() == before


# --- the book's buttons -------------------------------------------------------------------------

def theme_options(url: str) -> dict:
    """sphinx-book-theme's options for the repository's _config.yml with ``repository.url`` set to
    ``url``, as Jupyter Book builds them and the book's extension then switches them."""
    user_yaml = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    user_yaml["repository"]["url"] = url
    sphinx_config, _ = get_final_config(user_yaml=user_yaml, cli_config={"latex_individualpages": False},
                                         raise_on_invalid=True)
    assert "repository_buttons" in sphinx_config["extensions"]
    return buttons.follow_repository_setting(sphinx_config["html_theme_options"])


def test_the_repository_url_is_empty_until_a_course_sets_it():
    assert bootstrap.repository(ROOT / "_config.yml")[0] == ""


def test_without_a_repository_the_book_has_no_repository_or_launch_buttons():
    options = theme_options("")
    assert options["repository_url"] == ""
    assert not options["use_repository_button"] and not options["use_issues_button"]
    assert not any(options["launch_buttons"].get(key) for key in buttons.LAUNCH_SERVICES)


def test_with_a_repository_the_book_has_colab_binder_and_repository_buttons():
    options = theme_options("https://github.com/some-course/labs")
    assert options["repository_url"] == "https://github.com/some-course/labs"
    assert options["use_repository_button"] and options["use_issues_button"]
    launch = options["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert launch["notebook_interface"] == "jupyterlab"


def test_launch_links_use_the_notebooks_real_path_not_the_book_symlink():
    source = ROOT / "book" / "notebooks" / "00_data_tour.ipynb"
    assert source.parent.is_symlink()
    assert buttons.repository_path(source, ROOT / "book", "book") == "notebooks/00_data_tour.ipynb"
    assert buttons.repository_path(ROOT / "book" / "intro.md", ROOT / "book", "book/") == "book/intro.md"
    assert buttons.repository_path(Path("/elsewhere/x.ipynb"), ROOT / "book", "book") is None


# --- an installed aecore (not a checkout) -------------------------------------------------------

def test_roots_outside_a_checkout_are_user_folders(monkeypatch, tmp_path):
    site_packages = tmp_path / "site-packages"
    (site_packages / "aecore").mkdir(parents=True)
    monkeypatch.setattr(config, "REPO_ROOT", site_packages)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("AECORE_DATA", "AECORE_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert not config.in_checkout()
    assert config.data_root() == tmp_path / "home" / "aecore-data"
    assert config.cache_root() == tmp_path / "home" / ".cache" / "aecore"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_root() == tmp_path / "xdg" / "aecore"
    monkeypatch.setenv("AECORE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("AECORE_CACHE", str(tmp_path / "c"))
    assert (config.data_root(), config.cache_root()) == (tmp_path / "d", tmp_path / "c")


def test_roots_inside_a_checkout_stay_in_the_checkout(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'aecore'\n")
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for name in ("AECORE_DATA", "AECORE_CACHE"):
        monkeypatch.delenv(name, raising=False)
    assert config.in_checkout()
    assert config.data_root() == tmp_path / "data"
    assert config.cache_root() == tmp_path / ".cache" / "aecore"


def test_student_notebooks_install_the_student_package_from_the_student_branch(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://github.com/some-course/labs\n  branch: main\n"
                      "sphinx:\n  config:\n    aecore_student_branch: handout\n", encoding="utf-8")
    solved = bootstrap.bootstrap_cell(bootstrap.install_requirement("https://github.com/some-course/labs", "main"))
    other = {"cell_type": "code", "id": "x", "metadata": {}, "outputs": [], "source": ["print(1)"]}
    notebook = {"cells": [json.loads(json.dumps(solved)), other]}
    bootstrap.for_students(notebook, config)
    assert "".join(notebook["cells"][0]["source"]).endswith(
        '"-m", "pip", "install", "-q", "aecore @ git+https://github.com/some-course/labs@handout"], check=True)')
    assert notebook["cells"][1] == other and bootstrap.student_branch(config) == "handout"
    custom = {"cells": [{**solved, "source": ["# my own first cell"]}]}
    assert bootstrap.for_students(json.loads(json.dumps(custom)), config) == custom  # not the solved cell: kept
    config.write_text("repository:\n  url: ''\n", encoding="utf-8")  # no repository: nothing to install from
    unset = {"cells": [bootstrap.bootstrap_cell("")]}
    assert bootstrap.for_students(json.loads(json.dumps(unset)), config) == unset
    assert bootstrap.student_branch(config) == "student"
