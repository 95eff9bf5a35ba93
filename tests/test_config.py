import pytest
import torch

from aecore import config


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


def test_auto_device_matches_what_torch_offers(monkeypatch):
    monkeypatch.delenv("AECORE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert config.pick_device().type == expected


def test_forcing_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("AECORE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        config.pick_device()


def test_importing_aecore_flushes_subnormal_floats_to_zero():
    import aecore

    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a subnormal float32
    if aecore.DENORMALS_FLUSHED:  # every x86 CPU with SSE3, i.e. all machines CI runs on
        assert (tiny * 1.0).item() == 0.0
    else:
        assert (tiny * 1.0).item() > 0.0
