"""Compare two builds of the book by what a reader sees: the visible text of each chapter page.

Usage:
    python tools/page_text.py dump [BUILD_HTML_DIR] OUT_DIR    write <page>.txt per chapter page
    python tools/page_text.py compare DIR_A DIR_B              list the lines that differ (exit 1 if any)

Only the article body is kept (no navigation, scripts, styles or code-cell inputs: the
prose and the cells' outputs), one text block per line, whitespace collapsed. Lines that state a wall
time or a training time ("trained in 147 s", "took 3.2 s") are
reported separately, since they are measured anew by every build.
"""

from __future__ import annotations

import difflib
import re
from html.parser import HTMLParser
from pathlib import Path

SKIPPED_TAGS = {"script", "style", "nav", "header", "footer", "aside"}
BLOCK_TAGS = {"p", "li", "h1", "h2", "h3", "h4", "tr", "pre", "div", "caption", "dt", "dd", "figcaption"}
# Sentences that report measured durations differ between any two runs.
TIMING = re.compile(r"\b\d[\d,.]*\s*(s|seconds?|min|minutes?|ms)\b(?!\w)")


SKIPPED_CLASSES = {"cell_input", "headerlink", "toggle-details__summary"}
VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "col", "source", "wbr"}


class _TextOfArticle(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, skipped, article) of each open element
        self.lines: list[str] = []
        self.current: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in BLOCK_TAGS or tag == "br":
            self._flush()
        if tag in VOID_TAGS:
            return
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append((tag, tag in SKIPPED_TAGS or bool(classes & SKIPPED_CLASSES), tag in ("article", "main")))

    def handle_endtag(self, tag):
        if tag in BLOCK_TAGS:
            self._flush()
        for i in range(len(self.stack) - 1, -1, -1):  # close the innermost open element of this tag
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if any(a for _, _, a in self.stack) and not any(s for _, s, _ in self.stack):
            self.current.append(data)

    def _flush(self):
        text = re.sub(r"\s+", " ", "".join(self.current)).strip()
        if text:
            self.lines.append(text)
        self.current = []


def page_text(html: str) -> list[str]:
    """The visible lines of a page's article body."""
    parser = _TextOfArticle()
    parser.feed(html)
    parser._flush()
    return parser.lines


def dump(build: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pages = sorted((build / "notebooks").glob("*.html"))
    if not pages:
        raise SystemExit(f"no chapter pages under {build / 'notebooks'}: build the book first")
    for page in pages:
        (out / (page.stem + ".txt")).write_text("\n".join(page_text(page.read_text(encoding="utf-8"))) + "\n")
    print(f"wrote {len(pages)} page texts to {out}")


def compare(a: Path, b: Path) -> int:
    differing, timing_only = 0, 0
    for page_a in sorted(a.glob("*.txt")):
        page_b = b / page_a.name
        if not page_b.is_file():
            print(f"{page_a.name}: missing in {b}")
            differing += 1
            continue
        lines_a, lines_b = page_a.read_text().splitlines(), page_b.read_text().splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, lines_a, lines_b, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            old, new = lines_a[i1:i2], lines_b[j1:j2]
            if len(old) == len(new) and all(TIMING.sub("T", x) == TIMING.sub("T", y) for x, y in zip(old, new)):
                timing_only += len(old)
                continue
            differing += 1
            print(f"--- {page_a.name}")
            for line in old:
                print(f"  - {line[:300]}")
            for line in new:
                print(f"  + {line[:300]}")
    print(f"{differing} differing blocks; {timing_only} lines differ only in measured durations")
    return 1 if differing else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "dump":
        build, out = (Path(argv[1]), Path(argv[2])) if len(argv) == 3 else (Path("_build/html"), Path(argv[1]))
        dump(build, out)
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__)
    return 2
