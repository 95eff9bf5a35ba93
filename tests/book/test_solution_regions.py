"""The book's display of solution regions (aecore.book.solution_display, the extension
book/_ext/solution_regions.py): markers dropped, the region highlighted."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from aecore.book import solution_display as regions_ext

ROOT = Path(__file__).resolve().parent.parent.parent

CELL = textwrap.dedent("""\
    def area(side):
        \"\"\"The area of a square.\"\"\"
        ### BEGIN SOLUTION: return the area of a square of this side
        squared = side * side
        return squared
        ### END SOLUTION

    print(area(3))""")


def test_displayed_source_drops_the_markers_and_numbers_the_region_lines():
    text, inside = regions_ext.displayed_source(CELL)
    assert "SOLUTION" not in text
    assert text.splitlines() == ["def area(side):", '    """The area of a square."""', "    squared = side * side",
                                 "    return squared", "", "print(area(3))"]
    assert inside == [3, 4]


def test_displayed_source_handles_several_regions_and_leaves_other_cells_alone():
    text, inside = regions_ext.displayed_source("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3\n"
                                                "### BEGIN SOLUTION\nd = 4\ne = 5\n### END SOLUTION")
    assert text == "a = 1\nb = 2\nc = 3\nd = 4\ne = 5" and inside == [2, 4, 5]
    assert regions_ext.displayed_source("x = 1  # ### BEGIN SOLUTION is only a marker on a line of its own") == (
        "x = 1  # ### BEGIN SOLUTION is only a marker on a line of its own", [])


def test_the_hidden_tests_of_a_test_cell_are_not_shown():
    cell = ('exercises.check_area(area)\n### BEGIN HIDDEN TESTS\nexercises.check_area(area, cases="hidden")\n'
            "### END HIDDEN TESTS")
    assert regions_ext.displayed_source(cell) == ("exercises.check_area(area)", [])
    assert regions_ext.displayed_source(CELL + "\n" + cell)[0].endswith("print(area(3))\nexercises.check_area(area)")


def test_unbalanced_markers_are_named_not_shown():
    with pytest.raises(ValueError, match="line 1"):
        regions_ext.displayed_source("### BEGIN SOLUTION\nx = 1")


def test_a_built_page_shows_the_region_highlighted_without_markers(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(textwrap.dedent(f"""
        title: regions
        execute:
          execute_notebooks: "off"
        sphinx:
          local_extensions:
            solution_regions: {ROOT / "book" / "_ext"}
    """))
    (book / "_toc.yml").write_text("format: jb-book\nroot: lab\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lab"), nbformat.v4.new_code_cell(CELL),
                                         nbformat.v4.new_code_cell("### not a marker\nx = 1"),
                                         nbformat.v4.new_code_cell("print(area(2))\n### BEGIN HIDDEN TESTS\n"
                                                                   "print(area(5))\n### END HIDDEN TESTS"),
                                         nbformat.v4.new_markdown_cell("> **Question.** Why is the area 4?"),
                                         nbformat.v4.new_markdown_cell("**Observation.** Two times two.")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "lab.ipynb")
    result = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(book)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    page = (book / "_build" / "html" / "lab.html").read_text()
    assert "BEGIN SOLUTION" not in page and "END SOLUTION" not in page
    highlighted = [re.sub(r"<[^>]+>", "", line.split("\n")[0]).strip() for line in page.split('<span class="hll">')[1:]]
    assert highlighted == ["squared = side * side", "return squared"]  # the region's two lines, and only those
    assert "not a marker" in page  # a comment that only looks like one stays
    text = re.sub(r"<[^>]+>", "", page)  # the code as shown, without Pygments' spans
    assert "print(area(2))" in text and "HIDDEN" not in text and "area(5)" not in text  # no hidden tests
    # an observation's question (the notebooks' plain Markdown) is a quote block above the model answer
    question = re.search(r"<blockquote>\s*<div><p><strong>Question\.</strong> Why is the area 4\?</p>\s*</div>"
                         r"</blockquote>\s*<p><strong>Observation\.</strong> Two times two\.</p>", page)
    assert question, page[page.find("Question") - 300:page.find("Question") + 300]
