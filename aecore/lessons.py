"""The reference implementations of what the labs ask a student to write, by name: a view of the exercises.

Each exercise lives in the module of its lab (:mod:`aecore.exercises.lab1`, ...), together with its
typical mistakes and its self-check; this module holds the same function objects under one name
space, derived from the registry (:data:`aecore.exercises.REFERENCES`), so that ``lessons.bce_per_image``
keeps naming the reference wherever code reads it (:mod:`aecore.objectives`, :mod:`aecore.models`,
:mod:`aecore.noise`, and the model cache's fingerprints of objectives, which follow ``lessons.X``).

Shapes: images are (N, C, H, W) in [0, 1]; decoder outputs are **logits** (the image is
``sigmoid(logits)``); codes are (N, ...) with the batch first; per-image values are (N,).
Random functions draw from torch's global generator (seed it with ``torch.manual_seed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .exercises import REFERENCES

__all__ = list(REFERENCES)
globals().update(REFERENCES)

if TYPE_CHECKING:  # the names above are filled in at run time: to a type checker, each is a function
    class _Reference(Protocol):
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def __getattr__(name: str) -> _Reference: ...
