"""Warnings the model cache gives once per process: a problem met again (the same unreadable usage
record, the same unusable weights archive) is not warned about again."""

from __future__ import annotations

import warnings

_warned: set[tuple[str, str]] = set()


def warn_once(problem: tuple[str, str], message: str) -> None:
    """Issue ``message`` as a warning unless this process has already warned about ``problem``."""
    if problem not in _warned:
        _warned.add(problem)
        warnings.warn(message, stacklevel=3)


def forget_warnings() -> None:
    """Forget the warnings given, so that each problem is warned about again."""
    _warned.clear()
