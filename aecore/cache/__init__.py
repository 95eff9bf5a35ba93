"""The model cache: a trained model is kept once, under a key that says what it is, and shared as pretrained weights.

* :mod:`~aecore.cache.keys`: what identifies a training run (:func:`describe_run`) and its key
  (:func:`cache_key`, :data:`CACHE_SCHEMA`), the model file's name (:func:`model_file_name`);
* :mod:`~aecore.cache.code_identity`: the identity of an objective, read from the objects in memory,
  part of the key (:func:`function_identity`, :class:`UndescribableValueError`);
* :mod:`~aecore.cache.load_check`: the check a model passes before it is loaded
  (:func:`~aecore.cache.load_check.measure`, :func:`~aecore.cache.load_check.compare`);
* :mod:`~aecore.cache.model_files`: the self-describing model file (:func:`save_model_file`,
  :func:`read_model_file`), its atomic writing (:class:`CacheWriteError`, :func:`remove_stale_temp_files`) and the
  inventory of the cache (:func:`list_models`);
* :mod:`~aecore.cache.usage`: which notebook used which model (:func:`record_use`);
* :mod:`~aecore.cache.archive`: the weights archive (:func:`export_archive`, :func:`import_archive`)
  and the ``AECORE_WEIGHTS`` source (:func:`fetch_into_cache`);
* :mod:`~aecore.cache.cli`: ``python -m aecore weights list|export|import``.

:func:`aecore.train.fit_or_load` is what the notebooks call; it uses this package.
"""

from .archive import ArchiveError, export_archive, fetch_into_cache, forget_sources, import_archive
from .code_identity import UndescribableValueError, describe_function, function_identity
from .keys import (
    CACHE_SCHEMA,
    KEY_FIELDS,
    MODEL_FILE_SUFFIX,
    cache_key,
    data_fingerprint,
    describe_run,
    key_of,
    loss_description,
    model_file_name,
    models_dir,
)
from .model_files import (
    CacheFileError,
    CacheWriteError,
    cached_files,
    check_cache_file,
    list_models,
    read_model_file,
    remove_stale_temp_files,
    save_model_file,
    summarize,
)
from .usage import read_usage, record_use

__all__ = [
    "CACHE_SCHEMA", "KEY_FIELDS", "MODEL_FILE_SUFFIX", "cache_key", "data_fingerprint", "describe_run", "key_of",
    "loss_description", "model_file_name", "models_dir",
    "describe_function", "function_identity", "UndescribableValueError",
    "CacheFileError", "CacheWriteError", "cached_files", "check_cache_file", "list_models", "read_model_file",
    "remove_stale_temp_files", "save_model_file", "summarize",
    "read_usage", "record_use",
    "ArchiveError", "export_archive", "fetch_into_cache", "forget_sources", "import_archive",
]
