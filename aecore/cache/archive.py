"""Pretrained weights: pack the model cache into one archive, unpack it elsewhere, or fetch models from it on demand.

A weights archive is a zip file (stored, not compressed: weights hardly compress) holding
cache files (see :mod:`aecore.cache.model_files`) under their own names, and ``manifest.json``::

    {"format": "aecore-weights", "format_version": 1, "cache_schema": 3,
     "aecore_version": "0.1.0", "torch_version": "2.5.1", "created": "2026-01-31T12:00:00+00:00",
     "files": [{"file": "mnist-ae-2d-<key>.pt", "name": "mnist-ae-2d", "key": "<key>",
                "model": "MLPAutoencoder", "bytes": 2345678, "sha256": "<64 hex digits>",
                "seconds": 93.2, "notebooks": ["01_mnist_autoencoder"]}, ...]}

``python -m aecore weights list|export|import`` (:mod:`aecore.cache.cli`) is its command line.

What proves what:

* **The pin** -- the SHA-256 of the whole archive, published outside it (the ``AECORE_WEIGHTS``
  value's ``#sha256=<hex>``, ``aecore: weights_sha256:`` in ``_config.yml``, or ``import --sha256``;
  see :func:`aecore.config.weights_sha256`) -- proves that the archive is the one its publisher
  made: it is checked first (:func:`check_pin`), and an archive with another hash is refused.
* **The manifest's checksums** detect damage (a truncated download, a flipped byte), not
  tampering: whoever edits an archive can rewrite its manifest too. An archive without a pin
  is still used, after one warning that its contents are unverified: its files are read as
  plain tensors (never unpickled, so no code runs), and nothing already in the cache is ever
  replaced by it, so at worst it adds models that are wrong.

An archive is checked before anything is taken from it: it must be a zip with this manifest
(same format version and cache schema), every member listed and nothing else, plain file
names, sizes within limits *before anything is extracted* (:data:`MAX_MANIFEST_BYTES`,
:data:`MAX_MEMBER_BYTES`, :data:`MAX_ARCHIVE_BYTES`, :data:`MAX_EXPANSION`; the bytes actually
streamed are counted too, so a header that lies cannot pass), and each member must have its
listed size and SHA-256 and be a cache file whose contents give its key
(:func:`aecore.cache.model_files.read_model_file`). A malformed manifest (not JSON, nested too
deep, of wrong types, too large) is refused with the same :class:`ArchiveError`.

:func:`aecore.train.fit_or_load` takes a model missing from the cache from the
``AECORE_WEIGHTS`` archive (:func:`aecore.config.weights_source`) with :func:`fetch_into_cache`.
``export --notebook`` packs the models that the usage record (:mod:`aecore.cache.usage`) lists
for one notebook.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import torch
from tqdm.auto import tqdm

from ..config import book_weights_sha256, cache_root, check_sha256, weights_sha256, weights_source
from ..utils import atomic_path, file_digest, file_lock
from ._once import forget_warnings, warn_once
from .keys import CACHE_SCHEMA, model_file_name, models_dir
from .model_files import CacheFileError, cached_files, check_cache_file, read_model_file, summarize
from .usage import USAGE_FILE, add_usage, read_usage

FORMAT_NAME = "aecore-weights"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DOWNLOAD_TIMEOUT_S = 30
_CHUNK = 1 << 20
_MiB = 1 << 20
# Limits checked against the zip's declared sizes before anything is extracted, and against the bytes
# actually streamed. A real manifest is about 0.4 kB per model; a model file of the labs is at most 5 MB and
# the whole full-profile cache 130 MB; weights barely compress (export stores them uncompressed).
MAX_MANIFEST_BYTES = 1 * _MiB
MAX_MEMBER_BYTES = 1024 * _MiB
MAX_ARCHIVE_BYTES = 8192 * _MiB  # all members together, uncompressed; also the largest download
MAX_EXPANSION = 20  # a compressed member over 1 MiB may expand to at most this many times its compressed size
_READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_ENTRY_TYPES: dict[str, Any] = {"file": str, "name": str, "key": str, "model": str, "bytes": int, "sha256": str,
                                "seconds": (int, float), "notebooks": list}
_UNSAFE_NAME_CHARS = "/\\:\0"
_REDO = "download or export the archive again (python -m aecore weights export FILE)"
Pin = tuple[str, str]  # (SHA-256 hex digest of the whole archive, where the pin is set)

# What this process has learned about the AECORE_WEIGHTS source (see forget_sources).
_downloads: dict[str, Path | None] = {}
_entries_of: dict[tuple[str, int, int, str | None], list[dict[str, Any]]] = {}


class ArchiveError(ValueError):
    """A weights archive that cannot be used, or an export with nothing to pack; the message says what to do."""


# ----------------------------------------------------------------------------- export

def select_models(cache: Path | str | None = None, notebook: str | None = None
                  ) -> tuple[list[tuple[Path, dict[str, Any]]], list[str]]:
    """The usable model files to export (all, or those ``notebook`` used) as (path,
    :func:`~aecore.cache.model_files.summarize` dict), and the problems of the files left out. Raises
    :class:`ArchiveError` when nothing would be exported."""
    folder = models_dir(cache)
    paths = cached_files(folder)
    if notebook is not None:
        paths = _used_by(folder, paths, notebook.removesuffix(".ipynb"))
    chosen, problems = [], []
    for path in paths:
        try:
            chosen.append((path, summarize(path, check_cache_file(path))))
        except CacheFileError as err:
            problems.append(f"left out {path.name}: {err}")
    if not chosen:
        raise ArchiveError(f"nothing to export: {folder} holds no usable cached models"
                           + (f" ({len(problems)} unusable files, e.g. {problems[0]})" if problems else "")
                           + ". Run the notebooks first (make book), or name another cache with --cache DIR.")
    return chosen, problems


def _used_by(folder: Path, paths: list[Path], notebook: str) -> list[Path]:
    """The ``paths`` that the usage record lists for ``notebook``; ArchiveError when it lists none."""
    usage = read_usage(folder)
    recorded = {name for name, notebooks in usage.items() if notebook in notebooks}
    if not recorded:
        known = sorted({n for notebooks in usage.values() for n in notebooks})
        raise ArchiveError(
            f"no models are recorded for notebook {notebook!r} in {folder / USAGE_FILE} "
            f"({'recorded: ' + ', '.join(known) if known else 'no notebook is recorded there'}). Run the notebook "
            "once with this cache (it calls aecore.config.set_notebook, or set AECORE_NOTEBOOK=NAME): fit_or_load "
            "records every model it trains or loads. Then export again.")
    chosen = [p for p in paths if p.name in recorded]
    if not chosen:
        raise ArchiveError(f"the {len(recorded)} models recorded for notebook {notebook!r} are no longer in {folder}; "
                           "run the notebook again to train (or load) them, then export again.")
    return chosen


def write_archive(target: Path, chosen: list[tuple[Path, dict[str, Any]]],
                  usage: dict[str, list[str]]) -> dict[str, Any]:
    """Write the archive ``target`` (atomically) holding the ``chosen`` (path, summary) files; return its manifest.

    ``usage`` (``{file name: [notebooks]}``) fills each entry's ``notebooks``.
    """
    from .. import __version__ as aecore_version

    manifest: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "cache_schema": CACHE_SCHEMA,
                "aecore_version": str(aecore_version), "torch_version": str(torch.__version__),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "files": []}
    with atomic_path(Path(target)) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for path, summary in chosen:
            big = path.stat().st_size >= zipfile.ZIP64_LIMIT
            with open(path, "rb") as src, archive.open(path.name, "w", force_zip64=big) as dst:
                sha256, size = copy_hashing(src, dst)
            manifest["files"].append({
                "file": path.name, "name": summary["name"], "key": summary["key"], "model": summary["model"],
                "bytes": size, "sha256": sha256, "seconds": summary["seconds"], "notebooks": usage.get(path.name, [])})
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    return manifest


def export_archive(target: Path, cache: Path | str | None = None, notebook: str | None = None) -> dict[str, Any]:
    """Pack the cache's usable models (all, or those ``notebook`` used) into the archive ``target``; return its
    manifest. Files that cannot be used are left out with a warning; ArchiveError when nothing is left."""
    chosen, problems = select_models(cache, notebook)
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    return write_archive(target, chosen, read_usage(models_dir(cache)))


def copy_hashing(src: IO[bytes], dst: IO[bytes] | None, limit: int | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` (None: only read) in chunks; return the SHA-256 hex digest and the byte count.

    With ``limit``, at most ``limit + 1`` bytes are read: a count above ``limit`` means that
    ``src`` holds more than allowed, and the caller refuses it (nothing more is read or written).
    """
    digest, size = hashlib.sha256(), 0
    while limit is None or size <= limit:
        block = src.read(_CHUNK if limit is None else min(_CHUNK, limit + 1 - size))
        if not block:
            break
        digest.update(block)
        if dst is not None:
            dst.write(block)
        size += len(block)
    return digest.hexdigest(), size


