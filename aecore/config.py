"""One place for run-wide settings: the profile, the data/cache folders and the device.

Everything that depends on an environment variable is read here, so notebooks and
modules never parse ``os.environ`` themselves.

Environment variables
---------------------
``AECORE_PROFILE``  ``full`` (default: the real lab settings) or ``quick`` (small
                    subsets and 1-2 epochs, for tests and CI).
``AECORE_DATA``     folder holding the raw data sets (default: ``data/`` in the repo).
``AECORE_CACHE``    folder for derived files, downloads and trained models (default:
                    ``.cache/aecore`` in the repo).
``AECORE_DEVICE``   force a torch device (``cpu``, ``cuda``, ``mps``); default: auto.
``AECORE_SEED``     global training seed (default 0): every ``TrainConfig`` starts from it,
                    so one switch retrains every model with other initial weights and batch
                    order (the data subsets and test sets stay the same).
``AECORE_DOGS``     how many Stanford Dogs photos the dog labs use: unset or ``budget`` for
                    the fixed budget of :data:`DOGS_PHOTO_BUDGET` photos (a seeded subset,
                    stratified by breed, whatever is on disk), ``all`` for every photo found,
                    or a number of photos.
``AECORE_WEIGHTS``  where pretrained weights come from (:func:`weights_source`): the path of
                    a weights archive made by ``python -m aecore weights export`` or an
                    ``https://`` address of one (downloaded once into ``<cache>/weights/``).
                    A model missing from the cache is then taken from the archive when it
                    holds that model (same name and key), and trained otherwise. Unset: none.
                    A ``#sha256=<64 hex digits>`` suffix pins the whole archive
                    (:func:`weights_sha256`): a file with another SHA-256 is refused. Without it
                    the pin in ``_config.yml`` (``aecore: weights_sha256:``) applies, if set.
``AECORE_LSWMD_SHA256`` the SHA-256 of the ``LSWMD.pkl`` you trust (:func:`lswmd_sha256`): the
                    pickle is then read only if it has that hash, and without the warning that
                    unpickling an untrusted file runs its code. Default: read it, after that warning.
``AECORE_NOTEBOOK`` the notebook this process runs, when it does not call
                    :func:`set_notebook` (recorded beside the models it uses).
``AECORE_STRICT``   ``1`` makes a claim the prose states that this run does not reproduce
                    (:func:`aecore.book.report.claim`) raise instead of showing a warning on the
                    page; ``make test``, CI and the claims benchmark set it. Default: off.
``AECORE_LESSONS``  where a student build of aecore keeps the student's own functions for later labs
                    (:func:`lessons_root`; ``off``: nowhere). Default: ``~/aecore-lessons``, or in
                    Colab with Google Drive mounted ``/content/drive/MyDrive/aecore-lessons``.
``AECORE_CLAIMS_LOG`` a file every claim's verdict is appended to (one JSON line each), for
                    ``benchmarks/claims.py``. Default: none.

Checkout or installed copy
--------------------------
In a source checkout (``pyproject.toml`` beside the ``aecore`` folder, see
:func:`in_checkout`) the defaults above are folders of the checkout. An installed copy
(``pip install "aecore @ git+..."``, as the notebooks' first cell does in Colab) sits in
site-packages, which is no place for data, so its defaults are user folders:
``~/aecore-data`` for the raw data and ``$XDG_CACHE_HOME/aecore`` (``~/.cache/aecore``)
for the cache, where missing data sets are downloaded to. ``AECORE_DATA`` and
``AECORE_CACHE`` override both.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import torch

PROFILES = ("quick", "full")
T = TypeVar("T")

# The dog labs' photo budget (train + test, before the 90/10 split): 2,430 training and 270
# test photos. It is what the labs were designed and timed for; the full archive has 20,580.
DOGS_PHOTO_BUDGET = 2700

REPO_ROOT = Path(__file__).resolve().parent.parent


def profile() -> str:
    """Return the active profile name, ``"quick"`` or ``"full"`` (from ``AECORE_PROFILE``)."""
    value = os.environ.get("AECORE_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise ValueError(
            f"AECORE_PROFILE={value!r} is not a known profile; use one of {PROFILES} "
            "(e.g. `export AECORE_PROFILE=quick`)."
        )
    return value


def choose(*, quick: T, full: T) -> T:
    """Return ``quick`` or ``full`` depending on the active profile.

    Notebooks use this for every setting that differs between a fast check and the
    real lab run, e.g. ``epochs = choose(quick=1, full=20)``. The two variants must be of the
    same kind (TypeError otherwise), so a setting that only one profile defines fails in both:
    dataclass instances of the same class, dicts with the same keys, or values of one type
    (an int and a float count as numbers; None stands for "no limit" beside anything).
    """
    _check_same_shape(quick, full)
    return quick if profile() == "quick" else full


def _check_same_shape(quick, full) -> None:
    """Raise TypeError naming the difference unless ``quick`` and ``full`` are variants of one setting."""
    if quick is None or full is None:
        return
    if dataclasses.is_dataclass(quick) or dataclasses.is_dataclass(full):
        if type(quick) is not type(full):
            raise TypeError(f"choose: quick is a {type(quick).__name__}, full a {type(full).__name__}; "
                            "give both profiles the same settings class")
        return
    if isinstance(quick, dict) and isinstance(full, dict):
        if quick.keys() != full.keys():
            only_quick, only_full = sorted(quick.keys() - full.keys()), sorted(full.keys() - quick.keys())
            raise TypeError(f"choose: the quick and full settings differ in their fields (only in quick: "
                            f"{only_quick}, only in full: {only_full}); define every field in both")
        return
    numbers = (int, float)
    if isinstance(quick, numbers) and isinstance(full, numbers) and not isinstance(quick, bool) \
            and not isinstance(full, bool):
        return
    if type(quick) is not type(full):
        raise TypeError(f"choose: quick={quick!r} and full={full!r} are of different types "
                        f"({type(quick).__name__}, {type(full).__name__})")


def _setting(name: str) -> str:
    """The environment variable ``name``, stripped and lower-cased ("" when unset)."""
    return os.environ.get(name, "").strip().lower()


def seed() -> int:
    """The global training seed from ``AECORE_SEED`` (default 0), a non-negative integer."""
    value = _setting("AECORE_SEED") or "0"
    if not value.isdigit():
        raise ValueError(f"AECORE_SEED={value!r} is not a seed; use a non-negative integer, e.g. AECORE_SEED=1.")
    return int(value)


def strict() -> bool:
    """Whether claims that do not hold raise (``AECORE_STRICT`` = 1/true/yes) rather than warn on the page.

    Any other non-empty value than 0/false/no/1/true/yes raises ValueError naming the variable.
    """
    value = _setting("AECORE_STRICT")
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"AECORE_STRICT={value!r} is not understood; use 1 (a claim not reproduced stops the run) "
                     "or 0 (it shows as a warning on the page, the default).")


def claims_log() -> Path | None:
    """The file each claim's verdict is appended to (``AECORE_CLAIMS_LOG``), or None when unset."""
    value = os.environ.get("AECORE_CLAIMS_LOG", "").strip()
    return Path(value).expanduser().resolve() if value else None


