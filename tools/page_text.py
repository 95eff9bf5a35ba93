"""Compare two builds of the book by the visible text of each chapter page (see :mod:`aecore.book.page_text`).

Usage:
    python tools/page_text.py dump [BUILD_HTML_DIR] OUT_DIR    write <page>.txt per chapter page
    python tools/page_text.py compare DIR_A DIR_B              list the lines that differ (exit 1 if any)
"""

import sys

from aecore.book.page_text import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