def archive_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a whole archive file: what a course publishes as its pin."""
    return file_digest(Path(path), "sha256")


def check_pin(path: Path, pin: Pin, label: str) -> None:
    """ArchiveError naming both hashes unless the whole file ``path`` has the pinned SHA-256 ``pin[0]``
    (set in ``pin[1]``, e.g. ``"AECORE_WEIGHTS"``)."""
    digest = archive_sha256(path)
    if digest != pin[0]:
        raise ArchiveError(
            f"{label} has SHA-256 {digest}, but {pin[1]} pins {pin[0]}: it is not the archive that was published "
            "(it was altered or replaced, or it is another version), so nothing is taken from it. Get the archive "
            "again from its publisher; if they have published a new archive, use the SHA-256 they give with it.")


def unverified_message(label: str) -> str:
    """What to say once about an archive that nothing pins."""
    return (f"the weights archive {label} is not pinned, so its contents are unverified: the checksums in its own "
            "manifest detect damage, not tampering. Its models are used (read as plain tensors, never unpickled, "
            "and never replacing a model already in the cache), but only trust them as far as you trust where the "
            "file came from. To verify it, pin the SHA-256 its publisher gives (python -m aecore weights export "
            "prints it): AECORE_WEIGHTS='<archive>#sha256=<hex>', aecore: weights_sha256: in _config.yml, or "
            "weights import --sha256 <hex>.")


# ----------------------------------------------------------------------------- reading and checking an archive

@contextmanager
def open_archive(path: Path, label: str | None = None) -> Iterator[tuple[zipfile.ZipFile, list[dict[str, Any]]]]:
    """Open a weights archive and check its layout, sizes and manifest (not yet the members' bytes): yield
    (zip, entries).

    Raises :class:`ArchiveError` naming the archive (``label``, default its path) and the
    problem: not a zip (or truncated), no manifest, a member too large, expanding too much,
    encrypted or compressed with an unsupported method, another format, format version or
    cache schema, a malformed manifest or entry, a member listed but missing or present but
    not listed, or a member name that is not a plain file name.
    """
    label = label or str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise ArchiveError(f"{label} is not a readable zip archive ({err}): it may be truncated (an interrupted "
                           f"download or copy) or another kind of file; {_REDO}.") from err
    with archive:
        yield archive, _checked_entries(archive, label)


def _checked_entries(archive: zipfile.ZipFile, label: str) -> list[dict[str, Any]]:
    """The manifest's file entries of an open archive, after checking the layout (see :func:`open_archive`)."""
    if archive.infolist() and min(info.header_offset for info in archive.infolist()) > 0:
        # Its members are zips themselves (torch.save): cut short, the file may end with a member's own directory.
        raise ArchiveError(f"{label} is not a complete archive (data before its first member): it is "
                           f"probably truncated (an interrupted download or copy); {_REDO}.")
    names = archive.namelist()
    unsafe = [n for n in names if not _is_plain_name(n)]
    if unsafe:
        raise ArchiveError(f"{label} has members whose names are not plain file names ({', '.join(map(repr, unsafe))}),"
                           " which would be written outside the cache folder; refusing to use it. Use an archive "
                           "made by python -m aecore weights export.")
    if MANIFEST_NAME not in names:
        raise ArchiveError(f"{label} is a zip file without {MANIFEST_NAME}, so not an aecore weights archive; use one "
                           "made by python -m aecore weights export.")
    _check_sizes(archive, label)
    manifest = _read_manifest(archive, label)
    _check_header(manifest, label)
    entries = [_checked_entry(entry, i, label) for i, entry in enumerate(manifest["files"])]
    listed = [e["file"] for e in entries]
    members = [n for n in names if n != MANIFEST_NAME]
    for problem, found in (("lists twice", _repeated(listed)), ("holds twice", _repeated(names)),
                           ("lists, but the archive lacks", sorted(set(listed) - set(members))),
                           ("does not list, but the archive holds", sorted(set(members) - set(listed)))):
        if found:
            raise ArchiveError(f"{label}: its manifest {problem} {', '.join(found)}; the archive is incomplete or was "
                               f"altered; {_REDO}.")
    for entry in entries:
        declared = archive.getinfo(entry["file"]).file_size
        if declared != entry["bytes"]:
            raise ArchiveError(f"{label}: member {entry['file']} is {declared} bytes by its zip header, but "
                               f"{entry['bytes']} by the manifest; the archive was altered; {_REDO}.")
    return entries


def _check_sizes(archive: zipfile.ZipFile, label: str) -> None:
    """ArchiveError unless every member is stored or deflated, unencrypted, within its size limit and its
    expansion limit, and all together within :data:`MAX_ARCHIVE_BYTES` (the zip's declared sizes: nothing
    is extracted yet)."""
    refuse = "refusing to extract anything from it; use an archive made by python -m aecore weights export"
    for info in archive.infolist():
        name = info.filename
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{label}: member {name} is encrypted; {refuse}.")
        if info.compress_type not in _READABLE_METHODS:
            raise ArchiveError(f"{label}: member {name} is compressed with zip method {info.compress_type}, which "
                               f"aecore does not read (only stored or deflated members); {refuse}.")
        limit = MAX_MANIFEST_BYTES if name == MANIFEST_NAME else MAX_MEMBER_BYTES
        if info.file_size > limit:
            raise ArchiveError(f"{label}: member {name} would unpack to {_mb(info.file_size)}, over the limit "
                               f"of {_mb(limit)} for a {'manifest' if limit == MAX_MANIFEST_BYTES else 'model file'}"
                               f"; {refuse}.")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise ArchiveError(f"{label}: member {name} is stored uncompressed, yet its header gives "
                               f"{info.compress_size} bytes in the archive and {info.file_size} unpacked; the "
                               f"archive is damaged or forged; {refuse}.")
        if info.file_size > max(_MiB, MAX_EXPANSION * info.compress_size):
            raise ArchiveError(f"{label}: member {name} would expand from {_mb(info.compress_size)} to "
                               f"{_mb(info.file_size)}, more than {MAX_EXPANSION}-fold (model weights barely "
                               f"compress): it looks like a zip bomb; {refuse}.")
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{label} would unpack to {_mb(total)}, over the limit of "
                           f"{_mb(MAX_ARCHIVE_BYTES)} for a weights archive; {refuse}.")


