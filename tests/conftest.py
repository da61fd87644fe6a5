import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the JAX backend: the reference. Tests that use it skip cleanly where it is absent."""
    return pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def _fresh_names():
    """Every test starts with fresh name counters, so `Dense` is `dense` as in a new Python process."""
    from jseq.core import clear_session

    clear_session()
    yield
