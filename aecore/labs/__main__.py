"""``python -m aecore.labs``: print the lab table of :data:`aecore.labs.LABS` in Markdown, each chapter linked to
its notebook file (the book's introduction shows the same table, filled in when the book is built)."""

from . import lab_table

print(lab_table("github"), end="")
