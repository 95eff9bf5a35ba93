"""The machinery of the exercises' self-checks: run a student's version of an exercise and say what is wrong.

Each exercise lives in the module of its lab (:mod:`aecore.exercises.lab1`, ...) as one block: its
reference implementation, its typical mistakes (a dict of :class:`Mistake`) and its check
``check_<name>(fn, cases)``, registered by :func:`exercise` with the :class:`Spec` of its test cases. A
check judges the student's ``fn`` on a case set (:mod:`aecore.exercises.cases`): small fixed inputs (seeded;
tiny models where the function takes one), the reference's results and each named mistake's results on them,
computed from the references in the instructor's checkout and read from stored files in the student package
and the grading build (the same check code runs in all three). It

* prints one line such as ``✓ negative_elbo: matches the reference on 3 test cases.`` when it
  matches;
* raises :class:`ExerciseMistake` naming the mistake and its fix when the result equals one of the
  typical mistakes' results, or saying what differs (shape, dtype, which value) when it is wrong in
  some other way;
* re-raises ``NotImplementedError`` unchanged (the exercise is not written yet), and reports any
  other exception of ``fn`` as an :class:`ExerciseMistake` chained to it.

Random functions are called with torch's global generator seeded as the reference was, so a student using
``torch.randn_like``/``torch.randn`` draws the same numbers; when the numbers differ anyway (another order of
draws), the check compares the distributions (the exercise's ``features``) on a large input instead, with the
reference's and each mistake's stored. A check leaves torch's global random state, and any model it builds,
as they were. ``check_<name>(fn, cases="hidden")`` runs the second case set, which graders keep from the
students. Where the reference is absent (a student build of an unreleased lab), a passing function is kept
for the later labs (:mod:`aecore.exercises.saved`).

:data:`EXERCISES` holds every registered exercise by name, in book order (the order in which the lab
modules are imported by :mod:`aecore.exercises`, and within a lab the order of its blocks).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = ["ExerciseMistake", "Mistake", "Exercise", "Spec", "EXERCISES", "exercise", "ONE_NUMBER", "SEED",
           "generator", "preserved", "call", "call_student", "mistaken_results", "compare", "describe_case",
           "check_values", "check_random", "large_features", "report_match",
           "forward_to_lessons", "decoding", "share_outside_01", "one_number"]


class ExerciseMistake(AssertionError):
    """A student's function gives a wrong result; the message says which mistake, or what differs."""


class Mistake(NamedTuple):
    """A typical mistake: how to fix it, how to recognise it, and how a student would write it.

    ``variant(*args)`` computes the mistaken result on the exercise's arguments (a tensor, a
    ``torch.Size`` that the result's shape matches, or a list of alternatives); ``raises``: text of the
    exception the mistake makes torch raise; ``note(*args)``: what to say about the values (by default,
    how they relate to the right ones). Neither variant nor raises: recognised by its check's own code.
    ``example``: the mistake written the way a student would write it (a function like the reference);
    the tests call the check on it and expect this mistake to be named."""
    fix: str
    variant: Callable[..., Any] | None = None
    raises: str | None = None
    note: Callable[..., str] | None = None
    example: Callable[..., Any] | None = None


class Exercise(NamedTuple):
    """One registered exercise: its ``name`` (the function the student writes), the ``lab`` module that holds it
    (e.g. ``"lab3"``), the ``reference`` implementation (None where it is not there: a student build of an
    unreleased lab), its typical ``mistakes`` by name, its ``check`` and the ``spec`` its cases are made from."""
    name: str
    lab: str
    reference: Callable[..., Any] | None
    mistakes: dict[str, Mistake]
    check: Callable[..., None]
    spec: Spec


class Spec(NamedTuple):
    """How an exercise's cases are made (in the instructor's checkout) and judged.

    ``inputs(g)``: the argument tuples of the test cases, drawn from the generator ``g`` (torch's global
    generator is seeded with the same seed); ``seed``: the visible cases' seed (the hidden cases use another);
    ``large(g, inputs)``: the large input of a random exercise, drawn after ``inputs`` from the same ``g``;
    ``features(out, args, context)``: the statistics of a random function's result on the large input (its
    presence makes the exercise random: each case is called with torch seeded ``SEED + i``);
    ``answer(reference, args, seed)``: what the check compares with, when it is not the reference's result;
    ``context(args)``: values computed from the references that ``features`` needs (not the student's);
    ``records_codes``: ``features`` also gets ``context["codes"]``, the codes the call decoded (its first
    argument is a model with a ``decoder``). Only ``features`` and ``records_codes`` are needed where the cases
    are stored (see :mod:`aecore.exercises.cases`)."""
    inputs: Callable[[torch.Generator], Sequence[Sequence[Any]]] | None = None
    seed: int = 0
    large: Callable[[torch.Generator, list[tuple]], Sequence[Any]] | None = None
    features: Callable[[torch.Tensor, Sequence[Any], dict], dict[str, float]] | None = None
    answer: Callable[[Callable, Sequence[Any], int | None], Any] | None = None
    context: Callable[[Sequence[Any]], dict] | None = None
    records_codes: bool = False


