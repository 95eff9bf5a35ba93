"""Write or check the Colab bootstrap cell, first in every notebook (see :mod:`aecore.book.bootstrap`).

Usage:
    python tools/bootstrap_cell.py           insert or update the cell in every notebook
    python tools/bootstrap_cell.py --check   exit 1 listing notebooks whose cell is missing or stale
    python tools/bootstrap_cell.py [--check] NOTEBOOK ...    only these notebooks
    python tools/bootstrap_cell.py [--check] --notebooks DIR every DIR/*.ipynb instead of notebooks/
    python tools/bootstrap_cell.py --source REQUIREMENT --out DIR NOTEBOOK ...
        write to DIR a copy of each NOTEBOOK whose cell installs aecore from REQUIREMENT
"""

import sys

from aecore.book.bootstrap import main

if __name__ == "__main__":
    sys.exit(main())
