"""Pretrained weights (aecore.cache.archive, python -m aecore weights): list, export, import, the AECORE_WEIGHTS
source, and archives that must be refused. Every model is a tiny MLP autoencoder trained here for one epoch."""

import hashlib
import http.server
import json
import os
import re
import runpy
import shutil
import socket
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import aecore
from aecore import cache, config, models, objectives, train
from aecore.__main__ import main
from aecore.cache import archive as weights
from aecore.cache.archive import MANIFEST_NAME
from aecore.train import TrainConfig

CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=1, batch_size=32)


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """No notebook, no weights source, and nothing remembered about sources from another test."""
    monkeypatch.delenv("AECORE_NOTEBOOK", raising=False)
    monkeypatch.delenv("AECORE_WEIGHTS", raising=False)
    config.set_notebook(None)
    cache.forget_sources()
    yield
    config.set_notebook(None)
    cache.forget_sources()


def small_ae(latent_dim):
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=latent_dim)


def fit(name, latent_dim, data, notebook=None):
    """fit_or_load a tiny autoencoder as ``notebook`` would; return (model, history)."""
    config.set_notebook(notebook)
    model = small_ae(latent_dim)
    history = train.fit_or_load(name, model, data, None, CONFIG, loss=objectives.reconstruction_bce, device=CPU,
                                progress=False)
    config.set_notebook(None)
    return model, history


def forbid_training(monkeypatch):
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("trained instead of loading"))


def everything_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path -> bytes), to show that nothing was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def trained(dirs, tiny_images):
    """A cache with two models: 'ae-a' used by notebooks 01_first and 02_second, 'ae-b' used by 02_second."""
    fit("ae-a", 2, tiny_images, "01_first")
    fit("ae-b", 3, tiny_images, "02_second")
    assert fit("ae-a", 2, tiny_images, "02_second")[1].from_cache
    folder = dirs[1] / "models"
    return {p.name.rpartition("-")[0]: p for p in cache.cached_files(folder)}


@pytest.fixture
def archive(trained, tmp_path):
    """The cache of ``trained`` exported to one archive."""
    path = tmp_path / "out" / "aecore-weights.zip"
    assert main(["weights", "export", str(path)]) == 0
    return path


def use_new_cache(tmp_path, monkeypatch, name="other-cache") -> Path:
    """Point AECORE_CACHE at a new, empty folder (as on a student's machine); return it."""
    folder = tmp_path / name
    monkeypatch.setenv("AECORE_CACHE", str(folder))
    return folder