def dogs_photos() -> int | None:
    """How many Stanford Dogs photos the dog labs use (``AECORE_DOGS``); None means every photo.

    Unset or ``budget``: :data:`DOGS_PHOTO_BUDGET`. ``all``: None. A positive integer: that many.
    """
    value = _setting("AECORE_DOGS") or "budget"
    if value == "budget":
        return DOGS_PHOTO_BUDGET
    if value == "all":
        return None
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise ValueError(f"AECORE_DOGS={value!r} is not understood; use 'budget' (the default, "
                     f"{DOGS_PHOTO_BUDGET:,} photos), 'all' (every photo on disk) or a positive number of photos.")


_notebook: str | None = None


def set_notebook(name: str | None) -> None:
    """Record which notebook (chapter) this process runs, e.g. ``"02_dogs_conv_autoencoder"``; None forgets it.

    The model cache notes it beside each model the notebook trains or loads, so that weights
    can be exported per notebook (``python -m aecore weights export FILE --notebook NAME``).
    """
    global _notebook
    if name is not None and (not name or any(c in name for c in "/\\")):
        raise ValueError(f"a notebook name is a file name without folders or suffix, got {name!r}")
    _notebook = None if name is None else name.removesuffix(".ipynb")


def current_notebook() -> str | None:
    """The notebook set by :func:`set_notebook`, else ``$AECORE_NOTEBOOK``, else None."""
    return _notebook or os.environ.get("AECORE_NOTEBOOK", "").strip().removesuffix(".ipynb") or None


