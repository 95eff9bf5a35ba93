"""The exercises of the labs: one module per lab, each exercise one block of its reference implementation,
its typical mistakes and its self-check, registered by :func:`framework.exercise`.

A notebook imports its lab's module (``from aecore.exercises import lab3 as exercises``) and calls the
check after the cell that writes the function: ``exercises.check_kl_divergence(kl_divergence)`` prints ✓ or
raises :class:`ExerciseMistake` naming the mistake and its fix (see :mod:`aecore.exercises.framework`).

The registries below are derived from the registrations, in book order: ``REFERENCES`` (name -> reference
implementation; :mod:`aecore.lessons` is a view of it), ``MISTAKES`` (name -> the names of its typical
mistakes) and ``CHECKS`` (name -> ``check_<name>``). Adding an exercise is one block in its lab's module.
"""

from __future__ import annotations

from collections.abc import Callable

# The labs in book order: the order of the registries (a lab may import an earlier lab's reference).
from . import framework, lab1, lab2, lab3, lab3b, lab4
from .framework import EXERCISES, Exercise, ExerciseMistake, Mistake

__all__ = ["EXERCISES", "REFERENCES", "MISTAKES", "CHECKS", "LAB_MODULES", "Exercise", "ExerciseMistake", "Mistake",
           "framework", "lab1", "lab2", "lab3", "lab3b", "lab4"]

LAB_MODULES = {"lab1": lab1, "lab2": lab2, "lab3": lab3, "lab3b": lab3b, "lab4": lab4}
REFERENCES: dict[str, Callable] = {name: e.reference for name, e in EXERCISES.items()}
MISTAKES: dict[str, tuple[str, ...]] = {name: tuple(e.mistakes) for name, e in EXERCISES.items()}
CHECKS: dict[str, Callable[[Callable], None]] = {name: e.check for name, e in EXERCISES.items()}