def _read_manifest(archive: zipfile.ZipFile, label: str) -> dict[str, Any]:
    """The parsed ``manifest.json`` of an open archive (read up to :data:`MAX_MANIFEST_BYTES`); ArchiveError when it
    is damaged, too large, nested too deep or not a JSON object."""
    try:
        with archive.open(MANIFEST_NAME) as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{label}: {MANIFEST_NAME} holds more than {MAX_MANIFEST_BYTES} bytes (more than its "
                               f"header declares); {_REDO}.")
        manifest = json.loads(data)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RecursionError, RuntimeError,
            NotImplementedError) as err:
        if isinstance(err, ArchiveError):
            raise
        problem = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise ArchiveError(f"{label}: {MANIFEST_NAME} is damaged or malformed ({problem}); {_REDO}.") from err
    if not isinstance(manifest, dict):
        raise ArchiveError(f"{label}: {MANIFEST_NAME} is not a JSON object; {_REDO}.")
    return manifest


def _check_header(manifest: dict[str, Any], label: str) -> None:
    """ArchiveError unless the manifest is of this format, format version and cache schema, and lists its files."""
    if manifest.get("format") != FORMAT_NAME:
        raise ArchiveError(f"{label}: {MANIFEST_NAME} describes a {_short(manifest.get('format'))} archive, not an "
                           f"{FORMAT_NAME!r} one; use an archive made by python -m aecore weights export.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"{label} has archive format version {_short(manifest.get('format_version'))}; this aecore "
                           f"reads version {FORMAT_VERSION}. Use the aecore version that made it, or export it again "
                           "with this one.")
    if manifest.get("cache_schema") != CACHE_SCHEMA:
        raise ArchiveError(f"{label} holds models of cache schema {_short(manifest.get('cache_schema'))}; this aecore "
                           f"uses schema {CACHE_SCHEMA}, so it would never load them. Get an archive built with this "
                           "aecore version (make book && make weights), or let the models train.")
    if not isinstance(manifest.get("files"), list):
        raise ArchiveError(f"{label}: {MANIFEST_NAME} has no list of files; {_REDO}.")


