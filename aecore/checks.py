"""Checks for the student edition: run a student's version of a lesson function and say what is wrong.

Every function of :mod:`aecore.lessons` has a check here, ``check_<name>(fn)``: it calls the
student's ``fn`` on small fixed inputs (seeded; tiny models where the function takes one),
compares the result with the reference in :mod:`aecore.lessons` and

* prints one line such as ``✓ negative_elbo: matches the reference on 3 test cases.`` when it
  matches;
* raises :class:`ExerciseMistake` naming the mistake and its fix when the result equals one of the
  typical mistakes (computed here on the same inputs; ``MISTAKES`` lists them by lesson), or
  saying what differs (shape, dtype, which value) when it is wrong in some other way;
* re-raises ``NotImplementedError`` unchanged (the exercise is not written yet), and reports any
  other exception of ``fn`` as an :class:`ExerciseMistake` chained to it.

Random functions are called with torch's global generator seeded identically for the reference
and for ``fn``, so a student using ``torch.randn_like``/``torch.randn`` draws the same numbers;
when the numbers differ anyway (another order of draws), the check compares the distributions on
a large input instead. A check leaves torch's global random state, and any model it builds,
as they were.

Usage in a notebook: ``checks.check_negative_elbo(negative_elbo)``, or ``checks.CHECKS[name](fn)``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import numbers
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import torch
from pytorch_msssim import ssim
from torch import nn
from torch.nn import functional as F

from . import lessons
from .models import VAE, MLPAutoencoder

__all__ = ["ExerciseMistake", "CHECKS", "MISTAKES"]  # and check_<name> for every lesson (added at the end)


class ExerciseMistake(AssertionError):
    """A student's function gives a wrong result; the message says which mistake, or what differs."""


class _Mistake(NamedTuple):
    """A typical mistake: how to fix it, and how to recognise it.

    ``variant(*args)`` computes the mistaken result on the lesson's arguments (a tensor, a
    ``torch.Size`` that the result's shape matches, or a list of alternatives); ``raises``: text of the
    exception the mistake makes torch raise; ``note(*args)``: what to say about the values (by default,
    how they relate to the right ones). Neither variant nor raises: recognised by its check's own code."""
    fix: str
    variant: Callable[..., Any] | None = None
    raises: str | None = None
    note: Callable[..., str] | None = None


_SEED = 20240
_RTOL, _ATOL = 1e-4, 1e-5
_ONE_NUMBER = "one number for the whole batch instead of one value per image"


# ----------------------------------------------------------------------------- helpers

