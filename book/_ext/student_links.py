"""Sphinx extension: every lab page links to its student notebook, to download or to open in Colab.

The work is done in :mod:`aecore.book.student_links`; this file says when.

Loaded through ``sphinx: local_extensions`` in _config.yml. It acts only when ``repository: url:`` is
set (with it empty, as in the repository, it does nothing):

- at ``builder-inited`` it writes the student edition (:mod:`aecore.book.edition`: the notebooks with
  their solutions taken out, and the zip of them all) into the HTML output, ``_student/<name>.ipynb``
  and ``_student/aecore-student-notebooks.zip``, so the build needs no ``make student`` before it;
- every notebook page whose notebook has solution regions (``### BEGIN SOLUTION`` ... ``### END
  SOLUTION``) gets a note under its title: "Student version: download the notebook · open in Colab ·
  all labs (zip)". Colab opens the student notebook from GitHub, from the branch
  ``aecore_student_branch`` (a ``sphinx: config:`` value, default ``student``), to which the
  instructors push ``_build/student/notebooks`` as ``notebooks/``. A repository that is not on
  GitHub gets no Colab link.
"""

from aecore.book.student_links import add_note, record_repository, write_student_edition


def setup(app):
    app.add_config_value("aecore_student_branch", "student", "env")
    app.add_config_value("aecore_student_repository", "", "env")  # set from repository: url: (never by hand)
    app.connect("config-inited", record_repository)
    app.connect("builder-inited", write_student_edition)
    app.connect("doctree-read", add_note)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
