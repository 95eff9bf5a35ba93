"""Weights archives built to hurt: zip bombs, headers that lie, and malformed manifests. Each is refused before
anything is extracted, with the same clear ArchiveError from the command line and, through AECORE_WEIGHTS, a
warning after which fit_or_load trains (it never crashes). The bombs are measured in a fresh process."""

import hashlib
import json
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
import torch

from aecore import cache, models, objectives, train
from aecore.__main__ import main
from aecore.cache import archive as weights
from aecore.cache.archive import MANIFEST_NAME

MB = 1_000_000
MODEL_FILE = "ae-0123456789abcdef.pt"


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """No weights source, and nothing remembered about sources from another test."""
    monkeypatch.delenv("AECORE_WEIGHTS", raising=False)
    cache.forget_sources()
    yield
    cache.forget_sources()


# ----------------------------------------------------------------------------- building zips by hand

def raw_zip(path: Path, members: list[tuple[str, int, bytes, int, int]]) -> Path:
    """Write a zip file byte by byte: members are (name, method, data as stored, CRC-32, size the header declares),
    so that a header can say what the data is not."""
    out, central = bytearray(), bytearray()
    for name, method, data, crc, size in members:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out += encoded + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(encoded), 0, 0, 0, 0, 0, offset)
        central += encoded
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    path.write_bytes(bytes(out))
    return path


def deflated(byte: bytes, size: int, head: bytes = b"", tail: bytes = b"") -> tuple[bytes, int, int]:
    """A raw deflate stream of ``head + byte * size + tail`` (about a thousandth of that), its CRC-32 and its length,
    built fast: each piece is compressed on its own after a full flush, so one MiB of ``byte`` compresses to the
    same bytes every time and is compressed once."""
    def piece(data: bytes, final: bool = False) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    mib = byte * (1 << 20)
    whole, rest = divmod(size, len(mib))
    stream = piece(head) + piece(mib) * whole + piece(byte * rest + tail, final=True)
    crc = zlib.crc32(head)
    for _ in range(whole):
        crc = zlib.crc32(mib, crc)
    return stream, zlib.crc32(byte * rest + tail, crc), len(head) + size + len(tail)


def manifest(files: list[dict] | None = None, **extra) -> dict:
    """A manifest of the current format and schema listing ``files``."""
    return {"format": weights.FORMAT_NAME, "format_version": weights.FORMAT_VERSION,
            "cache_schema": cache.CACHE_SCHEMA, "aecore_version": "0", "torch_version": "0",
            "created": "2026-01-01T00:00:00+00:00", "files": files or [], **extra}


def entry(size: int, sha256: str = "0" * 64) -> dict:
    return {"file": MODEL_FILE, "name": "ae", "key": "0123456789abcdef", "model": "MLPAutoencoder", "bytes": size,
            "sha256": sha256, "seconds": 1.0, "notebooks": []}


def refused_unpinned(path: Path, cache_folder: Path, match: str) -> None:
    """Importing the unpinned ``path`` warns that it is unverified, then fails with ``match``; nothing is written."""
    with pytest.warns(UserWarning, match="is not pinned"), pytest.raises(cache.ArchiveError, match=match):
        cache.import_archive(path, cache_folder)
    assert not cache_folder.exists() or not any(cache_folder.rglob("*"))


def stored(name: str, data: bytes) -> tuple[str, int, bytes, int, int]:
    return name, 0, data, zlib.crc32(data), len(data)


def member_bomb(path: Path, size: int = 399 << 20) -> Path:
    """The issue's bomb: a 0.5 MB archive whose one model member unpacks to 418 MB of zeros, listed by its manifest."""
    stream, crc, _ = deflated(b"\0", size)
    return raw_zip(path, [stored(MANIFEST_NAME, json.dumps(manifest([entry(size)])).encode()),
                          (MODEL_FILE, 8, stream, crc, size)])


def manifest_bomb(path: Path, size: int = 440 * MB) -> Path:
    """The issue's other bomb: a manifest of 0.5 MB, compressed, that unpacks to 440 MB (a long string field)."""
    head = json.dumps(manifest(padding="<>"))[:-4].encode()  # ... "padding": "   (the string is left open)
    stream, crc, length = deflated(b" ", size - len(head) - 2, head, b'"}')
    return raw_zip(path, [(MANIFEST_NAME, 8, stream, crc, length)])


