"""Pretrained weights: pack the model cache into one archive, unpack it elsewhere, or fetch models from it on demand.

A weights archive is a zip file (stored, not compressed: weights hardly compress) holding
cache files (see :mod:`aecore.cache.model_files`) under their own names, and ``manifest.json``::

    {"format": "aecore-weights", "format_version": 1, "cache_schema": 3,
     "aecore_version": "0.1.0", "torch_version": "2.5.1", "created": "2026-01-31T12:00:00+00:00",
     "files": [{"file": "mnist-ae-2d-<key>.pt", "name": "mnist-ae-2d", "key": "<key>",
                "model": "MLPAutoencoder", "bytes": 2345678, "sha256": "<64 hex digits>",
                "seconds": 93.2, "notebooks": ["01_mnist_autoencoder"]}, ...]}

``python -m aecore weights list|export|import`` (:mod:`aecore.cache.cli`) is its command line.

An archive is checked before anything is taken from it: it must be a zip with this manifest
(same format version and cache schema), every member listed and nothing else, plain file
names, and each member must have its listed size and SHA-256 and be a cache file whose
contents give its key (:func:`aecore.cache.model_files.read_model_file`).

:func:`aecore.train.fit_or_load` takes a model missing from the cache from the
``AECORE_WEIGHTS`` archive (:func:`aecore.config.weights_source`) with :func:`fetch_into_cache`.
``export --notebook`` packs the models that the usage record (:mod:`aecore.cache.usage`) lists
for one notebook.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import os
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

from ..config import cache_root, weights_source
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
_ENTRY_TYPES: dict[str, Any] = {"file": str, "name": str, "key": str, "model": str, "bytes": int, "sha256": str,
                                "seconds": (int, float), "notebooks": list}
_UNSAFE_NAME_CHARS = "/\\:\0"
_REDO = "download or export the archive again (python -m aecore weights export FILE)"

# What this process has learned about the AECORE_WEIGHTS source (see forget_sources).
_downloads: dict[str, Path | None] = {}
_entries_of: dict[tuple[str, int, int], list[dict[str, Any]]] = {}


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


def copy_hashing(src: IO[bytes], dst: IO[bytes]) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` in chunks; return the SHA-256 hex digest and the byte count of what was copied."""
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: src.read(_CHUNK), b""):
        digest.update(block)
        dst.write(block)
        size += len(block)
    return digest.hexdigest(), size


# ----------------------------------------------------------------------------- reading and checking an archive

@contextmanager
def open_archive(path: Path, label: str | None = None) -> Iterator[tuple[zipfile.ZipFile, list[dict[str, Any]]]]:
    """Open a weights archive and check its layout and manifest (not yet the members' bytes): yield (zip, entries).

    Raises :class:`ArchiveError` naming the archive (``label``, default its path) and the
    problem: not a zip (or truncated), no manifest, another format, format version or cache
    schema, a malformed entry, a member listed but missing or present but not listed, or a
    member name that is not a plain file name.
    """
    label = label or str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
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
    return entries


def _read_manifest(archive: zipfile.ZipFile, label: str) -> dict[str, Any]:
    """The parsed ``manifest.json`` of an open archive; ArchiveError when it is damaged or not a JSON object."""
    try:
        manifest = json.loads(archive.read(MANIFEST_NAME))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ArchiveError(f"{label}: {MANIFEST_NAME} is damaged ({err}); {_REDO}.") from err
    if not isinstance(manifest, dict):
        raise ArchiveError(f"{label}: {MANIFEST_NAME} is not a JSON object; {_REDO}.")
    return manifest