EXERCISES: dict[str, Exercise] = {}


def exercise(mistakes: dict[str, Mistake], **spec: Any) -> Callable[[Callable], Callable]:
    """Decorator of the check ``check_<name>(fn, cases)`` of the exercise ``<name>``, whose reference is the function
    ``<name>`` defined above it in the same module: registers the exercise in :data:`EXERCISES` with its
    ``mistakes`` and its :class:`Spec` (the keyword arguments), and returns the check as students call it,
    ``check_<name>(fn, cases="visible")``: it runs on the stored or computed cases (``"visible"``, or
    ``"hidden"``: a second set, held back from the student build), leaves torch's global random state alone,
    and keeps a student's passing function for later labs (:mod:`aecore.exercises.saved`) where the reference
    is not there."""
    options = Spec(**spec)

    def register(check: Callable[..., None]) -> Callable[..., None]:
        if not check.__name__.startswith("check_"):
            raise ValueError(f"a check must be called check_<name of the exercise>, not {check.__name__}")
        name = check.__name__.removeprefix("check_")
        lab = check.__module__.rsplit(".", 1)[-1]
        if name in EXERCISES:
            raise ValueError(f"exercise {name} is registered twice ({EXERCISES[name].lab} and {lab})")
        reference = check.__globals__.get(name)
        if reference is not None and getattr(reference, "__module__", None) != check.__module__:
            reference = None  # a name of another module (a forwarder): not this exercise's reference
        wrapper = _student_check(name, check)
        EXERCISES[name] = Exercise(name, lab, reference, dict(mistakes), wrapper, options)
        return wrapper
    return register


def forward_to_lessons(name: str) -> Callable[..., Any]:
    """A function that calls ``aecore.lessons.<name>``, looked up at each call: in a student build, where a released
    lab's code uses an unreleased lab's function, the student's own one (:mod:`aecore.lessons`)."""
    def forwarded(*args: Any, **kwargs: Any) -> Any:
        from .. import lessons
        return getattr(lessons, name)(*args, **kwargs)
    forwarded.__name__ = forwarded.__qualname__ = name
    return forwarded


def _reference(name: str) -> Callable[..., Any]:
    reference = EXERCISES[name].reference
    if reference is None:
        raise RuntimeError(f"the reference of {name} is not in this copy of aecore (a student build): its checks "
                           "work from the stored cases only")
    return reference


SEED = 20240
_RTOL, _ATOL = 1e-4, 1e-5
ONE_NUMBER = "one number for the whole batch instead of one value per image"


# ----------------------------------------------------------------------------- helpers

def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fresh(args: Sequence[Any]) -> list[Any]:
    """Copies of the tensor arguments (so that a function changing its inputs in place cannot spoil the next call)."""
    return [a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args]


@contextmanager
def preserved(args: Sequence[Any]) -> Iterator[None]:
    """Restore the train/eval mode and the parameters of every model among ``args`` afterwards."""
    models = [a for a in args if isinstance(a, nn.Module)]
    saved = [({m: m.training for m in model.modules()}, copy.deepcopy(model.state_dict())) for model in models]
    try:
        yield
    finally:
        for model, (modes, state) in zip(models, saved):
            for module, training in modes.items():
                module.training = training
            with torch.no_grad():
                model.load_state_dict(state)


def call(f: Callable, args: Sequence[Any], seed: int | None = None, copy_args: bool = True) -> Any:
    """``f(*args)`` on copies of ``args`` (unless not ``copy_args``), models restored afterwards; with torch
    seeded first if ``seed``."""
    with preserved(args):
        if seed is not None:
            torch.manual_seed(seed)
        return f(*(_fresh(args) if copy_args else args))