def weights_source() -> Path | str | None:
    """Where pretrained weights come from (``AECORE_WEIGHTS``): a local archive's Path, a URL string, or None.

    A URL must be ``https://`` (``http://`` only for a loopback host, for testing); a path
    (``~`` expanded; a relative one is looked up in the working directory, then, in a checkout,
    in the repository root, because notebooks run in ``notebooks/``) must name an existing
    file. A ``#sha256=<hex>`` suffix (the pin, see :func:`weights_sha256`) is not part of it.
    Any other value raises ValueError naming the variable.
    """
    value, _ = _split_pin(os.environ.get("AECORE_WEIGHTS", "").strip())
    if not value:
        return None
    if "://" in value:
        return _weights_url(value)
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.exists() and in_checkout() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path
    path = path.resolve()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ValueError(f"AECORE_WEIGHTS={value!r} names no file ({path} {what}); "
                         "give the path of a weights archive (made by `python -m aecore weights export`), "
                         "an https:// address of one, or unset AECORE_WEIGHTS to train every model.")
    return path


# The file of the book's settings, where a course pins its weights archive (aecore: weights_sha256:).
BOOK_CONFIG = REPO_ROOT / "_config.yml"
_PIN = re.compile(r"#sha256=([^#]*)$")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def weights_sha256() -> tuple[str, str] | None:
    """The pinned SHA-256 of the ``AECORE_WEIGHTS`` archive and where it is set, or None when nothing pins it.

    The pin held outside the archive is what proves that the archive is the one a course
    published (its manifest's checksums only detect damage). It comes from the
    ``AECORE_WEIGHTS`` value's ``#sha256=<hex>`` suffix, else (in a checkout) from
    ``aecore: weights_sha256:`` in ``_config.yml`` (:func:`book_weights_sha256`). Returns
    ``(64 lower-case hex digits, "AECORE_WEIGHTS" or "_config.yml")``; a malformed pin raises
    ValueError naming where it is.
    """
    _, pin = _split_pin(os.environ.get("AECORE_WEIGHTS", "").strip())
    if pin is not None:
        return check_sha256(pin, "the #sha256= pin of AECORE_WEIGHTS"), "AECORE_WEIGHTS"
    book_pin = book_weights_sha256()
    return None if book_pin is None else (book_pin, BOOK_CONFIG.name)


def book_weights_sha256(config_path: Path | None = None) -> str | None:
    """``aecore: weights_sha256:`` of the book's ``_config.yml`` (default :data:`BOOK_CONFIG`); None when the
    file (an installed copy has none) or the setting is missing or empty. ValueError when it is malformed."""
    if config_path is None and not in_checkout():
        return None
    path = BOOK_CONFIG if config_path is None else config_path
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if "weights_sha256" not in text:
        return None
    try:
        import yaml
    except ImportError as err:  # pyyaml comes with the book's extras; never ignore a pin silently
        raise ValueError(f"{path} pins the weights archive (aecore: weights_sha256:), but PyYAML is not installed "
                         "to read it; pip install pyyaml.") from err
    settings = (yaml.safe_load(text) or {}).get("aecore") or {}
    value = settings.get("weights_sha256") if isinstance(settings, dict) else None
    if value is None or str(value).strip() == "":
        return None
    return check_sha256(str(value), f"aecore: weights_sha256: in {path}")


def check_sha256(value: str, where: str) -> str:
    """``value`` as 64 lower-case hex digits (surrounding spaces dropped); ValueError naming ``where`` otherwise."""
    digits = value.strip().lower()
    if not _SHA256.fullmatch(digits):
        raise ValueError(f"{where} is {value!r}, not a SHA-256 (64 hex digits). Copy the line that "
                         "`python -m aecore weights export` (make weights) printed, or remove the pin.")
    return digits


def _split_pin(value: str) -> tuple[str, str | None]:
    """``(location, pin)`` of an ``AECORE_WEIGHTS`` value: the pin is the text after a final ``#sha256=``."""
    match = _PIN.search(value)
    return (value, None) if match is None else (value[:match.start()].strip(), match.group(1))


def lswmd_sha256() -> str | None:
    """The SHA-256 of the ``LSWMD.pkl`` the user trusts (``AECORE_LSWMD_SHA256``), or None when unset.

    ValueError naming the variable when it is set but not 64 hex digits.
    """
    value = os.environ.get("AECORE_LSWMD_SHA256", "").strip()
    return check_sha256(value, "AECORE_LSWMD_SHA256") if value else None


