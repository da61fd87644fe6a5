"""The bytes of model files: written atomically, read with every check before anything is trusted.

Writing. `atomic_write(path, write)` has `write` fill a temporary file in the target's own folder, flushes
and fsyncs it, then renames it over the target with `os.replace` (one atomic step on POSIX and Windows) and
fsyncs the folder. A process killed, an exception raised or a disk filling up mid-write leaves the previous
file exactly as it was; the temporary file a killed process leaves behind is named
`.<target>.<pid>.<random>.jseq-tmp` and the next successful save of that target removes it. In a
multi-process JAX run only process 0 writes (`writes_files`); the callers check it.

Reading. A `.keras` file is a zip of exactly `metadata.json`, `config.json` and `model.weights.h5`.
`read_archive` refuses anything else (other or duplicated members, paths with `..`), checks each member's
declared size against caps and against its stored size before reading it (a zip bomb declares gigabytes and
stores kilobytes), and lets the zip CRC catch flipped bytes. `open_h5` opens HDF5 bytes and `H5Store` walks
the whole file first: soft and external links, external or virtual datasets, non-numeric data and datasets
that declare far more bytes than they store (an HDF5 "shape bomb") are refused before any array is read.
HDF5 files jseq writes carry a sha256 of their contents (a root attribute Keras ignores), checked when
present, so a flipped byte in a `.weights.h5` file is caught too.

Every failure is a `FileFormatError` (a `ValueError`) or `UnsafeFileError` that names the file and the
cause; a missing file is a `FileNotFoundError` naming the path.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import time
import zipfile

import h5py
import jax
import numpy as np

# Caps, module constants so that tests can lower them instead of writing gigabytes.
MAX_JSON_BYTES = 64 << 20  # config.json / metadata.json
MAX_WEIGHTS_BYTES = 64 << 30  # model.weights.h5, in the archive or on its own
MAX_EXPANSION = 100  # declared size / stored size above which a compressed member or dataset is a bomb
BOMB_FLOOR_BYTES = 1 << 20  # below this, ratios are not checked (tiny members compress well)
MAX_H5_OBJECTS = 1_000_000  # groups and datasets walked in one HDF5 file
MAX_H5_DEPTH = 64

METADATA, CONFIG, WEIGHTS = "metadata.json", "config.json", "model.weights.h5"
_MEMBERS = (METADATA, CONFIG, WEIGHTS)
_TMP_SUFFIX = ".jseq-tmp"
CHECKSUM = "jseq_sha256"  # root attribute of the HDF5 files jseq writes (Keras ignores it)


class FileFormatError(ValueError):
    """A model or weights file that is damaged, incomplete, or not in the format its name says."""


class UnsafeFileError(FileFormatError):
    """A file that asks for something jseq never does while loading: run code, import a module, follow a
    link out of the file, or allocate far more memory than the file stores."""


def size_str(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PiB"


# --------------------------------------------------------------------------------------------------------
# Atomic writes


def writes_files():
    """Whether this process writes model files, checkpoints and logs: always in a one-process run; in a
    multi-process JAX run (`jax.distributed.initialize`), only process 0, so that N hosts never race to
    write one file. The other processes skip the write and go on."""
    return jax.process_index() == 0


def atomic_write(path, write):
    """Make `path` hold what `write(fileobj)` writes, all at once or not at all (module docstring)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save {path}: the folder {folder} does not exist. Create it first.")
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: the target keeps its previous content
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, base)


def _fsync_folder(folder):
    # Makes the rename itself durable (power loss); folders cannot be opened on Windows.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(folder, base):
    """Remove temporaries of `base` left by processes that died mid-write (never one still writing)."""
    pattern = re.compile(re.escape(f".{base}.") + r"(\d+)\.[0-9a-f]+" + re.escape(_TMP_SUFFIX) + "$")
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match and _writer_is_gone(int(match.group(1)), os.path.join(folder, name)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, name))


def _writer_is_gone(pid, tmp_path):
    if os.name != "posix":  # no signal-0 probe on Windows: only clearly abandoned files
        with contextlib.suppress(FileNotFoundError):
            return time.time() - os.path.getmtime(tmp_path) > 600
        return False
    if pid == os.getpid():
        return False  # this process may be writing it in another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def write_archive(path, members):
    """Write a `.keras` zip of `members` ({name: bytes}, in order, stored uncompressed as Keras does)."""

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)

    atomic_write(path, write)


# --------------------------------------------------------------------------------------------------------
# Reading files and archives


