"""Data-parallel fit over several (host) devices gives one device's results, with the batch really sharded."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    import jseq
    from jseq import layers

    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype("float32")
    y = rng.integers(0, 3, 96).astype("int32")

    def run(dist):
        jseq.distribution.set_distribution(dist)
        jseq.utils.set_random_seed(1)
        model = jseq.Sequential([jseq.Input(shape=(5,)), layers.Dense(16, activation="relu"),
                                 layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25)
        return model, h.history

    one, h1 = run(None)
    four, h4 = run("auto")
    out = {
        "max_weight_diff": max(
            float(np.abs(a - b).max()) for a, b in zip(one.get_weights(), four.get_weights())
        ),
        "loss_one": h1["loss"], "loss_four": h4["loss"],
        "kernel_devices": len(four.layers[0].params["kernel"].devices()),
        "eval_diff": abs(one.evaluate(x, y, verbose=0)[0] - four.evaluate(x, y, verbose=0)[0]),
        "predict_diff": float(np.abs(one.predict(x, verbose=0) - four.predict(x, verbose=0)).max()),
    }
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


@pytest.mark.slow
def test_four_host_devices_train_like_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    line = next(row for row in proc.stdout.splitlines() if row.startswith("RESULT"))
    out = json.loads(line[len("RESULT") :])
    assert out["max_weight_diff"] < 1e-5
    assert out["loss_one"] == pytest.approx(out["loss_four"], rel=1e-5)
    assert out["kernel_devices"] == 4  # params replicated on every device
    assert out["eval_diff"] < 1e-5 and out["predict_diff"] < 1e-5
    assert "'batch': 4" in out["batch_sharding"] and "P('batch',)" in out["batch_sharding"], out[
        "batch_sharding"
    ]
    assert "batch_size=10 does not divide over 4 devices" in out["indivisible"]
