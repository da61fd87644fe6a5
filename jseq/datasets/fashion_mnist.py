"""Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 28x28 grey-scale, 10 classes.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag,
9 Ankle boot.
"""

import os

from jseq.datasets._common import KERAS_ORIGIN, fetch
from jseq.datasets.mnist import load_idx

FILE_NAMES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
# Keras pins no hash for these four files; the IDX header check in `load_idx` still refuses a truncated
# or foreign file, and downloads are atomic.
FILE_HASHES = dict.fromkeys(FILE_NAMES)
CACHE_SUBDIR = os.path.join("datasets", "fashion-mnist")


def load_data():
    """Loads the Fashion-MNIST dataset.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(60000, 28, 28)` and `(10000, 28, 28)`, and
        uint8 labels 0-9 `(60000,)` and `(10000,)`.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = jseq.datasets.fashion_mnist.load_data()
    """
    y_train, x_train, y_test, x_test = (
        load_idx(fetch(name, KERAS_ORIGIN, FILE_HASHES[name], cache_subdir=CACHE_SUBDIR))
        for name in FILE_NAMES
    )
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"The Fashion-MNIST {split} files do not match: images {x.shape}, labels {y.shape}; expected "
                f"images (n, 28, 28) and labels (n,). Delete them from the cache to download them again."
            )
    return (x_train, y_train), (x_test, y_test)
