"""Keras's datasets, downloaded once from the same origins with the same sha256 checks, then cached.

Each module has `load_data(...)` with Keras's arguments and return values (NumPy arrays). Files are cached
under `$JSEQ_HOME/datasets` (default `~/.jseq/datasets`); `JSEQ_DATASETS_MIRROR` (a URL prefix or a folder)
makes every loader download from a mirror instead.
"""

from jseq.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "reuters",
]
