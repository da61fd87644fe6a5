"""The benchmark cases: framework-neutral models, their data, and one set of initial weights for all.

A model is a list of layer specs that every worker turns into its own layers:

    ("dense", units, activation)          Dense; kernel (d_in, units), bias (units,)
    ("conv2d", filters, size, activation) Conv2D, 'valid', stride 1; kernel (size, size, c_in, filters), bias
    ("maxpool2d", size)                   MaxPooling2D, stride = size, 'valid'
    ("flatten",)                          Flatten, channels last
    ("embedding", vocab, dim)             Embedding; embeddings (vocab, dim)
    ("lstm", units)                       LSTM, gates i, f, c, o; kernel (d_in, 4u), recurrent (u, 4u), bias

The initial weights are drawn once with NumPy from a fixed seed, in Keras's `get_weights()` order and with
Keras's default initializers (Glorot uniform kernels, zero biases, orthogonal recurrent kernels, LSTM forget
bias 1, embeddings uniform in [-0.05, 0.05]); jseq and Keras get them with `set_weights`, the hand-written
loop uses the arrays as they are. With `shuffle=False` everywhere, the three run the same arithmetic, so
their final accuracies must agree (up to float reassociation) or the timing is void.

Only NumPy is imported here: the workers load this module before they time their framework's import.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist"  # ../shared/data/mnist from the repo root
SEED = 1234
TEST_SAMPLES = 2000  # evaluate and predict always run on 2,000 samples (the last 2,000 MNIST test digits)


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    title: str
    input_shape: tuple
    input_dtype: str
    layers: tuple
    loss: str
    data: str  # "mnist" (real digits) or "sequences" (synthetic integer sequences)


MODELS = {
    "mlp": Model(
        "mlp",
        "MLP 784-512-10",
        (784,),
        "float32",
        (("dense", 512, "relu"), ("dense", 10, "softmax")),
        "sparse_categorical_crossentropy",
        "mnist",
    ),
    "dense10": Model(
        "dense10",
        "Dense(10) only (per-step overhead)",
        (784,),
        "float32",
        (("dense", 10, "softmax"),),
        "sparse_categorical_crossentropy",
        "mnist",
    ),
    "cnn": Model(
        "cnn",
        "CNN conv32-pool-conv64-pool-128-10",
        (28, 28, 1),
        "float32",
        (
            ("conv2d", 32, 3, "relu"),
            ("maxpool2d", 2),
            ("conv2d", 64, 3, "relu"),
            ("maxpool2d", 2),
            ("flatten",),
            ("dense", 128, "relu"),
            ("dense", 10, "softmax"),
        ),
        "sparse_categorical_crossentropy",
        "mnist",
    ),
    "lstm": Model(
        "lstm",
        "Embedding(1000, 32) + LSTM(32) + Dense(1)",
        (80,),
        "int32",
        (("embedding", 1000, 32), ("lstm", 32), ("dense", 1, "sigmoid")),
        "binary_crossentropy",
        "sequences",
    ),
}


@dataclasses.dataclass(frozen=True)
class Case:
    model: Model
    batch_size: int
    train_samples: int
    test_samples: int = TEST_SAMPLES

    @property
    def name(self):
        return f"{self.model.name}-b{self.batch_size}"

    @property
    def steps_per_epoch(self):
        return math.ceil(self.train_samples / self.batch_size)

    def describe(self):
        source = "MNIST (real)" if self.model.data == "mnist" else "synthetic sequences (seeded)"
        return (
            f"{self.model.title}, batch {self.batch_size}, {self.train_samples:,} train / "
            f"{self.test_samples:,} test samples of {source}, {self.steps_per_epoch} steps per epoch"
        )

    def to_json(self):
        return {
            "name": self.name,
            "model": self.model.name,
            "title": self.model.title,
            "layers": [list(spec) for spec in self.model.layers],
            "input_shape": list(self.model.input_shape),
            "input_dtype": self.model.input_dtype,
            "loss": self.model.loss,
            "data": self.model.data,
            "batch_size": self.batch_size,
            "train_samples": self.train_samples,
            "test_samples": self.test_samples,
            "steps_per_epoch": self.steps_per_epoch,
        }


# (model, batch size, training samples). Quick: one batch size each, a smaller CNN and LSTM, so that the
# whole run takes a few minutes on 2 CPU cores; full: two batch sizes for every model. The quick CNN keeps
# 4,000 samples: after 3 epochs on 2,000 it is still on the steep part of its learning curve, where float
# reassociation alone (a max-pool tie or ReLU kink that flips, amplified by RMSprop's normalised steps)
# moved the test accuracy of jseq and Keras 2 points apart; on 4,000 they agree to 0.003.
QUICK = (
    ("mlp", 128, 8000),
    ("dense10", 32, 8000),
    ("cnn", 128, 4000),
    ("lstm", 128, 2000),
)
FULL = (
    ("mlp", 128, 8000),
    ("mlp", 32, 8000),
    ("dense10", 32, 8000),
    ("dense10", 128, 8000),
    ("cnn", 128, 8000),
    ("cnn", 32, 8000),
    ("lstm", 128, 8000),
    ("lstm", 32, 8000),
)


def make_cases(quick, names=None, train_samples=None, test_samples=None):
    """The cases of a run, optionally restricted to `names` (e.g. ["mlp-b128"]) and resized.

    Args:
        quick: the quick set (True) or the full set (False).
        names: case names to keep, or model names (every batch size of it); None keeps all.
        train_samples, test_samples: override the number of samples (for smoke tests).
    """
    table = QUICK if quick else FULL
    cases = [Case(MODELS[m], b, n) for m, b, n in table]
    if names:
        known = sorted({c.name for c in cases} | {c.model.name for c in cases})
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"Unknown case(s) {unknown}. Cases of this mode: {known}")
        cases = [c for c in cases if c.name in names or c.model.name in names]
    if train_samples is not None:
        cases = [dataclasses.replace(c, train_samples=train_samples) for c in cases]
    if test_samples is not None:
        cases = [dataclasses.replace(c, test_samples=test_samples) for c in cases]
    return cases


# ------------------------------------------------------------------------------------------------------
# Data


def mnist_arrays(mnist_dir=MNIST_DIR):
    """The 10,000 MNIST test digits as (images (10000, 28, 28) uint8, labels (10000,) uint8)."""
    from jseq.datasets.mnist import load_idx  # an IDX reader only; the parent process calls this

    mnist_dir = Path(mnist_dir)
    images = mnist_dir / "t10k-images-idx3-ubyte.gz"
    labels = mnist_dir / "t10k-labels-idx1-ubyte.gz"
    for path in (images, labels):
        if not path.exists():
            raise FileNotFoundError(
                f"MNIST file {path} is missing. The benchmarks read the IDX files of ../shared/data/mnist "
                "(relative to the repository root); pass --mnist-dir to point elsewhere."
            )
    return load_idx(images), load_idx(labels)


def synthetic_sequences(n, length=80, vocab=1000, seed=SEED):
    """`n` integer sequences with a learnable binary label, like a tiny IMDB.

    Background tokens are uniform in [51, vocab); 8 random positions hold "sentiment" tokens, from [1, 26)
    when the label is 1 and from [26, 51) when it is 0. Returns x (n, length) int32 and y (n, 1) float32.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(51, vocab, (n, length))
    positions = np.argsort(rng.random((n, length)), axis=1)[:, :8]
    signal = rng.integers(1, 26, (n, 8)) + 25 * (1 - y)[:, None]
    np.put_along_axis(x, positions, signal, axis=1)
    return x.astype(np.int32), y.reshape(n, 1).astype(np.float32)


