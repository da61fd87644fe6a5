"""`python -m jseq.demo`: train the seed's MNIST model, print its test accuracy and confusion matrix.

    python -m jseq.demo [--epochs 5] [--batch-size 128] [--out ./jseq_demo_output]
                        [--dataset {auto,mnist,shared-mnist,digits}] [--quiet]

The model is the one from the Keras lecture: Dense(512, relu) -> Dense(10, softmax), RMSprop, sparse
categorical cross-entropy, batch 128, 5 epochs. The data, tried in this order by `--dataset auto` (the demo
says which):

    mnist         the full MNIST (60,000 training / 10,000 test images), cached or downloaded once (11 MB)
    shared-mnist  the real MNIST test set kept in ../shared/data/mnist beside a source checkout, for offline
                  work: train on its first 8,000 images, test on the last 2,000
    digits        scikit-learn's 8x8 digits (1,797 images shipped inside scikit-learn, which
                  `pip install "jseq[demo]"` installs)

It writes the learning curves (training vs the test set after each epoch), a picture of the model, and the
trained model into `--out`.
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

import jseq
from jseq import layers
from jseq.datasets import mnist

DATASETS = ("auto", "mnist", "shared-mnist", "digits")
# Seconds the MNIST download may wait: offline it fails at once (no DNS) or after this, and the demo goes on.
MNIST_TIMEOUT = 5.0
SHARED_TRAIN = 8000  # the shared folder's convention: first 8,000 test images to train, last 2,000 to test


class Data(NamedTuple):
    """A dataset ready for the model: flat float32 images in [0, 1] and integer labels 0-9."""

    name: str  # "mnist", "shared-mnist" or "digits"
    description: str
    x_train: np.ndarray  # (n_train, features)
    y_train: np.ndarray  # (n_train,)
    x_test: np.ndarray  # (n_test, features)
    y_test: np.ndarray  # (n_test,)


def _flat(images, scale):
    return images.reshape(len(images), -1).astype("float32") / scale  # (n, 28, 28) -> (n, 784), in [0, 1]


def load_mnist():
    """The full MNIST from the cache, or downloaded with a short timeout; `DownloadError` when neither works.

    The download is `mnist.load_data()`'s own file and check, with a shorter network timeout.
    """
    from jseq.datasets._common import KERAS_ORIGIN, fetch

    fetch(mnist.FILE_NAME, KERAS_ORIGIN, mnist.FILE_HASH, timeout=MNIST_TIMEOUT)  # cached and verified now
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    return Data(
        "mnist",
        f"MNIST: {len(x_train):,} training and {len(x_test):,} test images, 28x28",
        _flat(x_train, 255.0),
        y_train.astype("int32"),
        _flat(x_test, 255.0),
        y_test.astype("int32"),
    )


def shared_mnist_folder():
    """`../shared/data/mnist` beside the source checkout jseq runs from (or beside the current folder)."""
    checkout = Path(jseq.__file__).resolve().parents[1]
    for root in (checkout, Path.cwd()):
        folder = root.parent / "shared" / "data" / "mnist"
        if all((folder / f"{mnist.IDX_FILES[key]}.gz").is_file() for key in ("x_test", "y_test")):
            return folder
    return None


def shared_mnist_load_data():
    """The offline MNIST copy in `mnist.load_data()`'s format: `(x_train, y_train), (x_test, y_test)`.

    The real MNIST test set from ../shared/data/mnist, split 8,000 / 2,000: uint8 images (n, 28, 28) and
    uint8 labels (n,), as `mnist.load_data()` returns them, so tutorial code runs unchanged without a network.
    """
    folder = shared_mnist_folder()
    if folder is None:
        raise FileNotFoundError(
            "no ../shared/data/mnist folder (with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz) "
            "beside the source checkout or the current folder"
        )
    x = mnist.load_idx(folder / f"{mnist.IDX_FILES['x_test']}.gz")  # (10000, 28, 28) uint8
    y = mnist.load_idx(folder / f"{mnist.IDX_FILES['y_test']}.gz")  # (10000,) uint8
    n = SHARED_TRAIN
    return (x[:n], y[:n]), (x[n:], y[n:])


def load_shared_mnist():
    """The real MNIST test set from ../shared/data/mnist: first 8,000 images to train, last 2,000 to test."""
    (x_train, y_train), (x_test, y_test) = shared_mnist_load_data()
    folder = shared_mnist_folder()
    return Data(
        "shared-mnist",
        f"the real MNIST test set in {folder} (offline copy): first {len(x_train):,} images to train, "
        f"last {len(x_test):,} to test, 28x28",
        _flat(x_train, 255.0),
        y_train.astype("int32"),
        _flat(x_test, 255.0),
        y_test.astype("int32"),
    )


def load_digits():
    """scikit-learn's 8x8 digits (values 0-16): the first 80% to train, the last 20% to test."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise ImportError(
            'the digits dataset comes with scikit-learn: pip install "jseq[demo]" '
            "(or pip install scikit-learn)"
        ) from error
    digits = sklearn_digits()
    x, y = digits.images, digits.target.astype("int32")  # (1797, 8, 8) float64 in [0, 16], (1797,)
    n = int(len(x) * 0.8)
    return Data(
        "digits",
        f"scikit-learn's 8x8 digits: {n:,} training and {len(x) - n:,} test images, 8x8",
        _flat(x[:n], 16.0),
        y[:n],
        _flat(x[n:], 16.0),
        y[n:],
    )


_LOADERS = {"mnist": load_mnist, "shared-mnist": load_shared_mnist, "digits": load_digits}
_TITLES = {"mnist": "full MNIST", "shared-mnist": "shared MNIST test set", "digits": "scikit-learn digits"}
_FAILURES = (OSError, ValueError, ImportError)  # DownloadError is an OSError; a broken file a ValueError


