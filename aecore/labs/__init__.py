"""The labs: one module per lab, and :data:`LABS`, the one list of them in book order.

Each lab module (:mod:`~aecore.labs.lab1`, ... :mod:`~aecore.labs.lab4`) holds what its notebook
runs: ``Settings`` with ``QUICK`` and ``FULL`` (``settings()`` picks one by profile), its
networks, its training configs (``train_config()`` and the like), the cache names of its models
(``*_run`` functions and ``*_RUN`` constants, built from the settings), its quality targets
(``TARGETS``), and its chapter: ``NOTEBOOK`` (the notebook's stem), ``TITLE`` and ``TOPIC``. What several
labs share (the MNIST digits and digit classifier, the dog photos) is in :mod:`~aecore.labs.common`.

:data:`LABS` is derived: the data tour, then every module ``lab<N>[suffix]`` of this package, in the order of
their notebooks' names. Nothing else lists the labs. It is read by the benchmarks, the tests, and the book's lab
table (``book/intro.md``, filled in at build time by ``book/_ext/lab_table.py``); ``book/_toc.yml`` takes the
notebooks by a glob, and a test checks that it gives the same list.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

from . import common

LAB_MODULE = re.compile(r"lab(\d+)([a-z]*)")
"""The name of a lab's module: ``lab`` and the lab's number as the course names it (``lab3b``: Lab 3b)."""


@dataclass(frozen=True)
class Lab:
    """One chapter of the book: a notebook and the module that holds its settings."""

    stem: str
    """The notebook's file stem, e.g. ``"03_mnist_vae"`` (``notebooks/<stem>.ipynb``)."""
    number: str
    """The lab's number as the course names it (``"3b"``); ``""`` for the data tour, which is no lab."""
    title: str
    """The chapter's title (its notebook's first heading, without the "Lab N:")."""
    topic: str
    """What the reader builds in it: one sentence for the lab tables."""
    module_name: str | None
    """Its module in :mod:`aecore.labs` (``"lab3"``), None for a chapter without settings."""

    @property
    def module(self) -> ModuleType | None:
        """The lab's module (:mod:`aecore.labs.lab3`), or None."""
        return None if self.module_name is None else importlib.import_module(f"{__name__}.{self.module_name}")

    @property
    def notebook(self) -> str:
        """The notebook's path in the repository: ``"notebooks/03_mnist_vae.ipynb"``."""
        return f"notebooks/{self.stem}.ipynb"


DATA_TOUR = Lab("00_data_tour", "", "Getting started: the data",
                "Loads MNIST and the Stanford Dogs photos and checks that your setup works", None)
"""The first chapter: no lab, and no module."""


def _lab_modules() -> list[ModuleType]:
    """Every ``lab<N>[suffix]`` module of this package, imported."""
    names = [info.name for info in pkgutil.iter_modules(__path__) if LAB_MODULE.fullmatch(info.name)]
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def _chapter(module: ModuleType) -> Lab:
    """The :class:`Lab` of a lab module, from its ``NOTEBOOK``, ``TITLE`` and ``TOPIC``; AttributeError naming the
    module and what it lacks otherwise."""
    name = module.__name__.rpartition(".")[2]
    missing = [attribute for attribute in ("NOTEBOOK", "TITLE", "TOPIC") if not hasattr(module, attribute)]
    if missing:
        raise AttributeError(f"{module.__name__} is a lab module (its name is lab<N>) but lacks {', '.join(missing)}: "
                             "see CONTRIBUTING.md, 'Add a lab'")
    match = LAB_MODULE.fullmatch(name)
    assert match is not None
    return Lab(module.NOTEBOOK, match[1] + match[2], module.TITLE, module.TOPIC, name)


LABS: tuple[Lab, ...] = (DATA_TOUR, *sorted((_chapter(module) for module in _lab_modules()), key=lambda lab: lab.stem))
"""The book's chapters in order: the data tour, then the labs."""

BEGIN, END = "<!-- begin: lab table (aecore.labs.LABS) -->", "<!-- end: lab table -->"
"""The marker comments in ``book/intro.md`` between which the book's build puts the lab table."""


def lab(stem: str) -> Lab:
    """The :class:`Lab` of the notebook ``stem``; KeyError naming the known stems otherwise."""
    for entry in LABS:
        if entry.stem == stem:
            return entry
    raise KeyError(f"no lab {stem!r} in aecore.labs.LABS; known: {', '.join(entry.stem for entry in LABS)}")


def lab_table(links: str = "myst") -> str:
    """The lab table in Markdown (one row per :data:`LABS` entry): ``links="myst"`` links each chapter with
    ``{doc}`` (the book's intro), ``links="github"`` to its notebook file (``python -m aecore.labs``)."""
    rows = ["| Lab | Chapter | What you build |", "| --- | --- | --- |"]
    for entry in LABS:
        if links == "myst":
            chapter = f"{{doc}}`{entry.title} <notebooks/{entry.stem}>`"
        elif links == "github":
            chapter = f"[{entry.title}]({entry.notebook})"
        else:
            raise ValueError(f"links is 'myst' or 'github', got {links!r}")
        rows.append(f"| {entry.number or '–'} | {chapter} | {entry.topic} |")
    return "\n".join(rows) + "\n"


def with_lab_table(text: str, links: str) -> str:
    """``text`` with the part between :data:`BEGIN` and :data:`END` replaced by :func:`lab_table`;
    ValueError if the markers are missing."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {BEGIN} ... {END} markers")
    return pattern.sub(lambda _: f"{BEGIN}\n{lab_table(links)}{END}", text, count=1)


__all__ = ["LABS", "Lab", "DATA_TOUR", "LAB_MODULE", "lab", "lab_table", "with_lab_table", "BEGIN", "END", "common",
           *(entry.module_name for entry in LABS if entry.module_name)]