# ----------------------------------------------------------------------------- the bombs, measured

CHILD = r"""
import json, resource, signal, sys
from pathlib import Path
# A write past 64 MB fails (EFBIG) instead of filling the disk: the bound holds on every POSIX system.
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from aecore.__main__ import main

def peak_rss():
    kb_or_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb_or_bytes if sys.platform == "darwin" else kb_or_bytes * 1024

def written():
    io = Path("/proc/self/io")  # Linux: bytes this process passed to write()
    return int(io.read_text().split("wchar: ")[1].split()[0]) if io.exists() else None

results = []
for archive in sys.argv[2:]:
    rss, wrote = peak_rss(), written()
    try:
        status = main(["weights", "import", archive, "--cache", sys.argv[1]])
    except BaseException as err:
        status = f"{type(err).__name__}: {err}"
    results.append({"status": status, "rss_growth": peak_rss() - rss,
                    "written": None if wrote is None else written() - wrote})
print(json.dumps(results))
"""


def test_zip_bombs_are_refused_before_anything_lands_measured_in_a_fresh_process(tmp_path):
    """A student imports a course's archive that is a bomb: the issue's 0.5 MB archive once wrote 418 MB into the
    cache before it was refused, and its 0.5 MB compressed manifest took 440 MB of memory and was accepted."""
    bombs = [manifest_bomb(tmp_path / "manifest-bomb.zip"), member_bomb(tmp_path / "member-bomb.zip")]
    assert all(b.stat().st_size < 0.6 * MB for b in bombs)
    target = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-c", CHILD, str(target), *map(str, bombs)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest_run, member_run = json.loads(done.stdout)
    assert manifest_run["status"] == 1 and member_run["status"] == 1, done.stderr
    assert "manifest.json would unpack to 440.0 MB, over the limit of 1.0 MB" in done.stderr
    assert f"member {MODEL_FILE} would expand from 0.4 MB to 418.4 MB" in done.stderr and "zip bomb" in done.stderr
    assert done.stderr.count("Nothing was written to") == 2 and "Traceback" not in done.stderr
    for run in (manifest_run, member_run):  # generous bounds: the bombs needed 440 MB of memory and 418 MB of disk
        assert run["rss_growth"] < 40 * MB, run
        assert run["written"] is None or run["written"] < 1 * MB, run
    assert not target.exists() or not any(target.rglob("*"))


def test_a_header_that_lies_about_the_size_cannot_write_more_than_it_declares(tmp_path):
    """The zip's directory says 1,000 bytes, but the deflated data would unpack to 50 MB: at most the declared
    size is ever streamed, and the member is refused."""
    stream, _, _ = deflated(b"\0", 50 * MB)
    crc_of_declared = zlib.crc32(bytes(1000))
    liar = raw_zip(tmp_path / "liar.zip", [
        stored(MANIFEST_NAME, json.dumps(manifest([entry(1000, hashlib.sha256(bytes(1000)).hexdigest())])).encode()),
        (MODEL_FILE, 8, stream, crc_of_declared, 1000)])
    streamed = []
    original = weights.copy_hashing

    def counting(src, dst, limit=None):
        digest, size = original(src, dst, limit)
        streamed.append(size)
        return digest, size

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(weights, "copy_hashing", counting)
        refused_unpinned(liar, tmp_path / "cache", f"member {MODEL_FILE} is not a usable cache file")
    assert streamed == [1000]


# ----------------------------------------------------------------------------- malformed manifests

def deeply_nested(depth: int = 100_000) -> bytes:
    return b'{"format": "aecore-weights", "files": ' + b"[" * depth + b"]" * depth + b"}"