def _mb(size: int) -> str:
    """A byte count in megabytes, e.g. ``418.4 MB``."""
    return f"{size / 1e6:.1f} MB"


def _short(value: Any, length: int = 60) -> str:
    """``repr(value)``, cut to ``length`` characters (a manifest's values may be huge)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # deeply nested, or an int too long to print
        text = f"<a {type(value).__name__}>"
    return text if len(text) <= length else text[:length] + "..."


def _checked_entry(entry: Any, index: int, label: str) -> dict[str, Any]:
    """One manifest file entry, after checking its fields' types, its file name, size and checksum's form."""
    if not isinstance(entry, dict):
        entry = {}
    wrong = [k for k, kind in _ENTRY_TYPES.items()
             if not isinstance(entry.get(k), kind) or isinstance(entry.get(k), bool)]
    if not wrong and not all(isinstance(n, str) for n in entry["notebooks"]):
        wrong = ["notebooks"]
    if not wrong and not (entry["file"] == model_file_name(entry["name"], entry["key"])
                          and _is_plain_name(entry["file"])):
        wrong = ["file"]
    if not wrong and not 0 <= entry["bytes"] <= MAX_MEMBER_BYTES:
        wrong = ["bytes"]
    if not wrong and (len(entry["sha256"]) != 64 or set(entry["sha256"]) - set("0123456789abcdef")):
        wrong = ["sha256"]
    if wrong:
        raise ArchiveError(f"{label}: {MANIFEST_NAME} entry {index} has a missing or malformed {', '.join(wrong)}; "
                           f"the archive was not made by this tool or was edited; {_REDO}.")
    return entry


def _is_plain_name(name: str) -> bool:
    """Whether ``name`` is a file name that stays in its folder: no separators, drive or NUL, not hidden."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in _UNSAFE_NAME_CHARS)