def rewrite_archive(source: Path, target: Path, *, manifest=None, members=None, extra=()):
    """Copy an archive, with another manifest (a dict), only the members given ({name: bytes}), plus ``extra``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        dst.writestr(MANIFEST_NAME, json.dumps(manifest) if manifest else src.read(MANIFEST_NAME))
        for name in src.namelist():
            if name != MANIFEST_NAME and (members is None or name in members):
                dst.writestr(name, (members or {}).get(name, src.read(name)))
        for name, data in extra:
            dst.writestr(name, data)
    return target


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(MANIFEST_NAME))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pinned(path: Path) -> str:
    """The AECORE_WEIGHTS value a course publishes for ``path``: its path with its SHA-256 pinned."""
    return f"{path}#sha256={sha256_of(path)}"


def forge(archive: Path, member: Path, target: Path) -> Path:
    """A copy of ``archive`` whose ``member`` holds zeroed weights, with a manifest that matches them (the issue's
    forged archive: the key is unchanged, since it describes the run, not the weights)."""
    blob = cache.read_model_file(member)
    blob["state_dict"] = {k: torch.zeros_like(v) for k, v in blob["state_dict"].items()}
    torch.save(blob, target.with_suffix(".pt"))
    forged = target.with_suffix(".pt").read_bytes()
    manifest = manifest_of(archive)
    entry = next(e for e in manifest["files"] if e["file"] == member.name)
    entry.update(bytes=len(forged), sha256=hashlib.sha256(forged).hexdigest())
    with zipfile.ZipFile(archive) as z:
        members = {name: z.read(name) for name in z.namelist() if name != MANIFEST_NAME}
    return rewrite_archive(archive, target, manifest=manifest, members={**members, member.name: forged})


# ----------------------------------------------------------------------------- usage record and list

def test_fit_or_load_records_which_notebooks_used_each_model(trained, tiny_images):
    usage = json.loads((trained["ae-a"].parent / "usage.json").read_text())
    assert usage == {trained["ae-a"].name: ["01_first", "02_second"], trained["ae-b"].name: ["02_second"]}
    fit("ae-c", 4, tiny_images)  # no current notebook: nothing recorded
    assert json.loads((trained["ae-a"].parent / "usage.json").read_text()) == usage


def test_list_shows_every_model_and_names_what_is_wrong_with_unusable_files(trained, capsys):
    folder = trained["ae-a"].parent
    (folder / "junk-0123456789abcdef.pt").write_bytes(b"not a model")
    (folder / "renamed-0123456789abcdef.pt").write_bytes(trained["ae-b"].read_bytes())
    rows = {row.get("name", row["file"]): row for row in cache.list_models()}
    assert rows["ae-a"]["notebooks"] == ["01_first", "02_second"] and rows["ae-b"]["model"] == "MLPAutoencoder"
    assert rows["ae-a"]["bytes"] == trained["ae-a"].stat().st_size and rows["ae-a"]["seconds"] > 0
    assert "cannot be read" in rows["junk-0123456789abcdef.pt"]["problem"]
    assert "expected 0123456789abcdef" in rows["renamed-0123456789abcdef.pt"]["problem"]

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    key_a = trained["ae-a"].name.removesuffix(".pt").rpartition("-")[2]
    assert "ae-a  " in out and key_a in out and "01_first, 02_second" in out and "MLPAutoencoder" in out
    assert "UNUSABLE  junk-0123456789abcdef.pt" in out and "2 models in" in out and "2 unusable files" in out


def test_list_of_another_cache_folder(trained, tmp_path, capsys):
    assert main(["weights", "list", "--cache", str(tmp_path / "empty")]) == 0
    assert "no cached models" in capsys.readouterr().out


# ----------------------------------------------------------------------------- export

def test_export_packs_every_model_with_a_manifest_of_sizes_checksums_and_notebooks(trained, archive):
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == sorted([MANIFEST_NAME, trained["ae-a"].name, trained["ae-b"].name])
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        manifest = json.loads(z.read(MANIFEST_NAME))
        assert z.read(trained["ae-a"].name) == trained["ae-a"].read_bytes()
    assert (manifest["format"], manifest["format_version"], manifest["cache_schema"]) == ("aecore-weights", 1, 4)
    assert manifest["torch_version"] == torch.__version__ and manifest["aecore_version"] and manifest["created"]
    entry = {e["name"]: e for e in manifest["files"]}["ae-a"]
    blob = cache.read_model_file(trained["ae-a"])
    assert entry == {"file": trained["ae-a"].name, "name": "ae-a", "key": blob["key"], "model": "MLPAutoencoder",
                     "bytes": trained["ae-a"].stat().st_size,
                     "sha256": hashlib.sha256(trained["ae-a"].read_bytes()).hexdigest(),
                     "seconds": blob["history"]["seconds"], "notebooks": ["01_first", "02_second"]}
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]  # no temporary file left


def test_export_of_one_notebook_takes_only_the_models_it_used(trained, tmp_path, capsys):
    path = tmp_path / "first.zip"
    assert main(["weights", "export", str(path), "--notebook", "01_first.ipynb"]) == 0
    assert [e["name"] for e in manifest_of(path)["files"]] == ["ae-a"]
    assert "1 model," in capsys.readouterr().out
    assert main(["weights", "export", str(tmp_path / "none.zip"), "--notebook", "03_never_run"]) == 1
    err = capsys.readouterr().err
    assert "no models are recorded for notebook '03_never_run'" in err and "01_first, 02_second" in err
    assert "Run the notebook once" in err and not (tmp_path / "none.zip").exists()


def test_export_refuses_an_empty_selection_and_leaves_out_unusable_files(dirs, tmp_path, tiny_images, capsys):
    target = tmp_path / "w.zip"
    assert main(["weights", "export", str(target)]) == 1
    assert "nothing to export" in capsys.readouterr().err and not target.exists()
    fit("ae-a", 2, tiny_images)
    (dirs[1] / "models" / "junk-0123456789abcdef.pt").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="left out junk-0123456789abcdef.pt"):
        manifest = cache.export_archive(target)
    assert [e["name"] for e in manifest["files"]] == ["ae-a"]


# ----------------------------------------------------------------------------- import

def test_round_trip_export_import_then_fit_or_load_loads_without_training(trained, archive, tiny_images, tmp_path,
                                                                          monkeypatch, capsys):
    original, _ = fit("ae-a", 2, tiny_images)
    new_cache = use_new_cache(tmp_path, monkeypatch)
    assert main(["weights", "import", str(archive), "--sha256", sha256_of(archive)]) == 0
    captured = capsys.readouterr()
    assert "2 added, 0 unchanged, 0 kept" in captured.out and captured.err == ""
    for path in trained.values():
        assert (new_cache / "models" / path.name).read_bytes() == path.read_bytes()
    usage = json.loads((new_cache / "models" / "usage.json").read_text())
    assert usage[trained["ae-b"].name] == ["02_second"]

    forbid_training(monkeypatch)
    model, history = fit("ae-a", 2, tiny_images)
    assert isinstance(history, train.History) and history.from_cache and history.seconds > 0
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), original.parameters()))
    assert cache.import_archive(archive, pin=(sha256_of(archive), "test")) == {
        "added": [], "unchanged": sorted(p.name for p in trained.values()), "kept": []}


def test_import_never_replaces_a_file_of_other_content_and_names_it(trained, archive, capsys):
    trained["ae-a"].write_bytes(b"damaged")
    before = trained["ae-b"].stat().st_mtime_ns
    assert main(["weights", "import", str(archive), "--sha256", sha256_of(archive)]) == 0
    captured = capsys.readouterr()
    assert "0 added, 1 unchanged, 1 kept (differing, not replaced)" in captured.out
    assert f"note: kept {trained['ae-a']}: the cache's file differs from the archive's copy" in captured.err
    assert "Delete the cache's file and import again" in captured.err
    assert trained["ae-a"].read_bytes() == b"damaged" and trained["ae-b"].stat().st_mtime_ns == before
    trained["ae-a"].unlink()  # as the note says: then the archive's copy comes in
    assert cache.import_archive(archive, pin=(sha256_of(archive), "test"))["added"] == [trained["ae-a"].name]
    assert cache.read_model_file(trained["ae-a"])["name"] == "ae-a"


def test_a_forged_archive_never_replaces_the_genuine_model(trained, archive, tiny_images, tmp_path, monkeypatch,
                                                          capsys):
    """The issue's forgery: an archive of zeroed weights whose own manifest matches them imported with "1 replaced",
    and every later session loaded the zeros. Now the genuine model is kept, and loads."""
    genuine = trained["ae-a"].read_bytes()
    forged = forge(archive, trained["ae-a"], tmp_path / "forged.zip")
    assert main(["weights", "import", str(forged)]) == 0
    captured = capsys.readouterr()
    assert "1 kept" in captured.out and f"note: kept {trained['ae-a']}" in captured.err
    assert "is not pinned, so its contents are unverified" in captured.err
    assert trained["ae-a"].read_bytes() == genuine
    cache.forget_sources()  # a later session
    forbid_training(monkeypatch)
    model, history = fit("ae-a", 2, tiny_images)
    assert history.from_cache and all(p.abs().sum() > 0 for p in model.parameters())


def test_a_pinned_import_refuses_an_archive_with_another_hash_naming_both(trained, archive, tmp_path, monkeypatch,
                                                                          capsys):
    """A course publishes its archive's SHA-256; a forged copy (its manifest consistent) is refused whole, whether
    the pin comes from --sha256 or from _config.yml."""
    forged = forge(archive, trained["ae-a"], tmp_path / "forged.zip")
    refused(forged, f"has SHA-256 {sha256_of(forged)}, but --sha256 pins {sha256_of(archive)}", tmp_path, monkeypatch,
            capsys, "--sha256", sha256_of(archive))
    book = tmp_path / "_config.yml"
    book.write_text(f"title: A course\naecore:\n  weights_sha256: {sha256_of(archive)}\n")
    monkeypatch.setattr(config, "BOOK_CONFIG", book)
    refused(forged, "but _config.yml \\(aecore: weights_sha256:\\) pins", tmp_path, monkeypatch, capsys)
    assert main(["weights", "import", str(archive), "--cache", str(tmp_path / "fresh")]) == 0  # the genuine one
    assert "2 added" in capsys.readouterr().out
    book.write_text("aecore:\n  weights_sha256: not-a-hash\n")
    assert main(["weights", "import", str(archive)]) == 1
    assert "aecore: weights_sha256: in" in capsys.readouterr().err


def test_import_checks_every_target_name_before_writing_anything(trained, archive, tmp_path, monkeypatch, capsys):
    """The issue: one target name was a folder, so the import wrote one model and not the other, and left a temp
    file, though the README says the archive is checked before anything is written."""
    new_cache = use_new_cache(tmp_path, monkeypatch)
    (new_cache / "models" / trained["ae-b"].name).mkdir(parents=True)
    assert main(["weights", "import", str(archive), "--sha256", sha256_of(archive)]) == 1
    err = capsys.readouterr().err
    assert f"{new_cache / 'models' / trained['ae-b'].name} is a folder, where the archive's model" in err
    assert "Move it away, then import again" in err and "Nothing was written" in err
    assert sorted(p.name for p in (new_cache / "models").iterdir()) == [trained["ae-b"].name]  # only the folder


def test_import_leaves_nothing_behind_when_writing_fails_half_way(trained, archive, tmp_path, monkeypatch, capsys):
    new_cache = use_new_cache(tmp_path, monkeypatch)
    calls, link = [], os.link

    def failing_link(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        link(source, target)

    monkeypatch.setattr(weights.os, "link", failing_link)
    assert main(["weights", "import", str(archive), "--sha256", sha256_of(archive)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert len(calls) == 2 and everything_under(new_cache) == {}


def test_import_refuses_an_archive_larger_than_the_free_space(archive, tmp_path, monkeypatch, capsys):
    use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setattr(weights.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    assert main(["weights", "import", str(archive), "--sha256", sha256_of(archive)]) == 1
    assert "but only 0.0 MB are free there" in capsys.readouterr().err


def test_export_prints_the_sha256_to_publish_as_the_pin(trained, tmp_path, capsys):
    path = tmp_path / "aecore-weights.zip"
    assert main(["weights", "export", str(path)]) == 0
    out = capsys.readouterr().out
    digest = sha256_of(path)
    assert f"sha256: {digest}" in out and f"AECORE_WEIGHTS='https://<where you publish it>/aecore-weights.zip" \
        f"#sha256={digest}'" in out and f"weights_sha256: {digest}" in out


def flip_a_byte_in_member(archive: Path, member: Path) -> None:
    """Change one byte in the middle of a member's data inside the zip file (stored, so its bytes appear as is)."""
    data, payload = bytearray(archive.read_bytes()), member.read_bytes()
    where = data.find(payload) + len(payload) // 2
    data[where] ^= 0xFF
    archive.write_bytes(bytes(data))


