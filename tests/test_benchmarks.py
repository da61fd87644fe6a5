"""The benchmark harness: a tiny end-to-end run (jseq and the hand-written JAX loop) and its bookkeeping.

No timing is asserted: only that the harness runs, that the frameworks it compares compute the same thing
(their accuracies agree, so the case is not VOID), and that it writes valid JSON, Markdown and PNG files.
"""

import json
import math
import struct

import numpy as np
import pytest

from benchmarks import cases, report, run


def _write_idx(path, array):
    """An uncompressed IDX file: 2 zero bytes, type 0x08 (uint8), rank, big-endian dims, data."""
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    """200 random 'digits' in MNIST's file names, so the smoke test runs without ../shared/data."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (200, 28, 28)))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 200))
    return folder


@pytest.mark.slow
def test_a_tiny_run_writes_agreeing_figures_as_json_markdown_and_png(tmp_path, tiny_mnist):
    out = tmp_path / "results"
    status = run.main(
        ["--cases", "dense10-b32", "--frameworks", "jseq,jax-step", "--repeats", "1", "--epochs", "2",
         "--train-samples", "96", "--test-samples", "64", "--timed-calls", "1",
         "--mnist-dir", str(tiny_mnist), "--out-dir", str(out), "--name", "smoke", "--note", "smoke test"]
    )  # fmt: skip
    assert status == 0

    result = json.loads((out / "smoke.json").read_text())
    assert result["settings"]["epochs"] == 2 and result["note"] == "smoke test"
    assert result["machine"]["versions"]["jax"] and result["machine"]["device"]["platform"]
    (entry,) = result["cases"]
    assert entry["case"]["name"] == "dense10-b32" and entry["case"]["steps_per_epoch"] == 3
    for name in ("jseq", "jax-step"):
        fw = entry["frameworks"][name]
        assert fw["errors"] == [] and len(fw["runs"]) == 1
        figures = fw["runs"][0]
        assert len(figures["epoch_s"]) == 2 and len(figures["train_loss"]) == 2
        for key, _, _ in report.METRICS:
            assert math.isfinite(figures[key]) and figures[key] > 0, (name, key, figures[key])
        assert 0.0 <= figures["accuracy"] <= 1.0
    # Same initial weights, same order, same formulas: jseq and the hand loop train the same model.
    jseq_loss = entry["frameworks"]["jseq"]["runs"][0]["train_loss"]
    hand_loss = entry["frameworks"]["jax-step"]["runs"][0]["train_loss"]
    np.testing.assert_allclose(jseq_loss, hand_loss, rtol=1e-4)
    assert entry["agreement"]["void"] is False and entry["agreement"]["reasons"] == []
    assert math.isfinite(entry["ratios"]["jseq/jax"]["steady_epoch_s"])
    assert entry["ratios"]["jax_best"]["steady_epoch_s"] == "jax-step"

    text = (out / "smoke.md").read_text()
    assert "## Ratios jseq / hand-JAX (best)" in text and "| dense10-b32 |" in text and "smoke test" in text
    assert (out / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    (out / "smoke.md").unlink()  # --report rewrites the tables from the JSON alone
    assert run.main(["--report", str(out / "smoke.json"), "--no-plot"]) == 0
    assert (out / "smoke.md").read_text() == text


def _entry(accuracies):
    """A case entry with one run per framework, every time 1 s except jseq's 2 s, and these accuracies."""
    keys = [k for k, _, _ in report.METRICS]
    frameworks = {}
    for name, acc in accuracies.items():
        run_figures = {k: (2.0 if name == "jseq" else 1.0) for k in keys}
        run_figures.update(accuracy=acc, loss=0.5, train_loss=[1.0, 0.5])
        frameworks[name] = {"runs": [run_figures], "errors": [], "skipped": None}
    return {"case": {"name": "x"}, "frameworks": frameworks}


def test_a_case_is_void_when_accuracies_differ_beyond_the_tolerance():
    tol = report.ACCURACY_TOLERANCE
    ok = report.summarise_case(_entry({"jseq": 0.9, "keras": 0.9 + tol / 2, "jax-step": 0.9}))
    void = report.summarise_case(_entry({"jseq": 0.9, "keras": 0.9 + 2 * tol, "jax-step": 0.9}))
    assert ok["agreement"]["void"] is False and void["agreement"]["void"] is True
    assert void["agreement"]["accuracy"]["spread"] == pytest.approx(2 * tol)
    assert "**VOID**" in report.markdown(_result(void)) and "**VOID**" not in report.markdown(_result(ok))


def test_a_case_is_void_when_first_epoch_losses_differ_even_if_accuracies_agree():
    entry = _entry({"jseq": 0.9, "keras": 0.9})
    entry["frameworks"]["keras"]["runs"][0]["train_loss"] = [1.0 + 2 * report.LOSS_TOLERANCE, 0.5]
    agreement = report.summarise_case(entry)["agreement"]
    assert agreement["void"] is True and "training losses" in agreement["reasons"][0]
    assert agreement["first_epoch_loss"]["by_framework"] == {
        "jseq": 1.0,
        "keras": 1.0 + 2 * report.LOSS_TOLERANCE,
    }


