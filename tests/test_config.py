import subprocess
import sys
import types

import pytest
import torch

from aecore import config
from aecore.config import REPO_ROOT


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv("AECORE_PROFILE", raising=False)
    assert config.profile() == "full"
    assert config.choose(quick=1, full=20) == 20


def test_quick_profile_selects_quick_values(monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "Quick ")
    assert config.profile() == "quick"
    assert config.choose(quick=1, full=20) == 1


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick.*full"):
        config.profile()


def test_data_and_cache_roots_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AECORE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("AECORE_CACHE", str(tmp_path / "c"))
    assert config.data_root() == tmp_path / "d"
    assert config.cache_root() == tmp_path / "c"


def test_roots_default_inside_the_repository(monkeypatch):
    monkeypatch.delenv("AECORE_DATA", raising=False)
    monkeypatch.delenv("AECORE_CACHE", raising=False)
    assert config.data_root() == config.REPO_ROOT / "data"
    assert config.cache_root() == config.REPO_ROOT / ".cache" / "aecore"
    assert (config.REPO_ROOT / "aecore" / "config.py").is_file()


def test_device_can_be_forced_to_cpu(monkeypatch):
    monkeypatch.setenv("AECORE_DEVICE", "cpu")
    assert config.pick_device() == torch.device("cpu")


