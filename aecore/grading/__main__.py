"""``python -m aecore.grading grade SUBMISSIONS [--out DIR] [--workers N] [--notebook NB ...] [--keep DIR]``: grade a
folder of submissions (``make grade``). ``python -m aecore.grading worker JOB RESULT`` grades one submission (the
cycle starts these)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import REPO_ROOT
from .course import GradingError
from .submissions import SubmissionsError


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        from .worker import main as worker_main

        return worker_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m aecore.grading", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a folder of submissions: <folder>/<student>/<lab>.ipynb")
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, default=REPO_ROOT / "_build" / "grading",
                   help="where grades.csv, feedback/ and answers/ go (default: _build/grading)")
    g.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: half the CPUs)")
    g.add_argument("--notebook", type=Path, action="append", help="a source notebook to grade against (repeatable; "
                   "default: every notebook of notebooks/)")
    g.add_argument("--keep", type=Path, default=None, help="keep the nbgrader course and graded notebooks here")
    args = parser.parse_args(argv)
    from .cycle import grade, summary_lines

    try:
        summary = grade(args.submissions, args.out, args.notebook, workers=args.workers, keep=args.keep)
    except (GradingError, SubmissionsError) as err:
        print(f"make grade: {err}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