def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _per_code(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-code values (N,) shaped to broadcast against ``like`` (N, ...)."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def _rms(z: torch.Tensor) -> torch.Tensor:
    return _per_code(z.pow(2).flatten(1).mean(1).sqrt(), z)


def _fresh(args: Sequence[Any]) -> list[Any]:
    """Copies of the tensor arguments (so that a function changing its inputs in place cannot spoil the next call)."""
    return [a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args]


@contextmanager
def _preserved(args: Sequence[Any]) -> Iterator[None]:
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


def _call(f: Callable, args: Sequence[Any], seed: int | None = None, copy_args: bool = True) -> Any:
    """``f(*args)`` on copies of ``args`` (unless not ``copy_args``), models restored afterwards; with torch
    seeded first if ``seed``."""
    with _preserved(args):
        if seed is not None:
            torch.manual_seed(seed)
        return f(*(_fresh(args) if copy_args else args))


def _describe(name: str, args: Sequence[Any]) -> str:
    """The arguments of a call, e.g. ``logits (3, 1, 4, 4), x (3, 1, 4, 4), factor=0.4``."""
    names = list(inspect.signature(getattr(lessons, name)).parameters)
    parts = []
    for pname, a in zip(names, args):
        if isinstance(a, torch.Tensor):
            parts.append(f"{pname} {tuple(a.shape)}" + ("" if a.dtype == torch.float32 else f" {a.dtype}"))
        elif isinstance(a, nn.Module):
            parts.append(f"{pname}={type(a).__name__}")
        else:
            parts.append(f"{pname}={a!r}")
    return ", ".join(parts)


def _student(name: str, fn: Callable, args: Sequence[Any], where: str, mistakes: dict[str, _Mistake],
             seed: int | None = None, copy_args: bool = True) -> Any:
    """Call the student's ``fn``; NotImplementedError passes through, other exceptions become ExerciseMistake."""
    try:
        return _call(fn, args, seed, copy_args)
    except NotImplementedError:
        raise
    except Exception as err:
        for mistake, m in mistakes.items():
            if m.raises and m.raises in str(err):
                raise ExerciseMistake(f"{name}: looks like {mistake} (your function raised {type(err).__name__}: "
                                      f"{err}) {where}. {m.fix}") from err
        raise ExerciseMistake(f"{name}: your function raised {type(err).__name__}: {err} {where}. Call it on "
                              "inputs shaped like these and check the shape of each intermediate result.") from err


def _variants(mistakes: dict[str, _Mistake], args: Sequence[Any], seed: int | None = None) -> dict[str, list]:
    """Each mistake's mistaken results on ``args`` (those whose computation fails are left out)."""
    out = {}
    for mistake, m in mistakes.items():
        if m.variant is None:
            continue
        try:
            value = _call(m.variant, args, seed)
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


def _compare(name: str, got: Any, expected: torch.Tensor | Sequence[torch.Tensor], mistakes: dict[str, _Mistake],
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


def _isolated(check: Callable) -> Callable:
    """Run ``check`` without touching torch's global random state (it seeds it freely inside)."""
    @functools.wraps(check)
    def wrapper(fn: Callable) -> None:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            check(fn)
    return wrapper


def _where(i: int, k: int, name: str, args: Sequence[Any]) -> str:
    return f"on test case {i} of {k} ({_describe(name, args)})"


def _check_values(name: str, fn: Callable, cases: Sequence[Sequence[Any]], mistakes: dict[str, _Mistake],
                  then: Callable[[list], None] | None = None) -> None:
    """Compare ``fn`` with the reference on every case (a deterministic function), call ``then`` (if given) on
    the student's results for further checks, and print the ✓ line."""
    ref, results = getattr(lessons, name), []
    for i, args in enumerate(cases, 1):
        where = _where(i, len(cases), name, args)
        expected = _call(ref, args)
        got = _student(name, fn, args, where, mistakes)
        _compare(name, got, expected, mistakes, _variants(mistakes, args), where, args=args)
        results.append(got)
    if then:
        then(results)
    print(f"✓ {name}: matches the reference on {len(cases)} test cases.")


def _off(have: dict[str, float], want: dict[str, float], key: str) -> float:
    """How far statistic ``key`` of ``have`` is from ``want``'s, in tolerances (over 1: too far; NaN: too far)."""
    distance = abs(have[key] - want[key]) / (0.03 + 0.05 * abs(want[key]))
    return math.inf if math.isnan(distance) else distance


def _features_close(have: dict[str, float], want: dict[str, float]) -> bool:
    return all(_off(have, want, k) <= 1 for k in want)


def _check_random(name: str, fn: Callable, cases: Sequence[Sequence[Any]], mistakes: dict[str, _Mistake],
                  large: Sequence[Any], features: Callable[[torch.Tensor, Sequence[Any]], dict[str, float]],
                  ref: Callable | None = None, then: Callable[[], None] | None = None) -> None:
    """Compare a random ``fn`` with the reference (``ref``, by default the lesson's): with the same seed on
    ``cases``, and if its random numbers differ, by the ``features`` (statistics) of its result on the
    ``large`` input; then call ``then`` (if given) for further checks and print the ✓ line."""
    ref = ref or getattr(lessons, name)
    for i, args in enumerate(cases, 1):
        where = _where(i, len(cases), name, args)
        expected = _call(ref, args, _SEED + i)
        got = _student(name, fn, args, where, mistakes, _SEED + i)
        if not _compare(name, got, expected, mistakes, _variants(mistakes, args, _SEED + i), where, args=args,
                        values_fatal=False):
            break
    else:
        if then:
            then()
        print(f"✓ {name}: matches the reference on {len(cases)} test cases (with the same random numbers).")
        return
    # Other random numbers than the reference's: compare distributions on a large input instead (each result's
    # features are taken right after the call that made it, as they may use what that call recorded).
    where = f"on a large random input ({_describe(name, large)})"
    expected = _call(ref, large, _SEED)
    want = features(expected.detach(), large)
    got = _student(name, fn, large, where, mistakes, _SEED)
    _compare(name, got, expected, mistakes, {}, where, values_fatal=False)  # the shape and dtype
    have = features(got.detach(), large)
    if _features_close(have, want):
        if then:
            then()
        print(f"✓ {name}: draws other random numbers than the reference, but their distribution matches "
              f"({', '.join(want)}).")
        return
    for mistake, m in mistakes.items():
        try:
            theirs = _call(m.variant, large, _SEED) if m.variant else None
            theirs = features(theirs.detach(), large) if isinstance(theirs, torch.Tensor) else None
        except Exception:
            continue
        if theirs is not None and not _features_close(theirs, want) and _features_close(have, theirs):
            key = max(want, key=lambda k: _off(have, want, k))
            raise ExerciseMistake(f"{name}: looks like {mistake} ({where}, {key} is {have[key]:.4g} "
                                  f"where about {want[key]:.4g} is expected). {m.fix}")
    wrong = [k for k in want if _off(have, want, k) > 1]
    raise ExerciseMistake(f"{name}: your result differs from the reference's even with the same random seed, and "
                          f"its distribution differs too {where}: "
                          + "; ".join(f"{k} is {have[k]:.4g}, expected about {want[k]:.4g}" for k in wrong) + ".")


@contextmanager
def _recording_codes(model: nn.Module, store: list) -> Iterator[None]:
    """Record the input of every call of ``model.decoder`` (the codes being decoded) into ``store``."""
    handle = model.decoder.register_forward_pre_hook(lambda module, inputs: store.append(inputs[0].detach()))
    try:
        yield
    finally:
        handle.remove()


def _decoding(f: Callable, codes: list) -> Callable:
    """``f`` (which takes a model first) with the codes it decodes recorded into ``codes``."""
    def wrapped(model, *rest):
        with _recording_codes(model, codes):
            return f(model, *rest)
    return wrapped


def _outside_01(t: torch.Tensor) -> float:
    return float(((t < 0) | (t > 1)).double().mean())


# ----------------------------------------------------------------------------- the mistakes

def _ref(name: str) -> Callable:
    return getattr(lessons, name)


def _one_number(name: str) -> _Mistake:
    """The per-image values summed or averaged over the batch into one number."""
    return _Mistake("Keep one value per image: reduce over each image's own pixels (dimensions 1 and up), "
                    "never over the batch dimension 0.",
                    lambda *a: [_ref(name)(*a).sum(), _ref(name)(*a).mean()])


def _bce_none(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def _kl_terms(mu, logvar):
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def _kl_logvar_as_sigma(mu, logvar):
    return -0.5 * (1 + torch.log(logvar.pow(2)) - mu.pow(2) - logvar.pow(2)).flatten(1).sum(1)


_LOGVAR_AS_SIGMA_KL = ("logvar is log(σ²): the variance is exp(logvar), so the KL per dimension is "
                       "-0.5 * (1 + logvar - mu**2 - logvar.exp()).")

_COUNT = {
    "the biases left out": _Mistake(
        "Count the biases too: every tensor of model.parameters(), not only the weights.",
        lambda m: [torch.tensor(sum(p.numel() for p in m.parameters() if p.requires_grad and p.ndim > 1)),
                   torch.tensor(sum(p.numel() for n, p in m.named_parameters()
                                    if p.requires_grad and "bias" not in n))]),
    "the number of parameter tensors instead of the numbers in them": _Mistake(
        "Add up p.numel() (how many numbers each tensor holds), not 1 per tensor.",
        lambda m: [torch.tensor(sum(1 for p in m.parameters() if p.requires_grad)),
                   torch.tensor(len(list(m.parameters())))]),
    "frozen parameters counted (requires_grad=False)": _Mistake(
        "Count only the trainable parameters: those with p.requires_grad.",
        lambda m: torch.tensor(sum(p.numel() for p in m.parameters()))),
}

_BCE = {
    "the BCE averaged over the pixels instead of summed": _Mistake(
        "Sum over each image's pixels: reduction='none', then .flatten(1).sum(1).",
        lambda logits, x: _bce_none(logits, x).flatten(1).mean(1)),
    "the default reduction='mean' (one number averaged over every pixel of the batch)": _Mistake(
        "Pass reduction='none' to get one value per pixel, then sum each image's pixels: .flatten(1).sum(1).",
        lambda logits, x: F.binary_cross_entropy_with_logits(logits, x)),
    _ONE_NUMBER: _one_number("bce_per_image"),
    "sigmoid applied before binary_cross_entropy_with_logits (the sigmoid applied twice)": _Mistake(
        "binary_cross_entropy_with_logits applies the sigmoid itself: give it the logits as they are "
        "(or use F.binary_cross_entropy on torch.sigmoid(logits)).",
        lambda logits, x: F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none")
        .flatten(1).sum(1)),
    "the logits used as probabilities": _Mistake(
        "The decoder gives logits, not probabilities: use F.binary_cross_entropy_with_logits(logits, x, ...) "
        "(or F.binary_cross_entropy on torch.sigmoid(logits)).",
        lambda logits, x: [F.binary_cross_entropy(logits.clamp(eps, 1 - eps), x, reduction="none").flatten(1).sum(1)
                           for eps in (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)],
        raises="should be between 0 and 1"),
}

_NOISY = {
    "the noise added after clipping, or no clipping (values outside [0, 1])": _Mistake(
        "Add the noise first, then clip the sum: (x + noise).clamp(0, 1).",
        lambda x, f: x + f * torch.randn_like(x)),
    "factor used as the variance (noise std sqrt(factor))": _Mistake(
        "factor is the standard deviation: multiply N(0, 1) noise by factor itself.",
        lambda x, f: (x + math.sqrt(f) * torch.randn_like(x)).clamp(0, 1)),
    "uniform noise (torch.rand_like) instead of Gaussian": _Mistake(
        "Use Gaussian noise: torch.randn_like(x) (randn, not rand).",
        lambda x, f: (x + f * torch.rand_like(x)).clamp(0, 1)),
}


def _grid_variant(codes, n, *, top_first=True, swap=False, column_major=False, arange=False):
    lo, hi = codes.min(0).values, codes.max(0).values
    steps = torch.arange(n) / n if arange else torch.linspace(0, 1, n)
    z1 = lo[0] + (hi[0] - lo[0]) * steps
    z2 = lo[1] + (hi[1] - lo[1]) * steps
    if top_first:
        z2 = z2.flip(0)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    if column_major:
        rows, cols = rows.T, cols.T
    pair = [rows, cols] if swap else [cols, rows]
    return torch.stack([t.reshape(-1) for t in pair], dim=1)


_GRID = {
    "rows ordered bottom-up (smallest z2 first)": _Mistake(
        "The top row comes first: let z2 run from its max down to its min (torch.linspace(hi, lo, n)).",
        lambda c, n: _grid_variant(c, n, top_first=False)),
    "the coordinates swapped ((z2, z1) instead of (z1, z2))": _Mistake(
        "Each row of the result is one code (z1, z2): z1, which grows left to right, comes first.",
        lambda c, n: _grid_variant(c, n, swap=True)),
    "an arange-style grid that misses the max": _Mistake(
        "Use torch.linspace(lo, hi, n): it includes both ends.",
        lambda c, n: [_grid_variant(c, n, arange=True), _grid_variant(c, n, arange=True, top_first=False)]),
    "column-major order (down each column first)": _Mistake(
        "Go row by row: the n points of the top row from left to right, then the next row.",
        lambda c, n: _grid_variant(c, n, column_major=True)),
}

_L2 = {
    "the biases (and norm scales) included": _Mistake(
        "Only weight matrices and kernels: parameters with p.ndim > 1 (biases and norm scales are 1-D).",
        lambda m: sum(p.pow(2).sum() for p in m.parameters())),
    "the norms instead of the squared norms": _Mistake(
        "Square the weights and add the squares: p.pow(2).sum(), not p.norm().",
        lambda m: [sum(p.norm() for p in m.parameters() if p.ndim > 1),
                   torch.sqrt(sum(p.pow(2).sum() for p in m.parameters() if p.ndim > 1))]),
    "the squares averaged instead of summed": _Mistake(
        "Sum the squares: p.pow(2).sum(), not .mean().",
        lambda m: [sum(p.pow(2).mean() for p in m.parameters() if p.ndim > 1),
                   torch.cat([p.pow(2).flatten() for p in m.parameters() if p.ndim > 1]).mean()]),
    "the result detached from the graph (not differentiable)": _Mistake(
        "Return the tensor itself (no .item(), float(), .detach() or torch.tensor(...)) so that the gradient of "
        "the penalty reaches the weights."),
}


def _mse_ssim_variant(logits, x, w, *, on_logits=False, plus_ssim=False, mse_sum=False, batch_ssim=False):
    image = logits if on_logits else torch.sigmoid(logits)
    se = (image - x).pow(2).flatten(1)
    s = ssim(image, x, data_range=1.0, size_average=batch_ssim)
    return (se.sum(1) if mse_sum else se.mean(1)) + w * (s if plus_ssim else 1 - s)


_MSE_SSIM = {
    "SSIM added instead of (1 - SSIM)": _Mistake(
        "SSIM is a similarity (1 for identical images): add ssim_weight * (1 - SSIM) to the loss.",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, plus_ssim=True)),
    "the squared error summed over the pixels instead of averaged": _Mistake(
        "Average the squared error over each image's pixels: .flatten(1).mean(1).",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, mse_sum=True)),
    "computed on the logits instead of sigmoid(logits)": _Mistake(
        "The image is torch.sigmoid(logits): compare that with x, in both terms.",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, on_logits=True)),
    "one SSIM for the whole batch (size_average=True)": _Mistake(
        "Pass size_average=False to ssim to get one SSIM per image.",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, batch_ssim=True)),
    _ONE_NUMBER: _one_number("mse_ssim_per_image"),
}


