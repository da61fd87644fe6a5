"""Data-parallel fit over several (host) devices gives one device's results, with the batch really sharded;
in a multi-process run only process 0 writes files."""

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import jax
import numpy as np
import pytest

import jseq
from jseq import callbacks as cb
from jseq import layers

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import collections, json, logging, sys
    import jax, numpy as np
    import jseq
    from jseq import layers

    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype("float32")
    y = rng.integers(0, 3, 96).astype("int32")

    def build():
        jseq.utils.set_random_seed(1)
        model = jseq.Sequential([jseq.Input(shape=(5,)), layers.Dense(16, activation="relu"),
                                 layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def run(dist):
        jseq.distribution.set_distribution(dist)
        model = build()
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25)
        return model, h.history

    # ---- compilations: each step function compiles once over a whole fit, evaluate and predict
    compiled = collections.Counter()

    class CountCompiles(logging.Handler):
        def emit(self, record):
            message = record.getMessage()  # "Finished XLA compilation of jit(loop) in 0.2 sec"
            if message.startswith("Finished XLA compilation of "):
                compiled[message.split()[4]] += 1

    logging.getLogger("jax").addHandler(CountCompiles())
    jax.config.update("jax_log_compiles", True)
    jseq.distribution.set_distribution("auto")
    model = build()
    model.fit(x[:64], y[:64], batch_size=16, epochs=2, verbose=0, validation_data=(x[64:], y[64:]))
    model.evaluate(x[64:], y[64:], batch_size=16, verbose=0)
    model.predict(x[64:], batch_size=16, verbose=0)
    jax.config.update("jax_log_compiles", False)
    fns = model._compiled_fns  # (kind, batch, stride, loop, ...) -> jitted function
    out = {
        "compiled": dict(compiled),
        "steps": sorted([k[0], k[1], k[3]] for k in fns if k[0] != "metrics_init"),
        "entries": {k[0]: f._cache_size() for k, f in fns.items()},  # dispatch-cache entries per kind
    }

    # ---- results: four devices give one device's
    one, h1 = run(None)
    four, h4 = run("auto")
    out.update({
        "max_weight_diff": max(
            float(np.abs(a - b).max()) for a, b in zip(one.get_weights(), four.get_weights())
        ),
        "loss_one": h1["loss"], "loss_four": h4["loss"],
        "kernel_devices": len(four.layers[0].params["kernel"].devices()),
        "eval_diff": abs(one.evaluate(x, y, verbose=0)[0] - four.evaluate(x, y, verbose=0)[0]),
        "predict_diff": float(np.abs(one.predict(x, verbose=0) - four.predict(x, verbose=0)).max()),
    })
    # inside the step the batch is split 4 ways: look at the sharding of a traced batch
    jseq.distribution.set_distribution("auto")
    four._dist = jseq.distribution.resolve(16)
    seen = {}
    def probe(a):
        jax.debug.inspect_array_sharding(a, callback=lambda s: seen.setdefault("spec", str(s)))
        return a
    jax.jit(lambda a: probe(four._shard(a, 16)))(jax.device_put(x[:16], four._dist.replicated()))
    out["batch_sharding"] = seen.get("spec")
    try:
        # an explicit layout: the batch must divide
        jseq.distribution.set_distribution(jseq.distribution.DataParallel())
        four.fit(x, y, batch_size=10, epochs=1, verbose=0)
        out["indivisible"] = "no error"
    except ValueError as e:
        out["indivisible"] = str(e)
    print("RESULT" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def four_devices():
    """What SCRIPT measured in a process with 4 host devices (run once for the tests below)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(row for row in proc.stdout.splitlines() if row.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


@pytest.mark.slow
def test_four_host_devices_train_like_one(four_devices):
    out = four_devices
    assert out["max_weight_diff"] < 1e-5
    assert out["loss_one"] == pytest.approx(out["loss_four"], rel=1e-5)
    assert out["kernel_devices"] == 4  # params replicated on every device
    assert out["eval_diff"] < 1e-5 and out["predict_diff"] < 1e-5
    assert "'batch': 4" in out["batch_sharding"] and "P('batch',)" in out["batch_sharding"], out[
        "batch_sharding"
    ]
    assert "batch_size=10 does not divide over 4 devices" in out["indivisible"]


@pytest.mark.slow
def test_each_step_compiles_once_on_four_devices(four_devices):
    """fit (2 epochs with validation), evaluate and predict: one function per kind, each compiled once.

    Placed inputs and the steps' outputs have the same types, so the second call and the second epoch reuse
    the first call's program, and the validation runs and evaluate share one test step.
    """
    compiled, entries = four_devices["compiled"], four_devices["entries"]
    # one looped step per kind ("auto" steps per execution; no partial batches)
    assert four_devices["steps"] == [["predict", 16, True], ["test", 16, True], ["train", 16, True]]
    assert compiled.get("jit(loop)") == 3 and compiled.get("jit(empty)") == 1, compiled
    assert compiled.get("jit(_fresh_metrics)") == 1 and "jit(step)" not in compiled, compiled
    # one dispatch entry per function (the train step hands back the PRNG key it was given untouched, so the
    # key's sharding is not rewritten in an equivalent form that would add a second entry)
    assert entries == {"metrics_init": 1, "train": 1, "test": 1, "predict": 1}, entries


def test_data_parallel_needs_as_many_devices_on_every_process():
    devices = [types.SimpleNamespace(process_index=p) for p in (0, 0, 1)]  # only their process is read
    with pytest.raises(ValueError, match=r"same number of devices on every process.*\{0: 2, 1: 1\}"):
        jseq.distribution.DataParallel(devices)


# --------------------------------------------------------------------------------------------------------
# Multi-process runs: process 0 writes checkpoints, logs and saved models; the others skip the write.


def _small_model():
    jseq.utils.set_random_seed(0)
    model = jseq.Sequential([jseq.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 3, 16).astype("int32")


@pytest.mark.parametrize("process", [0, 1])
def test_only_process_0_writes_checkpoints_logs_and_saved_models(tmp_path, monkeypatch, process):
    monkeypatch.setattr(jax, "process_index", lambda: process)
    model = _small_model()
    callbacks = [
        cb.ModelCheckpoint(str(tmp_path / "ckpt" / "m.{epoch}.keras"), monitor="loss"),
        cb.ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True, monitor="loss"),
        cb.CSVLogger(str(tmp_path / "log.csv")),
        cb.BackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False),
    ]
    history = model.fit(*_data(), batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2  # every process trains normally
    assert model.save(str(tmp_path / "model.keras")) is None
    assert model.save_weights(str(tmp_path / "model.weights.h5")) is None

    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    if process == 0:
        assert written == [
            "backup/latest.weights.h5",
            "ckpt/m.1.keras",
            "ckpt/m.2.keras",
            "log.csv",
            "model.keras",
            "model.weights.h5",
            "w.weights.h5",
        ]
        assert (tmp_path / "log.csv").read_text().splitlines()[0].startswith("epoch,accuracy,loss")
    else:
        assert written == []


def test_a_process_other_than_0_reads_the_backup_but_leaves_it_in_place(tmp_path, monkeypatch):
    x, y = _data()
    backup = str(tmp_path / "backup")
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    _small_model().fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[cb.BackupAndRestore(backup, delete_checkpoint=False)],
    )
    assert os.path.exists(os.path.join(backup, "latest.weights.h5"))

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    history = _small_model().fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[cb.BackupAndRestore(backup)]
    )
    assert history.epoch == [1, 2]  # resumed from process 0's backup
    assert os.path.exists(os.path.join(backup, "latest.weights.h5"))  # only process 0 deletes it