def _repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted({n for n in names if names.count(n) > 1})


def _stream_member(archive: zipfile.ZipFile, entry: dict[str, Any], dst: IO[bytes] | None, label: str) -> None:
    """Stream one member to ``dst`` (None: only read it), at most one byte past its listed size; ArchiveError
    unless it has exactly the size and SHA-256 its manifest ``entry`` gives."""
    try:
        with archive.open(entry["file"]) as src:
            sha256, size = copy_hashing(src, dst, limit=entry["bytes"])
    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError, ValueError) as err:  # e.g. "Bad CRC-32"
        raise ArchiveError(f"{label}: member {entry['file']} is damaged ({err}); {_REDO}.") from err
    if size > entry["bytes"]:
        raise ArchiveError(f"{label}: member {entry['file']} holds more than the {entry['bytes']} bytes its manifest "
                           f"and header give (a header that lies); it was not extracted; {_REDO}.")
    if (size, sha256) != (entry["bytes"], entry["sha256"]):
        raise ArchiveError(f"{label}: member {entry['file']} does not match the size and SHA-256 its manifest "
                           f"gives (damaged or altered); {_REDO}.")


def extract_member(archive: zipfile.ZipFile, entry: dict[str, Any], folder: Path, label: str) -> Path:
    """Copy one member into a temporary file in ``folder`` and check it; return that file (the caller renames it).

    Checked: its size (while streaming: never more than the manifest's size is written) and
    SHA-256 against the manifest ``entry``, then that it is a cache file of this schema whose
    contents give its key and name. On failure the temporary file is removed and
    :class:`ArchiveError` names the member and the archive (``label``).
    """
    fd, name = tempfile.mkstemp(prefix=f".{entry['file']}.", suffix=".tmp", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as dst:
            _stream_member(archive, entry, dst, label)
        _check_member(tmp, entry, label)
        os.chmod(tmp, 0o644)
        return tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_member(tmp: Path, entry: dict[str, Any], label: str) -> None:
    """ArchiveError unless the extracted file is a cache file of this schema with the entry's key, name and model."""
    try:
        blob = read_model_file(tmp, expected_key=entry["key"])
    except CacheFileError as err:
        raise ArchiveError(f"{label}: member {entry['file']} is not a usable cache file ({err}); {_REDO}.") from err
    if (blob["name"], blob["model"]) != (entry["name"], entry["model"]):
        raise ArchiveError(f"{label}: member {entry['file']} holds {blob['model']} {blob['name']!r}, not what its "
                           f"manifest says ({entry['model']} {entry['name']!r}); {_REDO}.")


def _check_free_space(folder: Path, needed: int, label: str) -> None:
    """ArchiveError unless the file system of ``folder`` (or of its nearest existing parent) has ``needed`` bytes
    free."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise ArchiveError(f"{label}: its models need {_mb(needed)} in {folder}, but only {_mb(free)} "
                           "are free there; free some space (or use another cache with --cache / AECORE_CACHE).")


# ----------------------------------------------------------------------------- import

def import_pin(sha256: str | None) -> Pin | None:
    """The pin an import checks: ``sha256`` (``--sha256``) if given, else ``aecore: weights_sha256:`` of the book's
    ``_config.yml`` (:func:`aecore.config.book_weights_sha256`), else None."""
    if sha256:
        return check_sha256(sha256, "--sha256"), "--sha256"
    book_pin = book_weights_sha256()
    return None if book_pin is None else (book_pin, "_config.yml (aecore: weights_sha256:)")


def import_archive(archive: Path, cache: Path | str | None = None, *, pin: Pin | None = None) -> dict[str, list[str]]:
    """Check ``archive`` whole, then add the models the cache lacks to its models folder.

    ``pin`` (``(sha256 hex, where it is set)``, e.g. from :func:`import_pin`) is checked
    against the whole file first; without one, a warning says that the archive's contents are
    unverified. Returns ``{"added": [...], "unchanged": [...], "kept": [...]}`` (file names):
    a file already present with the same content is left alone, and one with *other* content
    is never replaced -- it is kept, and listed under ``"kept"`` (a conflict to resolve by hand).

    All or nothing: the layout, sizes and manifest, every member's size and SHA-256 (and, for
    the members to add, that they are cache files of their key), every target name (a folder
    there is refused) and the free space are checked before anything is written; any failure
    raises :class:`ArchiveError` and leaves no file, temporary or not. The notebooks the
    manifest lists join the cache's usage record.
    """
    archive, folder = Path(archive), models_dir(cache)
    if pin is not None:
        check_pin(archive, pin, str(archive))
    else:
        message = unverified_message(str(archive))
        warn_once((str(archive), "unpinned"), message[0].upper() + message[1:])
    with open_archive(archive) as (opened, entries):
        plan = _plan(entries, folder, str(archive))
        for entry in entries:
            if plan[entry["file"]] != "added":  # checked too, though nothing of it is written
                _stream_member(opened, entry, None, str(archive))
        _check_free_space(folder, sum(e["bytes"] for e in entries if plan[e["file"]] == "added"), str(archive))
        try:
            staged = _stage(opened, [e for e in entries if plan[e["file"]] == "added"], folder, str(archive))
            _commit(staged, folder, str(archive))
        except OSError as err:  # a full disk, no permission: nothing was written (see _stage, _commit)
            raise ArchiveError(f"cannot write the models of {archive} into {folder} ({err}).") from err
    result: dict[str, list[str]] = {"added": [], "unchanged": [], "kept": []}
    for entry in entries:
        result[plan[entry["file"]]].append(entry["file"])
    add_usage(folder, {e["file"]: e["notebooks"] for e in entries if e["notebooks"]})
    return result


def _plan(entries: list[dict[str, Any]], folder: Path, label: str) -> dict[str, str]:
    """What happens to each member (file name -> ``"added"``, ``"unchanged"`` or ``"kept"``), from what the cache
    holds under its name; ArchiveError when a name is taken by a folder or another non-file."""
    plan = {}
    for entry in entries:
        target = folder / entry["file"]
        if (target.is_symlink() and not target.exists()) or (target.exists() and not target.is_file()):
            what = "a folder" if target.is_dir() else "not a regular file"
            raise ArchiveError(f"{label}: {target} is {what}, where the archive's model {entry['file']} would go. Move "
                               "it away, then import again.")
        digest = _file_sha256(target)
        plan[entry["file"]] = "added" if digest is None else "unchanged" if digest == entry["sha256"] else "kept"
    return plan


def _stage(archive: zipfile.ZipFile, entries: list[dict[str, Any]], folder: Path,
           label: str) -> list[tuple[dict[str, Any], Path]]:
    """Extract and check every member of ``entries`` into temporary files in ``folder``: [(entry, temporary file)].

    On any failure every temporary file is removed, and the folder too if this made it.
    """
    made = not folder.exists()
    staged: list[tuple[dict[str, Any], Path]] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            staged.append((entry, extract_member(archive, entry, folder, label)))
        return staged
    except BaseException:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)
        if made:
            with suppress(OSError):
                folder.rmdir()
        raise


def _commit(staged: list[tuple[dict[str, Any], Path]], folder: Path, label: str) -> None:
    """Give each staged temporary file its name, never replacing a file; on any failure remove the files added
    so far. The temporary files are gone afterwards, in every case."""
    added: list[Path] = []
    try:
        for entry, tmp in staged:
            target = folder / entry["file"]
            try:
                _link_new(tmp, target)
            except FileExistsError as err:
                raise ArchiveError(f"{label}: {target} appeared while importing (another notebook trained or "
                                   "fetched it?); nothing was imported. Run the import again.") from err
            added.append(target)
    except BaseException:
        for target in added:
            target.unlink(missing_ok=True)
        raise
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)


# What os.link raises on a file system without hard links (FAT, some network shares).
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}


def _link_new(tmp: Path, target: Path) -> None:
    """Make ``target`` hold ``tmp``'s file; FileExistsError if ``target`` exists (it is never replaced)."""
    try:
        os.link(tmp, target)  # atomic, and fails if the name is taken
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno not in _NO_HARD_LINKS:
            raise
        if target.exists() or target.is_symlink():
            raise FileExistsError(str(target)) from None
        os.replace(tmp, target)