def load(dataset, say=print):
    """The data named by `--dataset`; for "auto" the first of mnist, shared-mnist, digits that loads."""
    if dataset != "auto":
        try:
            return _LOADERS[dataset]()
        except _FAILURES as error:
            raise SystemExit(f"jseq.demo: cannot load --dataset {dataset}: {error}") from error
    reasons = []
    for name, loader in _LOADERS.items():
        try:
            data = loader()
        except _FAILURES as error:
            reasons.append(f"{_TITLES[name]} not used: {_first_line(error)}")
            continue
        for reason in reasons:
            say(f"  ({reason})")
        return data
    raise SystemExit("jseq.demo: no dataset could be loaded:\n  " + "\n  ".join(reasons))


def _first_line(error):
    """The first line of an error's message (a DownloadError goes on with how to place the file by hand)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# --------------------------------------------------------------------------------------------------------
# The model and the report.


def build_model(n_features, name):
    """The seed's model: Dense(512, relu) -> Dense(10, softmax), compiled as in the lecture."""
    model = jseq.Sequential(
        [
            jseq.Input(shape=(n_features,)),
            layers.Dense(512, activation="relu"),  # (None, 784) @ (784, 512) + (512,)
            layers.Dense(10, activation="softmax"),  # (None, 512) @ (512, 10) + (10,)
        ],
        name=name,
    )
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def confusion_matrix(y_true, y_pred, n_classes=10):
    """`cm[i, j]`: how many images of class i were predicted as class j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def format_confusion(cm):
    """The matrix as text: true digit down, predicted digit across, each row's accuracy at its end."""
    width = max(4, len(str(cm.max())) + 1)
    lines = [
        "true \\ predicted",
        "      " + "".join(f"{j:>{width}}" for j in range(len(cm))) + "   correct",
    ]
    for i, row in enumerate(cm):
        total = row.sum()
        share = f"{row[i] / total:7.1%}" if total else "      -"
        lines.append(f"  {i:>2}  " + "".join(f"{v:>{width}}" for v in row) + f"   {share}")
    return "\n".join(lines)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m jseq.demo",
        description="Train the Keras lecture's MNIST model with jseq; print test accuracy and a confusion "
        "matrix; save the learning curves, a picture of the model and the model file.",
    )
    parser.add_argument("--epochs", type=_positive_int, default=5, help="training epochs (default 5)")
    parser.add_argument("--batch-size", type=_positive_int, default=128, help="batch size (default 128)")
    parser.add_argument(
        "--out", type=Path, default=Path("jseq_demo_output"), help="output folder (./jseq_demo_output)"
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="auto",
        help="auto (default): full MNIST if cached or downloadable, else the shared offline MNIST test set, "
        "else scikit-learn's 8x8 digits",
    )
    parser.add_argument("--quiet", action="store_true", help="no model summary and no progress bar")
    return parser.parse_args(argv)


def save_model(model, out):
    """`model.save` to `.keras` where jseq has it, else `save_weights`; returns (path or None, what it is)."""
    if hasattr(model, "save"):
        path = out / f"{model.name}.keras"
        model.save(path)
        return path, "the trained model (jseq.models.load_model reads it)"
    if hasattr(model, "save_weights"):
        path = out / f"{model.name}.weights.h5"
        model.save_weights(path)
        return path, "the trained weights (model.load_weights reads them)"
    return None, "not saved: this version of jseq has neither model.save nor model.save_weights"


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    say = lambda *parts: print(*parts, flush=True)  # noqa: E731 (flushed, so a pipe shows the lines in order)
    say(
        f"jseq demo: Dense(512, relu) -> Dense(10, softmax), RMSprop, batch {args.batch_size}, "
        f"{args.epochs} epoch{'s' * (args.epochs != 1)}"
    )
    data = load(args.dataset, say)
    say(f"Data: {data.description}")

    jseq.utils.set_random_seed(0)
    model = build_model(data.x_train.shape[1], "digits_mlp" if data.name == "digits" else "mnist_mlp")
    if not args.quiet:
        model.summary()
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(data.x_test, data.y_test),  # evaluated after each epoch, for the curves only
        verbose=0 if args.quiet else 1,
    )
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=args.batch_size, verbose=0)
    predicted = np.argmax(model.predict(data.x_test, batch_size=args.batch_size, verbose=0), axis=-1)
    cm = confusion_matrix(data.y_test, predicted)
    correct = int(np.trace(cm))
    say(
        f"\nTest accuracy: {test_accuracy:.4f} ({correct:,} of {len(data.y_test):,} test images right), "
        f"test loss: {test_loss:.4f}"
    )
    say("\nConfusion matrix (rows: the true digit, columns: the digit the model predicted)")
    say(format_confusion(cm))

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if importlib.util.find_spec("matplotlib") is None:
        say('\nNo pictures: matplotlib is not installed (pip install "jseq[demo]").')
    else:
        curves = out / "learning_curves.png"
        title = f"{model.name} on {data.name}: training vs validation (the test set)"
        history.plot(to_file=curves, title=title)
        written.append((curves, "loss and accuracy per epoch, training (solid) vs test set (dashed)"))
        picture = out / "model.png"
        jseq.utils.plot_model(model, to_file=picture, show_shapes=True, show_layer_activations=True)
        written.append((picture, "the model's layers and shapes"))
    path, what = save_model(model, out)
    say(f"\nWrote to {out}/:")
    for file, description in written + ([(path, what)] if path else []):
        say(f"  {file.name:<24} {description}")
    if path is None:
        say(f"  (model {what})")
    say(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
