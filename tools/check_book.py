"""Check a built book: every page in book/_toc.yml has an HTML file and no cell shows an error.

Usage: python tools/check_book.py [BUILD_HTML_DIR]   (default: _build/html)
Exits 1 and lists the problems if any page is missing or shows a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ERROR_MARKERS = ("Traceback (most recent call last)", 'class="output traceback', "output_traceback")


def toc_pages(toc: dict) -> list[str]:
    """All 'file' entries of a jb-book table of contents, root first."""
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return pages


def main(html_dir: Path) -> int:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    problems = []
    pages = toc_pages(toc)
    for page in pages:
        html = html_dir / f"{Path(page).with_suffix('')}.html"
        if not html.is_file():
            problems.append(f"missing page: {html}")
            continue
        text = html.read_text(encoding="utf-8", errors="replace")
        if any(marker in text for marker in ERROR_MARKERS):
            problems.append(f"error output in {html}")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"checked {len(pages)} pages in {html_dir}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"))