def _file_sha256(path: Path) -> str | None:
    """SHA-256 hex digest of a file, None if there is no such file."""
    try:
        return file_digest(path, "sha256")
    except FileNotFoundError:
        return None


# ----------------------------------------------------------------------------- the AECORE_WEIGHTS source

def fetch_into_cache(path: Path, key: str, *, progress: bool = True) -> bool:
    """Put the ``AECORE_WEIGHTS`` archive's model file ``path.name`` (key ``key``) at ``path``; return whether it did.

    False without a source, or when the source cannot be fetched or read, does not match its
    pin (:func:`aecore.config.weights_sha256`), is malformed in any way, lacks that file, or
    its member fails a check (size, SHA-256, schema, key): each problem is warned about once
    per process, and the caller trains the model instead (an archive never makes this
    raise). An unpinned source is used after one warning that it is unverified. A URL is
    downloaded once into ``<cache>/weights/`` (:func:`download`).
    """
    source = weights_source()
    if source is None:
        return False
    pin = weights_sha256()
    archive = source if isinstance(source, Path) else download(source, progress=progress, pin=pin)
    entries = None if archive is None else _source_entries(archive, str(source), pin)
    if archive is None or entries is None:
        return False
    entry = next((e for e in entries if e["file"] == path.name and e["key"] == key), None)
    again = "" if archive == source else f" (Delete its downloaded copy {archive} to download it again.)"
    if entry is None:
        warn_once((str(source), "missing"), (
            f"AECORE_WEIGHTS: the weights archive {source} holds no {path.name}, so it is trained here (other models "
            "it lacks are trained too, without more warnings). An archive only holds the models of the settings it "
            f"was built with: AECORE_PROFILE, AECORE_SEED, AECORE_DOGS, the data and the aecore version.{again}"))
        return False
    try:
        with zipfile.ZipFile(archive) as opened:
            _check_free_space(path.parent, entry["bytes"], str(source))
            os.replace(extract_member(opened, entry, path.parent, str(source)), path)
    except Exception as err:  # whatever an archive does, the model is trained instead
        problem = str(err).rstrip(".") if isinstance(err, ArchiveError) else f"{type(err).__name__}: {err}"
        warn_once((str(source), path.name), f"AECORE_WEIGHTS: {problem}; {path.name} is trained here "
                   f"instead.{again}")
        return False
    return True