def _weights_url(value: str) -> str:
    """``value`` if it is an https URL (or http to a loopback host); ValueError naming AECORE_WEIGHTS otherwise."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return value
    raise ValueError(f"AECORE_WEIGHTS={value!r} is not a usable address; use an https:// URL of a weights archive "
                     "(http:// only to this machine, for testing), a local file path, or unset it.")


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def in_checkout() -> bool:
    """Whether aecore runs from a source checkout (``pyproject.toml`` beside the package, as with
    ``pip install -e .``) rather than an installed copy in site-packages."""
    return (REPO_ROOT / "pyproject.toml").is_file()


def data_root() -> Path:
    """Folder with the raw data sets: ``$AECORE_DATA``, else ``<repo>/data`` in a checkout, else ``~/aecore-data``.

    ValueError naming the variable when it names a file (or a path below one) rather than a folder."""
    value = os.environ.get("AECORE_DATA")
    if value:
        return _folder_setting("AECORE_DATA", value)
    return REPO_ROOT / "data" if in_checkout() else Path.home() / "aecore-data"


def cache_root() -> Path:
    """Folder for derived files, downloads and trained models: ``$AECORE_CACHE``, else
    ``<repo>/.cache/aecore`` in a checkout, else ``$XDG_CACHE_HOME/aecore`` (``~/.cache/aecore``).

    ValueError naming the variable when it names a file (or a path below one) rather than a folder."""
    value = os.environ.get("AECORE_CACHE")
    if value:
        return _folder_setting("AECORE_CACHE", value)
    if in_checkout():
        return REPO_ROOT / ".cache" / "aecore"
    user_cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(user_cache).expanduser() if user_cache else Path.home() / ".cache") / "aecore"


COLAB_DRIVE = Path("/content/drive/MyDrive")
"""Where Colab mounts the user's Google Drive (``google.colab.drive.mount("/content/drive")``)."""


def lessons_root() -> Path | None:
    """Folder where a student build keeps the student's passed exercise functions (:mod:`aecore.exercises.saved`):
    ``$AECORE_LESSONS`` (None for ``off``), else ``aecore-lessons`` in the Google Drive that Colab has mounted (it
    outlives the runtime, and every notebook's runtime sees it), else ``~/aecore-lessons``."""
    value = os.environ.get("AECORE_LESSONS", "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser().resolve()
    if COLAB_DRIVE.is_dir():
        return COLAB_DRIVE / "aecore-lessons"
    return Path.home() / "aecore-lessons"


def _folder_setting(name: str, value: str) -> Path:
    """The folder the environment variable ``name`` gives (``~`` expanded, absolute); it need not exist yet,
    but ValueError naming the variable when it, or the first of its parents that exists, is not a folder."""
    path = Path(value).expanduser().resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"lies below {existing}, which is a file"
        raise ValueError(f"{name}={value!r} must name a folder, but {path} {where}. Point {name} at a folder "
                         f"(it is created when missing), or unset it to use the default.")
    return path


def pick_device() -> torch.device:
    """Best available torch device: ``$AECORE_DEVICE`` if set, else CUDA, then Apple MPS, then CPU.

    ``AECORE_DEVICE`` is stripped and lower-cased; it must be ``cpu``, ``cuda``,
    ``cuda:<index>`` or ``mps`` (ValueError otherwise; RuntimeError if it names a device
    torch cannot see). Empty means auto-select.
    """
    forced = _setting("AECORE_DEVICE")
    if forced:
        device = _parse_device(forced)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("AECORE_DEVICE asks for CUDA, but torch sees no CUDA device; unset it to auto-select.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("AECORE_DEVICE asks for MPS, but it is not available; unset it to auto-select.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _parse_device(value: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:<index>`` or ``mps`` as a torch device; ValueError naming AECORE_DEVICE otherwise."""
    kind, _, index = value.partition(":")
    if value in ("cpu", "cuda", "mps") or (kind == "cuda" and index.isdigit()):
        return torch.device(value)
    raise ValueError(f"AECORE_DEVICE={value!r} is not a device aecore knows; use one of 'cpu', 'cuda', "
                     "'cuda:<index>' (e.g. 'cuda:1') or 'mps', or unset it to auto-select.")
