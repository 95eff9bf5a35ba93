"""What ``make grade`` hands the TA: ``grades.csv``, one feedback file per student, one page per observation
question with every student's answer side by side."""

from __future__ import annotations

import csv
import html
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from .course import Lab

COLUMNS = ("student", "lab", "exercise", "points", "max_points", "verdict")
MANUAL = "to grade by hand"

_MARKDOWN = MarkdownIt("commonmark", {"html": False})   # a student's raw HTML is shown as text, never run


def rows(results: Sequence[Mapping[str, Any]], labs: Mapping[str, Lab]) -> list[dict[str, Any]]:
    """One row per student, lab and graded cell: the autograded exercises with their points and verdict, then
    each observation question (points empty: graded by hand)."""
    out = []
    for result in results:
        for row in result["rows"]:
            out.append({"student": result["student"], "lab": result["lab"], "exercise": row["exercise"],
                        "points": f"{row['points']:g}", "max_points": f"{row['max_points']:g}",
                        "verdict": row["verdict"]})
        for question in labs[result["lab"]].questions:
            answered = (result["answers"].get(question.grade_id) or "").strip()
            out.append({"student": result["student"], "lab": result["lab"], "exercise": question.grade_id,
                        "points": "", "max_points": f"{question.points:g}",
                        "verdict": f"{MANUAL}: answers/{result['lab']}/{question.grade_id}.html"
                        if answered else "no answer"})
    return out


def write_csv(path: Path, table: Sequence[Mapping[str, Any]]) -> None:
    """``table`` as CSV with the header :data:`COLUMNS`."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)


def feedback_text(student: str, results: Sequence[Mapping[str, Any]]) -> str:
    """A student's feedback in Markdown: per lab, the points and each exercise's verdict."""
    lines = [f"# Feedback for {student}", ""]
    for result in results:
        got = sum(r["points"] for r in result["rows"])
        total = sum(r["max_points"] for r in result["rows"])
        lines += [f"## {result['lab']}: {got:g} of {total:g} points for the exercises", ""]
        if result.get("problem"):
            lines += [f"Your notebook could not be graded: {result['problem']}", ""]
        for row in result["rows"]:
            lines.append(f"- **{row['exercise']}** ({row['points']:g} of {row['max_points']:g}): {row['verdict']}")
        answers = [gid for gid, text in result["answers"].items() if (text or "").strip()]
        lines += ["", f"Your answers to the observation questions ({len(answers)} given) are graded by hand.", ""]
        if result.get("feedback"):
            lines += [f"The graded notebook with every check's output: {result['lab']}.html", ""]
    return "\n".join(lines)


def write_feedback(folder: Path, results: Sequence[Mapping[str, Any]]) -> None:
    """``folder/<student>.md`` per student (every lab), and nbgrader's feedback page of each lab beside it as
    ``folder/<student>/<lab>.html``."""
    by_student: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        by_student.setdefault(result["student"], []).append(result)
    for student, theirs in by_student.items():
        (folder / f"{student}.md").write_text(feedback_text(student, theirs), encoding="utf-8")
        for result in theirs:
            if result.get("feedback"):
                (folder / student).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(result["feedback"], folder / student / f"{result['lab']}.html")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 80em; }}
.question {{ background: #eef3fb; padding: 0.5em 1em; border-left: 4px solid #3a6fc4; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #bbb; padding: 0.5em; vertical-align: top; text-align: left; }}
th {{ width: 12em; background: #f4f4f4; }}
td.points {{ width: 6em; }}
</style></head><body>
<h1>{title}</h1>
<div class="question">{question}</div>
<p>{count} of {total} students answered. At most {points:g} points: write each student's in the last column.</p>
<table><tr><th>student</th><th>answer</th><th>points</th></tr>
{body}
</table></body></html>
"""


def answers_page(lab: str, grade_id: str, question: str, points: float, answers: Mapping[str, str]) -> str:
    """An HTML page: the question, then one row per student with the answer rendered (Markdown, raw HTML shown as
    text) and an empty points column."""
    body = []
    for student, text in sorted(answers.items()):
        shown = _MARKDOWN.render(text) if text.strip() else "<em>no answer</em>"
        body.append(f"<tr><th>{html.escape(student)}</th><td>{shown}</td><td class=\"points\"></td></tr>")
    given = sum(1 for text in answers.values() if text.strip())
    return PAGE.format(title=html.escape(f"{lab}: {grade_id}"), question=_MARKDOWN.render(question or grade_id),
                       count=given, total=len(answers), points=points, body="\n".join(body))


def write_answers(folder: Path, results: Sequence[Mapping[str, Any]], labs: Mapping[str, Lab]) -> None:
    """``folder/<lab>/<observation grade_id>.html`` for every question of every lab graded."""
    for name, lab in labs.items():
        theirs = [r for r in results if r["lab"] == name]
        if not theirs or not lab.questions:
            continue
        (folder / name).mkdir(parents=True, exist_ok=True)
        for question in lab.questions:
            answers = {r["student"]: r["answers"].get(question.grade_id) or "" for r in theirs}
            page = answers_page(name, question.grade_id, question.question, question.points, answers)
            (folder / name / f"{question.grade_id}.html").write_text(page, encoding="utf-8")