def _source_entries(archive: Path, label: str, pin: Pin | None) -> list[dict[str, Any]] | None:
    """The checked manifest entries of the source archive (remembered while the file is unchanged), after checking
    it against ``pin`` (or warning once that it is unverified); None (after a warning, once per process) when it
    cannot be used."""
    try:
        stat = archive.stat()
        identity = (str(archive), stat.st_size, stat.st_mtime_ns, None if pin is None else pin[0])
        if identity not in _entries_of:
            if pin is not None:
                check_pin(archive, pin, label)
            else:
                warn_once((label, "unpinned"), f"AECORE_WEIGHTS: {unverified_message(label)}")
            with open_archive(archive, label) as (_, entries):
                _entries_of[identity] = entries
        return _entries_of[identity]
    except Exception as err:  # whatever an archive does, the models are trained instead
        problem = str(err) if isinstance(err, ArchiveError) else \
            f"{label} cannot be read ({type(err).__name__}: {err})."
        warn_once((label, "archive"), f"AECORE_WEIGHTS: {problem} Models missing from the cache are trained here "
                  "instead.")
        return None


def download(url: str, *, progress: bool = True, pin: Pin | None = None) -> Path | None:
    """The local copy of the weights archive at ``url``, downloaded on first use; None (after one warning) if it
    cannot be fetched, does not match ``pin`` or is not a weights archive.

    The copy is ``<cache>/weights/weights-<hash of the URL>.zip``, written atomically under a
    lock (so parallel notebooks download it once) and kept only if it is a zip with a valid
    manifest that matches ``pin`` (a copy kept from before that does not match the pin is
    downloaded again); its members are checked against their SHA-256 when they are used.
    """
    if url not in _downloads:
        target = cache_root() / "weights" / f"weights-{hashlib.sha256(url.encode()).hexdigest()[:16]}.zip"
        try:
            with file_lock(target.with_name(target.name + ".lock")):
                if not target.exists() or (pin is not None and archive_sha256(target) != pin[0]):
                    _fetch(url, target, progress, pin)
            _downloads[url] = target
        except (OSError, http.client.HTTPException, ArchiveError) as err:  # URLError and timeouts are OSErrors
            problem = str(err).rstrip(".") if isinstance(err, ArchiveError) else \
                f"cannot download the weights archive {url} ({type(err).__name__}: {err})"
            warn_once((url, "download"), (
                f"AECORE_WEIGHTS: {problem}; models missing from the cache are trained here instead. Check the address "
                "and the connection, or download the archive yourself and set AECORE_WEIGHTS to its path."))
            _downloads[url] = None
    return _downloads[url]