def _mse(x_hat, x):
    return (x_hat - x).pow(2).flatten(1).mean(1)


_PSNR = {
    "data_range=255 on [0, 1] images (values 48.13 dB too high)": _Mistake(
        "The images are in [0, 1], so the peak value is 1: 10 * log10(1 / MSE).",
        lambda xh, x: 10 * torch.log10(255.0 ** 2 / _mse(xh, x)), note=lambda xh, x: ""),
    "the PSNR of the whole batch's MSE (one number) instead of one per image": _Mistake(
        "Average the squared error over each image's own pixels (.flatten(1).mean(1)), then take the PSNR of each.",
        lambda xh, x: 10 * torch.log10(1.0 / (xh - x).pow(2).mean())),
    "20 log10 and 10 log10 mixed up (MSE and RMSE confused)": _Mistake(
        "PSNR = 10 log10(1 / MSE) = 20 log10(1 / RMSE): 10 with the mean squared error, 20 with its square root.",
        lambda xh, x: [20 * torch.log10(1.0 / _mse(xh, x)), 10 * torch.log10(1.0 / _mse(xh, x).sqrt())]),
    "the sign flipped (log10 of the MSE instead of 1 / MSE)": _Mistake(
        "PSNR grows as the error shrinks: 10 * log10(1 / MSE), not 10 * log10(MSE).",
        lambda xh, x: 10 * torch.log10(_mse(xh, x))),
    _ONE_NUMBER: _one_number("psnr_per_image"),
}

