"""Named claims: what a chapter's prose states about its results, checked where the sentence stands.

A notebook guards each sentence about a result with :func:`claim`::

    claim("the 32-D denoiser beats the 2-D one", psnr_den32 > psnr_den2,
          psnr_den2=psnr_den2, psnr_den32=psnr_den32)

The verdict and the numbers compared are recorded. A claim that holds shows nothing. One that
does not hold

* raises :class:`ClaimNotReproduced` in strict mode (``AECORE_STRICT=1``: ``make test``, CI, the
  claims benchmark), so a test run fails on it, as a plain ``assert`` would;
* otherwise (a student's ``make book``, a notebook in Jupyter) shows a warning in the cell's
  output, "Not reproduced in this run: <claim>; measured <numbers>", and the run goes on, so a
  different seed, device or library version never leaves a student without a site.
  ``tools/check_book.py`` lists every such warning per page.

Invariants (shapes, that noise of variance σ² has variance σ², that σ² = 0 adds nothing) are not
claims about a result: they stay plain ``assert`` statements and always stop the run.

When ``AECORE_CLAIMS_LOG`` names a file, every verdict is appended to it as one JSON line
(``benchmarks/claims.py`` collects them per seed).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import config

# The class of the warning's HTML block; tools/check_book.py looks for it in the built pages.
WARNING_CLASS = "aecore-claim-not-reproduced"
WARNING_TITLE = "Not reproduced in this run"


class ClaimNotReproduced(AssertionError):
    """A claim the prose states did not hold in this run (raised in strict mode only)."""


@dataclass(frozen=True)
class Verdict:
    """One checked claim: its ``text``, whether it ``holds``, the ``measured`` numbers (name -> value,
    plain Python numbers, lists or strings) and the ``notebook``, ``seed`` and ``profile`` of the run."""

    text: str
    holds: bool
    measured: dict[str, Any] = field(default_factory=dict)
    notebook: str | None = None
    seed: int = 0
    profile: str = "full"

    def describe(self) -> str:
        """``"<text>; measured a=1.23, b=4.56"`` (just the text when nothing was measured)."""
        numbers = format_measured(self.measured)
        return f"{self.text}; measured {numbers}" if numbers else self.text


_verdicts: list[Verdict] = []


def claim(text: str, holds: Any, **measured: Any) -> None:
    """Check one claim of the prose: ``text`` says it in words, ``holds`` is its truth in this run
    (a bool, NumPy or 0-d torch boolean), ``measured`` the numbers it compared (scalars, tensors
    or sequences of numbers, dicts of them; recorded and shown with the verdict).

    Returns None, so that a cell ending in a claim shows no ``Out[]`` on the page; the verdict is
    in :func:`verdicts`. A claim that does not hold raises :class:`ClaimNotReproduced` in
    strict mode (:func:`aecore.config.strict`) and otherwise displays the warning described in
    the module docstring. Every verdict is kept (:func:`verdicts`) and, with ``AECORE_CLAIMS_LOG``
    set, appended to that file.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a claim needs its sentence as a non-empty string, got {text!r}")
    verdict = Verdict(text.strip(), bool(_plain(holds)), {name: _plain(value) for name, value in measured.items()},
                      config.current_notebook(), config.seed(), config.profile())
    _verdicts.append(verdict)
    _log(verdict)
    if verdict.holds:
        return
    if config.strict():
        raise ClaimNotReproduced(f"{WARNING_TITLE}: {verdict.describe()} (AECORE_STRICT=1; "
                                 "unset it to show this as a warning on the page instead)")
    _show_warning(verdict)


def verdicts() -> list[Verdict]:
    """Every claim checked in this process so far, in order (a copy)."""
    return list(_verdicts)


def format_measured(measured: dict[str, Any]) -> str:
    """``"a=1.23, b=[4.5, 6]"``: each value with 4 significant digits (lists and dicts element-wise)."""
    return ", ".join(f"{name}={_format_value(value)}" for name, value in measured.items())


def warning_html(verdict: Verdict) -> str:
    """The warning block a claim that did not hold shows (a Sphinx/Jupyter Book admonition)."""
    return (f'<div class="admonition warning {WARNING_CLASS}"><p class="admonition-title">{WARNING_TITLE}</p>'
            f'<p class="aecore-claim-text">{html.escape(verdict.text)}</p>'
            f'<p>measured: {html.escape(format_measured(verdict.measured) or "nothing recorded")}</p></div>')


def _show_warning(verdict: Verdict) -> None:
    from IPython.display import HTML, display

    class _Warning(HTML):  # plain-text form for consoles and nbval, HTML for the page
        def __repr__(self) -> str:
            return f"{WARNING_TITLE}: {verdict.describe()}"

    display(_Warning(warning_html(verdict)))


def _log(verdict: Verdict) -> None:
    path = config.claims_log()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(asdict(verdict), ensure_ascii=False) + "\n")


def _plain(value: Any) -> Any:
    """Tensors, NumPy values and nested containers as plain Python numbers, lists and dicts."""
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items()) + "}"
    return str(value)