def _fetch(url: str, target: Path, progress: bool, pin: Pin | None = None) -> None:
    """Download ``url`` to ``target`` atomically with a progress bar; ArchiveError if it is cut short, larger than
    :data:`MAX_ARCHIVE_BYTES`, does not match ``pin`` or is no archive (then nothing is kept)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, atomic_path(target) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        too_large = f"the download is larger than {MAX_ARCHIVE_BYTES} bytes, the limit for a weights archive"
        if total is not None and total > MAX_ARCHIVE_BYTES:
            raise ArchiveError(f"{too_large} ({total} bytes announced)")
        with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                                         desc=f"Downloading {url.rsplit('/', 1)[-1]}", disable=not progress) as bar:
            for block in iter(lambda: response.read(_CHUNK), b""):
                fh.write(block)
                bar.update(len(block))
                if fh.tell() > MAX_ARCHIVE_BYTES:
                    raise ArchiveError(too_large)
        if total is not None and tmp.stat().st_size != total:
            raise ArchiveError(f"the download stopped after {tmp.stat().st_size} of {total} bytes")
        if pin is not None:
            check_pin(tmp, pin, f"what {url} sent")
        with open_archive(tmp, label=f"what {url} sent"):
            pass


def forget_sources() -> None:
    """Forget what this process learned about weights sources: downloads, manifests read, warnings given."""
    forget_warnings()
    _downloads.clear()
    _entries_of.clear()