def _describe(params: Sequence[str], args: Sequence[Any]) -> str:
    """The arguments of a call, e.g. ``logits (3, 1, 4, 4), x (3, 1, 4, 4), factor=0.4``."""
    parts = []
    for pname, a in zip(params, args):
        if isinstance(a, torch.Tensor):
            parts.append(f"{pname} {tuple(a.shape)}" + ("" if a.dtype == torch.float32 else f" {a.dtype}"))
        elif isinstance(a, nn.Module):
            parts.append(f"{pname}={type(a).__name__}")
        else:
            parts.append(f"{pname}={a!r}")
    return ", ".join(parts)


def call_student(name: str, fn: Callable, args: Sequence[Any], where: str, mistakes: dict[str, Mistake],
                 seed: int | None = None, copy_args: bool = True) -> Any:
    """Call the student's ``fn``; NotImplementedError passes through, other exceptions become ExerciseMistake."""
    try:
        return call(fn, args, seed, copy_args)
    except NotImplementedError:
        raise
    except Exception as err:
        for mistake, m in mistakes.items():
            if m.raises and m.raises in str(err):
                raise ExerciseMistake(f"{name}: looks like {mistake} (your function raised {type(err).__name__}: "
                                      f"{err}) {where}. {m.fix}") from err
        raise ExerciseMistake(f"{name}: your function raised {type(err).__name__}: {err} {where}. Call it on "
                              "inputs shaped like these and check the shape of each intermediate result.") from err


def mistaken_results(mistakes: dict[str, Mistake], args: Sequence[Any], seed: int | None = None) -> dict[str, list]:
    """Each mistake's mistaken results on ``args`` (those whose computation fails are left out)."""
    out = {}
    for mistake, m in mistakes.items():
        if m.variant is None:
            continue
        try:
            value = call(m.variant, args, seed)
        except Exception:
            continue
        out[mistake] = [v.detach() if isinstance(v, torch.Tensor) else v
                        for v in (value if isinstance(value, list) else [value])]
    return out


def _close(a: torch.Tensor, b: Any, rtol: float = _RTOL, atol: float = _ATOL) -> bool:
    """``a`` equals ``b``: same shape if ``b`` is a torch.Size, else same shape, dtype and values."""
    if isinstance(b, torch.Size):
        return a.shape == b
    if not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=True))


def _pattern(got: torch.Tensor, expected: torch.Tensor) -> str:
    """A note when ``got`` is ``expected`` times a constant, or plus a constant (else "")."""
    if got.shape != expected.shape or got.numel() < 2 or got.dtype.is_complex:  # nothing to tell for one number
        return ""
    g, e = got.double().flatten(), expected.double().flatten()
    if not (torch.isfinite(g).all() and torch.isfinite(e).all()):
        return ""
    if (e.abs() > 1e-6).all():
        r = g / e
        mean = float(r.mean())
        if abs(mean - 1) > 1e-3 and abs(mean) > 1e-9 and float((r - mean).abs().max()) <= 1e-3 * abs(mean):
            if abs(mean + 1) <= 1e-3:
                return " (your values have the opposite sign)"
            if mean > 1:
                return f" (your values are {mean:.4g} times larger)"
            if mean > 0:
                return f" (your values are {1 / mean:.4g} times smaller)"
            return f" (your values are {mean:.4g} times the expected ones)"
    d = g - e
    shift = float(d.mean())
    if abs(shift) > 1e-3 and float((d - shift).abs().max()) <= 1e-3 * max(1.0, abs(shift)):
        return f" (your values are {abs(shift):.4g} {'higher' if shift > 0 else 'lower'})"
    return ""


def _as_tensor(name: str, got: Any, expected: torch.Tensor, what: str, where: str) -> torch.Tensor:
    """``got`` as a tensor (a Python number stands for a 0-dim one); raise ExerciseMistake for anything else."""
    if isinstance(got, torch.Tensor):
        return got.detach()
    if isinstance(got, (int, float)) and not isinstance(got, bool) and expected.ndim == 0:
        return torch.tensor(got)
    if got is None:
        kind = "None (did you forget the return statement?)"
    elif type(got).__module__ == "numpy":
        kind = "a NumPy array (keep working with torch tensors)"
    else:
        kind = f"a {type(got).__name__}"
    raise ExerciseMistake(f"{name}: {what} is {kind}; expected a torch.Tensor of shape {tuple(expected.shape)} "
                          f"{where}.")