def _check_header(manifest: dict[str, Any], label: str) -> None:
    """ArchiveError unless the manifest is of this format, format version and cache schema, and lists its files."""
    if manifest.get("format") != FORMAT_NAME:
        raise ArchiveError(f"{label}: {MANIFEST_NAME} describes a {manifest.get('format')!r} archive, not an "
                           f"{FORMAT_NAME!r} one; use an archive made by python -m aecore weights export.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"{label} has archive format version {manifest.get('format_version')!r}; this aecore reads "
                           f"version {FORMAT_VERSION}. Use the aecore version that made it, or export it again with "
                           "this one.")
    if manifest.get("cache_schema") != CACHE_SCHEMA:
        raise ArchiveError(f"{label} holds models of cache schema {manifest.get('cache_schema')!r}; this aecore uses "
                           f"schema {CACHE_SCHEMA}, so it would never load them. Get an archive built with this "
                           "aecore version (make book && make weights), or let the models train.")
    if not isinstance(manifest.get("files"), list):
        raise ArchiveError(f"{label}: {MANIFEST_NAME} has no list of files; {_REDO}.")


def _checked_entry(entry: Any, index: int, label: str) -> dict[str, Any]:
    """One manifest file entry, after checking its fields' types, its file name and its checksum's form."""
    if not isinstance(entry, dict):
        entry = {}
    wrong = [k for k, kind in _ENTRY_TYPES.items()
             if not isinstance(entry.get(k), kind) or isinstance(entry.get(k), bool)]
    if not wrong and not all(isinstance(n, str) for n in entry["notebooks"]):
        wrong = ["notebooks"]
    if not wrong and not (entry["file"] == model_file_name(entry["name"], entry["key"])
                          and _is_plain_name(entry["file"])):
        wrong = ["file"]
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


def extract_member(archive: zipfile.ZipFile, entry: dict[str, Any], folder: Path, label: str) -> Path:
    """Copy one member into a temporary file in ``folder`` and check it; return that file (the caller renames it).

    Checked: its size and SHA-256 against the manifest ``entry``, then that it is a cache
    file of this schema whose contents give its key and name. On failure the temporary
    file is removed and :class:`ArchiveError` names the member and the archive (``label``).
    """
    fd, name = tempfile.mkstemp(prefix=f".{entry['file']}.", suffix=".tmp", dir=folder)
    tmp = Path(name)
    try:
        try:
            with os.fdopen(fd, "wb") as dst, archive.open(entry["file"]) as src:
                sha256, size = copy_hashing(src, dst)
        except (zipfile.BadZipFile, EOFError) as err:  # e.g. "Bad CRC-32": bytes changed inside the zip
            raise ArchiveError(f"{label}: member {entry['file']} is damaged ({err}); {_REDO}.") from err
        if (size, sha256) != (entry["bytes"], entry["sha256"]):
            raise ArchiveError(f"{label}: member {entry['file']} does not match the size and SHA-256 its manifest "
                               f"gives (damaged or altered); {_REDO}.")
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


# ----------------------------------------------------------------------------- import

def import_archive(archive: Path, cache: Path | str | None = None) -> dict[str, list[str]]:
    """Check every member of ``archive``, then unpack them into the cache's models folder.

    Returns ``{"added": [...], "replaced": [...], "unchanged": [...]}`` (file names). Nothing
    is written unless every member checks out (:class:`ArchiveError` otherwise); a file
    already present with the same content is left alone, any other is replaced atomically.
    The notebooks the manifest lists join the cache's usage record.
    """
    folder = models_dir(cache)
    with open_archive(Path(archive)) as (opened, entries):
        staged = _stage(opened, entries, folder, str(archive))
    result: dict[str, list[str]] = {"added": [], "replaced": [], "unchanged": []}
    for entry, tmp in staged:
        target = folder / entry["file"]
        if _file_sha256(target) == entry["sha256"]:
            tmp.unlink()
            result["unchanged"].append(entry["file"])
        else:
            result["replaced" if target.exists() else "added"].append(entry["file"])
            os.replace(tmp, target)
    add_usage(folder, {e["file"]: e["notebooks"] for e in entries if e["notebooks"]})
    return result


def _stage(archive: zipfile.ZipFile, entries: list[dict[str, Any]], folder: Path,
           label: str) -> list[tuple[dict[str, Any], Path]]:
    """Extract and check every member into temporary files in ``folder``: [(entry, temporary file)].

    On any failure every temporary file is removed, and the folder too if this made it.
    """
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[dict[str, Any], Path]] = []
    try:
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


