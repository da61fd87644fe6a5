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