def compare(name: str, got: Any, expected: torch.Tensor | Sequence[torch.Tensor], mistakes: dict[str, Mistake],
            variants: dict[str, list], where: str, *, args: Sequence[Any] = (), what: str = "your result",
            rtol: float = _RTOL, atol: float = _ATOL, values_fatal: bool = True) -> bool:
    """True if ``got`` matches (one of) ``expected``; else raise ExerciseMistake naming the mistake among
    ``variants`` that it matches, or saying how its shape or dtype differs, or (``values_fatal``) which
    value differs; with ``values_fatal=False`` a mere difference in values returns False."""
    accepted = [a.detach() for a in ([expected] if isinstance(expected, torch.Tensor) else expected)]
    e = accepted[0]
    got = _as_tensor(name, got, e, what, where)
    if any(_close(got, a, rtol, atol) for a in accepted):
        return True
    for mistake, candidates in variants.items():
        for c in candidates:
            if not any(_close(a, c, rtol, atol) for a in accepted) and _close(got, c, rtol, atol):
                m = mistakes[mistake]
                note = m.note(*args) if m.note else _pattern(got, e)
                raise ExerciseMistake(f"{name}: looks like {mistake}{note} {where}. {m.fix}")
    if got.shape != e.shape:
        hint = ""
        if got.ndim == 0 and e.ndim == 1:
            hint = " A single number where one value per image (or sample) is expected: reduce over each row only."
        raise ExerciseMistake(f"{name}: {what} has shape {tuple(got.shape)}, expected {tuple(e.shape)} {where}.{hint}")
    if got.dtype != e.dtype:
        raise ExerciseMistake(f"{name}: {what} has dtype {got.dtype}, expected {e.dtype} {where}.")
    if not values_fatal:
        return False
    bad = ~torch.isclose(got.double(), e.double(), rtol=rtol, atol=atol)
    index = tuple(int(i) for i in torch.nonzero(bad)[0])
    at = f"at index {index}: " if index else ""
    raise ExerciseMistake(
        f"{name}: {what} differs from the reference {where}: {int(bad.sum())} of {e.numel()} values differ; "
        f"{at}expected {float(e[index]):.6g}, got {float(got[index]):.6g}{_pattern(got, e)}.")


def _student_check(name: str, check: Callable[..., None]) -> Callable[..., None]:
    """The check as students call it, ``check_<name>(fn, cases="visible")`` (see :func:`exercise`)."""
    @functools.wraps(check)
    def wrapper(fn: Callable, cases: str = "visible") -> None:
        from . import cases as stored
        case_set = stored.case_set(name, cases)
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            check(fn, case_set)
        if EXERCISES[name].reference is None:
            from . import saved
            saved.keep(name, fn)
    return wrapper


def describe_case(i: int, cases: Any, args: Sequence[Any]) -> str:
    """``on test case i of k (<the arguments>)`` for case ``i`` (from 1) of ``cases`` (a :class:`~.cases.CaseSet`)."""
    return f"on test case {i} of {len(cases.cases)} ({_describe(cases.params, args)})"


def report_match(name: str, cases: Any, how: str = "") -> None:
    """Print the ✓ line of exercise ``name`` whose ``cases`` (a :class:`~.cases.CaseSet`) all matched; ``how``
    follows the count, e.g. ``" (with the same random numbers)"``. Hidden cases are called so: ``on 3 hidden test
    cases``, so that a grader's feedback does not read like the student's own visible check."""
    kind = "hidden test cases" if cases.hidden else "test cases"
    print(f"✓ {name}: matches the reference on {len(cases.cases)} {kind}{how}.")


def check_values(name: str, fn: Callable, cases: Any, mistakes: dict[str, Mistake],
                 then: Callable[[list], None] | None = None) -> None:
    """Compare ``fn`` with the expected results of ``cases`` (a :class:`~.cases.CaseSet` of a deterministic
    function), naming the mistake whose stored result it gives; call ``then`` (if given) on the student's
    results for further checks, and print the ✓ line."""
    results = []
    for i, case in enumerate(cases.cases, 1):
        where = describe_case(i, cases, case.args)
        got = call_student(name, fn, case.args, where, mistakes)
        compare(name, got, case.expected, mistakes, case.mistaken, where, args=case.args)
        results.append(got)
    if then:
        then(results)
    report_match(name, cases)


def _off(have: dict[str, float], want: dict[str, float], key: str) -> float:
    """How far statistic ``key`` of ``have`` is from ``want``'s, in tolerances (over 1: too far; NaN: too far)."""
    distance = abs(have[key] - want[key]) / (0.03 + 0.05 * abs(want[key]))
    return math.inf if math.isnan(distance) else distance


def _features_close(have: dict[str, float], want: dict[str, float]) -> bool:
    return all(_off(have, want, k) <= 1 for k in want)


