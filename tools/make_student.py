"""Write the student edition of the labs (see :mod:`aecore.book.edition`).

Usage:
    python tools/make_student.py [--out DIR] [NOTEBOOK ...]
"""

import sys

from aecore.book.edition import main

if __name__ == "__main__":
    sys.exit(main())
