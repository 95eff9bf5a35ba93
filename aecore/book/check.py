"""Check a built book: every page in book/_toc.yml has an HTML file, no cell shows an error, and
every glue name the notebooks' prose cites is defined by a glue call in that notebook.

Usage (:func:`main`): python tools/check_book.py [BUILD_HTML_DIR]   (default: _build/html)

Glue names a notebook defines are read from what the build wrote beside the executed notebook
(``<build>/jupyter_execute/<page>.glue.json``, every name its cells glued, however the name was
made). For a notebook without build output they are read statically from its code cells:
keywords of ``glue_values(...)``, the first argument of ``glue(...)``, ``<prefix>_*`` for
each ``Results("<prefix>", ...)``, and what ``aecore.book.report`` helpers glue under fixed names
(:data:`HELPER_NAMES`); f-strings count as patterns (``f"l2_{tag}_w"`` matches
``l2_wd2_w``).

Exits 1 and lists the problems if a page is missing or shows a traceback, or if the prose cites
a glue name that no cell defines. Glued names that no prose cites are listed as warnings only.

Claims of the prose that the run did not reproduce (:func:`aecore.book.report.claim` shows them as a
warning block on the page) are listed per page. They make the check fail only in strict mode
(``AECORE_STRICT=1``, as in ``make test`` and CI); a student's build reports them and passes.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
import sys
from pathlib import Path

import yaml

from .. import config
from ..config import strict
from .claims import WARNING_CLASS
from .notebook_format import GLUE_DIRECTIVE, GLUE_ROLE, GLUE_ROLES_WITH_FORMAT

ROOT = config.REPO_ROOT
ERROR_MARKERS = ("Traceback (most recent call last)", 'class="output traceback', "output_traceback")
# aecore.book.report helpers that glue under fixed names: helper -> the names it glues.
HELPER_NAMES = {"show_training_times": ("training_minutes",)}


SOURCE_SUFFIXES = (".md", ".ipynb")
"""The suffixes of the book's source files (the pages a ``glob`` entry of the table of contents can match)."""


def toc_pages(toc: dict, book_dir: Path | None = None) -> list[str]:
    """All 'file' entries of a jb-book table of contents, root first; a ``glob`` entry (``notebooks/0[1-9]*``)
    gives the pages of ``book_dir`` (default: ``<ROOT>/book``) that it matches, sorted by name, as the book's
    build does."""
    book_dir = ROOT / "book" if book_dir is None else book_dir
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            if "glob" in entry:
                matched = {path.relative_to(book_dir).with_suffix("").as_posix()
                           for path in book_dir.glob(entry["glob"]) if path.suffix in SOURCE_SUFFIXES}
                pages.extend(sorted(matched - set(pages)))
            walk(entry.get("sections"))
            walk(entry.get("chapters"))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return pages


def cell_sources(notebook: dict, cell_type: str) -> list[str]:
    """The source text of every cell of one type ('markdown' or 'code') of a notebook read as JSON."""
    return ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in notebook["cells"] if cell["cell_type"] == cell_type]


def cited_glue_names(notebook: dict, page: str) -> set[tuple[str, str]]:
    """(page that must define it, name) for every glue role or directive in the markdown cells of ``page``.

    A reference ``other::name`` is looked up in the page ``other`` (relative to ``page``'s folder,
    or to the book folder if it starts with '/'), as myst-nb does; a format after the name
    (``name:.2f`` in ``{glue:text}``) is not part of it.
    """
    cited = set()
    for text in cell_sources(notebook, "markdown"):
        refs = GLUE_ROLE.findall(text) + [("", match.group(4)) for match in GLUE_DIRECTIVE.finditer(text)
                                          if match.group(4)]
        for role, ref in refs:
            if role in GLUE_ROLES_WITH_FORMAT and ":" in ref:
                ref = ref.rsplit(":", 1)[0]
            doc, _, name = ref.rpartition("::")
            cited.add((_resolve_page(page, doc) if doc else page, name))
    return cited


def _resolve_page(page: str, doc: str) -> str:
    """The page a ``doc::name`` reference on ``page`` points to (no suffix)."""
    path = doc[1:] if doc.startswith("/") else posixpath.join(posixpath.dirname(page), doc)
    return str(Path(posixpath.normpath(path)).with_suffix(""))


def built_glue_names(execute_dir: Path, page: str) -> dict[str, bool] | None:
    """{name: shown where it was glued} for every name the built ``page`` glued, read from the
    ``<page>.glue.json`` myst-nb writes beside the executed ``<page>.ipynb`` in ``execute_dir``;
    None if the page was not built there."""
    glue_file = execute_dir / f"{page}.glue.json"
    if glue_file.is_file():
        outputs = json.loads(glue_file.read_text(encoding="utf-8"))
        return {name: not output["metadata"]["scrapbook"].get("mime_prefix") for name, output in outputs.items()}
    return {} if (execute_dir / f"{page}.ipynb").is_file() else None