def check_exists(path, what):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found: filepath={path}. Please ensure the {what} exists.")
    if os.path.isdir(path):
        raise FileFormatError(f"{path} is a directory, not a {what}.")
    return path


def read_file(path, what, limit):
    """The bytes of `path`, refusing files larger than `limit`."""
    path = check_exists(path, what)
    size = os.path.getsize(path)
    if size > limit:
        raise UnsafeFileError(
            f"{path}: the {what} is {size_str(size)}, more than the {size_str(limit)} jseq reads."
        )
    with open(path, "rb") as f:
        return f.read()


def read_archive(path):
    """`{member name: bytes}` of a `.keras` archive, every member checked (see the module docstring)."""
    data = read_file(path, ".keras file", MAX_WEIGHTS_BYTES + 2 * MAX_JSON_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data), "r") as zf:
            infos = zf.infolist()
            _check_members(path, infos)
            return {info.filename: _read_member(path, zf, info) for info in infos}
    except FileFormatError:
        raise
    except zipfile.BadZipFile as error:
        raise FileFormatError(f"{path}: {_why_not_zip(data, error)}") from None
    except Exception as error:  # the bytes are in memory: any failure to parse them is a damaged archive
        raise FileFormatError(
            f"{path}: the .keras archive is damaged ({type(error).__name__}: {error})."
        ) from None


def _why_not_zip(data, error):
    if not data:
        return "the file is empty (0 bytes); a .keras file is a zip archive."
    if data[:4] != b"PK\x03\x04":
        return f"not a .keras archive: the file is not a zip file (it starts with {data[:4]!r})."
    return f"the .keras archive is truncated or damaged ({error})."


