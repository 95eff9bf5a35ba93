"""Colab and other hosted Jupyter: the notebooks' bootstrap cell, the book's buttons, an installed aecore.

The bootstrap cell's code is executed here with pip (subprocess.run) recorded instead of run, and
with aecore made to look missing through a patched importlib.util.find_spec. The real install
into a fresh environment is tools/check_bootstrap.sh (`make check-bootstrap`, minutes, not part
of `make test`).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jupyter_book.config import get_final_config

from aecore import config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = _load("bootstrap_cell", ROOT / "tools" / "bootstrap_cell.py")
buttons = _load("repository_buttons", ROOT / "book" / "_ext" / "repository_buttons.py")

URL_REQUIREMENT = bootstrap.install_requirement("https://github.com/some-course/labs/", "main")


# --- the cell in the notebooks ----------------------------------------------------------------

def test_install_requirement_is_built_from_the_repository_url_and_branch():
    assert URL_REQUIREMENT == "aecore @ git+https://github.com/some-course/labs@main"
    assert bootstrap.install_requirement("", "main") == ""
    assert bootstrap.repository(ROOT / "_config.yml")[1] == "main"


def test_every_notebook_starts_with_the_current_bootstrap_cell():
    assert NOTEBOOKS, "no notebooks found"
    assert bootstrap.main(["--check"]) == 0, "run: python tools/bootstrap_cell.py"
    for path in NOTEBOOKS:
        first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
        assert first["id"] == "colab-bootstrap" and first["cell_type"] == "code", path.name
        assert first["metadata"]["tags"] == ["remove-cell"], path.name  # hidden from the book
        assert first["outputs"] == [] and first["execution_count"] is None, path.name
        source = "".join(first["source"])
        assert source.startswith("# Colab / hosted Jupyter: install aecore"), path.name
        compile(source, path.name, "exec")


def test_the_tool_inserts_then_updates_the_cell_and_leaves_the_rest_byte_identical(tmp_path):
    original = NOTEBOOKS[0].read_text(encoding="utf-8")
    without = json.loads(original)
    without["cells"] = [c for c in without["cells"] if c.get("id") != "colab-bootstrap"]
    bare = bootstrap.dumps(without)
    path = tmp_path / "nb.ipynb"
    path.write_text(bare, encoding="utf-8")

    assert bootstrap.main(["--check", str(path)]) == 1  # missing
    assert path.read_text(encoding="utf-8") == bare  # --check changes nothing
    assert bootstrap.main([str(path)]) == 0
    inserted = path.read_text(encoding="utf-8")
    assert inserted == original  # same bytes as the stored notebook: cell first, the rest untouched
    assert bootstrap.main([str(path)]) == 0 and path.read_text(encoding="utf-8") == inserted  # idempotent

    stale = json.loads(inserted)
    stale["cells"][0]["source"] = ["# an older bootstrap cell\n"]
    stale["cells"].insert(3, copy.deepcopy(stale["cells"][0]))  # and a stray copy further down
    path.write_text(bootstrap.dumps(stale), encoding="utf-8")
    assert bootstrap.main(["--check", str(path)]) == 1
    assert bootstrap.main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == original


class Pip:
    """Stands in for subprocess.run in the cell: records the command; a successful install makes
    aecore findable, as a real one does."""

    def __init__(self, returncode: int = 0):
        self.calls, self.returncode, self.installed = [], returncode, False

    def __call__(self, command, **kwargs):
        self.calls.append(command)
        self.installed = self.returncode == 0
        return subprocess.CompletedProcess(command, self.returncode, stdout="pip says hello", stderr="pip error text")


def run_cell(monkeypatch, requirement: str, *, aecore_installed: bool, pip: Pip | None = None):
    """Execute the bootstrap cell for ``requirement``; return the Pip recorder."""
    pip = pip or Pip()
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "aecore" and not (aecore_installed or pip.installed):
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", pip)
    exec(compile(bootstrap.cell_source(requirement), "bootstrap-cell", "exec"), {})
    return pip


@pytest.mark.parametrize("requirement", [URL_REQUIREMENT, ""])
def test_the_cell_does_nothing_where_aecore_is_importable(monkeypatch, capsys, requirement):
    monkeypatch.setenv("AECORE_INSTALL_FROM", "/some/checkout")
    pip = run_cell(monkeypatch, requirement, aecore_installed=True)
    assert pip.calls == []
    assert capsys.readouterr() == ("", "")


def test_without_aecore_the_cell_pip_installs_from_the_repository(monkeypatch, capsys):
    monkeypatch.delenv("AECORE_INSTALL_FROM", raising=False)
    pip = run_cell(monkeypatch, URL_REQUIREMENT, aecore_installed=False)
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "--quiet", URL_REQUIREMENT]]
    out = capsys.readouterr().out
    assert f"Installing aecore from {URL_REQUIREMENT}" in out and "aecore installed." in out


@pytest.mark.parametrize("requirement", [URL_REQUIREMENT, ""])
def test_aecore_install_from_overrides_the_repository(monkeypatch, requirement):
    monkeypatch.setenv("AECORE_INSTALL_FROM", " /path/to/a/checkout ")
    pip = run_cell(monkeypatch, requirement, aecore_installed=False)
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "--quiet", "/path/to/a/checkout"]]


def test_without_a_repository_the_cell_says_how_to_install_by_hand(monkeypatch, capsys):
    monkeypatch.delenv("AECORE_INSTALL_FROM", raising=False)
    with pytest.raises(ModuleNotFoundError, match="no repository is set"):
        run_cell(monkeypatch, "", aecore_installed=False)
    out = capsys.readouterr().out
    assert "this course has not set its repository yet" in out
    assert '%pip install "aecore @ git+https://github.com/<owner>/<repository>"' in out
    assert "AECORE_INSTALL_FROM" in out


def test_a_failed_install_shows_pips_output(monkeypatch, capsys):
    monkeypatch.delenv("AECORE_INSTALL_FROM", raising=False)
    with pytest.raises(RuntimeError, match="pip could not install aecore"):
        run_cell(monkeypatch, URL_REQUIREMENT, aecore_installed=False, pip=Pip(returncode=1))
    assert "pip error text" in capsys.readouterr().out


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