_MEAN_COV_MEAN = {
    "the mean over the wrong axis (one mean per code instead of one per dimension)": _Mistake(
        "Average over the batch, dimension 0: codes.flatten(1).mean(0) has one value per dimension (D,).",
        lambda c: torch.Size([len(c)])),
    "the codes not flattened to (N, D)": _Mistake(
        "Flatten each code first: codes.flatten(1) is (N, D).",
        lambda c: [c.shape[1:]] if c.ndim > 2 else []),
}


def _second_moment(c):
    flat = c.flatten(1)
    return [flat.T @ flat / len(flat), flat.T @ flat / (len(flat) - 1)]


_MEAN_COV_COV = {
    "codes not centred (the second moment instead of the covariance)": _Mistake(
        "Subtract the mean code first: centred = flat - mean, then centred.T @ centred / N.",
        _second_moment),
    "the covariance over the wrong axis (N x N instead of D x D)": _Mistake(
        "The covariance has one row and column per dimension: centred.T @ centred (D x D), "
        "not centred @ centred.T (N x N).",
        lambda c: torch.Size([len(c), len(c)])),
}

_PERTURB = {
    "noise not scaled to the code's rms (absolute noise)": _Mistake(
        "Scale the noise of each code by strength * rms(z), the root mean square of that code's entries.",
        lambda c, s: c + s * torch.randn_like(c)),
    "one rms for the whole batch instead of one per code": _Mistake(
        "Compute the rms of each code on its own: codes.pow(2).flatten(1).mean(1).sqrt(), reshaped to (N, 1, ...).",
        lambda c, s: c + s * c.pow(2).mean().sqrt() * torch.randn_like(c)),
    "the mean square used instead of the rms (variance for standard deviation)": _Mistake(
        "rms is the square root of the mean square: .mean(1).sqrt().",
        lambda c, s: c + s * _rms(c).pow(2) * torch.randn_like(c)),
    "each code's standard deviation used instead of its rms": _Mistake(
        "rms(z) is sqrt(mean(z**2)) without subtracting the code's mean (z.std() subtracts it).",
        lambda c, s: c + s * _per_code(c.flatten(1).std(1), c) * torch.randn_like(c)),
}

_POWER = {
    "normalised over the whole batch instead of each code": _Mistake(
        "Normalise each code on its own: its mean square over .flatten(1).mean(1), reshaped to (N, 1, ...).",
        lambda z: z / z.pow(2).mean().sqrt()),
    "normalised to unit norm (sum of squares 1) instead of unit mean square": _Mistake(
        "Unit power means a mean square of 1: divide by the root of the *mean* of the squares, not of their sum.",
        lambda z: z / _per_code(z.flatten(1).norm(dim=1), z)),
    "divided by the mean square instead of its square root": _Mistake(
        "Divide by sqrt(power): the rms, not the mean square.",
        lambda z: z / _per_code(z.pow(2).flatten(1).mean(1), z)),
}

_LATENT = {
    "σ used where σ² was asked (noise std = variance)": _Mistake(
        "variance is σ²: the noise's standard deviation is math.sqrt(variance).",
        lambda z, v: lessons.power_normalize(z) + v * torch.randn_like(z)),
    "noise added before normalising": _Mistake(
        "Power-normalise first, then add the noise: power_normalize(z) + noise.",
        lambda z, v: lessons.power_normalize(z + math.sqrt(v) * torch.randn_like(z))),
    "the codes not power-normalised": _Mistake(
        "Power-normalise each code before adding the noise (power_normalize(z)).",
        lambda z, v: z + math.sqrt(v) * torch.randn_like(z)),
    "normalised over the whole batch instead of each code": _Mistake(
        "Normalise each code on its own (power_normalize), not the batch as a whole.",
        lambda z, v: z / z.pow(2).mean().sqrt() + math.sqrt(v) * torch.randn_like(z)),
}

_REPARAM = {
    "logvar used as σ (mu + logvar * eps)": _Mistake(
        "logvar is log(σ²): σ = exp(logvar / 2).",
        lambda mu, lv: mu + lv * torch.randn_like(mu)),
    "the variance exp(logvar) used as σ (the 1/2 is missing)": _Mistake(
        "exp(logvar) is the variance σ²; the standard deviation is exp(0.5 * logvar).",
        lambda mu, lv: mu + lv.exp() * torch.randn_like(mu)),
    "no noise (returns mu)": _Mistake(
        "Add noise: mu + exp(0.5 * logvar) * torch.randn_like(mu).",
        lambda mu, lv: mu),
    "not differentiable (no gradient reaches mu and logvar)": _Mistake(
        "Draw eps ~ N(0, I) with torch.randn_like(mu) and compute mu + std * eps with tensor operations "
        "(torch.normal(mu, std) or .detach() cut the gradient)."),
}

_KL = {
    "the KL with the wrong sign": _Mistake(
        "KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar)); it is never negative.",
        lambda mu, lv: -lessons.kl_divergence(mu, lv)),
    "the KL summed over the batch (a single number) instead of one value per sample": _Mistake(
        "Sum over the latent dimensions of each sample only: .flatten(1).sum(1).",
        lambda mu, lv: [lessons.kl_divergence(mu, lv).sum(), lessons.kl_divergence(mu, lv).mean()]),
    "the KL averaged over the latent dimensions instead of summed": _Mistake(
        "Sum over the latent dimensions: .flatten(1).sum(1).",
        lambda mu, lv: _kl_terms(mu, lv).flatten(1).mean(1)),
    "the factor 1/2 left out": _Mistake(
        "KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar)): keep the 0.5.",
        lambda mu, lv: 2 * lessons.kl_divergence(mu, lv)),
    "logvar used as σ (log-variance confused with the standard deviation)": _Mistake(
        _LOGVAR_AS_SIGMA_KL, _kl_logvar_as_sigma),
}

