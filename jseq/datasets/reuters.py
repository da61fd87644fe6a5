"""Reuters newswires: 11,228 newswires labelled with 46 topics (`get_label_names()`).

Each newswire is a list of word indices; a word's index is its frequency rank, shifted by `index_from` so
that 0 (padding), 1 (start) and 2 (out of vocabulary) stay free.
"""

import json

import numpy as np

from jseq.datasets._common import (
    KERAS_ORIGIN,
    check_test_split,
    drop_long,
    fetch,
    limit_vocabulary,
    object_array,
    read_arrays,
    shift_sequences,
)

FILE_NAME = "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"  # sha256, as Keras pins
WORD_INDEX_FILE = "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"  # md5: the only hash Keras publishes for this file

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
    "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
    "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
    "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)  # fmt: skip


def load_data(
    path=FILE_NAME,
    num_words=None,
    skip_top=0,
    maxlen=None,
    test_split=0.2,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Loads the Reuters newswire topic classification dataset.

    Args:
        path: file name to cache the data under (in `$JSEQ_HOME/datasets`).
        num_words: keep the `num_words` most frequent words; rarer ones become `oov_char`. None keeps all.
        skip_top: the `skip_top` most frequent words also become `oov_char`.
        maxlen: drop the newswires of `maxlen` words or more (counting `start_char`), as Keras does.
        test_split: fraction of the newswires kept for the test set, in [0, 1).
        seed: seed of the shuffle before the split.
        start_char: index put at the start of every newswire (None: nothing).
        oov_char: index that replaces cut words (None: cut words are removed).
        index_from: added to every word index.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: 1-D object arrays of lists of ints, and int64 topic labels
        0-45.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = jseq.datasets.reuters.load_data(num_words=10000)
    """
    check_test_split(test_split)
    path = fetch(FILE_NAME, KERAS_ORIGIN, FILE_HASH, fname=path)
    xs, labels = read_arrays(path, ["x", "y"], objects=True)
    indices = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(indices)
    xs, labels = xs[indices], labels[indices]

    xs = shift_sequences(xs, start_char, index_from)
    if maxlen:
        xs, kept = drop_long(maxlen, xs, labels)
        labels = np.asarray(kept, labels.dtype)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return (object_array(xs[:cut]), labels[:cut]), (object_array(xs[cut:]), labels[cut:])


def get_word_index(path=WORD_INDEX_FILE):
    """Retrieves the dict mapping words to their index in the Reuters dataset.

    Indices start at 1 (the most frequent word); the sequences from `load_data` hold `index + index_from`.

    Args:
        path: file name to cache the word index under (in `$JSEQ_HOME/datasets`).
    """
    path = fetch(WORD_INDEX_FILE, KERAS_ORIGIN, WORD_INDEX_HASH, fname=path)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed by label (`get_label_names()[3] == "earn"`)."""
    return LABEL_NAMES
