"""Read the pickles inside dataset files without letting them run code.

CIFAR batches are pickled dicts, and IMDB / Reuters keep ragged sequences as object arrays inside `.npz`
files, which NumPy can only store as pickles. A pickle names the callables it wants (its "globals") and the
unpickler calls them; `RestrictedUnpickler` resolves only the three NumPy names needed to rebuild an array,
so a file whose `__reduce__` asks for `os.system` (or anything else) is refused before anything runs.
Lists, dicts, tuples, strings, bytes and numbers need no globals and load as usual.
"""

import io
import pickle
import zipfile

import numpy as np

# `ndarray.__reduce__` names the function NumPy pickles arrays with: numpy(._)core.multiarray._reconstruct.
_reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # numpy < 2 writes "numpy.core", numpy >= 2 "numpy._core"; both mean the same function.
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only NumPy arrays, lists, dicts, tuples, strings, bytes and numbers.

    Args:
        file: binary file object positioned at the pickle stream.
        source: what to call the file in error messages (its path).
        encoding: as `pickle.Unpickler`; "bytes" reads Python 2 pickles (CIFAR) with `bytes` keys.
    """

    def __init__(self, file, *, source="<stream>", encoding="ASCII"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refusing to load the global '{module}.{name}' from {self.source}: jseq dataset files "
                "may only hold arrays, lists, dicts, tuples, strings, bytes and numbers. The file is "
                "corrupted or malicious; delete it and download it again."
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"Refusing a persistent id in {self.source}: not a jseq dataset file.")


def load_pickle(path, *, encoding="ASCII"):
    """Unpickle the file at `path` with `RestrictedUnpickler`."""
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, source=str(path), encoding=encoding).load()


def _read_npy(raw, source):
    """One `.npy` member: numeric arrays with no pickle at all, object arrays via `RestrictedUnpickler`."""
    fp = io.BytesIO(raw)
    major, _ = np.lib.format.read_magic(fp)
    if major == 1:
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
    elif major in (2, 3):  # 3.0 differs from 2.0 only in the header's text encoding
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"{source}: unsupported .npy format version {major}.")
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    array = RestrictedUnpickler(fp, source=source).load()
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError(
            f"{source}: the pickled data is not the array its header declares (expected an array of shape "
            f"{shape}, got {type(array).__name__})."
        )
    return array


def load_npz(path):
    """Read every array of an `.npz` file into a dict, as `np.load` would, but with no unrestricted pickle.

    Args:
        path: the `.npz` file.

    Returns:
        `{name: array}` for each `name.npy` member.
    """
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                name = member[: -len(".npy")]
                arrays[name] = _read_npy(archive.read(member), f"{path} (member {member!r})")
    return arrays
