"""The book's repository and launch buttons follow ``repository: url:`` in _config.yml.

Used by the Sphinx extension ``book/_ext/repository_buttons.py``. Jupyter Book refuses
``use_repository_button: true`` without a url, and sphinx-book-theme's launch buttons crash the
build on an empty one, so _config.yml sets neither switch itself: :func:`follow_repository_setting`
turns them on when the url is set and off when it is empty. :func:`real_launch_paths` gives the launch
links the notebook's real path in the repository (``notebooks/<name>.ipynb``) instead of the path
through the ``book/notebooks`` symbolic link, which Colab (reading the file from GitHub) cannot follow.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

# The launch_buttons keys that name a service; each one builds a link into the repository.
LAUNCH_SERVICES = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url", "thebe")
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button")


def follow_repository_setting(theme_options: dict) -> dict:
    """``theme_options`` (sphinx-book-theme's) with the repository, issues and launch buttons on when
    ``repository_url`` is set and off when it is empty."""
    options = dict(theme_options)
    has_repository = bool(str(options.get("repository_url") or "").strip())
    for switch in REPOSITORY_BUTTONS:
        options[switch] = has_repository
    if not has_repository:
        options["launch_buttons"] = {key: value for key, value in (options.get("launch_buttons") or {}).items()
                                     if key not in LAUNCH_SERVICES}
    return options


def repository_path(source: Path, srcdir: Path, path_to_docs: str) -> str | None:
    """``source``'s path in the repository (symbolic links resolved, '/'-separated), the repository
    being ``srcdir`` minus ``path_to_docs``; None if it lies outside."""
    root = Path(srcdir).resolve()
    for _ in PurePosixPath(path_to_docs.strip("/")).parts:
        root = root.parent
    try:
        return Path(source).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def set_buttons(app, config) -> None:
    """``config-inited``: the theme's buttons follow ``repository_url`` (:func:`follow_repository_setting`)."""
    config.html_theme_options = follow_repository_setting(config.html_theme_options)


def real_launch_paths(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: the page's launch links point to the notebook's real path in the repository."""
    groups = [g for g in context.get("header_buttons", []) if g.get("label") == "launch-buttons"]
    if not groups:
        return
    source = Path(app.env.doc2path(pagename))
    docs = str(app.config.html_theme_options.get("path_to_docs") or "").strip("/")
    shown = f"{docs}/{pagename}{source.suffix}" if docs else f"{pagename}{source.suffix}"
    real = repository_path(source, Path(app.srcdir), docs)
    if real is None or real == shown:
        return
    for group in groups:
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(shown, real)
