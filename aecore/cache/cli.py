"""The command line of the model cache, ``python -m aecore weights`` (run by :mod:`aecore.__main__`).

``--cache DIR``: the cache folder, by default ``AECORE_CACHE`` or ``.cache/aecore``::

    python -m aecore weights list                            every cached model, checked
    python -m aecore weights export FILE [--notebook NAME]   pack all (or one notebook's) models
    python -m aecore weights import FILE                     check an archive, then unpack it

The archive and its checks: :mod:`aecore.cache.archive`. An error is printed as ``error: ...``
on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import archive
from .archive import ArchiveError, import_archive, select_models, write_archive
from .keys import models_dir
from .model_files import list_models
from .usage import read_usage

_SHOWN_PROBLEMS = 10  # at most this many left-out files are named by `export`


def add_command(commands: Any) -> argparse.ArgumentParser:
    """Add the ``weights`` command (``list``, ``export``, ``import``) to the subcommands of ``python -m aecore``
    (``commands``: what ``ArgumentParser.add_subparsers`` returned); return its parser.

    Each subcommand sets ``args.run(args)``, which returns the exit status (1 after an :class:`ArchiveError`).
    """
    weights = commands.add_parser("weights", help="list, export or import the cached models (pretrained weights)",
                                  description=archive.__doc__.split("\n")[0])
    subcommands = weights.add_subparsers(required=True, metavar="COMMAND")
    cache_help = "the cache folder (default: AECORE_CACHE or .cache/aecore)"
    listing = subcommands.add_parser("list", help="list the cached models, checked")
    listing.set_defaults(command=_run_list)
    export = subcommands.add_parser("export", help="pack the cached models into one archive")
    export.add_argument("file", type=Path, help="the archive to write (a .zip)")
    export.add_argument("--notebook", help="only the models this notebook used (e.g. 01_mnist_autoencoder)")
    export.set_defaults(command=_run_export)
    unpack = subcommands.add_parser("import", help="check an archive, then unpack it into the cache")
    unpack.add_argument("file", type=Path, help="the archive to read")
    unpack.set_defaults(command=_run_import)
    for command in (listing, export, unpack):
        command.add_argument("--cache", type=Path, help=cache_help)
        command.set_defaults(run=_run)
    return weights


def _run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; return its exit status, 1 (after printing ``error: ...``) on an ArchiveError."""
    try:
        return args.command(args)
    except ArchiveError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run_list(args: argparse.Namespace) -> int:
    """``list``: print every cached model file, checked."""
    print(format_listing(list_models(args.cache), models_dir(args.cache)))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    """``export``: write the archive, say what it holds and what was left out."""
    chosen, problems = select_models(args.cache, args.notebook)
    for problem in problems[:_SHOWN_PROBLEMS]:
        print(problem, file=sys.stderr)
    if len(problems) > _SHOWN_PROBLEMS:
        print(f"... and {len(problems) - _SHOWN_PROBLEMS} more unusable files left out (`list` shows them all)",
              file=sys.stderr)
    manifest = write_archive(args.file, chosen, read_usage(models_dir(args.cache)))
    files = manifest["files"]
    print(f"wrote {args.file}: {_count(len(files), 'model')}, {human_size(sum(f['bytes'] for f in files))}"
          + (f" (used by {args.notebook})" if args.notebook else ""))
    return 0


def _run_import(args: argparse.Namespace) -> int:
    """``import``: check and unpack the archive, say what changed; on an error say that nothing was written."""
    folder = models_dir(args.cache)
    try:
        result = import_archive(args.file, args.cache)
    except ArchiveError as err:
        raise ArchiveError(f"{err} Nothing was written to {folder}.") from err
    print(f"imported {args.file} into {folder}: " + ", ".join(f"{len(v)} {k}" for k, v in result.items()))
    return 0


# ----------------------------------------------------------------------------- the listing

def format_listing(rows: list[dict[str, Any]], folder: Path) -> str:
    """The text ``python -m aecore weights list`` prints for :func:`~aecore.cache.model_files.list_models`'s rows."""
    if not rows:
        return f"no cached models in {folder}"
    good = [r for r in rows if "problem" not in r]
    table = [("name", "model", "key", "size", "training", "notebooks")]
    table += [(r["name"], r["model"], r["key"], human_size(r["bytes"]),
               f"{human_seconds(r['seconds'])} ({r['device']})", ", ".join(r["notebooks"]) or "-") for r in good]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in table]
    lines += [f"UNUSABLE  {r['file']} ({human_size(r['bytes'])}): {r['problem']}" for r in rows if "problem" in r]
    lines.append(f"{_count(len(good), 'model')} in {folder}, {human_size(sum(r['bytes'] for r in good))}, "
                 f"{human_seconds(sum(r['seconds'] for r in good))} of training"
                 + (f"; {_count(len(rows) - len(good), 'unusable file')}" if len(good) < len(rows) else ""))
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    """``1 model``, ``2 models``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def human_size(size: float) -> str:
    """A byte count as text: ``512 B``, ``12.3 kB``, ``4.5 MB``, ``1.2 GB`` (powers of 1000)."""
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def human_seconds(seconds: float) -> str:
    """A duration as text: ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
