"""`python -m jseq.demo`: its pieces, and whole offline runs in a subprocess (no download is attempted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jseq
from jseq import demo
from jseq.utils import DownloadError

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No cache and an empty mirror folder: the MNIST loader fails at once, without the network."""
    home, mirror = tmp_path / "jseq_home", tmp_path / "empty_mirror"
    mirror.mkdir()
    monkeypatch.setenv("JSEQ_HOME", str(home))
    monkeypatch.setenv("JSEQ_DATASETS_MIRROR", str(mirror))
    return {"JSEQ_HOME": str(home), "JSEQ_DATASETS_MIRROR": str(mirror)}


def test_confusion_matrix_counts_and_text():
    y_true = np.array([0, 0, 1, 2, 2, 2, 9])
    y_pred = np.array([0, 1, 1, 2, 2, 0, 9])
    cm = demo.confusion_matrix(y_true, y_pred)
    assert cm.shape == (10, 10) and cm.sum() == 7
    assert cm[0, 0] == 1 and cm[0, 1] == 1 and cm[2, 2] == 2 and cm[2, 0] == 1 and cm[9, 9] == 1
    lines = demo.format_confusion(cm).splitlines()
    assert lines[0] == "true \\ predicted"
    assert lines[1].split() == [str(d) for d in range(10)] + ["correct"]
    assert len(lines) == 12 and all(len(line) <= 80 for line in lines)  # fits a terminal
    assert lines[2].split() == ["0", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0", "50.0%"]
    assert lines[4].split()[-1] == "66.7%" and lines[5].split()[-1] == "-"  # no image of digit 3


def test_mnist_offline_fails_fast_with_download_error(offline):
    with pytest.raises(DownloadError):
        demo.load_mnist()


def test_auto_falls_back_and_says_why(offline, monkeypatch):
    pytest.importorskip("sklearn")
    said = []
    data = demo.load("auto", said.append)
    expected = "shared-mnist" if demo.shared_mnist_folder() else "digits"
    assert data.name == expected
    assert said[0].startswith("  (full MNIST not used: Could not download file://")
    if expected == "digits":
        assert said[1].startswith("  (shared MNIST test set not used: no ../shared/data/mnist folder")

    monkeypatch.setattr(demo, "shared_mnist_folder", lambda: None)
    said = []
    data = demo.load("auto", said.append)
    assert data.name == "digits" and len(said) == 2
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.x_train.dtype == np.float32 and 0 <= data.x_train.min() and data.x_train.max() <= 1
    assert set(np.unique(data.y_test)) == set(range(10))


def test_an_explicit_dataset_that_cannot_load_exits_with_the_reason(offline):
    with pytest.raises(SystemExit, match=r"cannot load --dataset mnist: Could not download file://"):
        demo.load("mnist")


def test_digits_without_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(SystemExit, match=r'comes with scikit-learn: pip install "jseq\[demo\]"'):
        demo.load("digits")


def test_full_mnist_when_cached(monkeypatch):
    """The MNIST path (cache hit or download) gives flat float images; here the loader is stubbed."""
    x = np.zeros((6, 28, 28), np.uint8)
    x[:, 0, 0] = 255
    monkeypatch.setattr("jseq.datasets._common.fetch", lambda *args, **kwargs: "mnist.npz")
    monkeypatch.setattr(demo.mnist, "load_data", lambda: ((x, np.arange(6)), (x[:2], np.arange(2))))
    data = demo.load("auto", print)
    assert data.name == "mnist" and data.x_train.shape == (6, 784) and data.x_test.shape == (2, 784)
    assert data.x_train.max() == 1.0 and data.y_train.dtype == np.int32


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist is not here")
def test_shared_mnist_split():
    data = demo.load("shared-mnist")
    assert data.x_train.shape == (8000, 784) and data.x_test.shape == (2000, 784)
    assert data.x_train.dtype == np.float32 and data.x_train.max() == 1.0
    assert len(np.unique(data.y_train)) == 10


def test_save_model_uses_what_the_model_has(tmp_path):
    class WithSave:
        name = "m"

        def save(self, path):
            Path(path).write_text("keras")

    class WithWeights:
        name = "m"

        def save_weights(self, path):
            Path(path).write_text("h5")

    path, what = demo.save_model(WithSave(), tmp_path)
    assert path == tmp_path / "m.keras" and path.read_text() == "keras" and "model" in what
    path, what = demo.save_model(WithWeights(), tmp_path)
    assert path == tmp_path / "m.weights.h5" and path.read_text() == "h5" and "weights" in what
    path, what = demo.save_model(type("Bare", (), {"name": "m"})(), tmp_path)
    assert path is None and what.startswith("not saved")


def test_options_are_checked():
    args = demo.parse_args([])
    assert (args.epochs, args.batch_size, args.dataset, args.quiet) == (5, 128, "auto", False)
    assert args.out == Path("jseq_demo_output")
    with pytest.raises(SystemExit):
        demo.parse_args(["--epochs", "0"])
    with pytest.raises(SystemExit):
        demo.parse_args(["--dataset", "cifar"])


# --------------------------------------------------------------------------------------------------------
# The demo as a newcomer runs it, offline.


def run_demo(tmp_path, offline, *args):
    env = {
        **os.environ,
        **offline,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "demo_out"
    result = subprocess.run(
        [sys.executable, "-m", "jseq.demo", "--epochs", "1", "--out", str(out), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, out


def check_report(stdout, out, n_test, progress_bar=True):
    lines = stdout.splitlines()
    accuracy = [line for line in lines if line.startswith("Test accuracy: ")]
    assert len(accuracy) == 1, stdout
    value = float(accuracy[0].split()[2])
    assert 0.5 < value <= 1.0  # one epoch of the seed's model learns the digits
    assert f"of {n_test:,} test images right" in accuracy[0]
    start = lines.index("true \\ predicted")
    rows = lines[start + 2 : start + 12]
    counts = np.array([[int(v) for v in row.split()[1:11]] for row in rows])
    assert counts.sum() == n_test and np.trace(counts) / n_test == pytest.approx(value, abs=1e-3)
    bar = re.search(r"^\d+/\d+ .* - accuracy: [\d.]+ - loss: [\d.]+ - val_accuracy: ", stdout, re.MULTILINE)
    assert bool(bar) == progress_bar, stdout  # the Keras progress bar (one line in a pipe), unless --quiet
    for name in ("learning_curves.png", "model.png"):
        assert (out / name).stat().st_size > 5000, name
    model_file = [p for p in out.iterdir() if p.name.endswith((".keras", ".weights.h5"))]
    has_saving = hasattr(jseq.Sequential, "save") or hasattr(jseq.Sequential, "save_weights")
    assert len(model_file) == (1 if has_saving else 0)
    if not has_saving:
        assert "(model not saved:" in stdout


@pytest.mark.slow
def test_demo_runs_offline_on_digits(tmp_path, offline):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    stdout, out = run_demo(tmp_path, offline, "--dataset", "digits")
    assert "Data: scikit-learn's 8x8 digits: 1,437 training and 360 test images" in stdout
    assert 'Model: "digits_mlp"' in stdout
    check_report(stdout, out, 360)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist is not here")
def test_demo_auto_offline_uses_the_shared_mnist(tmp_path, offline):
    pytest.importorskip("matplotlib")
    stdout, out = run_demo(tmp_path, offline, "--quiet")
    assert "(full MNIST not used: Could not download file://" in stdout
    assert "Data: the real MNIST test set in" in stdout and "first 8,000 images to train" in stdout
    assert 'Model: "mnist_mlp"' not in stdout  # --quiet: no summary
    check_report(stdout, out, 2000, progress_bar=False)