def large_features(name: str, f: Callable, args: Sequence[Any], context: dict,
                   call_f: Callable[..., Any] | None = None) -> tuple[Any, dict[str, float] | None]:
    """``f``'s result on the large input ``args`` (torch seeded with :data:`SEED`) and its features (None when the
    result is no tensor), with the decoded codes in the context for an exercise whose spec ``records_codes``.
    ``call_f(f, args, seed)`` makes the call (default :func:`call`)."""
    spec = EXERCISES[name].spec
    assert spec.features is not None, f"{name} is not a random exercise"
    codes: list = []
    out = (call if call_f is None else call_f)(decoding(f, codes) if spec.records_codes else f, args, SEED)
    if not isinstance(out, torch.Tensor):
        return out, None
    extra = {**context, "codes": codes[-1] if codes else torch.full((2, 2), math.nan)} if spec.records_codes \
        else context
    return out, spec.features(out.detach(), args, extra)


def check_random(name: str, fn: Callable, cases: Any, mistakes: dict[str, Mistake],
                 then: Callable[[], None] | None = None) -> None:
    """Compare a random ``fn`` with the expected results of ``cases`` (a :class:`~.cases.CaseSet`): with the same
    seed on each case, and if its random numbers differ, by the features (statistics, the exercise's
    ``features``) of its result on the large input against the reference's and each mistake's stored ones; then
    call ``then`` (if given) for further checks and print the ✓ line."""
    for i, case in enumerate(cases.cases, 1):
        where = describe_case(i, cases, case.args)
        got = call_student(name, fn, case.args, where, mistakes, case.seed)
        if not compare(name, got, case.expected, mistakes, case.mistaken, where, args=case.args, values_fatal=False):
            break
    else:
        if then:
            then()
        report_match(name, cases, " (with the same random numbers)")
        return
    # Other random numbers than the reference's: compare distributions on a large input instead (each result's
    # features are taken right after the call that made it, as they may use what that call recorded).
    large = cases.large
    where = f"on a large random input ({_describe(cases.params, large.args)})"
    got, have = large_features(name, fn, large.args, large.context,
                               lambda f, args, seed: call_student(name, f, args, where, mistakes, seed))
    compare(name, got, torch.zeros(large.shape, dtype=large.dtype), mistakes, {}, where,
            values_fatal=False)  # the shape and dtype
    assert have is not None
    want = large.want
    if _features_close(have, want):
        if then:
            then()
        print(f"✓ {name}: draws other random numbers than the reference, but their distribution matches "
              f"({', '.join(want)}).")
        return
    for mistake, theirs in large.mistaken.items():
        if not _features_close(theirs, want) and _features_close(have, theirs):
            key = max(want, key=lambda k: _off(have, want, k))
            raise ExerciseMistake(f"{name}: looks like {mistake} ({where}, {key} is {have[key]:.4g} "
                                  f"where about {want[key]:.4g} is expected). {mistakes[mistake].fix}")
    wrong = [k for k in want if _off(have, want, k) > 1]
    raise ExerciseMistake(f"{name}: your result differs from the reference's even with the same random seed, and "
                          f"its distribution differs too {where}: "
                          + "; ".join(f"{k} is {have[k]:.4g}, expected about {want[k]:.4g}" for k in wrong) + ".")


@contextmanager
def _recording_codes(model: nn.Module, store: list) -> Iterator[None]:
    """Record the input of every call of ``model.decoder`` (the codes being decoded) into ``store``."""
    decoder = model.decoder
    assert isinstance(decoder, nn.Module)
    handle = decoder.register_forward_pre_hook(lambda module, inputs: store.append(inputs[0].detach()))
    try:
        yield
    finally:
        handle.remove()


def decoding(f: Callable, codes: list) -> Callable:
    """``f`` (which takes a model first) with the codes it decodes recorded into ``codes``."""
    def wrapped(model, *rest):
        with _recording_codes(model, codes):
            return f(model, *rest)
    return wrapped


def share_outside_01(t: torch.Tensor) -> float:
    return float(((t < 0) | (t > 1)).double().mean())


def one_number(reference: Callable[..., torch.Tensor] | None = None, example: Callable[..., Any] | None = None
               ) -> Mistake:
    """The mistake of a per-image ``reference``'s values summed or averaged over the batch into one number;
    ``example``: that mistake as a student would write it. (Without ``reference``, where the cases are stored:
    the mistake's fix only.)"""
    fix = ("Keep one value per image: reduce over each image's own pixels (dimensions 1 and up), never over the "
           "batch dimension 0.")
    if reference is None:
        return Mistake(fix, example=example)
    return Mistake(fix, lambda *a: [reference(*a).sum(), reference(*a).mean()], example=example)
