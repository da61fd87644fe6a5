"""IMDB movie reviews: 25,000 training and 25,000 test reviews labelled positive (1) or negative (0).

Each review is a list of word indices; a word's index is its frequency rank in the training set, shifted by
`index_from` so that 0 (padding), 1 (start) and 2 (out of vocabulary) stay free.
"""

import json

import numpy as np

from jseq.datasets._common import (
    KERAS_ORIGIN,
    drop_long,
    fetch,
    limit_vocabulary,
    object_array,
    read_arrays,
    shift_sequences,
)

FILE_NAME = "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"  # sha256, as Keras pins
WORD_INDEX_FILE = "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"  # md5: the only hash Keras publishes for this file


def load_data(
    path=FILE_NAME, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3
):
    """Loads the IMDB sentiment dataset.

    Args:
        path: file name to cache the data under (in `$JSEQ_HOME/datasets`).
        num_words: keep the `num_words` most frequent words; rarer ones become `oov_char`. None keeps all.
        skip_top: the `skip_top` most frequent words also become `oov_char`.
        maxlen: drop the reviews of `maxlen` words or more (counting `start_char`), as Keras does.
        seed: seed of the shuffles (train, then test).
        start_char: index put at the start of every review (None: nothing).
        oov_char: index that replaces cut words (None: cut words are removed).
        index_from: added to every word index.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: 1-D object arrays of lists of ints, and int64 labels (0/1).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = jseq.datasets.imdb.load_data(num_words=10000)
    """
    path = fetch(FILE_NAME, KERAS_ORIGIN, FILE_HASH, fname=path)
    x_train, labels_train, x_test, labels_test = read_arrays(
        path, ["x_train", "y_train", "x_test", "y_test"], objects=True
    )
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    x_train = shift_sequences(x_train, start_char, index_from)
    x_test = shift_sequences(x_test, start_char, index_from)
    if maxlen:
        dtype = labels_train.dtype
        x_train, labels_train = drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                "Increase maxlen."
            )
        labels_train, labels_test = np.asarray(labels_train, dtype), np.asarray(labels_test, dtype)

    xs = limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    cut = len(x_train)
    return (object_array(xs[:cut]), np.asarray(labels_train)), (
        object_array(xs[cut:]),
        np.asarray(labels_test),
    )


def get_word_index(path=WORD_INDEX_FILE):
    """Retrieves the dict mapping words to their index in the IMDB dataset.

    Indices start at 1 (the most frequent word); the sequences from `load_data` hold `index + index_from`.

    Args:
        path: file name to cache the word index under (in `$JSEQ_HOME/datasets`).

    Example:
        >>> index = jseq.datasets.imdb.get_word_index()
        >>> words = {i + 3: w for w, i in index.items()}  # with load_data's default index_from=3
    """
    path = fetch(WORD_INDEX_FILE, KERAS_ORIGIN, WORD_INDEX_HASH, fname=path)
    with open(path, encoding="utf-8") as f:
        return json.load(f)
