"""aecore's command line, ``python -m aecore COMMAND``::

    python -m aecore weights list                            every cached model, checked
    python -m aecore weights export FILE [--notebook NAME]   pack all (or one notebook's) models
    python -m aecore weights import FILE [--sha256 HEX]      check an archive, then add what the cache lacks

Each command lives with what it works on (``weights``: :mod:`aecore.cache.cli`); this module only
dispatches, and no library module runs as ``__main__``.
"""

from __future__ import annotations

import argparse
import sys

from .cache import cli as cache_cli


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m aecore`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m aecore", description="aecore's command line.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    cache_cli.add_command(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
