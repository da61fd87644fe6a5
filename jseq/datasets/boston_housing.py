"""Boston housing prices: 506 samples of 13 attributes, targets in k$.

**Warning** (as Keras's): one attribute, "B", encodes an assumption about racial self-segregation; use the
dataset only to illustrate ethical problems in data, or prefer `california_housing`.
"""

from jseq.datasets._common import KERAS_ORIGIN, check_test_split, fetch, read_arrays, shuffle_split

FILE_NAME = "boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"  # sha256, as Keras pins


def load_data(path=FILE_NAME, test_split=0.2, seed=113):
    """Loads the Boston Housing dataset.

    Args:
        path: file name to cache the dataset under (in `$JSEQ_HOME/datasets`).
        test_split: fraction of the samples kept for the test set, in [0, 1).
        seed: seed of the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float64 features `(n, 13)` and targets `(n,)`.
    """
    check_test_split(test_split)
    x, y = read_arrays(fetch(FILE_NAME, KERAS_ORIGIN, FILE_HASH, fname=path), ["x", "y"])
    return shuffle_split(x, y, test_split, seed)