def refused(archive: Path, match: str, tmp_path: Path, monkeypatch, capsys, *options: str) -> None:
    """Importing ``archive`` (with command-line ``options``) into a new cache fails with a message matching
    ``match``, and writes nothing."""
    new_cache = use_new_cache(tmp_path, monkeypatch, "import-target")
    assert main(["weights", "import", str(archive), *options]) == 1
    err = capsys.readouterr().err
    assert re.search(f"error: .*{match}", err) and "Nothing was written" in err and "Traceback" not in err
    assert not new_cache.exists() or everything_under(new_cache) == {}


def test_a_flipped_byte_in_a_member_is_refused(trained, archive, tmp_path, monkeypatch, capsys):
    flip_a_byte_in_member(archive, trained["ae-b"])
    refused(archive, f"member {trained['ae-b'].name} is damaged", tmp_path, monkeypatch, capsys)


def test_a_member_altered_with_a_matching_crc_is_refused_by_its_checksum(trained, archive, tmp_path, monkeypatch,
                                                                         capsys):
    altered = bytearray(trained["ae-b"].read_bytes())
    altered[len(altered) // 2] ^= 0xFF
    tampered = rewrite_archive(archive, tmp_path / "t.zip", members={
        trained["ae-a"].name: trained["ae-a"].read_bytes(), trained["ae-b"].name: bytes(altered)})
    refused(tampered, "does not match the size and SHA-256", tmp_path, monkeypatch, capsys)


def test_a_member_whose_contents_do_not_give_its_key_is_refused(trained, archive, tmp_path, monkeypatch, capsys):
    blob = cache.read_model_file(trained["ae-a"])
    blob["config"]["epochs"] = 99  # the key no longer matches the contents
    torch.save(blob, tmp_path / "forged.pt")
    forged = (tmp_path / "forged.pt").read_bytes()
    manifest = manifest_of(archive)
    entry = next(e for e in manifest["files"] if e["name"] == "ae-a")
    entry.update(bytes=len(forged), sha256=hashlib.sha256(forged).hexdigest())
    tampered = rewrite_archive(archive, tmp_path / "t.zip", manifest=manifest,
                               members={trained["ae-a"].name: forged,
                                        trained["ae-b"].name: trained["ae-b"].read_bytes()})
    refused(tampered, "is not a usable cache file .*does not match its contents", tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.999])
