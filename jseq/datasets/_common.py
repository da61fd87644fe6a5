"""Where the dataset loaders download from, and the checks they share.

Every loader downloads `<base><file name>` from the origin Keras uses. Setting the environment variable
`JSEQ_DATASETS_MIRROR` to a URL prefix (`https://mirror.example/keras/`) or to a local folder
(`/data/keras-datasets`) makes every loader take `<mirror>/<file name>` instead, with the same hash checks.
"""

import os
from pathlib import Path

import numpy as np

from jseq.datasets._safe_load import load_npz
from jseq.utils.file import get_file

MIRROR_ENV = "JSEQ_DATASETS_MIRROR"
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def origin_for(base, file_name):
    """The URL of `file_name`: `base + file_name`, or its copy on `JSEQ_DATASETS_MIRROR` when that is set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return base + file_name
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + file_name
    # A folder. Not checked here: a cached, verified file needs no mirror, and a download from a missing
    # folder fails with a DownloadError that names the path.
    return (Path(mirror).expanduser().resolve() / file_name).as_uri()


def fetch(file_name, base, file_hash, *, fname=None, **kwargs):
    """`get_file` for a loader: cache as `fname` (default `file_name`), download from `origin_for(...)`."""
    return get_file(fname or file_name, origin_for(base, file_name), file_hash=file_hash, **kwargs)


def check_test_split(test_split):
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1)."
        )


def shuffle_split(x, y, test_split, seed):
    """Shuffle `(x, y)` with `RandomState(seed)` and cut the last `test_split` fraction off (as Keras)."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def read_arrays(path, names, *, objects=False):
    """The arrays `names` of the `.npz` file at `path`, in that order.

    Numeric arrays are read with `allow_pickle=False`; with `objects=True` (IMDB, Reuters) object arrays are
    rebuilt by the restricted unpickler, which refuses anything but arrays, lists and numbers.
    """
    if objects:
        arrays = load_npz(path)
    else:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files if name in names}
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ValueError(
            f"{path} is not the expected dataset file: it lacks the arrays {missing}. Delete it so that the "
            "next call downloads it again."
        )
    return [arrays[name] for name in names]


# --------------------------------------------------------------------------------------------------------
# Word-index sequences (IMDB, Reuters): the same steps, in the same order, as Keras.


def shift_sequences(xs, start_char, index_from):
    """Prepend `start_char` (unless None) and add `index_from` to every word index."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in x] for x in xs]


def drop_long(maxlen, xs, labels):
    """Keep the sequences shorter than `maxlen` (Keras keeps `len(x) < maxlen`, dropping the rest)."""
    kept = [(x, y) for x, y in zip(xs, labels, strict=True) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_vocabulary(xs, num_words, skip_top, oov_char):
    """Replace (or with `oov_char=None` remove) word indices outside `[skip_top, num_words)`.

    `num_words=None` keeps every index (Keras 3 takes the largest index as the bound, which turns the
    rarest word into `oov_char`; jseq keeps it).
    """
    if not num_words:
        num_words = max((max(x) for x in xs if len(x)), default=0) + 1
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(sequences):
    """A 1-D object array of lists (`np.array` would make a 2-D array when all lengths happen to match)."""
    out = np.empty(len(sequences), dtype=object)
    for i, sequence in enumerate(sequences):
        out[i] = sequence
    return out