_ELBO = {
    "the BCE averaged over the pixels instead of summed": _Mistake(
        "Sum the BCE over each image's pixels: .flatten(1).sum(1).",
        lambda lg, x, mu, lv: _bce_none(lg, x).flatten(1).mean(1) + lessons.kl_divergence(mu, lv),
        note=lambda lg, x, mu, lv: f" (your BCE is {x[0].numel()} times smaller)"),
    "the KL with the wrong sign": _Mistake(
        "Add the KL (never negative): -0.5 * sum(1 + logvar - mu**2 - exp(logvar)).",
        lambda lg, x, mu, lv: lessons.bce_per_image(lg, x) - lessons.kl_divergence(mu, lv)),
    "the KL summed over the batch (added to every image)": _Mistake(
        "Sum the KL over each sample's latent dimensions only, one value per image: .flatten(1).sum(1).",
        lambda lg, x, mu, lv: lessons.bce_per_image(lg, x) + lessons.kl_divergence(mu, lv).sum()),
    "the KL term left out": _Mistake(
        "The negative ELBO is the reconstruction term plus the KL term.",
        lambda lg, x, mu, lv: lessons.bce_per_image(lg, x)),
    "logvar used as σ in the KL": _Mistake(
        _LOGVAR_AS_SIGMA_KL, lambda lg, x, mu, lv: lessons.bce_per_image(lg, x) + _kl_logvar_as_sigma(mu, lv)),
    _ONE_NUMBER: _one_number("negative_elbo"),
}

_CONDITION = {
    "the raw label appended instead of its one-hot code": _Mistake(
        "Append F.one_hot(y, num_classes) (num_classes columns), not y itself.",
        lambda h, y, k: [torch.cat([h, y[:, None].to(h.dtype)], 1), torch.Size([len(h), h.shape[1] + 1])]),
    "the one-hot code put before h instead of after it": _Mistake(
        "The model expects the label after the features: torch.cat([h, one_hot], dim=1).",
        lambda h, y, k: torch.cat([F.one_hot(y, k).to(h.dtype), h], 1)),
    "the result not in h's dtype": _Mistake(
        "Convert the one-hot code to h's dtype (.to(h.dtype)) and keep h as it is.",
        lambda h, y, k: [lessons.condition_on_label(h, y, k).to(t)
                         for t in (torch.float32, torch.float64, torch.int64) if t != h.dtype]),
    "F.one_hot called without num_classes (its width then depends on the batch)": _Mistake(
        "Pass num_classes: F.one_hot(y, num_classes), so that every batch gets num_classes columns.",
        lambda h, y, k: [torch.cat([h, F.one_hot(y).to(h.dtype)], 1), torch.cat([F.one_hot(y).to(h.dtype), h], 1)]),
}

_PRIOR = {
    "logits returned instead of images (no sigmoid)": _Mistake(
        "decode gives logits: the images are torch.sigmoid(model.decode(z)).",
        lambda m, n: m.decode(torch.randn(n, *m.latent_shape))),
    "uniform noise (torch.rand) instead of Gaussian codes": _Mistake(
        "The prior is N(0, I): draw the codes with torch.randn, not torch.rand.",
        lambda m, n: torch.sigmoid(m.decode(torch.rand(n, *m.latent_shape)))),
}


def _radius_variant(codes, labels, k, *, stat=torch.median, squared=False, pooled=False, centre=None):
    if centre == "batch":
        codes = codes - codes.mean(0)
    elif centre == "class":
        codes = codes - torch.stack([codes[labels == c].mean(0) for c in range(k)])[labels]
    radius = codes.pow(2).sum(1) if squared else codes.norm(dim=1)
    return torch.stack([stat(radius if pooled else radius[labels == c]) for c in range(k)])


_RADIUS = {
    "the mean radius instead of the median": _Mistake(
        "Take the median of each class's radii (.median()), not the mean, which a few far-out codes pull up.",
        lambda c, y, k: _radius_variant(c, y, k, stat=torch.mean)),
    "the squared distance (no square root)": _Mistake(
        "The radius is the Euclidean norm of each code: codes.norm(dim=1) (the root of the sum of squares).",
        lambda c, y, k: _radius_variant(c, y, k, squared=True)),
    "the median over all the codes instead of each class's": _Mistake(
        "Select each class's codes first: radius[labels == k].median(), for k in range(num_classes).",
        lambda c, y, k: [_radius_variant(c, y, k, pooled=True), c.norm(dim=1).median()]),
    "the distance from the codes' mean instead of the origin": _Mistake(
        "Measure from the origin, the prior's centre: codes.norm(dim=1), without subtracting a mean first.",
        lambda c, y, k: [_radius_variant(c, y, k, centre="batch"), _radius_variant(c, y, k, centre="class")]),
}


def _gaussian_elbo_variant(lg, x, mu, lv, sigma, *, denominator=None, mean=False, kl=True, on_logits=False):
    image = lg if on_logits else torch.sigmoid(lg)
    se = (image - x).pow(2).flatten(1)
    se = se.mean(1) if mean else se.sum(1)
    kl_term = lessons.kl_divergence(mu, lv) if kl else 0
    return se / (2 * sigma ** 2 if denominator is None else denominator) + kl_term


_GAUSS = {
    "σ used where σ² was asked (the squared error divided by 2σ)": _Mistake(
        "The Gaussian log-likelihood divides the squared error by 2σ²: 2 * sigma ** 2.",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, denominator=2 * s)),
    "the squared error divided by σ² instead of 2σ²": _Mistake(
        "Divide by 2 * sigma ** 2 (the 2 comes from the Gaussian's exponent).",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, denominator=s ** 2)),
    "the squared error averaged over the pixels instead of summed": _Mistake(
        "Sum the squared error over each image's pixels: .flatten(1).sum(1).",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, mean=True),
        note=lambda lg, x, mu, lv, s: f" (your squared error is {x[0].numel()} times smaller)"),
    "the KL term left out": _Mistake(
        "The negative ELBO is the reconstruction term plus the KL term.",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, kl=False)),
    "the squared error computed on the logits instead of sigmoid(logits)": _Mistake(
        "The mean of each pixel is torch.sigmoid(logits): compare that with x.",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, on_logits=True)),
    _ONE_NUMBER: _one_number("gaussian_negative_elbo"),
}


def _pick(codes, n):
    return codes[torch.randint(len(codes), (n,))]


