"""The book's links to the student edition: a note under each lab page's title, and the student
notebooks written into the HTML output.

Used by the Sphinx extension ``book/_ext/student_links.py`` (which says when each step runs). It acts
only when ``repository: url:`` is set in _config.yml:

- :func:`write_student_edition` writes the student edition (:mod:`aecore.book.edition`) into the
  HTML output, ``_student/<name>.ipynb`` and ``_student/aecore-student-notebooks.zip``;
- :func:`add_note` gives every notebook page whose notebook has solution regions a note under its
  title: "Student version: download the notebook · open in Colab · all labs (zip)". Colab opens the
  student notebook from GitHub, from the branch ``aecore_student_branch``; a repository that is not
  on GitHub gets no Colab link.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

from . import edition
from .notebook_format import MarkerError

logger = logging.getLogger(__name__)

STUDENT_DIR = "_student"  # in the HTML output
COLAB = "https://colab.research.google.com/github"
_GITHUB = re.compile(r"https?://(?:www\.)?github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?/?")


def github_repository(url: str) -> tuple[str, str] | None:
    """``(owner, repository)`` of a GitHub url (``https://github.com/<owner>/<repository>``); None otherwise."""
    match = _GITHUB.fullmatch(str(url or "").strip())
    return (match.group(1), match.group(2)) if match else None


def student_links(repository_url: str, student_branch: str, docname: str, notebook: str) -> dict[str, str | None]:
    """The note's link targets for the page ``docname`` (e.g. ``notebooks/03_mnist_vae``) of ``notebook``
    (its file name): ``download`` and ``zip`` relative to the page, ``colab`` (None off GitHub)."""
    here = posixpath.dirname(docname) or "."
    links: dict[str, str | None] = {
        "download": posixpath.relpath(f"{STUDENT_DIR}/{notebook}", here),
        "zip": posixpath.relpath(f"{STUDENT_DIR}/{edition.ZIP_NAME}", here),
        "colab": None,
    }
    repository = github_repository(repository_url)
    if repository:
        owner, name = repository
        links["colab"] = f"{COLAB}/{owner}/{name}/blob/{student_branch}/notebooks/{notebook}"
    return links


def student_note(links: dict[str, str | None]) -> nodes.note:
    """The note shown under a lab page's title."""
    paragraph = nodes.paragraph()
    paragraph += nodes.strong(text="Student version: ")
    entries = [("download the notebook", links["download"]), ("open in Colab", links.get("colab")),
               ("all labs (zip)", links["zip"])]
    for number, (text, target) in enumerate((t, u) for t, u in entries if u):
        if number:
            paragraph += nodes.Text(" · ")
        paragraph += nodes.reference("", text, refuri=target)
    note = nodes.note()
    note["classes"].append("aecore-student-version")
    note += paragraph
    return note


def insert_note(doctree: nodes.document, note: nodes.Node) -> None:
    """Put ``note`` at the top of the page: right under its first title, else first."""
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, note)
    else:
        doctree.insert(0, note)


def _repository_url(app) -> str:
    return str((app.config.html_theme_options or {}).get("repository_url") or "").strip()


def write_student_edition(app) -> None:
    """``builder-inited``: the student notebooks and the zip into ``<html output>/_student``."""
    if not _repository_url(app) or app.builder.format != "html":
        return
    notebooks = sorted(edition.NOTEBOOKS.glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            written = edition.make_student(notebooks, Path(tmp) / "student")
        except MarkerError as error:
            from sphinx.errors import ExtensionError
            raise ExtensionError(f"[student_links] {error}") from None
        target = Path(app.outdir) / STUDENT_DIR
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for path in written:
            shutil.copy2(path, target / path.name)
        shutil.copy2(Path(tmp) / "student" / edition.ZIP_NAME, target / edition.ZIP_NAME)
    logger.info(f"[student_links] {len(written)} student notebook(s) and the zip in {STUDENT_DIR}/")


def add_note(app, doctree) -> None:
    """``doctree-read``: the note on a notebook page whose notebook has solution regions."""
    url = _repository_url(app)
    source = Path(app.env.doc2path(app.env.docname))
    if not url or source.suffix != ".ipynb":
        return
    import nbformat

    try:
        if not edition.has_regions(nbformat.read(source, as_version=4)):
            return
    except MarkerError:
        return  # reported by write_student_edition
    links = student_links(url, app.config.aecore_student_branch, app.env.docname, source.name)
    insert_note(doctree, student_note(links))


def record_repository(app, config) -> None:
    """``config-inited``: the url as an "env" setting, so that setting or changing it re-reads the pages."""
    config.aecore_student_repository = str((config.html_theme_options or {}).get("repository_url") or "").strip()