def _check_members(path, infos):
    names = [info.filename for info in infos]
    for name in names:
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise UnsafeFileError(
                f"{path}: the archive holds a member with an unsafe path {name!r} (absolute or with '..'); "
                "jseq refuses it."
            )
    unknown = [n for n in names if n not in _MEMBERS]
    if unknown:
        raise UnsafeFileError(
            f"{path}: the archive holds unexpected members {unknown[:5]!r}; a .keras file written by jseq or "
            f"Keras for jseq's layers holds exactly {list(_MEMBERS)}."
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FileFormatError(f"{path}: the archive holds the member(s) {duplicated} more than once.")
    missing = [n for n in _MEMBERS if n not in names]
    if missing:
        raise FileFormatError(f"{path}: the archive has no {', '.join(missing)}; it is incomplete.")
    for info in infos:
        limit = MAX_WEIGHTS_BYTES if info.filename == WEIGHTS else MAX_JSON_BYTES
        if info.file_size > limit:
            raise UnsafeFileError(
                f"{path}: member {info.filename!r} declares {size_str(info.file_size)}, more than the "
                f"{size_str(limit)} jseq reads."
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileFormatError(
                f"{path}: member {info.filename!r} uses an unsupported compression ({info.compress_type})."
            )
        if info.file_size > BOMB_FLOOR_BYTES and info.file_size > MAX_EXPANSION * info.compress_size:
            raise UnsafeFileError(
                f"{path}: member {info.filename!r} declares {size_str(info.file_size)} but stores only "
                f"{size_str(info.compress_size)}; refusing a potential decompression bomb."
            )


def _read_member(path, zf, info):
    with zf.open(info, "r") as f:
        data = f.read(info.file_size + 1)  # never more than declared (+1 to see a lie)
    if len(data) != info.file_size:
        raise FileFormatError(
            f"{path}: member {info.filename!r} holds {len(data)} bytes but declares {info.file_size}."
        )
    return data


def parse_json(data, where):
    """A JSON object from bytes, or a `FileFormatError` naming `where`."""
    if len(data) > MAX_JSON_BYTES:
        raise UnsafeFileError(f"{where} is {size_str(len(data))}, more than {size_str(MAX_JSON_BYTES)}.")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FileFormatError(f"{where} is not valid JSON ({error}).") from None
    except RecursionError:
        raise FileFormatError(f"{where} nests objects too deeply to be a model file.") from None
    if not isinstance(value, dict):
        raise FileFormatError(f"{where} must hold a JSON object; it holds a {type(value).__name__}.")
    return value


# --------------------------------------------------------------------------------------------------------
# HDF5


def open_h5(data, where):
    """An `H5Store` over HDF5 `data` (bytes), after the safety walk."""
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except Exception as error:  # h5py raises OSError mostly, other types for some damage
        reason = str(error)
        if "truncated" in reason:
            reason = f"the file is truncated ({reason})"
        elif "signature" in reason:
            reason = f"it is not an HDF5 file ({reason})"
        raise FileFormatError(f"{where}: cannot read the weights: {reason}.") from None
    try:
        return H5Store(f, where)
    except BaseException:
        f.close()
        raise


class H5Store:
    """The datasets of an HDF5 weights file, indexed after checking every object in it.

    `datasets[path]` is `(shape, dtype)` for each dataset (`"layers/dense/vars/0"`); `attrs(path)` a group's
    attributes; `read(path)` one array.
    """

    def __init__(self, f, where):
        self._file, self.where = f, where
        self.datasets, self.groups = {}, set()
        try:
            self._walk(f, "", 0)
            expected = f.attrs.get(CHECKSUM)
            matches = expected is None or (isinstance(expected, str) and expected == _digest(f))
        except FileFormatError:
            raise
        except Exception as error:  # the file was checked for links and bombs: this is damage
            raise FileFormatError(
                f"{where}: the weights file is damaged ({type(error).__name__}: {error})."
            ) from None
        if not matches:
            raise FileFormatError(
                f"{where}: the weights do not match the checksum jseq wrote with them: the file is corrupted."
            )

    def _walk(self, group, prefix, depth):
        if depth > MAX_H5_DEPTH:
            raise UnsafeFileError(f"{self.where}: groups nest deeper than {MAX_H5_DEPTH} (a link cycle?).")
        for name in group:
            path = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
                raise UnsafeFileError(
                    f"{self.where}: '{path}' is {kind}; jseq reads only datasets stored in the file itself."
                )
            if len(self.groups) + len(self.datasets) >= MAX_H5_OBJECTS:
                raise UnsafeFileError(f"{self.where}: more than {MAX_H5_OBJECTS} objects in the file.")
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                self.groups.add(path)
                self._walk(obj, path + "/", depth + 1)
            elif isinstance(obj, h5py.Dataset):
                self.datasets[path] = self._check_dataset(path, obj)
            else:
                raise FileFormatError(f"{self.where}: '{path}' is neither a group nor a dataset.")

    def _check_dataset(self, path, ds):
        if ds.is_virtual or ds.external:
            raise UnsafeFileError(
                f"{self.where}: dataset '{path}' keeps its data outside the file (virtual or external "
                "storage); jseq reads only data stored in the file itself."
            )
        dtype = ds.dtype
        if dtype.kind not in "biuf" or dtype.fields is not None:
            raise FileFormatError(
                f"{self.where}: dataset '{path}' holds {dtype}, not numbers; it is not a weights file."
            )
        declared = int(np.prod(ds.shape, dtype=object)) * dtype.itemsize
        stored = ds.id.get_storage_size()
        contiguous = ds.chunks is None
        if (contiguous and declared != stored and declared > 0) or (
            not contiguous and declared > BOMB_FLOOR_BYTES and declared > MAX_EXPANSION * stored
        ):
            raise UnsafeFileError(
                f"{self.where}: dataset '{path}' declares {size_str(declared)} (shape {tuple(ds.shape)}) but "
                f"stores {size_str(stored)}; refusing a potential shape bomb."
            )
        return tuple(int(d) for d in ds.shape), dtype

    def attrs(self, path):
        return dict(self._file[path].attrs) if path in self.groups else {}

    def read(self, path):
        try:
            return np.asarray(self._file[path][()])
        except Exception as error:  # a damaged dataset (its shape and storage were checked already)
            raise FileFormatError(f"{self.where}: dataset '{path}' is damaged ({error}).") from None

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_h5(build):
    """The bytes of a new HDF5 file that `build(h5py.File)` fills, with its checksum as a root attribute."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
        f.attrs[CHECKSUM] = _digest(f)
    return buffer.getvalue()


def _digest(f):
    """sha256 over every dataset (path, dtype, shape, bytes) and every group attribute but `name`, which
    Keras's HDF5 format does not protect (only the zip around a `.keras` file has a CRC)."""
    digest = hashlib.sha256()
    paths = []
    f.visit(paths.append)
    for path in sorted(paths):
        obj = f[path]
        if isinstance(obj, h5py.Dataset):
            data = np.ascontiguousarray(obj[()])
            digest.update(f"{path}|{data.dtype.str}|{data.shape}|".encode())
            digest.update(data.tobytes())
        else:
            attrs = sorted((k, repr(v)) for k, v in obj.attrs.items() if k != "name")
            digest.update(f"{path}|{attrs}|".encode())
    return digest.hexdigest()
