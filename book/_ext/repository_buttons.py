"""Sphinx extension: the book's repository and launch buttons follow ``repository: url:`` in _config.yml.

The work is done in :mod:`aecore.book.repository_buttons`; this file says when.

Loaded through ``sphinx: local_extensions`` in _config.yml. The course's repository is set in one
place, ``repository: url:``, and it is empty until a course sets its fork. Jupyter Book refuses
``use_repository_button: true`` without a url, and sphinx-book-theme's launch buttons crash the
build on an empty one, so _config.yml sets neither switch itself; this extension does:

- url set: the repository and issues buttons, and the launch buttons of ``launch_buttons:``
  (Colab, Binder) on every notebook page;
- url empty: none of them, so no button links to a repository that does not exist.

It also corrects the launch links' path. The theme builds it as ``<path_to_book>/<page>``, here
``book/notebooks/<name>.ipynb``, a path through the ``book/notebooks`` symbolic link, which Colab
(reading the file from GitHub) cannot follow; the links get the notebook's real path in the
repository instead, ``notebooks/<name>.ipynb``.
"""

from aecore.book.repository_buttons import real_launch_paths, set_buttons


def setup(app):
    app.connect("config-inited", set_buttons)
    # after sphinx-book-theme's add_launch_buttons (priority 501) has built the links
    app.connect("html-page-context", real_launch_paths, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