MALFORMED = {
    "nested 100,000 lists deep": (deeply_nested(), "manifest.json is damaged or malformed \\(nested too deeply\\)"),
    "not JSON": (b"{'format': 'aecore-weights'", "manifest.json is damaged or malformed"),
    "not UTF-8": (b'{"format": "\xff\xfe"}', "manifest.json is damaged or malformed"),
    "a JSON list": (b"[1, 2, 3]", "manifest.json is not a JSON object"),
    "an integer of 5,000 digits": (b'{"format_version": ' + b"9" * 5000 + b"}", "damaged or malformed"),
    "a format that is a deep list": (json.dumps(manifest(format=[[[["x"] * 50] * 50]])).encode(),
                                     "describes a .{1,70} archive"),
    "an entry that is a list": (json.dumps(manifest([[1, 2]])).encode(), "entry 0 has a missing or malformed file"),
    "sizes as text": (json.dumps(manifest([dict(entry(10), bytes="10")])).encode(), "malformed bytes"),
    "a negative size": (json.dumps(manifest([dict(entry(10), bytes=-1)])).encode(), "malformed bytes"),
    "notebooks that are numbers": (json.dumps(manifest([dict(entry(10), notebooks=[1])])).encode(),
                                   "malformed notebooks"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_manifest_is_the_same_clear_refusal_from_the_command_line(case, tmp_path, capsys):
    data, match = MALFORMED[case]
    path = raw_zip(tmp_path / "bad.zip", [stored(MANIFEST_NAME, data), stored(MODEL_FILE, b"x" * 10)])
    assert main(["weights", "import", str(path), "--cache", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("note: ") and "\nerror: " in err and "Traceback" not in err
    assert len(err) < 2000  # a huge field is not echoed back
    with pytest.raises(cache.ArchiveError, match=match):
        cache.import_archive(path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("method, flags, match", [(14, 0, "compressed with zip method 14"), (0, 1, "is encrypted")])
def test_members_aecore_cannot_read_are_refused(tmp_path, method, flags, match):
    path = raw_zip(tmp_path / "odd.zip", [stored(MANIFEST_NAME, json.dumps(manifest([entry(10)])).encode()),
                                          (MODEL_FILE, method, b"x" * 10, 0, 10)])
    data = bytearray(path.read_bytes())
    central = data.rfind(struct.pack("<I", 0x02014B50))
    struct.pack_into("<H", data, central + 8, flags)  # the general purpose flags of the model's directory entry
    path.write_bytes(bytes(data))
    refused_unpinned(path, tmp_path / "cache", match)


def test_a_stored_member_larger_than_the_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "MAX_MEMBER_BYTES", 100)
    path = raw_zip(tmp_path / "big.zip", [stored(MANIFEST_NAME, json.dumps(manifest([entry(200)])).encode()),
                                          stored(MODEL_FILE, bytes(200))])
    refused_unpinned(path, tmp_path / "cache", f"member {MODEL_FILE} would unpack to 0.0 MB, over the limit")


def test_an_archive_over_the_total_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "MAX_ARCHIVE_BYTES", 150)
    path = raw_zip(tmp_path / "big.zip", [stored(MANIFEST_NAME, json.dumps(manifest([entry(100)])).encode()),
                                          stored(MODEL_FILE, bytes(100))])
    refused_unpinned(path, tmp_path / "cache", "would unpack to 0.0 MB, over the limit of 0.0 MB for a weights")


# ----------------------------------------------------------------------------- through fit_or_load

def test_fit_or_load_warns_and_trains_whatever_the_source_archive_holds(dirs, tiny_images, tmp_path, monkeypatch):
    """A student's AECORE_WEIGHTS names a bad archive (a bomb, a manifest nested too deep): each notebook cell
    trains its model after one warning; none crashes (the deep manifest raised RecursionError before)."""
    bad = [member_bomb(tmp_path / "bomb.zip", size=40 << 20),
           raw_zip(tmp_path / "deep.zip", [stored(MANIFEST_NAME, deeply_nested())])]
    expected = [f"member {MODEL_FILE} would expand", "nested too deeply"]
    for i, (archive, match) in enumerate(zip(bad, expected)):
        cache.forget_sources()
        monkeypatch.setenv("AECORE_WEIGHTS", str(archive))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for latent_dim in (2, 3):
                model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=latent_dim)
                history = train.fit_or_load(f"ae{i}-{latent_dim}", model, tiny_images, None,
                                            train.TrainConfig(epochs=1, batch_size=32),
                                            loss=objectives.reconstruction_bce, device=torch.device("cpu"),
                                            progress=False)
                assert not history.from_cache
        messages = [str(w.message) for w in caught if "AECORE_WEIGHTS" in str(w.message)]
        assert len(messages) == 2 and "not pinned" in messages[0], messages  # unverified, then the refusal, once
        assert match in messages[1] and "trained here instead" in messages[1]
