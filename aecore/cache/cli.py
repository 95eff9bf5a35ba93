"""The command line of the model cache, ``python -m aecore weights`` (run by :mod:`aecore.__main__`).

``--cache DIR``: the cache folder, by default ``AECORE_CACHE`` or ``.cache/aecore``::

    python -m aecore weights list                            every cached model, checked
    python -m aecore weights export FILE [--notebook NAME]   pack all (or one notebook's) models
    python -m aecore weights import FILE [--sha256 HEX]      check an archive, then add what the cache lacks

``export`` ends by printing the archive's SHA-256 and the ``AECORE_WEIGHTS`` line to publish
with it (the pin). ``import`` checks the archive against ``--sha256``, else against
``aecore: weights_sha256:`` in ``_config.yml``; with neither it says that the archive is
unverified. The archive and its checks: :mod:`aecore.cache.archive`. An error is printed as
``error: ...`` on stderr with exit status 1; a note (a model kept, an unverified archive) as
``note: ...``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from . import archive
from .archive import archive_sha256, import_archive, import_pin, select_models, write_archive
from .keys import models_dir
from .model_files import list_models
from .usage import read_usage

_SHOWN_PROBLEMS = 10  # at most this many left-out files are named by `export`


def add_command(commands: Any) -> argparse.ArgumentParser:
    """Add the ``weights`` command (``list``, ``export``, ``import``) to the subcommands of ``python -m aecore``
    (``commands``: what ``ArgumentParser.add_subparsers`` returned); return its parser.

    Each subcommand sets ``args.run(args)``, which returns the exit status (1 after an
    :class:`~aecore.cache.archive.ArchiveError` or another ValueError, e.g. a malformed pin).
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
    unpack = subcommands.add_parser("import", help="check an archive, then add the models the cache lacks")
    unpack.add_argument("file", type=Path, help="the archive to read")
    unpack.add_argument("--sha256", metavar="HEX", help="the archive's SHA-256 as its publisher gives it (the pin; "
                        "default: aecore: weights_sha256: in _config.yml)")
    unpack.set_defaults(command=_run_import)
    for command in (listing, export, unpack):
        command.add_argument("--cache", type=Path, help=cache_help)
        command.set_defaults(run=_run)
    return weights


def _run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; return its exit status, 1 (after printing ``error: ...``) on an ArchiveError or a
    setting that is wrong (ValueError). Warnings are printed as ``note: ...`` lines."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return args.command(args)
            finally:
                for warning in caught:
                    print(f"note: {warning.message}", file=sys.stderr)
    except ValueError as err:  # ArchiveError, or a malformed pin or AECORE_CACHE
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
    print(publishing_note(args.file, archive_sha256(args.file)))
    return 0


def publishing_note(path: Path, sha256: str) -> str:
    """The lines ``export`` prints after writing ``path``: its SHA-256 and how to publish it as the pin."""
    return (f"sha256: {sha256}\n"
            "Publish this SHA-256 with the archive, outside it (the archive's own checksums detect damage, not "
            "tampering). Students then set\n"
            f"  AECORE_WEIGHTS='https://<where you publish it>/{path.name}#sha256={sha256}'\n"
            "(or the path of their copy, with the same #sha256= suffix); in a checkout of the course's repository, "
            f"_config.yml can hold it instead:\n  aecore:\n    weights_sha256: {sha256}")


def _run_import(args: argparse.Namespace) -> int:
    """``import``: check the archive and add the models the cache lacks, say what happened; name every model kept
    because the cache's copy differs; on an error say that nothing was written."""
    folder = models_dir(args.cache)
    try:
        result = import_archive(args.file, args.cache, pin=import_pin(args.sha256))
    except ValueError as err:
        raise type(err)(f"{err} Nothing was written to {folder}.") from err
    for name in result["kept"]:
        print(f"note: kept {folder / name}: the cache's file differs from the archive's copy, which was not "
              "imported. Delete the cache's file and import again to take the archive's.", file=sys.stderr)
    print(f"imported {args.file} into {folder}: {len(result['added'])} added, {len(result['unchanged'])} unchanged, "
          f"{len(result['kept'])} kept (differing, not replaced)")
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
