"""CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, in 10 classes.

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck.
"""

import os

import numpy as np

from jseq.datasets._cifar import load_batch
from jseq.datasets._common import fetch

ORIGIN_BASE = "https://www.cs.toronto.edu/~kriz/"
FILE_NAME = "cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"  # sha256, as Keras pins
CACHE_NAME = "cifar-10-batches-py-target"  # extraction folder name Keras uses


def load_data():
    """Loads the CIFAR-10 dataset.

    The archive's hash is checked before it is extracted, and the batches (pickles) are read with a
    restricted unpickler that builds only arrays, lists and numbers.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(50000, 32, 32, 3)` and `(10000, 32, 32, 3)`
        (channels last), and uint8 labels 0-9 `(50000, 1)` and `(10000, 1)`.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = jseq.datasets.cifar10.load_data()
    """
    folder = fetch(FILE_NAME, ORIGIN_BASE, FILE_HASH, fname=CACHE_NAME, extract=True)
    folder = os.path.join(folder, "cifar-10-batches-py")
    train = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    for name, y in (("train", y_train), ("test", y_test)):
        if len(y) and not 0 <= y.min() <= y.max() < 10:
            raise ValueError(f"CIFAR-10 {name} labels must be in [0, 10); found {y.min()}..{y.max()}.")
    # (n, 3, 32, 32) channels first as stored -> (n, 32, 32, 3) channels last; labels (n, 1) as Keras.
    x_train = np.ascontiguousarray(x_train.transpose(0, 2, 3, 1), dtype=np.uint8)
    x_test = np.ascontiguousarray(x_test.transpose(0, 2, 3, 1), dtype=np.uint8)
    y_train, y_test = y_train.astype(np.uint8).reshape(-1, 1), y_test.astype(np.uint8).reshape(-1, 1)
    return (x_train, y_train), (x_test, y_test)
