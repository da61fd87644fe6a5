"""California housing prices: 20,640 census block groups, 8 features, median house value in dollars.

Features: MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude.
"""

from jseq.datasets._common import KERAS_ORIGIN, check_test_split, fetch, read_arrays, shuffle_split

FILE_NAME = "california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"  # sha256, as Keras pins


def load_data(version="large", path=FILE_NAME, test_split=0.2, seed=113):
    """Loads the California Housing dataset.

    Args:
        version: "large" (all 20,640 samples) or "small" (the first 600, a stand-in for Boston Housing).
        path: file name to cache the dataset under (in `$JSEQ_HOME/datasets`).
        test_split: fraction of the samples kept for the test set, in [0, 1).
        seed: seed of the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: features `(n, 8)` and targets `(n,)`.
    """
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    check_test_split(test_split)
    x, y = read_arrays(fetch(FILE_NAME, KERAS_ORIGIN, FILE_HASH, fname=path), ["x", "y"])
    if version == "small":
        x, y = x[:600], y[:600]
    return shuffle_split(x, y, test_split, seed)
