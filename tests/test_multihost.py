"""Data-parallel fit across two processes (2 host devices each, on loopback) trains the model that one
process trains on the same global batches; every process ends with the same weights and logs.

The pytest process starts two workers (this file, run as a script) that each call `jax.distributed.initialize`
and feed `fit` their own half of the data, then computes the one-process reference itself.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import jseq
from jseq import layers

ROOT = Path(__file__).resolve().parents[1]
# per process: 4 steps of 8 rows and a last one of 4 (16 and 8 rows per step in all)
PROCESSES, N_LOCAL, N_VAL, BATCH, EPOCHS = 2, 36, 8, 8, 2
N_PREDICT = 29  # 3 steps of 8 rows and one of 5, which does not split over a process's 2 devices
TIMEOUT = 120  # seconds for both workers together
STARTING, READY = "worker: initializing jax.distributed", "worker: jax.distributed is up"


def _data():
    """Training rows (PROCESSES * N_LOCAL) and validation rows (PROCESSES * N_VAL); process p owns slice p."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(PROCESSES * (N_LOCAL + N_VAL), 5)).astype("float32")
    y = rng.integers(0, 3, len(x)).astype("int32")
    split = PROCESSES * N_LOCAL
    return x[:split], y[:split], x[split:], y[split:]


def _model(seed):
    jseq.utils.set_random_seed(seed)
    model = jseq.Sequential([jseq.Input(shape=(5,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.compile("adam", jseq.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


# ---- the worker: one process of the two -----------------------------------------------------------------


def _worker(process, port, out_dir):
    import jax

    print(STARTING, flush=True)
    # where jax.distributed cannot start, this raises or aborts the process: the test then skips
    jax.distributed.initialize(f"127.0.0.1:{port}", PROCESSES, process, initialization_timeout=60)
    jax.devices()  # the backend starts here, learning the other process's devices
    print(READY, flush=True)
    x, y, xv, yv = _data()
    mine = slice(process * N_LOCAL, (process + 1) * N_LOCAL)  # this process's shard
    mine_val = slice(process * N_VAL, (process + 1) * N_VAL)
    model = _model(seed=1 + process)  # seeded differently: fit starts every replica from process 0's weights
    checkpoint = jseq.callbacks.ModelCheckpoint(str(Path(out_dir) / f"model_{process}.keras"), monitor="loss")
    history = model.fit(x[mine], y[mine], batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0,
                        validation_data=(xv[mine_val], yv[mine_val]), callbacks=[checkpoint])  # fmt: skip
    result = {
        "devices": [len(jax.devices()), len(jax.local_devices())],
        "weights": [w.tolist() for w in model.get_weights()],
        "history": history.history,
        "fit_seed": model._fit_seed,
        "evaluate": model.evaluate(xv[mine_val], yv[mine_val], batch_size=BATCH, verbose=0),
        "predict": model.predict(x[mine][:N_PREDICT], batch_size=BATCH, verbose=0).tolist(),
    }
    try:
        model.train_on_batch(x[mine], y[mine])
    except NotImplementedError as error:
        result["train_on_batch"] = str(error)
    try:
        model.fit(x[mine], y[mine], batch_size=7, verbose=0)  # 7 rows do not split over 2 devices
    except ValueError as error:
        result["indivisible"] = str(error)
    short = slice(process * N_LOCAL, (process + 1) * N_LOCAL - 8 * process)  # 36 rows, and 28
    try:  # the last collective: both processes raise the same error, and stay in step
        model.fit(x[short], y[short], batch_size=BATCH, verbose=0)
    except ValueError as error:
        result["unequal"] = str(error)
    (Path(out_dir) / f"result_{process}.json").write_text(json.dumps(result))
    jax.distributed.shutdown()


# ---- the test ---------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_workers(tmp_path):
    """Start both workers, wait for both (killing both on a failure or the timeout), return their results."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT))  # fmt: skip
    port = _free_port()
    logs = [open(tmp_path / f"worker_{p}.log", "w") for p in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(p), str(port), str(tmp_path)],
            env=env,
            cwd=ROOT,
            stdout=logs[p],
            stderr=subprocess.STDOUT,
        )
        for p in range(PROCESSES)
    ]
    deadline = time.monotonic() + TIMEOUT
    try:
        while any(p.poll() is None for p in procs):  # stop at the first failure: the other would wait
            if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for log in logs:
            log.close()
    outputs = [(tmp_path / f"worker_{p}.log").read_text() for p in range(PROCESSES)]
    if any(p.returncode for p in procs) and all(STARTING in o for o in outputs):
        stuck = [o for o in outputs if READY not in o]  # jseq imported, but jax.distributed did not start
        if stuck:
            lines = [line.strip() for o in outputs for line in o.splitlines()]
            reason = next((line for line in lines if "error" in line.lower()), "no error message")
            pytest.skip(f"jax.distributed cannot start here: {reason[:300]}")
    output = "\n".join(o[-3000:] for o in outputs)
    assert all(p.returncode == 0 for p in procs), f"a worker failed or timed out ({TIMEOUT} s):\n{output}"
    return [json.loads((tmp_path / f"result_{p}.json").read_text()) for p in range(PROCESSES)]


def _reference(fit_seed):
    """One process, one device, process 0's initial weights, fed the global batches the two processes
    formed: step i is process 0's rows i, then process 1's, each from its own epoch permutation."""
    from jseq.training import _epoch_order

    x, y, xv, yv = _data()
    model = _model(seed=1)
    losses, val_losses = [], []
    for epoch in range(EPOCHS):
        orders = [p * N_LOCAL + _epoch_order(N_LOCAL, True, fit_seed, epoch, p) for p in range(PROCESSES)]
        steps = [np.concatenate([o[s : s + BATCH] for o in orders]) for s in range(0, N_LOCAL, BATCH)]
        rows = np.concatenate(steps)
        history = model.fit(
            x[rows], y[rows], batch_size=PROCESSES * BATCH, epochs=1, shuffle=False, verbose=0
        )
        losses.append(history.history["loss"][0])
        val_losses.append(model.evaluate(xv, yv, batch_size=PROCESSES * BATCH, verbose=0)[0])
    return model, losses, val_losses


@pytest.mark.slow
def test_two_processes_train_like_one_on_the_same_global_batches(tmp_path):
    results = _run_workers(tmp_path)
    assert [r["devices"] for r in results] == [[4, 2], [4, 2]]
    first = results[0]
    assert first["fit_seed"] == results[1]["fit_seed"]  # process 0's seed, broadcast

    before = jseq.distribution.distribution()
    jseq.distribution.set_distribution(None)
    try:
        reference, losses, val_losses = _reference(first["fit_seed"])
    finally:
        jseq.distribution.set_distribution(before)

    # the same model everywhere, equal to the one-process run
    for r in results:
        for a, b in zip(r["weights"], first["weights"]):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(first["weights"], reference.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for r in results:  # logs are global: the same numbers on every process, the reference's
        np.testing.assert_allclose(r["history"]["loss"], losses, rtol=1e-5)
        np.testing.assert_allclose(r["history"]["val_loss"], val_losses, rtol=1e-5)
        assert r["evaluate"][0] == pytest.approx(val_losses[-1], rel=1e-5)

    # predict: each process gets the outputs of its own rows
    x, _, _, _ = _data()
    for p, r in enumerate(results):
        expected = reference.predict(x[p * N_LOCAL : p * N_LOCAL + N_PREDICT], verbose=0)
        np.testing.assert_allclose(r["predict"], expected, atol=1e-5)

    # only process 0 wrote its checkpoint
    assert sorted(f.name for f in tmp_path.glob("*.keras")) == ["model_0.keras"]

    # every process stops on shards of different sizes, on train_on_batch and on an indivisible batch
    for r in results:
        assert "same number of samples" in r["unequal"] and "[36, 28]" in r["unequal"]
        assert "fit(x, y, batch_size=len(x), epochs=1" in r["train_on_batch"]
        assert "batch_size=7 (per process) does not divide over the 2 devices" in r["indivisible"]


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
