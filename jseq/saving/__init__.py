"""jseq.saving: Keras 3's `.keras` and `.weights.h5` files, read without running anything from them and
written atomically. See `api.py` (the functions), `config.py` (config.json), `weights.py` (the HDF5 layout)
and `files.py` (atomic writes, archive and HDF5 checks)."""

from jseq.saving.api import (
    Saving,
    load_model,
    load_weights,
    model_from_config,
    model_from_json,
    save_model,
    save_weights,
)
from jseq.saving.files import FileFormatError, UnsafeFileError

__all__ = [
    "FileFormatError",
    "Saving",
    "UnsafeFileError",
    "load_model",
    "load_weights",
    "model_from_config",
    "model_from_json",
    "save_model",
    "save_weights",
]
