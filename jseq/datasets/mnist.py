"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grey-scale, labels 0-9.

`load_data()` downloads Keras's `mnist.npz`; `load_data(path=folder)` reads the original IDX files from a
folder instead, and `load_idx(file)` reads one IDX file (e.g. only the test set, which works offline).
"""

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from jseq.datasets._common import KERAS_ORIGIN, fetch, read_arrays

FILE_NAME = "mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # sha256, as Keras pins

# The original files, as published by Yann LeCun et al. (each may also be uncompressed, without ".gz").
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type byte -> element type (multi-byte types are big-endian in the file).
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path):
    """Reads one IDX file (gzip-compressed or not) into a NumPy array.

    IDX layout: two zero bytes, a type byte (0x08 = uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), a byte giving the number of dimensions, one big-endian uint32 per dimension, then the data
    in C order. The header is checked against the file's size, so a truncated file is an error.

    Args:
        path: the `.idx` / `-ubyte` file, or its `.gz`.

    Returns:
        An array of the declared shape and type, in native byte order (uint8 for MNIST).

    Example:
        >>> x_test = load_idx("../shared/data/mnist/t10k-images-idx3-ubyte.gz")  # (10000, 28, 28) uint8
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: the gzip data is broken or truncated ({error}).") from error
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(
            f"{path} is not an IDX file: it should start with two zero bytes, a type byte and a dimension "
            f"count; it starts with {raw[:4].hex(' ') or 'nothing'}."
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type byte 0x{type_code:02X}; expected one of {known}.")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: the IDX header declares {ndim} dimensions but the file ends inside it.")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - start != expected:
        raise ValueError(
            f"{path}: the IDX header declares shape {shape} of {dtype.name} ({expected} bytes of data), but "
            f"the file holds {len(raw) - start} bytes after the header. It is truncated or corrupted."
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx_folder(folder):
    found = {key: _idx_file(folder, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[key] + "[.gz]" for key, file in found.items() if file is None]
    if missing:
        raise FileNotFoundError(
            f"load_data(path={str(folder)!r}) reads the four MNIST IDX files from that folder, but it lacks "
            f"{missing}. To read a single file (for example only the test set), use "
            "jseq.datasets.mnist.load_idx(path)."
        )
    arrays = {key: load_idx(file) for key, file in found.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"The MNIST {split} files in {folder} do not match: images {x.shape}, labels {y.shape}; "
                "expected images (n, 28, 28) and labels (n,)."
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_data(path=FILE_NAME):
    """Loads the MNIST dataset.

    Args:
        path: file name to cache the dataset under (in `$JSEQ_HOME/datasets`), or a folder holding the four
            original IDX files (`train-images-idx3-ubyte.gz`, ..., compressed or not), read without network.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(60000, 28, 28)` and `(10000, 28, 28)` with
        values 0-255, and uint8 labels 0-9 `(60000,)` and `(10000,)`.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = jseq.datasets.mnist.load_data()
        >>> x_train.shape, y_test.shape
        ((60000, 28, 28), (10000,))
    """
    if os.path.isdir(path):
        return _load_idx_folder(Path(path))
    path = fetch(FILE_NAME, KERAS_ORIGIN, FILE_HASH, fname=path)
    x_train, y_train, x_test, y_test = read_arrays(path, ["x_train", "y_train", "x_test", "y_test"])
    return (x_train, y_train), (x_test, y_test)