def offer_devices(monkeypatch, cuda: bool, mps: bool) -> None:
    """Make torch report CUDA and MPS as available or not, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("setting", [None, "", "  "])
@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"),   # CUDA first
    (True, False, "cuda"),
    (False, True, "mps"),   # then Apple's MPS
    (False, False, "cpu"),  # then the CPU
])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, setting, cuda, mps, expected):
    if setting is None:
        monkeypatch.delenv("AECORE_DEVICE", raising=False)
    else:
        monkeypatch.setenv("AECORE_DEVICE", setting)  # empty means auto-select
    offer_devices(monkeypatch, cuda, mps)
    assert config.pick_device() == torch.device(expected)


def test_auto_device_is_the_cpu_for_a_torch_without_mps_support(monkeypatch):
    monkeypatch.delenv("AECORE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # torch.backends re-imports a deleted submodule on access, so replace the whole namespace.
    monkeypatch.setattr(torch, "backends", types.SimpleNamespace())
    assert config.pick_device() == torch.device("cpu")


@pytest.mark.parametrize("setting, expected", [(" CUDA:1 ", "cuda:1"), ("mps", "mps"), ("cpu", "cpu")])
def test_forced_device_wins_over_auto_selection(monkeypatch, setting, expected):
    offer_devices(monkeypatch, cuda=True, mps=True)
    monkeypatch.setenv("AECORE_DEVICE", setting)
    assert config.pick_device() == torch.device(expected)


@pytest.mark.parametrize("setting, match", [("cuda", "no CUDA device"), ("cuda:0", "no CUDA device"),
                                            ("mps", "MPS, but it is not available")])
def test_forcing_a_missing_device_is_a_clear_error(monkeypatch, setting, match):
    offer_devices(monkeypatch, cuda=False, mps=False)
    monkeypatch.setenv("AECORE_DEVICE", setting)
    with pytest.raises(RuntimeError, match=match):
        config.pick_device()


@pytest.mark.parametrize("order", ["import torch, aecore", "import aecore, torch",
                                   "import aecore.config, torch"])  # config imports torch while aecore is set up
def test_importing_aecore_flushes_subnormal_floats_to_zero_whichever_comes_first(order):
    """With torch already imported, ``import aecore`` flushes at once; else torch's own import does, before any
    computation (a fresh process each)."""
    code = f"{order}\nprint((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item(), aecore.DENORMALS_FLUSHED)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    value, flushed = out.stdout.split()
    # flushed: every x86 CPU with SSE3, i.e. all machines CI runs on (the value is computed before it is asked)
    assert (float(value) == 0.0) if flushed == "True" else (float(value) > 0.0)


def test_importing_aecore_flushes_subnormal_floats_to_zero():
    import aecore

    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a subnormal float32
    if aecore.DENORMALS_FLUSHED:  # every x86 CPU with SSE3, i.e. all machines CI runs on
        assert (tiny * 1.0).item() == 0.0
    else:
        assert (tiny * 1.0).item() > 0.0


def test_seed_defaults_to_zero_and_follows_aecore_seed(monkeypatch):
    monkeypatch.delenv("AECORE_SEED", raising=False)
    assert config.seed() == 0
    monkeypatch.setenv("AECORE_SEED", " 2 ")
    assert config.seed() == 2


@pytest.mark.parametrize("value", ["-1", "one", "1.5"])
def test_bad_seed_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("AECORE_SEED", value)
    with pytest.raises(ValueError, match="AECORE_SEED"):
        config.seed()


def test_dogs_photos_budget_all_or_a_number(monkeypatch):
    monkeypatch.delenv("AECORE_DOGS", raising=False)
    assert config.dogs_photos() == config.DOGS_PHOTO_BUDGET == 2700
    for value, expected in [("budget", 2700), ("ALL", None), ("500", 500)]:
        monkeypatch.setenv("AECORE_DOGS", value)
        assert config.dogs_photos() == expected


@pytest.mark.parametrize("value", ["0", "everything", "-5"])
def test_bad_dogs_switch_names_the_variable_and_the_choices(monkeypatch, value):
    monkeypatch.setenv("AECORE_DOGS", value)
    with pytest.raises(ValueError, match="AECORE_DOGS.*'all'"):
        config.dogs_photos()


def test_choose_refuses_variants_that_are_not_the_same_setting(monkeypatch):
    import dataclasses

    from aecore.config import choose

    @dataclasses.dataclass
    class A:
        epochs: int

    @dataclasses.dataclass
    class B:
        epochs: int

    monkeypatch.setenv("AECORE_PROFILE", "quick")
    assert choose(quick=dict(epochs=1, n=2), full=dict(epochs=5, n=9)) == dict(epochs=1, n=2)
    assert choose(quick=A(1), full=A(5)) == A(1)
    assert choose(quick=1000, full=None) == 1000 and choose(quick=1, full=2.5) == 1
    with pytest.raises(TypeError, match=r"only in quick: \['n'\], only in full: \['m'\]"):
        choose(quick=dict(epochs=1, n=2), full=dict(epochs=5, m=9))
    with pytest.raises(TypeError, match="quick is a A, full a B"):
        choose(quick=A(1), full=B(5))
    with pytest.raises(TypeError, match="different types"):
        choose(quick="1", full=1)


def test_the_current_notebook_is_set_once_or_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("AECORE_NOTEBOOK", raising=False)
    config.set_notebook(None)
    assert config.current_notebook() is None
    monkeypatch.setenv("AECORE_NOTEBOOK", "03_mnist_vae.ipynb")
    assert config.current_notebook() == "03_mnist_vae"
    config.set_notebook("01_mnist_autoencoder")
    assert config.current_notebook() == "01_mnist_autoencoder"
    with pytest.raises(ValueError, match="without folders"):
        config.set_notebook("notebooks/01_mnist_autoencoder")
    config.set_notebook(None)


def test_a_cache_or_data_variable_naming_a_file_is_an_error_naming_the_variable(monkeypatch, tmp_path, tiny_images):
    """The issue: AECORE_CACHE set to a regular file gave NotADirectoryError, which does not name the variable."""
    from aecore import models, objectives, train

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    for name in ("AECORE_CACHE", "AECORE_DATA"):
        for value, where in ((a_file, "is a file"), (a_file / "sub", f"lies below {a_file}, which is a file")):
            monkeypatch.setenv(name, str(value))
            root = config.cache_root if name == "AECORE_CACHE" else config.data_root
            with pytest.raises(ValueError, match=f"{name}=.* must name a folder, but .* {where}. Point {name} at a "
                                                 "folder"):
                root()
        monkeypatch.setenv(name, str(tmp_path / "new" / "folder"))  # missing folders are fine: they are created
        assert (config.cache_root if name == "AECORE_CACHE" else config.data_root)() == tmp_path / "new" / "folder"
    monkeypatch.setenv("AECORE_CACHE", str(a_file))
    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(8,))
    with pytest.raises(ValueError, match="AECORE_CACHE=.* must name a folder"):
        train.fit_or_load("ae", model, tiny_images, loss=objectives.reconstruction_bce, progress=False)


def test_the_weights_pin_comes_from_the_aecore_weights_value_or_the_book_config(monkeypatch, tmp_path):
    digest = "ab" * 32
    archive = tmp_path / "w.zip"
    archive.write_bytes(b"")
    book = tmp_path / "_config.yml"
    monkeypatch.setattr(config, "BOOK_CONFIG", book)
    monkeypatch.setenv("AECORE_WEIGHTS", f"{archive}#sha256={digest.upper()}")
    assert config.weights_source() == archive.resolve() and config.weights_sha256() == (digest, "AECORE_WEIGHTS")
    monkeypatch.setenv("AECORE_WEIGHTS", f"https://example.org/w.zip#sha256={digest}")
    assert config.weights_source() == "https://example.org/w.zip" and config.weights_sha256()[0] == digest
    monkeypatch.setenv("AECORE_WEIGHTS", "https://example.org/w.zip")
    assert config.weights_sha256() is None  # no _config.yml
    book.write_text("title: x\naecore:\n  weights_sha256: ''\n")
    assert config.weights_sha256() is None  # set, but empty: the default
    book.write_text(f"title: x\naecore:\n  weights_sha256: {'cd' * 32}\n")
    assert config.weights_sha256() == ("cd" * 32, "_config.yml")
    monkeypatch.setenv("AECORE_WEIGHTS", f"https://example.org/w.zip#sha256={digest}")
    assert config.weights_sha256() == (digest, "AECORE_WEIGHTS")  # the pin given with the archive wins
    for value in (f"{archive}#sha256=12ab", f"{archive}#sha256=", f"{archive}#sha256={'g' * 64}"):
        monkeypatch.setenv("AECORE_WEIGHTS", value)
        with pytest.raises(ValueError, match="the #sha256= pin of AECORE_WEIGHTS is .*, not a SHA-256"):
            config.weights_sha256()
    monkeypatch.setenv("AECORE_LSWMD_SHA256", "nope")
    with pytest.raises(ValueError, match="AECORE_LSWMD_SHA256 is 'nope', not a SHA-256"):
        config.lswmd_sha256()


def test_the_book_config_pins_no_archive_by_default():
    assert config.book_weights_sha256() is None