def _file_sha256(path: Path) -> str | None:
    """SHA-256 hex digest of a file, None if there is no such file."""
    try:
        return file_digest(path, "sha256")
    except FileNotFoundError:
        return None


# ----------------------------------------------------------------------------- the AECORE_WEIGHTS source

def fetch_into_cache(path: Path, key: str, *, progress: bool = True) -> bool:
    """Put the ``AECORE_WEIGHTS`` archive's model file ``path.name`` (key ``key``) at ``path``; return whether it did.

    False without a source, or when the source cannot be fetched or read, lacks that file, or
    its member fails a check (size, SHA-256, schema, key): each problem is warned about once
    per process, and the caller trains the model instead. A URL is downloaded once into
    ``<cache>/weights/`` (:func:`download`).
    """
    source = weights_source()
    if source is None:
        return False
    archive = source if isinstance(source, Path) else download(source, progress=progress)
    entries = None if archive is None else _source_entries(archive, str(source))
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
            os.replace(extract_member(opened, entry, path.parent, str(source)), path)
    except (ArchiveError, zipfile.BadZipFile, OSError) as err:
        warn_once((str(source), path.name), f"AECORE_WEIGHTS: {str(err).rstrip('.')}; {path.name} is trained here "
                   f"instead.{again}")
        return False
    return True


def _source_entries(archive: Path, label: str) -> list[dict[str, Any]] | None:
    """The checked manifest entries of the source archive (remembered while the file is unchanged), None after a
    warning (once per process) when it cannot be used."""
    try:
        stat = archive.stat()
        identity = (str(archive), stat.st_size, stat.st_mtime_ns)
        if identity not in _entries_of:
            with open_archive(archive, label) as (_, entries):
                _entries_of[identity] = entries
        return _entries_of[identity]
    except (ArchiveError, OSError) as err:
        warn_once((label, "archive"), f"AECORE_WEIGHTS: {err} Models missing from the cache are trained here instead.")
        return None


def download(url: str, *, progress: bool = True) -> Path | None:
    """The local copy of the weights archive at ``url``, downloaded on first use; None (after one warning) if it
    cannot be fetched or is not a weights archive.

    The copy is ``<cache>/weights/weights-<hash of the URL>.zip``, written atomically under a
    lock (so parallel notebooks download it once) and kept only if it is a zip with a valid
    manifest; its members are checked against their SHA-256 when they are used.
    """
    if url not in _downloads:
        target = cache_root() / "weights" / f"weights-{hashlib.sha256(url.encode()).hexdigest()[:16]}.zip"
        try:
            with file_lock(target.with_name(target.name + ".lock")):
                if not target.exists():
                    _fetch(url, target, progress)
            _downloads[url] = target
        except (OSError, http.client.HTTPException, ArchiveError) as err:  # URLError and timeouts are OSErrors
            problem = str(err).rstrip(".") if isinstance(err, ArchiveError) else \
                f"cannot download the weights archive {url} ({type(err).__name__}: {err})"
            warn_once((url, "download"), (
                f"AECORE_WEIGHTS: {problem}; models missing from the cache are trained here instead. Check the address "
                "and the connection, or download the archive yourself and set AECORE_WEIGHTS to its path."))
            _downloads[url] = None
    return _downloads[url]


def _fetch(url: str, target: Path, progress: bool) -> None:
    """Download ``url`` to ``target`` atomically with a progress bar; ArchiveError if it is cut short or no archive."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, atomic_path(target) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                                         desc=f"Downloading {url.rsplit('/', 1)[-1]}", disable=not progress) as bar:
            for block in iter(lambda: response.read(_CHUNK), b""):
                fh.write(block)
                bar.update(len(block))
        if total is not None and tmp.stat().st_size != total:
            raise ArchiveError(f"the download stopped after {tmp.stat().st_size} of {total} bytes")
        with open_archive(tmp, label=f"what {url} sent"):
            pass


def forget_sources() -> None:
    """Forget what this process learned about weights sources: downloads, manifests read, warnings given."""
    forget_warnings()
    _downloads.clear()
    _entries_of.clear()
