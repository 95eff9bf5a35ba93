"""The conda environment, the pip metadata and the lock file must describe the same packages."""

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {normalise(r) for r in reqs}


def conda_pip_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {normalise(r) for r in pip_section if not r.startswith("-e")}


def normalise(requirement: str) -> str:
    req = Requirement(requirement)
    return f"{canonicalize_name(req.name)}{req.specifier}"


def test_environment_yml_names_the_same_packages_as_pyproject():
    assert conda_pip_requirements() == pyproject_requirements()


def test_environment_yml_installs_the_package_itself():
    assert "-e ." in (ROOT / "environment.yml").read_text()


def test_jupyter_book_is_pinned_below_2():
    assert "jupyter-book<2,>=1" in pyproject_requirements()


def test_lock_file_pins_every_dependency_exactly_and_satisfies_pyproject():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
            assert match, f"not an exact pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[2]
    for requirement in pyproject_requirements():
        req = Requirement(requirement)
        assert req.name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[req.name], prereleases=True), f"{req.name}=={pins[req.name]} violates {req}"
