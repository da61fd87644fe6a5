"""jseq.metrics: every metric against Keras over several batches, the pure protocol, names and shapes."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jseq.losses as jl
import jseq.metrics as jm

os.environ.setdefault("KERAS_BACKEND", "jax")

N, C = 16, 5


def _batches(kind, seed):
    """Three batches of (y_true, y_pred) of one kind."""
    rng = np.random.default_rng(seed)

    def probs():
        x = rng.random((N, C)).astype("float32") + 0.01
        return x / x.sum(-1, keepdims=True)

    make = {
        "bin": lambda: (rng.integers(0, 2, (N, 1)).astype("float32"), rng.random((N, 1)).astype("float32")),
        "bin1d": lambda: (rng.integers(0, 2, (N,)).astype("float32"), rng.random((N, 1)).astype("float32")),
        "cat": lambda: (np.eye(C, dtype="float32")[rng.integers(0, C, N)], probs()),
        "sparse": lambda: (rng.integers(0, C, N), probs()),
        "sparse2": lambda: (rng.integers(0, C, (N, 1)), probs()),
        "reg": lambda: (rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")),
        "pos": lambda: (
            np.abs(rng.normal(size=(N, 3))).astype("float32"),
            rng.random((N, 3)).astype("float32"),
        ),
        "multi": lambda: (rng.integers(0, 2, (N, 3)).astype("float32"), rng.random((N, 3)).astype("float32")),
        "int": lambda: (rng.integers(0, 3, (N, 1)), rng.integers(0, 3, (N, 1))),
    }[kind]
    return [make() + (rng.random(N).astype("float32"),) for _ in range(3)]


CASES = [
    ("Accuracy", {}, "int"),
    ("BinaryAccuracy", {}, "bin"),
    ("BinaryAccuracy", {"threshold": 0.3}, "bin1d"),
    ("CategoricalAccuracy", {}, "cat"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse2"),
    ("TopKCategoricalAccuracy", {"k": 2}, "cat"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("BinaryCrossentropy", {}, "bin"),
    ("BinaryCrossentropy", {"from_logits": True}, "reg"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "cat"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("MeanSquaredError", {}, "reg"),
    ("MeanAbsoluteError", {}, "reg"),
    ("RootMeanSquaredError", {}, "reg"),
    ("MeanAbsolutePercentageError", {}, "reg"),
    ("MeanSquaredLogarithmicError", {}, "pos"),
    ("LogCoshError", {}, "reg"),
    ("CosineSimilarity", {}, "reg"),
    ("KLDivergence", {}, "cat"),
    ("Poisson", {}, "pos"),
    ("Hinge", {}, "bin"),
    ("SquaredHinge", {}, "bin"),
    ("CategoricalHinge", {}, "cat"),
    ("AUC", {}, "bin"),
    ("AUC", {"curve": "PR"}, "bin"),
    ("AUC", {"num_thresholds": 7, "summation_method": "minoring"}, "multi"),
    ("AUC", {"curve": "PRGAIN", "summation_method": "majoring"}, "bin"),
    ("AUC", {"thresholds": [0.2, 0.5, 0.7]}, "bin1d"),
    ("AUC", {"from_logits": True}, "reg"),
    ("Precision", {}, "bin"),
    ("Recall", {}, "bin1d"),
    ("Precision", {"thresholds": [0.2, 0.5, 0.8]}, "multi"),
    ("Recall", {"top_k": 2}, "multi"),
    ("Precision", {"class_id": 1}, "multi"),
    ("TruePositives", {}, "bin"),
    ("FalseNegatives", {"thresholds": [0.3, 0.6]}, "multi"),
]


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_metrics_match_keras_over_batches(name, kwargs, kind):
    keras = pytest.importorskip("keras")
    data = _batches(kind, seed=len(name) + len(kwargs))
    for weighted in (False, True):
        theirs, ours = getattr(keras.metrics, name)(**kwargs), getattr(jm, name)(**kwargs)
        state = ours.init()
        update = ours.update if kind != "bin" else jax.jit(ours.update)  # jit some, keep the test fast
        for y_true, y_pred, w in data:
            w = w if weighted else None
            theirs.update_state(y_true, y_pred, sample_weight=w)
            state = update(state, y_true, y_pred, w)
        expected = np.asarray(theirs.result())
        np.testing.assert_allclose(np.asarray(ours.result(state)), expected, rtol=1e-5, atol=1e-6)
    # Same layout; auto-generated names ("auc_3") depend on each library's counters.
    assert {**ours.get_config(), "name": None} == {**theirs.get_config(), "name": None}
    assert getattr(jm, name).from_config(ours.get_config()).get_config() == ours.get_config()


def test_stateful_api_like_keras():
    keras = pytest.importorskip("keras")
    (t1, p1, w1), (t2, p2, _), _ = _batches("bin", 7)
    theirs, ours = keras.metrics.AUC(), jm.AUC()
    for m in (theirs, ours):
        m.update_state(t1, p1, sample_weight=w1)
        m.update_state(t2, p2)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    ours.reset_state()
    assert float(ours.result()) == 0.0
    # Calling a metric updates it and returns the running result, as Keras.
    mse = jm.MeanSquaredError()
    assert float(mse([[1.0]], [[3.0]])) == pytest.approx(4.0)
    assert float(mse([[1.0]], [[1.0]])) == pytest.approx(2.0)


def test_mean_and_sum_take_values():
    keras = pytest.importorskip("keras")
    values, weights = np.array([[1.0, 2.0], [3.0, 5.0]], "float32"), np.array([1.0, 3.0], "float32")
    for cls in ("Mean", "Sum"):
        theirs, ours = getattr(keras.metrics, cls)(), getattr(jm, cls)()
        theirs.update_state(values, sample_weight=weights)
        theirs.update_state(values[0])
        state = ours.update(ours.update(ours.init(), values, weights), values[0])
        assert float(ours.result(state)) == pytest.approx(float(theirs.result()), rel=1e-6)


def test_sparse_crossentropy_ignore_class_matches_keras_with_weights():
    keras = pytest.importorskip("keras")
    data = _batches("sparse", 3)
    theirs, ours = (
        keras.metrics.SparseCategoricalCrossentropy(ignore_class=1),
        jm.SparseCategoricalCrossentropy(ignore_class=1),
    )
    state = ours.init()
    for y_true, y_pred, w in data:
        theirs.update_state(y_true, y_pred, sample_weight=w)
        state = ours.update(state, y_true, y_pred, w)
    assert float(ours.result(state)) == pytest.approx(float(theirs.result()), rel=1e-5)
    # Without weights the ignored samples are still left out (Keras would average their zeros in).
    y_true, y_pred, _ = data[0]
    keep = y_true != 1
    got = ours.result(ours.update(ours.init(), y_true, y_pred))
    expected = np.mean(np.asarray(jl.sparse_categorical_crossentropy(y_true, y_pred))[keep])
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


# keras-behaviour.md §4: "accuracy" by shape. (y_true shape, y_pred shape, class)
ACCURACY_TABLE = [
    ((None,), (None, 10), jm.SparseCategoricalAccuracy),  # sparse CE with int labels
    ((None, 1), (None, 10), jm.SparseCategoricalAccuracy),  # int labels shaped (n, 1)
    ((None, 10), (None, 10), jm.CategoricalAccuracy),  # CE with one-hot
    ((None, 1), (None, 1), jm.BinaryAccuracy),  # BCE with 1 unit
    ((None,), (None, 1), jm.BinaryAccuracy),  # MSE with 1 unit also gives BinaryAccuracy
    ((None, 5, 1), (None, 5, 3), jm.SparseCategoricalAccuracy),  # per-timestep int labels
]


@pytest.mark.parametrize("y_true_shape,y_pred_shape,cls", ACCURACY_TABLE)
def test_accuracy_auto_selection(y_true_shape, y_pred_shape, cls):
    for name in ("accuracy", "acc", "Accuracy"):
        metric = jm.get(name, y_true_shape, y_pred_shape)
        assert type(metric) is cls
        assert metric.name == name  # logs under the string as passed
    pytest.importorskip("keras")
    from keras.src.trainers.compile_utils import get_metric

    shape = [2 if d is None else d for d in y_true_shape], [2 if d is None else d for d in y_pred_shape]
    theirs = get_metric("acc", np.zeros(shape[0]), np.zeros(shape[1]))
    assert type(theirs).__name__ == cls.__name__


def test_auto_accuracy_without_shapes_chooses_per_update():
    acc = jm.get("acc")
    assert isinstance(acc, jm.AutoAccuracy) and acc.name == "acc"
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2]], "float32")
    state = acc.update(acc.init(), np.array([1, 1]), y_pred)
    assert float(acc.result(state)) == pytest.approx(0.5)
    assert type(acc.resolve((None,), (None, 2))) is jm.SparseCategoricalAccuracy
    ce = jm.get("ce", (None, 1), (None, 1))
    assert type(ce) is jm.BinaryCrossentropy and ce.name == "ce"


def test_get_names_instances_classes_functions():
    assert type(jm.get("mse")) is jm.MeanSquaredError and jm.get("mse").name == "mse"
    assert type(jm.get("auc")) is jm.AUC and jm.get("AUC").name == "AUC"
    assert type(jm.get("precision")) is jm.Precision and type(jm.get("recall")) is jm.Recall
    assert type(jm.get("top_k_categorical_accuracy")) is jm.TopKCategoricalAccuracy
    for name in ["mae", "mape", "msle", "MSE", "binary_accuracy", "root_mean_squared_error", "bce"]:
        assert isinstance(jm.get(name), jm.Metric)
    auc = jm.AUC()
    assert jm.get(auc) is auc
    assert type(jm.get(jm.Recall)) is jm.Recall

    def my_metric(y_true, y_pred):
        return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)

    wrapped = jm.get(my_metric)
    assert wrapped.name == "my_metric"
    state = wrapped.update(wrapped.init(), np.ones((4, 2)), np.zeros((4, 2)))
    assert float(wrapped.result(state)) == pytest.approx(1.0)
    assert jm.get(jl.MeanAbsoluteError()).name == "mean_absolute_error"
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'acc_typo'.*accuracy"):
        jm.get("acc_typo")


def test_default_names_as_keras():
    from jseq.core import clear_session

    clear_session()
    assert [jm.AUC().name, jm.AUC().name, jm.Precision().name, jm.Recall().name] == [
        "auc",
        "auc_1",
        "precision",
        "recall",
    ]
    assert jm.BinaryAccuracy().name == "binary_accuracy"


def test_metric_state_is_a_pytree_of_arrays_and_jits_without_retracing():
    metric = jm.SparseCategoricalAccuracy()
    traces = []

    @jax.jit
    def step(state, y_true, y_pred):
        traces.append(1)
        return metric.update(state, y_true, y_pred)

    state = metric.init()
    for seed in range(3):
        y_true, y_pred, _ = _batches("sparse", seed)[0]
        state = step(state, y_true, y_pred)
    assert len(traces) == 1
    assert all(isinstance(v, jax.Array) for v in jax.tree.leaves(state))
    assert 0.0 <= float(metric.result(state)) <= 1.0


def test_auc_refuses_what_it_does_not_implement():
    with pytest.raises(NotImplementedError, match="multi_label"):
        jm.AUC(multi_label=True)
    with pytest.raises(ValueError, match="curve"):
        jm.AUC(curve="DET")
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        jm.Precision(thresholds=[1.5])


# --------------------------------------------------------------------------------------------------------
# jseq.backend: the K.* ops custom metrics are written with.


def test_backend_ops_follow_keras_semantics():
    from jseq import backend as K

    x = np.array([[1.0, -2.0, 3.5], [0.5, 2.5, -1.5]], "float32")
    assert K.epsilon() == 1e-7 and K.floatx() == "float32"
    np.testing.assert_allclose(np.asarray(K.mean(x, axis=1, keepdims=True)), x.mean(1, keepdims=True))
    np.testing.assert_allclose(np.asarray(K.sum(x, axis=0)), x.sum(0))
    np.testing.assert_allclose(np.asarray(K.std(x)), x.std(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(K.var(x, axis=-1)), x.var(-1), rtol=1e-6)
    assert float(K.mean(K.equal(x, x))) == 1.0  # booleans average as 0/1
    np.testing.assert_allclose(np.asarray(K.sqrt(x)), np.sqrt(np.maximum(x, 0)))  # no NaN for negatives
    np.testing.assert_allclose(np.asarray(K.clip(x, 0.0, None)), np.clip(x, 0, None))
    np.testing.assert_allclose(np.asarray(K.clip(x, 1.0, 0.0)), np.ones_like(x))  # max < min clips to min
    np.testing.assert_allclose(np.asarray(K.round(np.array([0.5, 1.5, 2.5]))), [0.0, 2.0, 2.0])
    assert K.cast(x > 0, "float32").dtype == jnp.float32
    assert K.flatten(x).shape == (6,) and K.int_shape(K.reshape(x, (3, 2))) == (3, 2)
    assert K.concatenate([x, x]).shape == (2, 6) and K.stack([x, x]).shape == (2, 2, 3)
    assert K.argmax(x).tolist() == [2, 1]
    np.testing.assert_allclose(np.asarray(K.pow(x, 2)), x**2)
    # dot above rank 2 contracts the last axis of x with the second-to-last of y (Keras 2's rule).
    assert K.dot(np.ones((2, 3)), np.ones((4, 3, 5))).shape == (2, 4, 5)
    assert K.dot(np.ones((2, 3, 4)), np.ones((4, 5))).shape == (2, 3, 5)
    np.testing.assert_allclose(np.asarray(K.dot(x, x.T)), x @ x.T, rtol=1e-6)
    assert K.ones_like(x).sum() == 6 and K.zeros_like(x, dtype="int32").dtype == jnp.int32


def test_custom_metric_written_with_backend_matches_keras():
    keras = pytest.importorskip("keras")
    from jseq import backend as K

    def r2(y_true, y_pred):
        ss_res = K.sum(K.square(y_true - y_pred), axis=-1)
        ss_tot = K.sum(K.square(y_true - K.mean(y_true, axis=-1, keepdims=True)), axis=-1)
        return 1 - ss_res / (ss_tot + K.epsilon())

    def r2_keras(y_true, y_pred):
        ops = keras.ops
        ss_res = ops.sum(ops.square(y_true - y_pred), axis=-1)
        ss_tot = ops.sum(ops.square(y_true - ops.mean(y_true, axis=-1, keepdims=True)), axis=-1)
        return 1 - ss_res / (ss_tot + keras.backend.epsilon())

    ours, theirs = jm.get(r2), keras.metrics.MeanMetricWrapper(r2_keras, name="r2")
    state = ours.init()
    for y_true, y_pred, w in _batches("reg", 11):
        state = jax.jit(ours.update)(state, y_true, y_pred, w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
    assert ours.name == "r2"
    assert float(ours.result(state)) == pytest.approx(float(theirs.result()), rel=1e-5)
