"""``python -m aecore.labs``: regenerate the lab tables of ``book/intro.md`` and ``README.md`` from
:data:`aecore.labs.LABS` (run from the repository root, or give it as the one argument)."""

import sys
from pathlib import Path

from . import write_lab_tables

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
changed = write_lab_tables(root)
print("updated: " + ", ".join(str(p) for p in changed) if changed else "the lab tables are up to date")
