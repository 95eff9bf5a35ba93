"""Check a built book: pages, error outputs, glue names, claims not reproduced (see :mod:`aecore.book.check`).

Usage:
    python tools/check_book.py [BUILD_HTML_DIR]   (default: _build/html)
"""

import sys

from aecore.book.check import command_line

if __name__ == "__main__":
    sys.exit(command_line())