def test_a_truncated_archive_is_refused(archive, tmp_path, monkeypatch, capsys, keep):
    # Cut inside a member, the file may end with that member's own zip directory (torch.save writes zips).
    archive.write_bytes(archive.read_bytes()[: int(archive.stat().st_size * keep)])
    refused(archive, "(not a readable zip archive|not a complete archive).*truncated", tmp_path, monkeypatch, capsys)


def test_a_file_that_is_no_zip_is_refused(tmp_path, monkeypatch, capsys):
    page = tmp_path / "page.zip"
    page.write_text("<html>Not found</html>")
    refused(page, "not a readable zip archive", tmp_path, monkeypatch, capsys)


def test_a_foreign_zip_without_our_manifest_is_refused(trained, tmp_path, monkeypatch, capsys):
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.write(trained["ae-a"], trained["ae-a"].name)
    refused(foreign, "without manifest.json, so not an aecore weights archive", tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("change, match", [
    ({"cache_schema": 2}, "models of cache schema 2; this aecore uses schema 4"),
    ({"format": "someone-else"}, "describes a 'someone-else' archive"),
    ({"format_version": 2}, "archive format version 2; this aecore reads version 1"),
    ({"files": "all"}, "no list of files"),
])
def test_a_manifest_of_another_format_or_schema_is_refused(archive, tmp_path, monkeypatch, capsys, change, match):
    manifest = dict(manifest_of(archive), **change)
    refused(rewrite_archive(archive, tmp_path / "t.zip", manifest=manifest), match, tmp_path, monkeypatch, capsys)


def test_a_member_listed_but_missing_or_present_but_unlisted_is_refused(trained, archive, tmp_path, monkeypatch,
                                                                        capsys):
    missing = rewrite_archive(archive, tmp_path / "missing.zip",
                              members={trained["ae-a"].name: trained["ae-a"].read_bytes()})
    refused(missing, f"lists, but the archive lacks {trained['ae-b'].name}", tmp_path, monkeypatch, capsys)
    extra = rewrite_archive(archive, tmp_path / "extra.zip", extra=[("notes.txt", b"hello")])
    refused(extra, "does not list, but the archive holds notes.txt", tmp_path, monkeypatch, capsys)


def test_member_names_that_leave_the_cache_folder_are_refused(trained, archive, tmp_path, monkeypatch, capsys):
    evil = rewrite_archive(archive, tmp_path / "evil.zip", extra=[("../evil.pt", b"x")])
    refused(evil, "not plain file names .*'../evil.pt'", tmp_path, monkeypatch, capsys)
    manifest = manifest_of(archive)
    entry = manifest["files"][0]
    entry.update(name="../" + entry["name"], file="../" + entry["file"])
    listed = rewrite_archive(archive, tmp_path / "listed.zip", manifest=manifest)
    refused(listed, "entry 0 has a missing or malformed file", tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- the AECORE_WEIGHTS source

def test_weights_source_reads_a_path_or_an_https_url(tmp_path, monkeypatch):
    assert config.weights_source() is None
    archive = tmp_path / "w.zip"
    archive.write_bytes(b"")
    monkeypatch.setenv("AECORE_WEIGHTS", str(archive))
    assert config.weights_source() == archive.resolve()
    for url in ("https://example.org/w.zip", "http://127.0.0.1:8000/w.zip", "http://localhost/w.zip"):
        monkeypatch.setenv("AECORE_WEIGHTS", url)
        assert config.weights_source() == url
    for value, match in [("http://example.org/w.zip", "not a usable address"), ("ftp://example.org/w.zip", "https"),
                         (str(tmp_path / "missing.zip"), "does not exist"), (str(tmp_path), "is a folder")]:
        monkeypatch.setenv("AECORE_WEIGHTS", value)
        with pytest.raises(ValueError, match=f"AECORE_WEIGHTS=.*{match}"):
            config.weights_source()


def test_fit_or_load_takes_a_missing_model_from_a_local_archive(trained, archive, tiny_images, tmp_path,
                                                                 monkeypatch):
    original, _ = fit("ae-b", 3, tiny_images)
    new_cache = use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", pinned(archive))
    forbid_training(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, history = fit("ae-b", 3, tiny_images, "03_student")
    assert history.from_cache
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), original.parameters()))
    assert [p.name for p in cache.cached_files(new_cache / "models")] == [trained["ae-b"].name]
    assert json.loads((new_cache / "models" / "usage.json").read_text()) == {trained["ae-b"].name: ["03_student"]}


