"""The exercises' test cases: fixed inputs, the expected results and each named mistake's results.

A check (:func:`~aecore.exercises.framework.exercise`) judges a student's function by its results on a
:class:`CaseSet`. Where the cases come from is the only difference between the copies of aecore:

* in the instructor's checkout they are **computed** from each exercise's :class:`~.framework.Spec`: the
  inputs drawn with its seed, the expected results from its reference implementation, each mistake's results
  from the mistake's ``variant`` (once per process, then kept);
* in a built copy (the student package, the grading build; :mod:`aecore.book.student_package`) they are
  **stored**: ``aecore/exercises/stored/<lab>.pt`` (the visible cases) and ``<lab>.hidden.pt`` (the hidden
  ones, in the grading build only), written by :func:`write_stored` from the references when the copy is
  built. A copy with a ``stored`` folder never computes cases, so it runs without the references.

``cases="hidden"`` names the second set: other inputs (another seed) of the same exercise, which graders keep
from the students (nbgrader's ``### BEGIN HIDDEN TESTS``).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .framework import EXERCISES, SEED, call, generator, large_features, mistaken_results

__all__ = ["Case", "LargeCase", "CaseSet", "WHICH", "STORED", "HIDDEN_SEED_OFFSET", "is_stored", "case_set",
           "compute", "computed", "forget", "write_stored",
           "HiddenCasesMissing"]

WHICH = ("visible", "hidden")
STORED = Path(__file__).resolve().parent / "stored"
"""The folder of the stored cases; it exists in a built copy only."""
HIDDEN_SEED_OFFSET = 7919
"""The hidden cases' seed is the visible ones' plus this."""


class HiddenCasesMissing(RuntimeError):
    """The hidden cases were asked for where they are held back (the student package)."""


class Case(NamedTuple):
    """One test case: the arguments, what the check compares with (the reference's result, or the exercise's
    ``answer``), each mistake's result(s) by name, and the seed torch is given before each call (random ones)."""
    args: tuple
    expected: Any
    mistaken: dict[str, list]
    seed: int | None = None


class LargeCase(NamedTuple):
    """The large input of a random exercise: its arguments, the shape and dtype of the reference's result, the
    features of that result (``want``), each mistake's features, and the context ``features`` is given."""
    args: tuple
    shape: tuple[int, ...]
    dtype: torch.dtype
    want: dict[str, float]
    mistaken: dict[str, dict[str, float]]
    context: dict


class CaseSet(NamedTuple):
    """The cases of one exercise: its ``name``, the names of its parameters (for messages), the cases, the
    large input (random exercises; else None), and whether they are the graders' hidden ones (the ✓ line says so)."""
    name: str
    params: tuple[str, ...]
    cases: list[Case]
    large: LargeCase | None = None
    hidden: bool = False


def is_stored() -> bool:
    """Whether this copy of aecore holds stored cases (a built copy) instead of computing them."""
    return STORED.is_dir()


def case_set(name: str, which: str = "visible") -> CaseSet:
    """A fresh copy (the check may not spoil the next one's) of the cases ``which`` of exercise ``name``."""
    if which not in WHICH:
        raise ValueError(f"cases={which!r}: use one of {WHICH} (\"hidden\" are the graders' own cases)")
    if name not in EXERCISES:
        raise KeyError(f"no exercise named {name!r}; the exercises are {', '.join(EXERCISES)}")
    found = _stored(EXERCISES[name].lab, which)[name] if is_stored() else computed(name, which)
    return copy.deepcopy(found)._replace(hidden=which == "hidden")


def stored_file(folder: Path, lab: str, which: str) -> Path:
    """Where the cases ``which`` of ``lab`` are stored in ``folder``: ``<lab>.pt`` (visible), ``<lab>.hidden.pt``."""
    return folder / (f"{lab}.pt" if which == "visible" else f"{lab}.hidden.pt")


@functools.cache
def _stored(lab: str, which: str) -> dict[str, CaseSet]:
    path = stored_file(STORED, lab, which)
    if not path.is_file():
        if which == "hidden":
            raise HiddenCasesMissing(f"the hidden cases of {lab} are not in this copy of aecore: they exist only in "
                                     "the grading build (aecore.book.student_package.write_package(..., "
                                     "hidden_cases=True)); the student package holds the visible ones")
        raise FileNotFoundError(f"{path} is missing: this copy of aecore was built without the cases of {lab}; "
                                "rebuild it (make student)")
    return torch.load(path, weights_only=False)


_COMPUTED: dict[tuple[str, str], CaseSet] = {}


def computed(name: str, which: str = "visible") -> CaseSet:
    """:func:`compute`'s cases, computed once per process (:func:`forget` drops them)."""
    if (name, which) not in _COMPUTED:
        _COMPUTED[name, which] = compute(name, which)
    return _COMPUTED[name, which]


def forget(name: str | None = None) -> None:
    """Drop the computed cases of exercise ``name`` (of every exercise: None), e.g. after changing its reference."""
    for key in [k for k in _COMPUTED if name is None or k[0] == name]:
        del _COMPUTED[key]


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    return value


def compute(name: str, which: str = "visible") -> CaseSet:
    """The cases ``which`` of exercise ``name`` computed from its spec, reference and mistakes (the checkout)."""
    exercise = EXERCISES[name]
    spec, reference = exercise.spec, exercise.reference
    if reference is None or spec.inputs is None:
        raise RuntimeError(f"the cases of {name} cannot be computed here: its reference or its inputs are not in "
                           "this copy of aecore")
    seed = spec.seed + (HIDDEN_SEED_OFFSET if which == "hidden" else 0)
    random = spec.features is not None
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        g = generator(seed)
        inputs = [tuple(args) for args in spec.inputs(g)]
        large_args = tuple(spec.large(g, inputs)) if spec.large is not None else None
        cases = []
        for i, args in enumerate(inputs, 1):
            case_seed = SEED + i if random else None
            expected = spec.answer(reference, args, case_seed) if spec.answer else call(reference, args, case_seed)
            cases.append(Case(args, _detached(expected), mistaken_results(exercise.mistakes, args, case_seed),
                              case_seed))
        large = None
        if random:
            if large_args is None:
                raise ValueError(f"the random exercise {name} needs a large input (large=)")
            context = spec.context(large_args) if spec.context else {}
            out, want = large_features(name, reference, large_args, context)
            assert want is not None, f"the reference of {name} returned no tensor"
            mistaken = {}
            for mistake, m in exercise.mistakes.items():
                if m.variant is None:
                    continue
                try:
                    _, theirs = large_features(name, m.variant, large_args, context)
                except Exception:
                    continue
                if theirs is not None:
                    mistaken[mistake] = theirs
            large = LargeCase(large_args, tuple(out.shape), out.dtype, want, mistaken, _detached(context))
    params = tuple(inspect.signature(reference).parameters)
    return CaseSet(name, params, cases, large)


def write_stored(folder: Path, labs: Iterable[str], *, hidden: bool) -> list[Path]:
    """Write the cases of every exercise of ``labs`` (lab module names) into ``folder``: ``<lab>.pt`` (visible) and,
    with ``hidden``, ``<lab>.hidden.pt``; computed from the references (in the checkout). Returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for lab in labs:
        names = [n for n, e in EXERCISES.items() if e.lab == lab]
        for which in WHICH if hidden else WHICH[:1]:
            path = stored_file(folder, lab, which)
            torch.save({name: computed(name, which) for name in names}, path)
            written.append(path)
    return written
