"""CIFAR-100: 50,000 training and 10,000 test colour images, 32x32, in 100 classes grouped into 20."""

import os

import numpy as np

from jseq.datasets._cifar import load_batch
from jseq.datasets._common import fetch

ORIGIN_BASE = "https://www.cs.toronto.edu/~kriz/"
FILE_NAME = "cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"  # sha256, as Keras pins
CACHE_NAME = "cifar-100-python-target"  # extraction folder name Keras uses


def load_data(label_mode="fine"):
    """Loads the CIFAR-100 dataset.

    Args:
        label_mode: "fine" (100 classes) or "coarse" (the 20 superclasses).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(50000, 32, 32, 3)` and `(10000, 32, 32, 3)`
        (channels last), and int64 labels `(50000, 1)` and `(10000, 1)` (the dtype Keras returns).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = jseq.datasets.cifar100.load_data(label_mode="coarse")
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(
            f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.'
        )
    folder = fetch(FILE_NAME, ORIGIN_BASE, FILE_HASH, fname=CACHE_NAME, extract=True)
    folder = os.path.join(folder, "cifar-100-python")
    x_train, y_train = load_batch(os.path.join(folder, "train"), label_key=f"{label_mode}_labels")
    x_test, y_test = load_batch(os.path.join(folder, "test"), label_key=f"{label_mode}_labels")
    # (n, 3, 32, 32) channels first as stored -> (n, 32, 32, 3) channels last; labels (n, 1) as Keras.
    x_train = np.ascontiguousarray(x_train.transpose(0, 2, 3, 1))
    x_test = np.ascontiguousarray(x_test.transpose(0, 2, 3, 1))
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
