"""The seed documents' code, read from the seeds themselves, runs with `jseq` in place of `keras`.

Each Python block of a seed is taken verbatim; `keras` / `tensorflow.keras` become `jseq`, and only the sizes
are shrunk (epochs to 1, dummy data to a few samples) so the suite stays fast. Blocks that use data made by a
block the document does not show get a small prelude that makes it.
"""

import re
from pathlib import Path

import numpy as np
import pytest

import jseq
from tests.conftest import MNIST_DIR

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


def _blocks(prefix):
    paths = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not paths:
        pytest.skip(f"seed {prefix} is not present (../shared/seeds)")
    return re.findall(r"```python\n(.*?)```", paths[0].read_text(encoding="utf-8"), flags=re.S)


def _as_jseq(code):
    code = re.sub(r"^import tensorflow as tf\n", "", code, flags=re.M)
    code = code.replace("tensorflow.keras", "jseq").replace(
        "from tensorflow import keras", "import jseq as keras"
    )
    code = re.sub(r"\bimport keras\.backend as K\b", "import jseq.backend as K", code)
    code = re.sub(r"\bimport keras\b", "import jseq as keras", code)
    code = re.sub(r"\bfrom keras\b", "from jseq", code)
    return code


def _shrink(code):
    code = re.sub(r"epochs=\d+", "epochs=1", code)
    code = code.replace("(100, 100, 100, 3)", "(16, 24, 24, 3)").replace(
        "(20, 100, 100, 3)", "(8, 24, 24, 3)"
    )
    code = code.replace("input_shape=(100, 100, 3)", "input_shape=(24, 24, 3)")
    code = re.sub(
        r"\((1000|100|20), ", lambda m: f"({ {'1000': 48, '100': 16, '20': 8}[m.group(1)] }, ", code
    )
    code = code.replace("batch_size * 10", "batch_size * 2").replace("batch_size * 3", "batch_size * 1")
    return code


def _needs(code):
    """Layer names the block imports from jseq.layers that do not exist (yet)."""
    names = re.findall(r"from jseq\.layers import ([\w, ]+)", code)
    wanted = {n.strip() for group in names for n in group.split(",")}
    return sorted(n for n in wanted if not hasattr(jseq.layers, n))


PRELUDES_003 = {
    # block 11 (Embedding + LSTM) and 12 (Conv1D) reuse `x_train` from blocks the guide does not show
    10: "x_train = np.random.randint(1024, size=(32, 12)); y_train = np.random.randint(2, size=(32, 1))\n"
    "x_test, y_test = x_train[:8], y_train[:8]\n",
    11: "x_train = np.random.random((32, 64, 100)); y_train = np.random.randint(2, size=(32, 1))\n"
    "x_test, y_test = x_train[:8], y_train[:8]\n",
}


@pytest.mark.slow
def test_seed_003_getting_started_blocks_run(capsys):
    blocks = _blocks("003")
    namespace = {"np": np, "keras": jseq}  # the guide imports keras in an earlier block
    ran, missing = 0, {}
    for i, block in enumerate(blocks):
        code = _shrink(_as_jseq(block))
        if _needs(code):
            missing[i + 1] = _needs(code)
            continue
        exec(PRELUDES_003.get(i, "") + code, namespace)  # noqa: S102 (the seed's own code)
        ran += 1
    assert ran >= 9, f"ran {ran} blocks; missing layers: {missing}"
    if missing:
        pytest.skip(f"blocks waiting for layers not in jseq yet: {missing}")
    out = capsys.readouterr().out
    assert "Epoch 1/1" not in out  # Keras prints no header for a single epoch
    assert "━━━━━━━━━━━━━━━━━━━━" in out


@pytest.mark.slow
def test_seed_004_mnist_blocks_run_on_real_digits(monkeypatch, capsys):
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the shared MNIST test set is not present")
    from jseq.datasets import mnist

    images = mnist.load_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    labels = mnist.load_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    # offline: load_data gives the real test set, split 8,000 / 2,000, in Keras's format
    monkeypatch.setattr(
        mnist, "load_data", lambda *a, **k: ((images[:8000], labels[:8000]), (images[8000:], labels[8000:]))
    )
    blocks = _blocks("004")
    namespace = {}
    ran = 0
    for block in blocks:
        code = _as_jseq(block)
        if "cifar10" in code:
            break  # the rest of the post is CIFAR-10, which needs a download
        if "plot_model" in code or "plt." in code or "sklearn" in code:
            continue  # pictures (tested in their own files) and scikit-learn's confusion matrix
        code = code.replace("60000", "8000").replace("reshape((10000", "reshape((2000")
        code = re.sub(r"epochs=\d+", "epochs=1", code)
        exec(code, namespace)  # noqa: S102
        ran += 1
    assert ran >= 6
    assert namespace["test_acc"] > 0.85  # one epoch of the seed's 512-unit MLP on real digits
    assert namespace["predictions"].shape == (2000, 10)
    out = capsys.readouterr().out
    assert "dense (Dense)" in out and "39,760" in out  # the seed's summary: 39,250 + 510 params
