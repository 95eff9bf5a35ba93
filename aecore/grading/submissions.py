"""Finding the submissions in the folder a TA downloaded from the course's LMS.

Accepted layouts (``<lab>`` is a notebook stem such as ``01_mnist_autoencoder``)::

    <folder>/<student>/<lab>.ipynb                      one folder per student (most LMS downloads, unzipped)
    <folder>/<student>/<lab>/<lab>.ipynb                the same with a folder per lab
    <folder>/submitted/<student>/<lab>/<lab>.ipynb      nbgrader's own ``submitted`` folder

A notebook belongs to the lab whose stem its file name contains (``01_mnist_autoencoder (1).ipynb`` counts as
Lab 1's). The student is the name of the folder directly under ``<folder>`` (or under ``submitted``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]*")
"""A student id as nbgrader takes it (a folder name, no spaces)."""


class SubmissionsError(ValueError):
    """The submissions folder cannot be read as one of the accepted layouts; the message says why and how to fix it."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lab: ``student`` id, ``lab`` (notebook stem) and its ``path``."""
    student: str
    lab: str
    path: Path


def _lab_of(name: str, labs: Sequence[str]) -> str | None:
    matches = [lab for lab in labs if lab in name]
    return max(matches, key=len) if matches else None   # 03b_... also contains no 03_mnist_vae: longest wins


def collect(folder: Path, labs: Sequence[str]) -> tuple[list[Submission], list[Path]]:
    """The submissions under ``folder`` for the notebook stems ``labs``, sorted by student then lab, and the
    notebooks found that belong to none of ``labs`` (left out). Raises SubmissionsError when ``folder`` is
    missing, holds no student folder, a student folder's name is not a usable id, or a student has two
    notebooks for one lab."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionsError(f"the submissions folder {folder} does not exist: pass SUBMISSIONS=<folder> with one "
                               "folder per student (<folder>/<student>/<lab>.ipynb)")
    root = folder / "submitted" if (folder / "submitted").is_dir() else folder
    students = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise SubmissionsError(f"{root} holds no student folder: the layout is <folder>/<student>/<lab>.ipynb "
                               "(or nbgrader's <folder>/submitted/<student>/<lab>/<lab>.ipynb)")
    found: dict[tuple[str, str], Path] = {}
    ignored = []
    for student_dir in students:
        student = student_dir.name
        if not STUDENT_ID.fullmatch(student):
            raise SubmissionsError(f"the student folder {student_dir} is not usable as a student id (letters, digits "
                                   "and _ . @ + - only, no spaces): rename it")
        for path in sorted(student_dir.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            lab = _lab_of(path.name, labs)
            if lab is None:
                ignored.append(path)
            elif (student, lab) in found:
                raise SubmissionsError(f"student {student} has two notebooks for {lab}: {found[student, lab]} and "
                                       f"{path}; keep the one to grade")
            else:
                found[student, lab] = path
    return [Submission(s, lab, p) for (s, lab), p in sorted(found.items())], ignored
