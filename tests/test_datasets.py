"""Dataset loaders on small files in their real formats, served from a mirror folder (no network).

The test writes each file (npz, IDX, CIFAR pickle batches in a tar.gz, IMDB/Reuters object arrays), points
`JSEQ_DATASETS_MIRROR` at it and patches the loader's pinned hash to the file's. Parity: Keras's own loader
parses the same file (its `get_file` patched to return the path) and must give the same arrays.
"""

import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import re
import socket
import struct
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jseq.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from jseq.utils import DownloadError, HashMismatchError

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(__file__).parents[1].parent / "shared" / "data" / "mnist"
RNG = np.random.default_rng(0)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """An empty mirror folder that every loader downloads from, and a fresh cache ($JSEQ_HOME)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    monkeypatch.setenv("JSEQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JSEQ_DATASETS_MIRROR", str(folder))
    return folder


def _publish(mirror, name, data, monkeypatch=None, module=None, attr="FILE_HASH"):
    """Put `data` on the mirror as `name` and, when given, pin `module.attr` to its sha256."""
    (mirror / name).write_bytes(data)
    if module is not None:
        monkeypatch.setattr(module, attr, hashlib.sha256(data).hexdigest())


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # object arrays are pickled by NumPy: the real IMDB/Reuters layout
    return buffer.getvalue()


def _objects(sequences):
    out = np.empty(len(sequences), dtype=object)
    for i, s in enumerate(sequences):
        out[i] = s
    return out


def _idx(array):
    """IDX bytes: 0, 0, type 0x08, ndim, big-endian dims, then the uint8 data."""
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _images(n, shape=(28, 28)):
    return RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _cache(tmp_path):
    return tmp_path / "home" / "datasets"


# --------------------------------------------------------------------------------------------------------
# MNIST.


def test_mnist_npz(mirror, tmp_path, monkeypatch):
    arrays = {"x_train": _images(5), "y_train": np.arange(5, dtype=np.uint8)}
    arrays |= {"x_test": _images(3), "y_test": np.array([7, 2, 1], np.uint8)}
    _publish(mirror, "mnist.npz", _npz(**arrays), monkeypatch, mnist)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for got, key in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"), (y_test, "y_test")):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])
    assert (_cache(tmp_path) / "mnist.npz").is_file()
    (mirror / "mnist.npz").unlink()  # the cached, verified copy is used from now on
    np.testing.assert_array_equal(mnist.load_data()[1][0], arrays["x_test"])


def test_mnist_from_a_url_mirror(mirror, tmp_path, monkeypatch):
    arrays = {"x_train": _images(2), "y_train": np.zeros(2, np.uint8)}
    arrays |= {"x_test": _images(1), "y_test": np.ones(1, np.uint8)}
    _publish(mirror, "mnist.npz", _npz(**arrays), monkeypatch, mnist)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = lambda *args: Quiet(*args, directory=str(mirror))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        monkeypatch.setenv("JSEQ_DATASETS_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/")
        np.testing.assert_array_equal(mnist.load_data()[0][0], arrays["x_train"])
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_mnist_with_the_wrong_file_keeps_nothing(mirror, tmp_path):
    (mirror / "mnist.npz").write_bytes(_npz(x_train=np.zeros(1)))  # the real pinned hash stays in force
    with pytest.raises(HashMismatchError, match=mnist.FILE_HASH):
        mnist.load_data()
    assert not (_cache(tmp_path) / "mnist.npz").exists()


def test_mnist_offline_names_url_and_cache_path(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("JSEQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JSEQ_DATASETS_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError) as info:
        mnist.load_data()
    assert f"http://127.0.0.1:{port}/mnist.npz" in str(info.value)
    assert str(_cache(tmp_path) / "mnist.npz") in str(info.value)


def test_missing_mirror_folder(mirror, tmp_path, monkeypatch):
    arrays = {"x_train": _images(1), "y_train": np.zeros(1, np.uint8)}
    arrays |= {"x_test": _images(1), "y_test": np.ones(1, np.uint8)}
    _publish(mirror, "mnist.npz", _npz(**arrays), monkeypatch, mnist)
    mnist.load_data()  # cached now
    monkeypatch.setenv("JSEQ_DATASETS_MIRROR", str(tmp_path / "no_such_folder"))
    np.testing.assert_array_equal(mnist.load_data()[0][0], arrays["x_train"])  # the cache needs no mirror
    with pytest.raises(DownloadError, match=r"no_such_folder/imdb\.npz.*No such file"):
        imdb.load_data()


def test_mnist_from_a_folder_of_idx_files(tmp_path):
    x_train, y_train, x_test, y_test = _images(4), np.arange(4) % 10, _images(2), np.array([3, 9])
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x_train)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(y_train))  # uncompressed works too
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x_test)))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(y_test)))
    (gx_train, gy_train), (gx_test, gy_test) = mnist.load_data(path=str(tmp_path))
    np.testing.assert_array_equal(gx_train, x_train)
    np.testing.assert_array_equal(gy_train, y_train)
    np.testing.assert_array_equal(gx_test, x_test)
    np.testing.assert_array_equal(gy_test, y_test)
    assert gx_train.dtype == gy_test.dtype == np.uint8


def test_real_mnist_test_set():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test set is not at {MNIST_DIR}")
    # The published checksums of the original files (README in that folder).
    assert hashlib.md5((MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()).hexdigest() == (
        "9fb629c4189551a2d022fa330f9573f3"
    )
    x = mnist.load_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    y = mnist.load_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert y[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x[:8000].shape == (8000, 28, 28) and x[-2000:].shape == (2000, 28, 28)  # the offline split
    # The folder holds only the test set, so load_data(path=folder) says what is missing and what to use.
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*load_idx"):
        mnist.load_data(path=str(MNIST_DIR))


def test_load_idx_other_types_and_byte_order(tmp_path):
    values = np.array([[1, -2, 3], [70000, 5, -6]], dtype=">i4")
    (tmp_path / "a.idx").write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 3) + values.tobytes())
    got = mnist.load_idx(tmp_path / "a.idx")
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)
    floats = np.array([0.5, -1.25], dtype=">f4")
    (tmp_path / "b.idx").write_bytes(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 2) + floats.tobytes())
    np.testing.assert_array_equal(mnist.load_idx(tmp_path / "b.idx"), [0.5, -1.25])


@pytest.mark.parametrize(
    "data, pattern",
    [
        (b"\x08\x03\x00\x00" + b"\x00" * 20, "not an IDX file"),
        (b"", "not an IDX file"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]), "unknown IDX type byte 0x07"),
        (bytes([0, 0, 0x08, 3, 0, 0]), "ends inside it"),
        (_idx(np.zeros((2, 28, 28)))[:-10], r"declares shape \(2, 28, 28\).*1558 bytes"),
        (_idx(np.zeros((2, 2))) + b"extra", "holds 9 bytes"),
        (gzip.compress(_idx(np.zeros((2, 2))))[:-6], "gzip data is broken"),
    ],
)
def test_load_idx_rejects_bad_files(tmp_path, data, pattern):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(ValueError, match=pattern):
        mnist.load_idx(tmp_path / "bad")


def test_fashion_mnist(mirror, tmp_path):
    parts = {"train": (_images(3), np.array([0, 9, 4])), "t10k": (_images(2), np.array([1, 2]))}
    for prefix, (x, y) in parts.items():
        _publish(mirror, f"{prefix}-images-idx3-ubyte.gz", gzip.compress(_idx(x)))
        _publish(mirror, f"{prefix}-labels-idx1-ubyte.gz", gzip.compress(_idx(y)))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, parts["train"][0])
    np.testing.assert_array_equal(y_test, parts["t10k"][1])
    assert x_test.shape == (2, 28, 28) and y_train.dtype == np.uint8
    assert (_cache(tmp_path) / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file()  # Keras's layout


# --------------------------------------------------------------------------------------------------------
# CIFAR.


def _tar_gz(members):
    """members: {name: bytes} -> tar.gz bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _cifar_batch(n, label_keys=("labels",), classes=10):
    """A batch dict as the real files hold it: bytes keys (written by Python 2), data (n, 3072) uint8."""
    batch = {b"batch_label": b"testing batch", b"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8)}
    batch[b"filenames"] = [f"img_{i}.png".encode() for i in range(n)]
    for key in label_keys:
        batch[key.encode()] = RNG.integers(0, classes, n).tolist()
    return batch


def test_cifar10(mirror, monkeypatch):
    batches = {f"data_batch_{i}": _cifar_batch(2) for i in range(1, 6)} | {"test_batch": _cifar_batch(3)}
    members = {f"cifar-10-batches-py/{name}": pickle.dumps(b, protocol=4) for name, b in batches.items()}
    _publish(mirror, "cifar-10-python.tar.gz", _tar_gz(members), monkeypatch, cifar10)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    expected_x = np.concatenate([b[b"data"] for b in train]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(x_train, expected_x)
    np.testing.assert_array_equal(y_train[:, 0], sum((b[b"labels"] for b in train), []))
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    assert y_train.shape == (10, 1) and y_test.shape == (3, 1)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    np.testing.assert_array_equal(y_test[:, 0], batches["test_batch"][b"labels"])


def test_cifar100_matches_keras(keras, mirror, monkeypatch):
    batches = {
        name: _cifar_batch(n, ("fine_labels", "coarse_labels"), 20) for name, n in (("train", 4), ("test", 2))
    }
    members = {f"cifar-100-python/{name}": pickle.dumps(b, protocol=4) for name, b in batches.items()}
    _publish(mirror, "cifar-100-python.tar.gz", _tar_gz(members), monkeypatch, cifar100)
    for label_mode in ("fine", "coarse"):
        got = cifar100.load_data(label_mode=label_mode)
        folder = str(_cache(mirror.parent) / cifar100.CACHE_NAME)  # what jseq extracted, given to Keras
        monkeypatch.setattr("keras.src.datasets.cifar100.get_file", lambda *a, folder=folder, **k: folder)
        expected = keras.datasets.cifar100.load_data(label_mode=label_mode)
        for g, e in zip(sum(got, ()), sum(expected, ()), strict=True):
            assert g.dtype == e.dtype and g.shape == e.shape
            np.testing.assert_array_equal(g, e)
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")


class _Gadget:
    """A pickle payload that runs `touch <marker>` when loaded by an unrestricted unpickler."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_gadget_is_live_under_plain_pickle(tmp_path):
    # Shows the payload below is real: plain pickle runs it (on a separate marker).
    live = tmp_path / "live_marker"
    pickle.loads(pickle.dumps(_Gadget(live)))
    assert live.exists()


def test_cifar_pickle_gadget_is_refused(mirror, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"evil": _Gadget(marker)}
    members = {f"cifar-10-batches-py/{name}": pickle.dumps(batch, protocol=4) for name in ["data_batch_1"]}
    archive = _tar_gz(members)
    _publish(mirror, "cifar-10-python.tar.gz", archive)
    with pytest.raises(HashMismatchError):  # with the real pinned hash: refused before extraction
        cifar10.load_data()
    assert not (_cache(tmp_path) / cifar10.CACHE_NAME).exists()
    monkeypatch.setattr(cifar10, "FILE_HASH", hashlib.sha256(archive).hexdigest())
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load the global '(posix|nt|os)\.system'"):
        cifar10.load_data()
    assert not marker.exists()


# --------------------------------------------------------------------------------------------------------
# IMDB and Reuters.

SEQUENCES = [[1, 5, 2], [4, 4, 9, 1, 7, 3], [2], [8, 1, 6, 6], [3, 3, 1, 10, 2], [5, 6], [7, 9, 1, 1, 2]]
WORD_INDEX_CASES = [
    {"num_words": 8},
    {"num_words": 10, "skip_top": 3},
    {"num_words": 12, "maxlen": 6},
    {"num_words": 9, "oov_char": None},
    {"num_words": 14, "start_char": None, "index_from": 0, "seed": 7},
    {"num_words": 12, "start_char": None, "index_from": 2},
]


@pytest.fixture
def imdb_file(mirror, monkeypatch):
    x_train, x_test = _objects(SEQUENCES[:4]), _objects(SEQUENCES[4:] + [[2, 2, 3]])
    data = _npz(x_train=x_train, y_train=np.array([0, 1, 1, 0]), x_test=x_test, y_test=np.array([1, 0, 0, 1]))
    _publish(mirror, "imdb.npz", data, monkeypatch, imdb)
    return mirror


def _as_lists(x):
    return [list(map(int, s)) for s in x]


@pytest.mark.parametrize("kwargs", WORD_INDEX_CASES)
def test_imdb_matches_keras(keras, imdb_file, tmp_path, monkeypatch, kwargs):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(**kwargs)
    monkeypatch.setattr(
        "keras.src.datasets.imdb.get_file", lambda *a, **k: str(_cache(tmp_path) / "imdb.npz")
    )
    (kx_train, ky_train), (kx_test, ky_test) = keras.datasets.imdb.load_data(**kwargs)
    assert _as_lists(x_train) == _as_lists(kx_train) and _as_lists(x_test) == _as_lists(kx_test)
    np.testing.assert_array_equal(y_train, ky_train)
    np.testing.assert_array_equal(y_test, ky_test)
    assert x_train.dtype == object and x_train.ndim == 1 and y_train.dtype == ky_train.dtype


def test_imdb_defaults_keep_every_word(imdb_file):
    (x_train, _), (x_test, _) = imdb.load_data()
    words = sorted({w for s in _as_lists(x_train) + _as_lists(x_test) for w in s})
    assert words[0] == 1 and words[-1] == 10 + 3  # start_char 1, and the largest index 10 shifted by 3
    assert 2 not in words  # no word became oov_char (Keras 3 turns the largest index into 2)
    with pytest.raises(ValueError, match="maxlen=2, no sequence was kept"):
        imdb.load_data(maxlen=2)


def test_imdb_word_index(mirror, monkeypatch):
    data = json.dumps({"the": 1, "movie": 2}).encode()
    (mirror / "imdb_word_index.json").write_bytes(data)
    monkeypatch.setattr(imdb, "WORD_INDEX_HASH", hashlib.md5(data).hexdigest())  # Keras pins an md5
    assert imdb.get_word_index() == {"the": 1, "movie": 2}


def _npz_with_pickled_member(name, payload, shape):
    """An .npz whose `name.npy` declares an object array and holds `payload` pickled."""
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "|O", "fortran_order": False, "shape": shape})
    npy.write(pickle.dumps(payload, protocol=2))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{name}.npy", npy.getvalue())
    return buffer.getvalue()


def test_imdb_pickle_gadget_is_refused(mirror, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    data = _npz_with_pickled_member("x_train", _Gadget(marker), (1,))
    _publish(mirror, "imdb.npz", data)
    with pytest.raises(HashMismatchError):  # the real pinned hash: refused before any unpickling
        imdb.load_data()
    monkeypatch.setattr(imdb, "FILE_HASH", hashlib.sha256(data).hexdigest())
    with pytest.raises(pickle.UnpicklingError, match=r"'(posix|nt|os)\.system' from .*imdb\.npz"):
        imdb.load_data()
    assert not marker.exists()


def test_object_member_that_is_not_an_array_is_refused(mirror, monkeypatch):
    data = _npz_with_pickled_member("x", [[1, 2]], (1,))  # a plain list where an array is declared
    _publish(mirror, "reuters.npz", data, monkeypatch, reuters)
    with pytest.raises(ValueError, match="not the array its header declares"):
        reuters.load_data()


@pytest.fixture
def reuters_file(mirror, monkeypatch):
    labels = np.array([3, 0, 45, 3, 12, 1, 3])
    _publish(mirror, "reuters.npz", _npz(x=_objects(SEQUENCES), y=labels), monkeypatch, reuters)
    return mirror


@pytest.mark.parametrize("kwargs", WORD_INDEX_CASES + [{"num_words": 11, "test_split": 0.5}])
def test_reuters_matches_keras(keras, reuters_file, tmp_path, monkeypatch, kwargs):
    (x_train, y_train), (x_test, y_test) = reuters.load_data(**kwargs)
    path = str(_cache(tmp_path) / "reuters.npz")
    monkeypatch.setattr("keras.src.datasets.reuters.get_file", lambda *a, **k: path)
    (kx_train, ky_train), (kx_test, ky_test) = keras.datasets.reuters.load_data(**kwargs)
    assert _as_lists(x_train) == _as_lists(kx_train) and _as_lists(x_test) == _as_lists(kx_test)
    np.testing.assert_array_equal(y_train, ky_train)
    np.testing.assert_array_equal(y_test, ky_test)
    assert y_train.dtype == ky_train.dtype


def test_reuters_labels_and_split_errors(keras):
    names = reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn" and names == keras.datasets.reuters.get_label_names()
    with pytest.raises(ValueError, match="test_split"):
        reuters.load_data(test_split=1.5)


# --------------------------------------------------------------------------------------------------------
# Housing.


@pytest.mark.parametrize(
    "module, features, kwargs",
    [
        (boston_housing, 13, {}),
        (boston_housing, 13, {"test_split": 0.5, "seed": 1}),
        (california_housing, 8, {}),
        (california_housing, 8, {"version": "small", "test_split": 0.25}),
    ],
)
def test_housing_matches_keras(keras, mirror, tmp_path, monkeypatch, module, features, kwargs):
    x, y = RNG.normal(size=(700, features)), RNG.uniform(10, 50, size=700)
    _publish(mirror, module.FILE_NAME, _npz(x=x, y=y), monkeypatch, module)
    got = module.load_data(**kwargs)
    path = str(_cache(tmp_path) / module.FILE_NAME)
    monkeypatch.setattr(f"keras.src.datasets.{module.__name__.split('.')[-1]}.get_file", lambda *a, **k: path)
    expected = getattr(keras.datasets, module.__name__.split(".")[-1]).load_data(**kwargs)
    for g, e in zip(sum(got, ()), sum(expected, ()), strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)


def test_housing_argument_errors():
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(test_split=1.0)
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="medium")  # checked before any download


# --------------------------------------------------------------------------------------------------------
# No unrestricted unpickling anywhere a dataset file is read.


def test_no_unrestricted_pickle_in_loading_code():
    sources = list((ROOT / "jseq" / "datasets").glob("*.py")) + [ROOT / "jseq" / "utils" / "file.py"]
    forbidden = re.compile(r"allow_pickle\s*=\s*True|pickle\.loads?\(|marshal|\beval\(|import_module\(")
    for source in sources:
        for number, line in enumerate(source.read_text().splitlines(), 1):
            assert not forbidden.search(line), f"{source.name}:{number}: {line.strip()}"