def test_ratios_compare_medians_with_keras_and_the_faster_hand_variant():
    entry = _entry({"jseq": 0.9, "keras": 0.9, "jax-step": 0.9, "jax-scan": 0.9})
    entry["frameworks"]["jax-scan"]["runs"][0]["steady_epoch_s"] = 0.5
    entry["frameworks"]["keras"]["runs"].append(
        dict(entry["frameworks"]["keras"]["runs"][0], steady_epoch_s=3.0)
    )
    report.summarise_case(entry)
    assert entry["frameworks"]["keras"]["summary"]["steady_epoch_s"]["median"] == 2.0  # median of 1 and 3
    assert entry["ratios"]["jseq/keras"]["steady_epoch_s"] == 1.0
    assert entry["ratios"]["jseq/jax"]["steady_epoch_s"] == 4.0
    assert entry["ratios"]["jax_best"]["steady_epoch_s"] == "jax-scan"
    assert entry["ratios"]["jseq/keras"]["import_s"] == 2.0


def _result(entry):
    entry["case"] = cases.make_cases(True, ["dense10"])[0].to_json()
    return {
        "name": "t",
        "created": "now",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "usable_cores": 2,
            "git": "abc",
            "device": {"platform": "cpu", "kind": "cpu", "count": 1},
            "versions": {"jax": "0"},
            "load_average_start": 0.0,
            "load_average_end": 0.0,
        },  # fmt: skip
        "settings": {
            "quick": True,
            "repeats": 1,
            "epochs": 2,
            "timed_calls": 1,
            "seed": 1,
            "test_samples": 2000,
            "frameworks": list(entry["frameworks"]),
        },  # fmt: skip
        "cases": [entry],
    }


@pytest.mark.parametrize("model", sorted(cases.MODELS))
def test_initial_weights_fit_the_jseq_model_in_get_weights_order(model):
    import jseq
    from benchmarks.worker_keras_api import build_model

    spec = cases.MODELS[model]
    if model == "lstm" and not hasattr(jseq.layers, "LSTM"):
        pytest.skip("jseq.layers.LSTM is not there yet")
    net = build_model(jseq, cases.Case(spec, 32, 64).to_json())
    weights = cases.initial_weights(spec)
    assert [w.shape for w in net.get_weights()] == [w.shape for w in weights]
    assert all(w.dtype == np.float32 for w in weights)
    assert cases.initial_weights(spec)[0].tobytes() == weights[0].tobytes()  # fixed seed


def test_synthetic_sequences_carry_their_label_in_the_sentiment_tokens():
    x, y = cases.synthetic_sequences(50, length=80)
    assert x.shape == (50, 80) and x.dtype == np.int32 and y.shape == (50, 1)
    positive = ((x >= 1) & (x < 26)).sum(axis=1)
    negative = ((x >= 26) & (x < 51)).sum(axis=1)
    np.testing.assert_array_equal(positive == 8, y[:, 0] == 1)
    np.testing.assert_array_equal(negative == 8, y[:, 0] == 0)
    np.testing.assert_array_equal(x, cases.synthetic_sequences(50, length=80)[0])


