"""BackupAndRestore: a killed run resumes bit-identically (shuffle and Dropout included), backups are
never written from NaN, a damaged backup falls back to the previous one, another model's backup is refused."""

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import jseq
from jseq import layers as L
from jseq.callbacks import BackupAndRestore, Callback
from jseq.saving import FileFormatError

ROOT = Path(__file__).resolve().parents[1]

_RUN = """
import os, sys
import jax
import numpy as np
import jseq
from jseq import layers as L
from jseq.callbacks import BackupAndRestore, Callback

mode, backup, out = sys.argv[1], sys.argv[2], sys.argv[3]
jseq.core.set_random_seed(0)
rng = np.random.default_rng(1)
x = rng.normal(size=(64, 6)).astype("float32")
y = rng.integers(0, 3, 64)
model = jseq.Sequential([jseq.Input((6,)), L.Dense(16, activation="relu"), L.Dropout(0.3), L.Dense(3)])
model.compile("adam", jseq.losses.SparseCategoricalCrossentropy(from_logits=True))

class KillInEpoch3(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 3:
            os.kill(os.getpid(), 9)  # mid-epoch 3 of 4, after the backup of epoch 2

callbacks = [BackupAndRestore(backup)] + ([KillInEpoch3()] if mode == "kill" else [])
history = model.fit(x, y, epochs=4, batch_size=8, shuffle=True, verbose=0, callbacks=callbacks)
leaves = model.get_weights() + [np.asarray(v) for v in jax.tree.leaves(model._opt_state)]
np.savez(out, *leaves, epochs=np.asarray(history.epoch))
"""


def _run(mode, backup, out):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-c", _RUN, mode, str(backup), str(out)], env=env)


@pytest.mark.slow
def test_a_killed_run_resumes_bit_identical_to_an_uninterrupted_one(tmp_path):
    killed, full = (
        _run("kill", tmp_path / "b1", tmp_path / "never.npz"),
        _run("full", tmp_path / "b2", tmp_path / "full.npz"),
    )
    assert killed.wait(timeout=300) == -signal.SIGKILL and full.wait(timeout=300) == 0
    assert os.listdir(tmp_path / "b1") == ["latest.weights.h5"]
    assert _run("resume", tmp_path / "b1", tmp_path / "resumed.npz").wait(timeout=300) == 0
    resumed, uninterrupted = np.load(tmp_path / "resumed.npz"), np.load(tmp_path / "full.npz")
    assert list(resumed["epochs"]) == [2, 3] and list(uninterrupted["epochs"]) == [0, 1, 2, 3]
    arrays = [k for k in uninterrupted.files if k != "epochs"]
    assert len(arrays) == 4 + 2 + 2 * 4  # weights; iterations, learning rate; Adam's two moments
    for k in arrays:
        assert np.array_equal(resumed[k], uninterrupted[k]), k  # bit for bit
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()  # deleted once complete


def _model(units=4):
    model = jseq.Sequential([jseq.Input((3,)), L.Dense(units), L.Dropout(0.2), L.Dense(1)])
    model.compile("sgd", "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


class _Stop(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_damaged_backup_falls_back_to_the_previous_one(tmp_path):
    x, y = _data()
    backup = BackupAndRestore(tmp_path, double_checkpoint=True)
    with pytest.raises(RuntimeError, match="interrupted"):
        _model().fit(x, y, epochs=6, batch_size=4, verbose=0, callbacks=[backup, _Stop(3)])
    latest = tmp_path / "latest.weights.h5"
    assert latest.exists() and (tmp_path / "latest.weights.h5.bkp").exists()
    latest.write_bytes(latest.read_bytes()[:500])
    with pytest.warns(UserWarning, match="resuming from the previous one"):
        history = _model().fit(x, y, epochs=6, batch_size=4, verbose=0, callbacks=[backup])
    assert history.epoch == [2, 3, 4, 5]  # the backup of epoch 2, the one before the damaged one


def test_damaged_backup_without_a_previous_one_is_an_error(tmp_path):
    x, y = _data()
    backup = BackupAndRestore(tmp_path)
    with pytest.raises(RuntimeError, match="interrupted"):
        _model().fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[backup, _Stop(2)])
    latest = tmp_path / "latest.weights.h5"
    latest.write_bytes(b"\0" * 100)
    with pytest.raises(FileFormatError, match="latest.weights.h5"):
        _model().fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[backup])


def test_backup_of_another_model_is_refused(tmp_path):
    x, y = _data()
    backup = BackupAndRestore(tmp_path)
    with pytest.raises(RuntimeError, match="interrupted"):
        _model(4).fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[backup, _Stop(2)])
    other = _model(5)
    before = other.get_weights()
    with pytest.raises(ValueError, match="is for a different model"):
        other.fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[backup])
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))


def test_no_backup_from_nan_and_the_last_good_one_is_kept(tmp_path):
    x, y = _data()
    model = jseq.Sequential([jseq.Input((3,)), L.Dense(1)])
    model.compile(jseq.optimizers.SGD(1e18), "mse")

    class Explode(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # from now on the weights are Inf / NaN
                self.model.set_weights([w * np.float32(np.inf) for w in self.model.get_weights()])

    backup = BackupAndRestore(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[Explode(), backup])
    assert any("not backing up epoch" in str(w.message) for w in caught)
    assert (tmp_path / "latest.weights.h5").exists()  # kept: training ended on NaN
    restored = jseq.Sequential([jseq.Input((3,)), L.Dense(1)])
    restored.load_weights(tmp_path / "latest.weights.h5")
    assert all(np.all(np.isfinite(w)) for w in restored.get_weights())


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="end of each epoch only"):
        BackupAndRestore("/tmp/x", save_freq=5)
    with pytest.raises(ValueError, match="Invalid value for argument `save_freq`"):
        BackupAndRestore("/tmp/x", save_freq="batch")


def test_keras_reads_the_backup_as_a_weights_file(keras, tmp_path):
    x, y = _data()
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[BackupAndRestore(tmp_path), _Stop(1)])
    kmodel = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dropout(0.2), keras.layers.Dense(1)]
    )
    kmodel.compile(keras.optimizers.SGD(), "mse")
    kmodel.optimizer.build(kmodel.trainable_variables)
    kmodel.load_weights(tmp_path / "latest.weights.h5")
    for a, b in zip(kmodel.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)
    assert int(kmodel.optimizer.iterations) == 4