def static_glue_names(notebook: dict) -> tuple[dict[str, bool], list[re.Pattern]]:
    """Glue names the code cells of a notebook define, read without running it:
    ({exact name: shown where glued}, patterns for names made by f-strings or :class:`Results`).

    See the module docstring for what counts; in an f-string pattern each ``{...}`` matches any
    text. ``glue(name, value)`` shows the value unless ``display=False``. Lines of IPython magics
    (``%``, ``!``) are skipped.
    """
    names: dict[str, bool] = {}
    patterns: list[re.Pattern] = []

    def define(node: ast.expr, shown: bool = False) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names[node.value] = shown
        elif isinstance(node, ast.JoinedStr):
            patterns.append(_fstring_pattern(node))

    for source in cell_sources(notebook, "code"):
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for call in (node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Call)):
            function = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if function == "glue" and call.args:
                hidden = any(k.arg == "display" and isinstance(k.value, ast.Constant) and k.value.value is False
                             for k in call.keywords)
                define(call.args[0], shown=not hidden)
            elif function == "glue_values":
                for keyword in call.keywords:
                    if keyword.arg is not None:
                        names[keyword.arg] = False
                    elif isinstance(keyword.value, ast.Dict):
                        for key in keyword.value.keys:
                            if key is not None:  # None: a ``**mapping`` entry, which names nothing
                                define(key)
                    elif isinstance(keyword.value, ast.DictComp):
                        define(keyword.value.key)
            elif function in HELPER_NAMES:
                names.update(dict.fromkeys(HELPER_NAMES[function], False))
            elif function == "Results" and call.args and isinstance(call.args[0], ast.Constant):
                patterns.append(re.compile(re.escape(f"{call.args[0].value!s}_") + r"[A-Za-z0-9]+_\w+"))
    return names, patterns


def _fstring_pattern(node: ast.JoinedStr) -> re.Pattern:
    """A regular expression for the strings an f-string can make: literal parts kept, each field any text."""
    return re.compile("".join(re.escape(str(part.value)) if isinstance(part, ast.Constant) else ".+"
                              for part in node.values))


def check_glue(book_dir: Path, execute_dir: Path, pages: list[str]) -> tuple[list[str], list[str]]:
    """(problems, warnings) for the glue names of the notebook ``pages`` (others are skipped).

    Problem: a page's prose cites a name its notebook does not define. Warning: a name a notebook
    glues (without showing it) that no page cites, or a notebook whose names were read statically.
    """
    notebooks = {page: json.loads((book_dir / f"{page}.ipynb").read_text(encoding="utf-8"))
                 for page in pages if (book_dir / f"{page}.ipynb").is_file()}
    citations = {page: cited_glue_names(nb, page) for page, nb in notebooks.items()}
    cited = set().union(*citations.values())
    problems, warnings = [], []
    defined: dict[str, tuple[dict[str, bool], list[re.Pattern]]] = {}
    for page, notebook in notebooks.items():
        built = built_glue_names(execute_dir, page)
        if built is None:
            warnings.append(f"{page}: no build output in {execute_dir}; glue names read from its code")
        defined[page] = static_glue_names(notebook) if built is None else (built, [])
        unused = sorted(name for name, shown in defined[page][0].items() if not shown and (page, name) not in cited)
        if unused:
            warnings.append(f"{page}: glued but never cited: {', '.join(unused)}")
    for page in notebooks:
        for source, name in sorted(citations[page]):
            names, patterns = defined.get(source, ({}, []))
            if name not in names and not any(p.fullmatch(name) for p in patterns):
                problems.append(f"{page}: the prose cites glue name {name!r}, which no cell of {source} defines")
    return problems, warnings


_CLAIM_BLOCK = re.compile(r'class="[^"]*\b' + re.escape(WARNING_CLASS) + r'\b.*?<p class="aecore-claim-text">(.*?)</p>'
                          r'\s*<p>measured: (.*?)</p>', re.DOTALL)


def claims_not_reproduced(page_html: str) -> list[str]:
    """``"<claim>; measured <numbers>"`` for every claim-not-reproduced warning on one built page, in page order."""
    import html as html_module

    return [f"{html_module.unescape(text)}; measured {html_module.unescape(numbers)}"
            for text, numbers in _CLAIM_BLOCK.findall(page_html)]


def main(html_dir: Path, book_dir: Path | None = None) -> int:
    """Check the pages in ``html_dir`` of the book in ``book_dir`` (default: ``<ROOT>/book``; see the module
    docstring); 1 if there are problems."""
    book_dir = ROOT / "book" if book_dir is None else book_dir
    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    problems, not_reproduced = [], []
    pages = toc_pages(toc, book_dir)
    for page in pages:
        html = html_dir / f"{Path(page).with_suffix('')}.html"
        if not html.is_file():
            problems.append(f"missing page: {html}")
            continue
        text = html.read_text(encoding="utf-8", errors="replace")
        if any(marker in text for marker in ERROR_MARKERS):
            problems.append(f"error output in {html}")
        not_reproduced += [(page, found) for found in claims_not_reproduced(text)]
    glue_problems, glue_warnings = check_glue(book_dir, html_dir.parent / "jupyter_execute", pages)
    problems += glue_problems
    for warning in glue_warnings:
        print(f"warning: {warning}")
    for page, found in not_reproduced:
        print(f"not reproduced in this run: {page}: {found}")
    if strict():
        problems += [f"{page}: a claim was not reproduced (AECORE_STRICT=1): {found}" for page, found in not_reproduced]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"checked {len(pages)} pages in {html_dir}: {len(problems)} problem(s), {len(glue_warnings)} warning(s), "
          f"{len(not_reproduced)} claim(s) not reproduced")
    return 1 if problems else 0


def command_line(argv: list[str] | None = None) -> int:
    """``python tools/check_book.py [BUILD_HTML_DIR]``: :func:`main` on that folder (default
    ``_build/html`` in the repository); the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    return main(Path(argv[0]) if argv else ROOT / "_build" / "html")