def _absolute_noise(model, codes, n, scale):
    picked = _pick(codes, n)
    return torch.sigmoid(model.decode(picked + scale * torch.randn_like(picked)))


_GENERATE = {
    "noise not scaled by the codes' rms (absolute noise)": _Mistake(
        "Perturb with noise relative to each code's size: perturb_codes(picked, scale) (scale * rms(z) * N(0, I)).",
        _absolute_noise),
    "logits returned instead of images (no sigmoid)": _Mistake(
        "decode gives logits: the images are torch.sigmoid(model.decode(z)).",
        lambda m, c, n, s: m.decode(lessons.perturb_codes(_pick(c, n), s))),
    "the codes decoded without perturbing them": _Mistake(
        "Perturb the picked codes before decoding: perturb_codes(picked, scale).",
        lambda m, c, n, s: torch.sigmoid(m.decode(_pick(c, n)))),
}


# ----------------------------------------------------------------------------- the checks

@_isolated
def check_count_parameters(fn: Callable) -> None:
    """``fn(model) -> int`` on three small models (one with a frozen layer); prints ✓ or raises ExerciseMistake."""
    torch.manual_seed(0)
    frozen = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    frozen[0].requires_grad_(False)
    cases = [(MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2),),
             (nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 5)),), (frozen,)]
    for i, args in enumerate(cases, 1):
        where = _where(i, len(cases), "count_parameters", args)
        got = _student("count_parameters", fn, args, where, _COUNT)
        if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
            got = int(got)
        if not isinstance(got, numbers.Integral) or isinstance(got, bool):
            raise ExerciseMistake(f"count_parameters: your result is a {type(got).__name__} ({got!r}); expected a "
                                  f"Python int (a count) {where}.")
        _compare("count_parameters", torch.tensor(int(got)), torch.tensor(lessons.count_parameters(*args)), _COUNT,
                 _variants(_COUNT, args), where)
    print(f"✓ count_parameters: matches the reference on {len(cases)} test cases.")


@_isolated
def check_bce_per_image(fn: Callable) -> None:
    """``fn(logits, x) -> (N,)`` on MNIST-sized and small batches; prints ✓ or raises ExerciseMistake."""
    g = _gen(1)
    cases = [(2 * torch.randn(3, 1, 4, 4, generator=g), torch.rand(3, 1, 4, 4, generator=g)),
             (3 * torch.randn(2, 1, 28, 28, generator=g), (torch.rand(2, 1, 28, 28, generator=g) > 0.7).float()),
             (torch.randn(4, 3, 2, 2, generator=g), torch.rand(4, 3, 2, 2, generator=g))]
    _check_values("bce_per_image", fn, cases, _BCE)


@_isolated
def check_noisy_input(fn: Callable) -> None:
    """``fn(x, factor) -> x + factor * N(0, 1) clipped to [0, 1]``; prints ✓ or raises ExerciseMistake."""
    g = _gen(2)
    cases = [(torch.rand(3, 1, 4, 4, generator=g), 0.4), (torch.rand(2, 3, 5, 5, generator=g), 0.1)]
    large = (torch.rand(100, 1, 32, 32, generator=g), 0.3)

    def features(out, args):
        noise = out - args[0]
        return {"mean": float(out.mean()), "standard deviation": float(out.std()),
                "mean of the noise": float(noise.mean()), "spread of the noise": float(noise.std()),
                "share of values outside [0, 1]": _outside_01(out), "share of values at 0 or 1":
                    float(((out == 0) | (out == 1)).double().mean())}
    _check_random("noisy_input", fn, cases, _NOISY, large, features)


@_isolated
def check_grid_over_codes(fn: Callable) -> None:
    """``fn(codes (N, 2), n) -> (n*n, 2)`` grid, top row first; prints ✓ or raises ExerciseMistake."""
    g = _gen(3)
    cases = [(torch.randn(50, 2, generator=g) * torch.tensor([3.0, 0.5]) + 1, 3),
             (torch.randn(30, 2, generator=g), 4), (torch.rand(20, 2, generator=g) * 10 - 2, 5)]
    _check_values("grid_over_codes", fn, cases, _GRID)


@_isolated
def check_l2_penalty(fn: Callable) -> None:
    """``fn(model) -> scalar tensor`` (differentiable) on two small models; prints ✓ or raises ExerciseMistake."""
    torch.manual_seed(3)
    cases = [(MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2),),
             (nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 5)),)]
    with torch.no_grad():  # norm scales other than 1, so leaving them in shows
        cases[1][0][1].weight.uniform_(0.5, 2.0)

    def differentiable(results):
        if not all(isinstance(r, torch.Tensor) and r.requires_grad for r in results):
            mistake = "the result detached from the graph (not differentiable)"
            raise ExerciseMistake(f"l2_penalty: looks like {mistake}: the values are right, but no gradient can "
                                  f"flow back to the weights. {_L2[mistake].fix}")
    _check_values("l2_penalty", fn, cases, _L2, then=differentiable)


@_isolated
def check_mse_ssim_per_image(fn: Callable) -> None:
    """``fn(logits, x, ssim_weight) -> (N,)`` on small colour batches; prints ✓ or raises ExerciseMistake."""
    g = _gen(4)
    cases = [(torch.randn(3, 3, 16, 16, generator=g), torch.rand(3, 3, 16, 16, generator=g), 0.5),
             (2 * torch.randn(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g), 2.0)]
    _check_values("mse_ssim_per_image", fn, cases, _MSE_SSIM)


@_isolated
def check_psnr_per_image(fn: Callable) -> None:
    """``fn(x_hat, x) -> (N,)`` PSNR in dB on small batches; prints ✓ or raises ExerciseMistake."""
    g = _gen(5)
    x1, x2 = torch.rand(4, 1, 8, 8, generator=g), torch.rand(3, 3, 6, 6, generator=g)
    cases = [((x1 + 0.05 * torch.randn(x1.shape, generator=g)).clamp(0, 1), x1),
             ((x2 + torch.rand(3, 1, 1, 1, generator=g) * torch.randn(x2.shape, generator=g)).clamp(0, 1), x2)]
    _check_values("psnr_per_image", fn, cases, _PSNR)