def case_data(case, mnist=None):
    """x_train, y_train, x_test, y_test for `case`, shaped for its model's input.

    MNIST: training rows are the first `train_samples` digits, test rows the last `test_samples` (the
    8,000 / 2,000 convention of ../shared/data/mnist), pixels scaled to [0, 1].
    """
    model = case.model
    if model.data == "mnist":
        images, labels = mnist if mnist is not None else mnist_arrays()
        if case.train_samples + case.test_samples > len(images):
            raise ValueError(
                f"{case.name}: {case.train_samples} + {case.test_samples} samples exceed the "
                f"{len(images)} MNIST digits available."
            )
        x = (images.reshape((len(images),) + model.input_shape) / 255.0).astype(np.float32)
        y = labels.astype(np.int32)
        return (
            x[: case.train_samples],
            y[: case.train_samples],
            x[-case.test_samples :],
            y[-case.test_samples :],
        )
    x, y = synthetic_sequences(case.train_samples + case.test_samples, length=model.input_shape[0])
    return x[: case.train_samples], y[: case.train_samples], x[case.train_samples :], y[case.train_samples :]


# ------------------------------------------------------------------------------------------------------
# Initial weights (Keras's default initializers, drawn with NumPy)


def _glorot_uniform(rng, shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _orthogonal(rng, rows, cols):
    """A (rows, cols) matrix with orthonormal rows or columns, as Keras's Orthogonal initializer."""
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return (q.T if rows < cols else q).astype(np.float32)


def initial_weights(model, seed=SEED):
    """The model's initial weights as a list in Keras's `get_weights()` order (layer by layer)."""
    rng = np.random.default_rng(seed)
    shape = tuple(model.input_shape)
    weights = []
    for spec in model.layers:
        kind = spec[0]
        if kind == "dense":
            units = spec[1]
            weights += [
                _glorot_uniform(rng, (shape[-1], units), shape[-1], units),
                np.zeros(units, np.float32),
            ]
            shape = shape[:-1] + (units,)
        elif kind == "conv2d":
            filters, size = spec[1], spec[2]
            c_in = shape[-1]
            kernel = _glorot_uniform(
                rng, (size, size, c_in, filters), size * size * c_in, size * size * filters
            )
            weights += [kernel, np.zeros(filters, np.float32)]
            shape = (shape[0] - size + 1, shape[1] - size + 1, filters)
        elif kind == "maxpool2d":
            shape = (shape[0] // spec[1], shape[1] // spec[1], shape[2])
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "embedding":
            vocab, dim = spec[1], spec[2]
            weights.append(rng.uniform(-0.05, 0.05, (vocab, dim)).astype(np.float32))
            shape = shape + (dim,)
        elif kind == "lstm":
            units = spec[1]
            bias = np.zeros(4 * units, np.float32)
            bias[units : 2 * units] = 1.0  # unit_forget_bias=True
            weights += [
                _glorot_uniform(rng, (shape[-1], 4 * units), shape[-1], 4 * units),
                _orthogonal(rng, units, 4 * units),
                bias,
            ]
            shape = (units,)
        else:
            raise ValueError(f"Unknown layer spec {spec!r} in model '{model.name}'.")
    return weights


# ------------------------------------------------------------------------------------------------------
# The file a worker reads: data and weights in one .npz (no pickle)


def write_case_file(case, path, mnist=None):
    """Write `case`'s data and initial weights to `path` (.npz) for the workers."""
    x_train, y_train, x_test, y_test = case_data(case, mnist)
    weights = initial_weights(case.model)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    np.savez(path, **arrays)


def read_case_file(path):
    """(data dict with x_train, y_train, x_test, y_test; list of initial weights) from `write_case_file`."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        count = sum(1 for k in f.files if k.startswith("w"))
        weights = [f[f"w{i}"] for i in range(count)]
    return data, weights
