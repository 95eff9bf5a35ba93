"""The exercises of the labs: one module per lab, each exercise one block of its reference implementation,
its typical mistakes and its self-check, registered by :func:`framework.exercise`.

A notebook imports its lab's module (``from aecore.exercises import lab3 as exercises``) and calls the
check after the cell that writes the function: ``exercises.check_kl_divergence(kl_divergence)`` prints ✓ or
raises :class:`ExerciseMistake` naming the mistake and its fix (see :mod:`aecore.exercises.framework`).

The registries below are derived from the registrations, in book order: ``REFERENCES`` (name -> reference
implementation, where present; :mod:`aecore.lessons` is a view of it), ``MISTAKES`` (name -> the names of its typical
mistakes) and ``CHECKS`` (name -> ``check_<name>``). Adding an exercise is one block in its lab's module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from types import ModuleType

from . import framework
from .framework import EXERCISES, Exercise, ExerciseMistake, Mistake


def _book_order(name: str) -> tuple[int, str]:
    """``"lab3b"`` -> (3, "b"): lab modules sort as the labs do (lab3, lab3b, lab4, ..., lab10)."""
    match = re.fullmatch(r"lab(\d+)([a-z]*)", name)
    assert match is not None
    return int(match[1]), match[2]


# Every lab<N> module of this package, imported in book order: the order of the registries (a lab may import an
# earlier lab's reference). A new lab's module is found by its name; nothing here lists the labs.
_NAMES = [info.name for info in pkgutil.iter_modules(__path__) if re.fullmatch(r"lab\d+[a-z]*", info.name)]
LAB_MODULES: dict[str, ModuleType] = {name: importlib.import_module(f"{__name__}.{name}")
                                      for name in sorted(_NAMES, key=_book_order)}
"""Lab module name (``"lab3b"``) -> the module, in book order."""

__all__ = ["EXERCISES", "REFERENCES", "MISTAKES", "CHECKS", "LAB_MODULES", "Exercise", "ExerciseMistake", "Mistake",
           "framework", *LAB_MODULES]

REFERENCES: dict[str, Callable] = {name: e.reference for name, e in EXERCISES.items() if e.reference is not None}
"""The reference implementations present in this copy of aecore: all of them in the instructor's checkout, those
of the released labs in a student build (:mod:`aecore.book.student_package`)."""
MISTAKES: dict[str, tuple[str, ...]] = {name: tuple(e.mistakes) for name, e in EXERCISES.items()}
CHECKS: dict[str, Callable[..., None]] = {name: e.check for name, e in EXERCISES.items()}