@_isolated
def check_code_mean_and_covariance(fn: Callable) -> None:
    """``fn(codes (N, ...)) -> (mean (D,), covariance (D, D))``; dividing by N or N - 1 are both accepted.
    Prints ✓ or raises ExerciseMistake."""
    name, g = "code_mean_and_covariance", _gen(6)
    cases = [(torch.randn(20, 3, generator=g) @ torch.tensor([[2.0, 0.5, 0], [0, 1, 0.3], [0, 0, 0.5]]) + 1.5,),
             (torch.randn(15, 2, 2, 2, generator=g) + torch.arange(8.0).view(2, 2, 2),)]
    mistakes = {**_MEAN_COV_MEAN, **_MEAN_COV_COV}
    for i, args in enumerate(cases, 1):
        where = _where(i, len(cases), name, args)
        got = _student(name, fn, args, where, mistakes)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseMistake(f"{name}: your result is a {type(got).__name__}; expected two tensors, "
                                  f"(mean, covariance) {where}. Return them as a tuple: return mean, cov.")
        mean, cov = lessons.code_mean_and_covariance(*args)
        n = len(args[0])
        _compare(name, got[0], mean, mistakes, _variants(_MEAN_COV_MEAN, args), where, what="your mean")
        _compare(name, got[1], [cov, cov * n / (n - 1)], mistakes, _variants(_MEAN_COV_COV, args), where,
                 what="your covariance")
    print(f"✓ {name}: matches the reference on {len(cases)} test cases.")


@_isolated
def check_perturb_codes(fn: Callable) -> None:
    """``fn(codes, strength) -> codes + strength * rms(code) * N(0, I)``; prints ✓ or raises ExerciseMistake."""
    g = _gen(7)
    cases = [((torch.randn(4, 3, generator=g) + 1) * torch.tensor([[0.5], [1.0], [2.0], [4.0]]), 0.5),
             (torch.randn(3, 2, 2, 2, generator=g) + 0.5, 0.3)]
    scale = torch.linspace(0.2, 5.0, 4000).view(-1, 1)
    large = ((torch.randn(4000, 8, generator=g) + 1) * scale, 0.3)

    def features(out, args):
        codes = args[0]
        relative = (out - codes) / _rms(codes)
        half = len(codes) // 2
        return {"mean of noise / rms": float(relative.mean()),
                "spread of noise / rms on the small codes": float(relative[:half].std()),
                "spread of noise / rms on the large codes": float(relative[half:].std())}
    _check_random("perturb_codes", fn, cases, _PERTURB, large, features)


@_isolated
def check_power_normalize(fn: Callable) -> None:
    """``fn(z (N, ...)) -> each code scaled to mean square 1``; prints ✓ or raises ExerciseMistake."""
    g = _gen(8)
    cases = [(torch.randn(4, 6, generator=g) * torch.tensor([[0.1], [1.0], [3.0], [10.0]]),),
             (torch.randn(3, 2, 3, 3, generator=g) * 2 + 1,)]
    _check_values("power_normalize", fn, cases, _POWER)


@_isolated
def check_latent_noise(fn: Callable) -> None:
    """``fn(z, variance) -> power_normalize(z) + N(0, variance)``; prints ✓ or raises ExerciseMistake."""
    g = _gen(9)
    cases = [(torch.randn(4, 6, generator=g) * torch.tensor([[0.1], [1.0], [3.0], [10.0]]), 0.25),
             (torch.randn(3, 2, 3, 3, generator=g) * 2, 0.1)]
    large = (torch.randn(4000, 8, generator=g) * torch.linspace(0.2, 5.0, 4000).view(-1, 1), 0.3)

    def features(out, args):
        noise, power = out - lessons.power_normalize(args[0]), out.pow(2).flatten(1).mean(1)
        return {"mean of the noise": float(noise.mean()), "spread of the noise": float(noise.std()),
                "mean power of the codes": float(power.mean()), "spread of the codes' power": float(power.std())}
    _check_random("latent_noise", fn, cases, _LATENT, large, features)


@_isolated
def check_reparameterize(fn: Callable) -> None:
    """``fn(mu, logvar) -> mu + exp(logvar / 2) * eps`` (differentiable); prints ✓ or raises ExerciseMistake."""
    g = _gen(10)
    cases = [(torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)),
             (torch.randn(3, 2, 2, 2, generator=g), torch.rand(3, 2, 2, 2, generator=g) * 4 - 3)]
    large = (torch.randn(20000, 4, generator=g), torch.rand(20000, 4, generator=g) * 6 - 3)

    def features(out, args):
        mu, logvar = args
        eps, low = (out - mu) / (0.5 * logvar).exp(), logvar < 0
        return {"mean of eps": float(eps.mean()), "spread of eps where logvar < 0": float(eps[low].std()),
                "spread of eps where logvar > 0": float(eps[~low].std())}

    def differentiable():
        mu, logvar = (t.clone().requires_grad_(True) for t in cases[0])
        z = _student("reparameterize", fn, (mu, logvar), "on test case 1 with gradients", _REPARAM, copy_args=False)
        grads = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True) if z.requires_grad else (None, None)
        if (grads[0] is None or grads[1] is None or not torch.allclose(grads[0], torch.ones_like(mu))
                or not torch.allclose(grads[1], 0.5 * (z - mu).detach(), rtol=1e-4, atol=1e-5)):
            mistake = "not differentiable (no gradient reaches mu and logvar)"
            raise ExerciseMistake(f"reparameterize: looks like {mistake}: the values are right, but dz/dmu should "
                                  f"be 1 and dz/dlogvar should be (z - mu) / 2. {_REPARAM[mistake].fix}")
    _check_random("reparameterize", fn, cases, _REPARAM, large, features, then=differentiable)


@_isolated
def check_kl_divergence(fn: Callable) -> None:
    """``fn(mu, logvar) -> (N,)`` KL to N(0, I) per sample; prints ✓ or raises ExerciseMistake."""
    g = _gen(11)
    cases = [(torch.randn(4, 3, generator=g), 0.5 * torch.randn(4, 3, generator=g)),
             (torch.randn(3, 2, 2, 2, generator=g), torch.randn(3, 2, 2, 2, generator=g)),
             (torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g) - 1)]
    _check_values("kl_divergence", fn, cases, _KL)