@pytest.fixture
def http_site(tmp_path):
    """A loopback HTTP server on a free port, serving the folder it yields: (folder, base URL, paths requested)."""
    folder, requested = tmp_path / "site", []
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", requested
    server.shutdown()
    server.server_close()
    thread.join()


def test_fit_or_load_downloads_a_url_source_once(trained, archive, tiny_images, tmp_path, monkeypatch, http_site):
    folder, base, requested = http_site
    (folder / "w.zip").write_bytes(archive.read_bytes())
    new_cache = use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", f"{base}/w.zip#sha256={sha256_of(archive)}")
    forbid_training(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit("ae-a", 2, tiny_images)[1].from_cache
        assert fit("ae-b", 3, tiny_images)[1].from_cache
        cache.forget_sources()  # as a new process: the downloaded copy is reused
        (new_cache / "models" / trained["ae-a"].name).unlink()
        assert fit("ae-a", 2, tiny_images)[1].from_cache
    assert requested == ["/w.zip"]
    (copy,) = (new_cache / "weights").glob("*.zip")
    assert copy.read_bytes() == archive.read_bytes()


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def source_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "AECORE_WEIGHTS" in str(w.message)]


def train_two_models_with_source(tiny_images, source, monkeypatch) -> list[str]:
    """fit_or_load two models with AECORE_WEIGHTS=source; assert both trained; return the source's warnings."""
    monkeypatch.setenv("AECORE_WEIGHTS", source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not fit("ae-c", 4, tiny_images)[1].from_cache
        assert not fit("ae-d", 5, tiny_images)[1].from_cache
    return source_warnings(caught)


def test_an_unpinned_source_is_used_after_one_warning_that_it_is_unverified(trained, archive, tiny_images, tmp_path,
                                                                              monkeypatch):
    use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", str(archive))
    forbid_training(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fit("ae-a", 2, tiny_images)[1].from_cache and fit("ae-b", 3, tiny_images)[1].from_cache
    (message,) = source_warnings(caught)
    assert f"the weights archive {archive} is not pinned, so its contents are unverified" in message
    assert "detect damage, not tampering" in message and "#sha256=" in message


def test_a_pinned_source_with_another_hash_is_not_used(trained, archive, tiny_images, tmp_path, monkeypatch):
    """A student's AECORE_WEIGHTS carries the course's pin, but the file was swapped for a forgery: each model
    is trained after one warning naming both hashes; the forged weights are never loaded."""
    forged = forge(archive, trained["ae-a"], tmp_path / "forged.zip")
    new_cache = use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", f"{forged}#sha256={sha256_of(archive)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, history = fit("ae-a", 2, tiny_images)
        assert not history.from_cache and not fit("ae-b", 3, tiny_images)[1].from_cache
    (message,) = source_warnings(caught)
    assert f"has SHA-256 {sha256_of(forged)}, but AECORE_WEIGHTS pins {sha256_of(archive)}" in message
    assert "trained here instead" in message and all(p.abs().sum() > 0 for p in model.parameters())
    book = tmp_path / "_config.yml"  # the same pin, set by the course in its repository instead
    book.write_text(f"aecore:\n  weights_sha256: {sha256_of(archive)}\n")
    monkeypatch.setattr(config, "BOOK_CONFIG", book)
    monkeypatch.setenv("AECORE_WEIGHTS", str(forged))
    cache.forget_sources()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not fit("ae-c", 4, tiny_images)[1].from_cache
    (message,) = source_warnings(caught)
    assert "but _config.yml pins" in message
    assert not any("forged" in p.name for p in (new_cache / "models").iterdir())


def test_a_downloaded_copy_that_no_longer_matches_the_pin_is_downloaded_again(trained, archive, tiny_images, tmp_path,
                                                                              monkeypatch, http_site):
    """The course replaces its archive at the same address and publishes the new pin: the copy downloaded before
    is fetched again rather than refused."""
    folder, base, requested = http_site
    (folder / "w.zip").write_bytes(forge(archive, trained["ae-a"], tmp_path / "older.zip").read_bytes())
    new_cache = use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", f"{base}/w.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unpinned: said once, tested above
        assert fit("ae-b", 3, tiny_images)[1].from_cache
    (folder / "w.zip").write_bytes(archive.read_bytes())
    (new_cache / "models" / trained["ae-b"].name).unlink()
    cache.forget_sources()  # a later session, with the new pin
    monkeypatch.setenv("AECORE_WEIGHTS", f"{base}/w.zip#sha256={sha256_of(archive)}")
    forbid_training(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit("ae-b", 3, tiny_images)[1].from_cache
    assert requested == ["/w.zip", "/w.zip"]
    (copy,) = (new_cache / "weights").glob("*.zip")
    assert copy.read_bytes() == archive.read_bytes()


def test_models_missing_from_the_archive_are_trained_after_one_warning(archive, tiny_images, monkeypatch):
    (message,) = train_two_models_with_source(tiny_images, pinned(archive), monkeypatch)
    assert "holds no ae-c-" in message and "trained here" in message and "AECORE_SEED" in message


def test_an_unreachable_url_means_training_after_one_warning(dirs, tiny_images, monkeypatch):
    (message,) = train_two_models_with_source(tiny_images, f"http://127.0.0.1:{free_loopback_port()}/w.zip",
                                              monkeypatch)
    assert "cannot download the weights archive" in message and "Connection refused" in message
    assert not list((dirs[1] / "weights").glob("*.zip"))


def test_a_url_that_serves_no_archive_is_not_kept(dirs, tiny_images, monkeypatch, http_site):
    folder, base, _ = http_site
    (folder / "w.zip").write_text("<html>login page</html>")
    (message,) = train_two_models_with_source(tiny_images, f"{base}/w.zip", monkeypatch)
    assert "not a readable zip archive" in message
    assert not list((dirs[1] / "weights").glob("*.zip"))


def test_a_damaged_member_of_the_source_is_not_used(trained, archive, tiny_images, tmp_path, monkeypatch):
    flip_a_byte_in_member(archive, trained["ae-a"])
    new_cache = use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", pinned(archive))  # damaged before its SHA-256 was published
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not fit("ae-a", 2, tiny_images)[1].from_cache
        assert fit("ae-b", 3, tiny_images)[1].from_cache
    (message,) = source_warnings(caught)
    assert f"member {trained['ae-a'].name} is damaged" in message
    assert sorted(p.name for p in cache.cached_files(new_cache / "models")) == sorted(
        p.name for p in trained.values())  # ae-a trained here, ae-b from the archive


def test_an_archive_of_another_schema_is_not_used(archive, tiny_images, tmp_path, monkeypatch):
    manifest = dict(manifest_of(archive), cache_schema=2)  # aecore 0.1, before losses were functions
    old = rewrite_archive(archive, tmp_path / "old.zip", manifest=manifest)
    use_new_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("AECORE_WEIGHTS", pinned(old))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not fit("ae-a", 2, tiny_images)[1].from_cache
        assert not fit("ae-b", 3, tiny_images)[1].from_cache
    (message,) = source_warnings(caught)
    assert "cache schema 2" in message


def test_the_command_line_runs_as_a_module(trained, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["aecore", "weights", "list"])  # python -m aecore weights list
    with warnings.catch_warnings():  # runpy notes that this process has imported aecore.__main__ already
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
        with pytest.raises(SystemExit) as done:
            runpy.run_module("aecore", run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "ae-a" in out and "2 models in" in out


def test_only_the_package_entry_point_runs_as_main():
    """`python -m aecore` (and `python -m aecore.<package>`) are the command lines: no library module keeps an
    `if __name__ == "__main__"` entry, only packages' `__main__.py` files."""
    package = Path(aecore.__file__).parent
    entries = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py")
                     if '__name__ == "__main__"' in p.read_text(encoding="utf-8"))
    assert "__main__.py" in entries and all(Path(e).name == "__main__.py" for e in entries), entries