def test_the_hand_loops_fast_layers_match_the_plain_jax_ones():
    import jax
    import jax.numpy as jnp

    from benchmarks import worker_jax

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 11, 9, 2)), jnp.float32)  # odd sizes: 'valid' pooling drops a row
    kernel = jnp.asarray(rng.normal(size=(3, 3, 2, 4)), jnp.float32)
    window = (1, 2, 2, 1)
    np.testing.assert_array_equal(
        worker_jax.max_pool(x, 2), jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")
    )

    def loss(conv):
        return lambda x, k: jnp.sum(jnp.sin(conv(x, k)))

    fast = worker_jax.conv2d_shifted_weight_grad()
    np.testing.assert_array_equal(fast(x, kernel), worker_jax.conv2d(x, kernel))
    plain_grads = jax.grad(loss(worker_jax.conv2d), argnums=(0, 1))(x, kernel)
    fast_grads = jax.grad(loss(fast), argnums=(0, 1))(x, kernel)
    for plain, shifted in zip(plain_grads, fast_grads):
        np.testing.assert_allclose(shifted, plain, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------------
# The data-parallel scaling study (benchmarks/scaling.py)


@pytest.mark.slow
def test_the_scaling_worker_trains_alike_on_one_and_two_host_devices(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from benchmarks import scaling

    rng = np.random.default_rng(0)
    digits = (rng.integers(0, 256, (320, 28, 28)).astype(np.uint8), rng.integers(0, 10, 320).astype(np.uint8))
    case = cases.Case(cases.MODELS["mlp"], 64, 256, 64)  # 4 steps per epoch, 32 rows per device on 2
    cases.write_case_file(case, tmp_path / "mlp.npz", digits)
    task = {"case": case.to_json(), "data_path": str(tmp_path / "mlp.npz"), "epochs": 2}
    env = run.worker_env()

    def one(n):  # the two counts run side by side: only the fields are checked here, not the times
        return scaling.run_worker(dict(task, devices=n), tmp_path, scaling.worker_env(env, n, True), 120)

    with ThreadPoolExecutor(2) as pool:
        (one_device, error_1), (two_devices, error_2) = pool.map(one, [1, 2])
    assert error_1 is None and error_2 is None, (error_1, error_2)
    for n, figures in ((1, one_device), (2, two_devices)):
        assert figures["devices"] == n and figures["per_device_batch"] == 64 // n
        assert figures["param_devices"] == n and figures["device"]["count"] == n  # really on n devices
        assert len(figures["epoch_s"]) == 2 and len(figures["train_loss"]) == 2
        for key in ("steady_epoch_s", "step_ms", "first_epoch_s", "accuracy", "loss", "peak_rss_mib"):
            assert math.isfinite(figures[key]) and figures[key] >= 0, (n, key, figures[key])
    # data parallelism changes only the order of float sums
    np.testing.assert_allclose(one_device["train_loss"], two_devices["train_loss"], rtol=1e-5)

    group = scaling.summarise(
        {"case": case.to_json(), "devices": {"1": {"runs": [one_device], "errors": []},
                                             "2": {"runs": [two_devices], "errors": []}}}
    )  # fmt: skip
    first, second = group["scaling"]
    assert (first["devices"], second["devices"]) == (1, 2)
    assert first["speedup"] == 1.0 and first["efficiency"] == 1.0
    t1, t2 = (row["steady_epoch_s"]["median"] for row in (first, second))
    assert second["speedup"] == pytest.approx(t1 / t2) and second["efficiency"] == pytest.approx(
        t1 / (2 * t2)
    )
    assert group["agreement"]["void"] is False


def test_the_scaling_report_and_its_bookkeeping():
    from benchmarks import scaling

    def runs(n, seconds, accuracy):
        return {"runs": [{"steady_epoch_s": s, "step_ms": s, "first_epoch_s": 1.0, "accuracy": accuracy,
                          "loss": 0.3, "peak_rss_mib": 100.0, "train_loss": [1.0, 0.5]} for s in seconds],
                "errors": []}  # fmt: skip

    case = cases.Case(cases.MODELS["mlp"], 128, 8000).to_json()
    group = scaling.summarise(
        {"case": case, "devices": {"1": runs(1, [1.0, 1.2, 0.8], 0.9), "4": runs(4, [0.5, 0.5], 0.9)}}
    )
    assert [row["devices"] for row in group["scaling"]] == [1, 4]
    assert group["scaling"][1]["speedup"] == 2.0 and group["scaling"][1]["efficiency"] == 0.5
    assert group["scaling"][1]["per_device_batch"] == 32
    void = scaling.summarise({"case": case, "devices": {"1": runs(1, [1.0], 0.9), "2": runs(2, [1.0], 0.95)}})
    assert void["agreement"]["void"] and "accuracies" in void["agreement"]["reasons"][0]

    result = _result(_entry({"jseq": 0.9}))
    result.update(kind="scaling", name="scaling-test", groups=[group])
    result["settings"].update(host_devices=True, train_samples=8000, test_samples=2000)
    text = scaling.markdown(result)
    assert "| 128 | 4 | 32 | 0.500 |" in text and "| 2.00x | 0.50 |" in text
    assert "share the same 2 cores" in text

    machine = {"cores": 2, "device": {"platform": "cpu", "kind": "cpu", "count": 1}}
    assert scaling.device_counts(None, machine) == [1, 2, 4]
    gpu = {"cores": 16, "device": {"platform": "gpu", "kind": "NVIDIA H100 80GB HBM3", "count": 8}}
    assert scaling.device_counts(None, gpu) == [1, 2, 4, 8]
    assert scaling.device_counts(None, dict(gpu, device=dict(gpu["device"], count=3))) == [1, 2, 3]
    with pytest.raises(ValueError, match="has 8 gpu device"):
        scaling.device_counts([1, 16], gpu)
    import datetime

    day = datetime.datetime(2026, 11, 23)
    assert scaling.default_name(machine, day) == "scaling-cpu-2core-20261123"
    assert scaling.default_name(gpu, day) == "scaling-gpu-nvidia-h100-80gb-hbm3-x8-20261123"
    env = scaling.worker_env({"XLA_FLAGS": "--xla_foo=1 --xla_force_host_platform_device_count=8"}, 2, True)
    assert env["XLA_FLAGS"] == "--xla_foo=1 --xla_force_host_platform_device_count=2"
    assert "XLA_FLAGS" not in scaling.worker_env({}, 2, False)  # real devices: nothing forced