@_isolated
def check_negative_elbo(fn: Callable) -> None:
    """``fn(logits, x, mu, logvar) -> (N,)`` BCE summed over pixels plus KL; prints ✓ or raises ExerciseMistake."""
    g = _gen(12)
    cases = [(torch.randn(3, 1, 28, 28, generator=g), torch.rand(3, 1, 28, 28, generator=g),
              torch.randn(3, 4, generator=g), 0.5 * torch.randn(3, 4, generator=g)),
             (2 * torch.randn(2, 1, 4, 4, generator=g), (torch.rand(2, 1, 4, 4, generator=g) > 0.5).float(),
              3 * torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)),
             (torch.randn(4, 1, 4, 4, generator=g), torch.rand(4, 1, 4, 4, generator=g),
              torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g) - 1)]
    _check_values("negative_elbo", fn, cases, _ELBO)


@_isolated
def check_condition_on_label(fn: Callable) -> None:
    """``fn(h (N, D), y (N,), num_classes) -> (N, D + num_classes)`` in h's dtype; prints ✓ or raises."""
    g = _gen(13)
    cases = [(torch.randn(4, 3, generator=g), torch.tensor([0, 2, 1, 2]), 3),
             (torch.randn(5, 2, generator=g, dtype=torch.float64), torch.tensor([4, 0, 1, 1, 2]), 6),
             (torch.randn(3, 5, generator=g), torch.tensor([9, 0, 3]), 10)]
    _check_values("condition_on_label", fn, cases, _CONDITION)


@_isolated
def check_prior_samples(fn: Callable) -> None:
    """``fn(model, n) -> (n, C, H, W)`` images decoded from z ~ N(0, I), on a tiny VAE; prints ✓ or raises."""
    torch.manual_seed(14)
    model = VAE(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3)
    codes: list = []

    def features(out, args):
        z = codes[-1] if codes else torch.full((2,), math.nan)
        codes.clear()
        return {"mean of the codes": float(z.mean()), "spread of the codes": float(z.std()),
                "share of values outside [0, 1]": _outside_01(out), "mean value": float(out.mean()),
                "spread of the values": float(out.std())}
    mistakes = {k: m._replace(variant=_decoding(m.variant, codes)) for k, m in _PRIOR.items()}
    _check_random("prior_samples", _decoding(fn, codes), [(model, 5), (model, 2)], mistakes,
                  (model, 20000), features, _decoding(lessons.prior_samples, codes))


@_isolated
def check_median_radius_by_class(fn: Callable) -> None:
    """``fn(codes (N, D), labels (N,), num_classes) -> (num_classes,)`` median norms; the lower middle value
    (torch's median) and the average of the two middle values are both accepted. Prints ✓ or raises."""
    g = _gen(17)
    y1, y2 = torch.arange(30) % 3, torch.randint(4, (41,), generator=g)
    y2[:4] = torch.arange(4)
    cases = [(torch.randn(30, 2, generator=g) * (1 + y1[:, None]), y1, 3),
             (torch.randn(41, 3, generator=g) * 0.5 + y2[:, None] * 0.3, y2, 4)]
    ref, name = lessons.median_radius_by_class, "median_radius_by_class"
    for i, args in enumerate(cases, 1):
        where = _where(i, len(cases), name, args)
        got = _student(name, fn, args, where, _RADIUS)
        middle = _radius_variant(*args, stat=lambda r: r.quantile(0.5))
        _compare(name, got, [_call(ref, args), middle], _RADIUS, _variants(_RADIUS, args), where)
    print(f"✓ {name}: matches the reference on {len(cases)} test cases.")


@_isolated
def check_gaussian_negative_elbo(fn: Callable) -> None:
    """``fn(logits, x, mu, logvar, sigma) -> (N,)``; prints ✓ or raises ExerciseMistake."""
    g = _gen(15)
    cases = [(torch.randn(3, 3, 4, 4, generator=g), torch.rand(3, 3, 4, 4, generator=g),
              torch.randn(3, 4, generator=g), 0.5 * torch.randn(3, 4, generator=g), 0.1),
             (2 * torch.randn(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g),
              torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g), 0.5)]
    _check_values("gaussian_negative_elbo", fn, cases, _GAUSS)


@_isolated
def check_generate_from_codes(fn: Callable) -> None:
    """``fn(model, class_codes, n, scale) -> (n, C, H, W)`` images, on a tiny autoencoder; prints ✓ or raises."""
    torch.manual_seed(16)
    model = MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2)
    g = _gen(16)
    codes: list = []

    def features(out, args):
        z = codes[-1] if codes else torch.full((1, 2), math.nan)
        codes.clear()
        return {"mean of the first coordinate": float(z[:, 0].mean()), "mean of the second": float(z[:, 1].mean()),
                "spread of the codes": float(z.std(0).mean()), "share of values outside [0, 1]": _outside_01(out),
                "mean value": float(out.mean()), "spread of the values": float(out.std())}
    class_codes = torch.tensor([[3.0, 4.0], [4.0, -3.0], [-3.0, -4.0], [-4.0, 3.0]])
    cases = [(model, torch.randn(6, 2, generator=g) * 3 + 1, 5, 0.5), (model, class_codes, 3, 0.2)]
    mistakes = {k: m._replace(variant=_decoding(m.variant, codes)) for k, m in _GENERATE.items()}
    _check_random("generate_from_codes", _decoding(fn, codes), cases, mistakes, (model, class_codes, 20000, 0.5),
                  features, _decoding(lessons.generate_from_codes, codes))


CHECKS: dict[str, Callable[[Callable], None]] = {name: globals()[f"check_{name}"] for name in lessons.__all__
                                                 if f"check_{name}" in globals()}
__all__ += [f"check_{name}" for name in CHECKS]

MISTAKES: dict[str, tuple[str, ...]] = {
    "count_parameters": tuple(_COUNT), "bce_per_image": tuple(_BCE), "noisy_input": tuple(_NOISY),
    "grid_over_codes": tuple(_GRID), "l2_penalty": tuple(_L2), "mse_ssim_per_image": tuple(_MSE_SSIM),
    "psnr_per_image": tuple(_PSNR), "code_mean_and_covariance": (*_MEAN_COV_MEAN, *_MEAN_COV_COV),
    "perturb_codes": tuple(_PERTURB), "power_normalize": tuple(_POWER), "latent_noise": tuple(_LATENT),
    "reparameterize": tuple(_REPARAM), "kl_divergence": tuple(_KL), "negative_elbo": tuple(_ELBO),
    "condition_on_label": tuple(_CONDITION), "prior_samples": tuple(_PRIOR),
    "median_radius_by_class": tuple(_RADIUS), "gaussian_negative_elbo": tuple(_GAUSS),
    "generate_from_codes": tuple(_GENERATE),
}
