"""The functions of the exercises, by name, for the code and the later labs that use them.

``lessons.bce_per_image`` names the function of the exercise ``bce_per_image`` wherever code reads it
(:mod:`aecore.objectives`, :mod:`aecore.models`, :mod:`aecore.noise`, a later lab's
``from aecore.lessons import bce_per_image``, and the model cache's fingerprints of objectives, which follow
``lessons.X``). What it is depends on the copy of aecore:

* in the instructor's checkout, the reference implementation (each lives in its lab's module,
  :mod:`aecore.exercises.lab1`, ..., with its typical mistakes and its check);
* in a student build (:mod:`aecore.book.student_package`), the reference where its lab's solutions are
  released; otherwise the student's own function, kept when its check passed (:mod:`aecore.exercises.saved`);
  otherwise :class:`~aecore.exercises.saved.LessonMissing` (an ImportError) saying which exercise of which lab
  to finish first. ``__all__`` lists the names available now.

Shapes: images are (N, C, H, W) in [0, 1]; decoder outputs are **logits** (the image is
``sigmoid(logits)``); codes are (N, ...) with the batch first; per-image values are (N,).
Random functions draw from torch's global generator (seed it with ``torch.manual_seed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .exercises import EXERCISES, REFERENCES
from .exercises import saved as _saved

globals().update(REFERENCES)

if TYPE_CHECKING:  # the names are filled in at run time: to a type checker, each is a function
    class _Reference(Protocol):
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    __all__: list[str]

    def __getattr__(name: str) -> _Reference: ...
else:
    def __getattr__(name: str) -> Any:
        """``__all__`` (the names available now) and the exercises whose reference is not here (see above)."""
        if name == "__all__":
            return [n for n in EXERCISES if n in REFERENCES or _kept(n)]
        if name in EXERCISES:
            return _saved.lesson(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _kept(name: str) -> bool:
    path = _saved.kept_path(name)
    return path is not None and path.is_file()
