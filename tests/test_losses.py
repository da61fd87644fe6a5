"""jseq.losses: every loss against Keras on random inputs, names, shape rules, reductions."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jseq.losses as jl

os.environ.setdefault("KERAS_BACKEND", "jax")

N, C = 8, 5
rng = np.random.default_rng(0)


def _probs(shape=(N, C)):
    x = rng.random(shape).astype("float32") + 0.01
    return x / x.sum(-1, keepdims=True)


ONEHOT = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
LABELS = rng.integers(0, C, N)
REG_T = rng.normal(size=(N, 3)).astype("float32")
REG_P = rng.normal(size=(N, 3)).astype("float32")
BIN_T = rng.integers(0, 2, (N, 1)).astype("float32")
BIN_P = rng.random((N, 1)).astype("float32")
LOGITS = rng.normal(size=(N, C)).astype("float32")
WEIGHTS = rng.random(N).astype("float32")

CASES = [
    ("MeanSquaredError", {}, REG_T, REG_P),
    ("MeanSquaredError", {}, BIN_T[:, 0], BIN_P),  # (n,) labels vs (n, 1) predictions
    ("MeanAbsoluteError", {}, REG_T, REG_P),
    ("MeanAbsolutePercentageError", {}, REG_T, REG_P),
    ("MeanSquaredLogarithmicError", {}, np.abs(REG_T), np.abs(REG_P)),
    ("Huber", {"delta": 0.7}, REG_T, REG_P),
    ("LogCosh", {}, REG_T, REG_P),
    ("CosineSimilarity", {}, REG_T, REG_P),
    ("KLDivergence", {}, ONEHOT, _probs()),
    ("Poisson", {}, np.abs(REG_T), np.abs(REG_P)),
    ("BinaryCrossentropy", {}, BIN_T, BIN_P),
    ("BinaryCrossentropy", {}, BIN_T[:, 0], BIN_P),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, BIN_T, REG_P[:, :1]),
    ("BinaryCrossentropy", {}, (REG_T > 0).astype("float32"), 1 / (1 + np.exp(-REG_P))),  # multi-label
    ("CategoricalCrossentropy", {}, ONEHOT, _probs() * 3),  # unnormalised probabilities
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, ONEHOT, LOGITS),
    ("SparseCategoricalCrossentropy", {}, LABELS, _probs()),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, LABELS[:, None], LOGITS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, LABELS, _probs()),
    ("Hinge", {}, BIN_T, REG_P[:, :1]),
    ("SquaredHinge", {}, BIN_T * 2 - 1, REG_P[:, :1]),
    ("CategoricalHinge", {}, ONEHOT, LOGITS),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True}, BIN_T, BIN_P),
    ("CategoricalFocalCrossentropy", {}, ONEHOT, _probs()),
]


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_loss_objects_match_keras(name, kwargs, y_true, y_pred):
    keras = pytest.importorskip("keras")
    theirs, ours = getattr(keras.losses, name)(**kwargs), getattr(jl, name)(**kwargs)
    for weights in (None, WEIGHTS, WEIGHTS[:, None]):
        expected = float(theirs(y_true, y_pred, sample_weight=weights))
        got = float(jax.jit(ours)(y_true, y_pred, weights))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # Per-sample values, reduction "none".
    expected = np.asarray(getattr(keras.losses, name)(reduction="none", **kwargs)(y_true, y_pred))
    np.testing.assert_allclose(np.asarray(ours.call(y_true, y_pred)), expected, rtol=1e-5, atol=1e-6)
    # Keras's config layout; jseq also keeps Huber's `delta` and CosineSimilarity's `axis` (Keras drops them).
    config = ours.get_config()
    assert theirs.get_config().items() <= config.items()
    assert getattr(jl, name).from_config(config).get_config() == config
    assert ours.name == theirs.name


FUNCTIONS = [
    ("mean_squared_error", {}, REG_T, REG_P),
    ("mean_absolute_error", {}, REG_T, REG_P),
    ("mean_absolute_percentage_error", {}, REG_T, REG_P),
    ("mean_squared_logarithmic_error", {}, np.abs(REG_T), np.abs(REG_P)),
    ("huber", {"delta": 2.0}, REG_T, REG_P),
    ("log_cosh", {}, REG_T, REG_P),
    ("cosine_similarity", {"axis": -1}, REG_T, REG_P),
    ("kl_divergence", {}, _probs(), _probs()),
    ("poisson", {}, np.abs(REG_T), np.abs(REG_P)),
    ("binary_crossentropy", {"label_smoothing": 0.2}, BIN_T, BIN_P),
    ("categorical_crossentropy", {"from_logits": True}, ONEHOT, LOGITS),
    ("sparse_categorical_crossentropy", {}, LABELS, _probs()),
    ("hinge", {}, BIN_T * 2 - 1, REG_P[:, :1]),
    ("squared_hinge", {}, BIN_T, REG_P[:, :1]),
    ("categorical_hinge", {}, ONEHOT, LOGITS),
]


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_functions_match_keras(name, kwargs, y_true, y_pred):
    keras = pytest.importorskip("keras")
    expected = np.asarray(getattr(keras.losses, name)(y_true, y_pred, **kwargs))
    got = getattr(jl, name)(y_true, y_pred, **kwargs)
    assert got.shape == expected.shape == (N,)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_aliases_are_the_functions():
    assert jl.mse is jl.mean_squared_error and jl.mae is jl.mean_absolute_error
    assert jl.mape is jl.mean_absolute_percentage_error and jl.msle is jl.mean_squared_logarithmic_error
    assert jl.logcosh is jl.log_cosh and jl.kld is jl.kl_divergence is jl.kullback_leibler_divergence


def test_sparse_labels_shapes_and_errors():
    p = _probs()
    a = jl.sparse_categorical_crossentropy(LABELS, p)
    b = jl.sparse_categorical_crossentropy(LABELS[:, None], p)
    c = jl.sparse_categorical_crossentropy(LABELS.astype("float32"), p)  # labels that went through float32
    np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(a), np.asarray(c))
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        jl.sparse_categorical_crossentropy(ONEHOT, p[:, :4])
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        jl.categorical_crossentropy(LABELS, p)


def test_probabilities_are_clipped_not_nan():
    p = np.array([[1.0, 0.0, 0.0]], "float32")
    assert np.isfinite(float(jl.categorical_crossentropy(np.array([[0.0, 1.0, 0.0]]), p)[0]))
    assert float(jl.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]]))[0]) == pytest.approx(
        -np.log(1e-7), rel=1e-4
    )


def test_crossentropy_resolves_by_shape_like_accuracy():
    ce = jl.get("crossentropy")
    assert isinstance(ce, jl.AutoCrossentropy) and ce.name == "crossentropy"
    assert isinstance(ce.resolve((None,), (None, 10)), jl.SparseCategoricalCrossentropy)
    assert isinstance(ce.resolve((None, 1), (None, 10)), jl.SparseCategoricalCrossentropy)
    assert isinstance(ce.resolve((None, 10), (None, 10)), jl.CategoricalCrossentropy)
    assert isinstance(ce.resolve((None,), (None, 1)), jl.BinaryCrossentropy)
    assert jl.get("CE").resolve((4, 1), (4, 1)).name == "CE"
    # Calling it directly resolves on the given arrays.
    p = _probs()
    assert float(ce(LABELS, p)) == pytest.approx(float(jl.SparseCategoricalCrossentropy()(LABELS, p)))
    assert float(ce(ONEHOT, p)) == pytest.approx(float(jl.CategoricalCrossentropy()(ONEHOT, p)))


def test_get_resolves_every_kind_of_identifier():
    assert isinstance(jl.get("mse"), jl.MeanSquaredError) and jl.get("mse").name == "mse"
    assert jl.get("MSE").name == "MSE"
    assert isinstance(jl.get("sparse_categorical_crossentropy"), jl.SparseCategoricalCrossentropy)
    assert jl.get("MeanSquaredError").name == "mean_squared_error"
    for alias in [
        "mae",
        "mape",
        "msle",
        "logcosh",
        "kld",
        "kullback_leibler_divergence",
        "huber_loss",
        "bce",
    ]:
        assert isinstance(jl.get(alias), jl.Loss)
    loss = jl.BinaryCrossentropy(from_logits=True)
    assert jl.get(loss) is loss
    assert isinstance(jl.get(jl.Hinge), jl.Hinge)
    assert jl.get(jl.serialize(loss)).from_logits is True

    def my_loss(y_true, y_pred):
        return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)

    wrapped = jl.get(my_loss)
    assert wrapped.name == "my_loss"
    # Like Keras, the wrapper matches ranks before calling the function: (n,) labels vs (n, 1) outputs.
    np.testing.assert_allclose(np.asarray(wrapped.call(BIN_T[:, 0], BIN_P)), np.abs(BIN_T - BIN_P)[:, 0])
    with pytest.raises(ValueError, match="mean_squared_error"):
        jl.get("mean_square_error")


def test_reductions_and_mask():
    values = jnp.array([1.0, 2.0, 3.0, 4.0])
    w = jnp.array([1.0, 0.0, 1.0, 0.0])
    assert float(jl.reduce_weighted_values(values, w)) == pytest.approx(1.0)  # (1 + 3) / 4
    assert float(jl.reduce_weighted_values(values, w, reduction="sum")) == pytest.approx(4.0)
    assert float(jl.reduce_weighted_values(values, w, reduction="mean_with_sample_weight")) == pytest.approx(
        2.0
    )
    assert jl.reduce_weighted_values(values, w, reduction="none").shape == (4,)
    # A mask averages over the valid entries only.
    assert float(jl.reduce_weighted_values(values, mask=w > 0)) == pytest.approx(2.0)
    # Per-sample weights against per-timestep losses broadcast over time.
    per_step = jnp.ones((2, 3))
    assert float(jl.reduce_weighted_values(per_step, jnp.array([1.0, 0.0]))) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="reduction"):
        jl.MeanSquaredError(reduction="average")


def test_masked_loss_matches_keras_mask():
    keras = pytest.importorskip("keras")
    y_true, y_pred = REG_T, REG_P
    mask = np.array([True, False] * (N // 2))
    pred = keras.ops.convert_to_tensor(y_pred)
    pred._keras_mask = keras.ops.convert_to_tensor(mask)
    expected = float(keras.losses.MeanSquaredError()(y_true, pred, sample_weight=WEIGHTS))
    got = float(jl.MeanSquaredError()(y_true, y_pred, sample_weight=WEIGHTS, mask=mask))
    assert got == pytest.approx(expected, rel=1e-5)


def test_losses_are_differentiable_and_jittable():
    def total(p):
        return jl.CategoricalCrossentropy(from_logits=True)(ONEHOT, p)

    g = jax.jit(jax.grad(total))(LOGITS)
    # d/dlogits of mean softmax crossentropy = (softmax - onehot) / n
    expected = (jax.nn.softmax(LOGITS) - ONEHOT) / N
    np.testing.assert_allclose(np.asarray(g), np.asarray(expected), rtol=1e-5, atol=1e-7)


def test_loss_subclass_with_call():
    class Scaled(jl.Loss):
        def call(self, y_true, y_pred):
            return 2.0 * jl.mean_squared_error(y_true, y_pred)

    loss = Scaled()
    assert loss.name == "scaled"
    assert float(loss(REG_T, REG_P)) == pytest.approx(2.0 * float(jl.MeanSquaredError()(REG_T, REG_P)))
