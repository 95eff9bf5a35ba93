"""The labelled image sets every loader returns, their splits and the data errors.

:class:`LabelledImages` holds a set in memory (float32 images (N, C, H, W) in [0, 1], int64
labels, class names); :func:`stratified_split` and :func:`stratified_sample` draw seeded subsets
that keep each class's share; :class:`DataNotFoundError` (with :func:`missing_data_message`) is
what a loader raises when its data set is neither on disk nor allowed to be downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import data_root
from ..utils import check_number, stable_hash


class DataNotFoundError(FileNotFoundError):
    """Raised when a data set is neither on disk nor allowed to be downloaded."""


@dataclass
class LabelledImages:
    """A labelled image set held in memory.

    ``images``: float32 tensor (N, C, H, W) with values in [0, 1];
    ``labels``: int64 tensor (N,); ``classes``: class names indexed by label.
    ``origin``: for sets decoded from lossy files (Stanford Dogs), a hash of the source files'
    contents and the preprocessing settings, which then identifies the set in the model cache
    (decoders may differ in the last bit between installs); None: the pixels identify it.
    A set with an origin must not be changed in place.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: Sequence[str]
    origin: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: int | None, seed: int = 0) -> LabelledImages:
        """A random subset of ``n`` items (all items, unchanged, when ``n`` is None or >= len)."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"subset size must be positive, got {n}")
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return LabelledImages(self.images[index], self.labels[index], self.classes,
                              self._derived_origin("subset", n, seed))

    def _derived_origin(self, *how) -> str | None:
        """The origin of a set derived from this one by ``how`` (None if this set has none)."""
        return None if self.origin is None else stable_hash({"from": self.origin, "how": list(how)})

    def limit_per_class(self, n: int | None, seed: int = 0) -> LabelledImages:
        """A seeded random subset with at most ``n`` items of each class, in the original order
        (all items, unchanged, when ``n`` is None)."""
        if n is None:
            return self
        check_number("limit per class", n, whole=True, minimum=1)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        taken = torch.zeros(len(self.classes), dtype=torch.long)
        keep = []
        for i in order.tolist():
            label = int(self.labels[i])
            if taken[label] < n:
                taken[label] += 1
                keep.append(i)
        index = torch.tensor(sorted(keep), dtype=torch.long)
        return LabelledImages(self.images[index], self.labels[index], self.classes,
                              self._derived_origin("limit_per_class", n, seed))

    def class_counts(self) -> dict[str, int]:
        """Number of items per class name (classes with no item are left out)."""
        counts = torch.bincount(self.labels, minlength=len(self.classes))
        return {self.classes[i]: int(c) for i, c in enumerate(counts) if c > 0}

def missing_data_message(name: str, expected: Path, how: str) -> str:
    """The text of a :class:`DataNotFoundError`: data set ``name`` is not at ``expected``; set
    AECORE_DATA (named with its current value) or get it as ``how`` says."""
    return (
        f"{name} not found: expected {expected}.\n"
        f"Either point AECORE_DATA at a folder that contains it (now: {data_root()}), "
        f"or download it: {how}"
    )


# --------------------------------------------------------------------------- splits


def stratified_split(data: LabelledImages, test_fraction: float = 0.25,
                     seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
    """Seeded (train, test) split that keeps each class's share: per class, ``test_fraction`` of its items.

    Each class with at least two items puts at least one in each part, so that rare
    classes can be both learned and measured. Both parts keep the original order.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    test_index = []
    for label in torch.unique(data.labels).tolist():
        members = torch.nonzero(data.labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = min(max(1, round(test_fraction * len(members))), len(members) - 1) if len(members) > 1 else 0
        test_index.append(members[:n_test])
    is_test = torch.zeros(len(data), dtype=torch.bool)
    is_test[torch.cat(test_index)] = True
    def part(mask: torch.Tensor) -> LabelledImages:
        return LabelledImages(data.images[mask], data.labels[mask], data.classes)

    return part(~is_test), part(is_test)


def stratified_sample(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices (n,) of a seeded subset of ``labels`` (N,) that keeps each class's share.

    Class ``c`` with ``N_c`` items gets ``n * N_c / N`` of them, rounded so that the quotas add
    up to ``n`` (largest remainders first, ties to the lower class); within a class the items
    are a seeded random choice. ``n >= N`` returns every index.
    """
    total = len(labels)
    if n >= total:
        return torch.arange(total)
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    counts = torch.bincount(labels)
    exact = counts.double() * n / total
    quota = exact.floor().long()
    short = n - int(quota.sum())
    remainders = exact - quota
    order = sorted(range(len(counts)), key=lambda c: (-float(remainders[c]), c))
    quota[order[:short]] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label, k in enumerate(quota.tolist()):
        members = torch.nonzero(labels == label).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(chosen).sort().values
