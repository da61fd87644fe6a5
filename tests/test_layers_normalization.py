"""Normalization layers: Keras parity (outputs, moving statistics, frozen and masked BatchNormalization)."""

import warnings

import jax
import numpy as np
import pytest

import jseq
from jseq import layers

# (layer class name, constructor kwargs, input shape with batch)
CASES = [
    ("BatchNormalization", dict(), (8, 5)),
    ("BatchNormalization", dict(axis=1, center=False), (4, 3, 5, 2)),
    ("BatchNormalization", dict(scale=False, momentum=0.9, epsilon=1e-2), (4, 3, 5)),
    ("BatchNormalization", dict(axis=-2), (4, 3, 5)),
    ("LayerNormalization", dict(), (4, 5)),
    ("LayerNormalization", dict(axis=[1, 2], center=False), (4, 3, 5)),
    ("LayerNormalization", dict(axis=1, scale=False, epsilon=1e-5), (4, 3, 5)),
    ("GroupNormalization", dict(groups=2), (4, 3, 4)),
    ("GroupNormalization", dict(groups=-1), (4, 3, 3, 4)),
    ("GroupNormalization", dict(groups=3, axis=1, scale=False), (4, 6, 3, 2)),
    ("GroupNormalization", dict(groups=1), (4, 6)),
    ("UnitNormalization", dict(), (4, 5)),
    ("UnitNormalization", dict(axis=[1, 2]), (4, 3, 5)),
]


def _case_id(case):
    name, kwargs, _ = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def _pair(keras, name, kwargs, shape, rng):
    """The Keras layer and the jseq layer with the same weights (positive, so variances stay valid)."""
    k_layer = getattr(keras.layers, name)(**kwargs)
    k_layer.build(shape)
    weights = [rng.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    j_layer = getattr(layers, name)(**kwargs)
    j_layer.build((None,) + shape[1:])
    j_layer.set_weights(weights)
    return k_layer, j_layer


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_outputs_match_keras_in_inference_and_training(keras, case):
    name, kwargs, shape = case
    rng = np.random.default_rng(0)
    x = (3.0 * rng.normal(size=shape) + 2.0).astype("float32")
    k_layer, j_layer = _pair(keras, name, kwargs, shape, rng)
    assert [w.name for w in j_layer.weights] == [w.name for w in k_layer.weights]
    assert [w.name for w in j_layer.trainable_weights] == [w.name for w in k_layer.trainable_weights]
    assert j_layer.count_params() == k_layer.count_params()
    for training in (False, True):
        expected = np.asarray(k_layer(x, training=training))
        np.testing.assert_allclose(np.asarray(j_layer(x, training=training)), expected, rtol=1e-4, atol=1e-5)
        for ours, theirs in zip(j_layer.get_weights(), k_layer.get_weights()):  # moving statistics
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_batch_norm_moving_statistics_after_one_training_step_match_keras(keras):
    rng = np.random.default_rng(1)
    x = (2.0 * rng.normal(size=(16, 4)) + 5.0).astype("float32")
    k_layer = keras.layers.BatchNormalization()
    k_layer.build((None, 4))
    layer = layers.BatchNormalization()
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 4))
    y, new_state = layer.apply(params, state, x, training=True)
    k_y = k_layer(x, training=True)  # Keras updates its variables in place
    np.testing.assert_allclose(np.asarray(y), np.asarray(k_y), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(new_state["moving_mean"]), np.asarray(k_layer.moving_mean), rtol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(new_state["moving_variance"]), np.asarray(k_layer.moving_variance), rtol=1e-5
    )
    # the formula: momentum 0.99, the batch's biased variance
    np.testing.assert_allclose(np.asarray(new_state["moving_mean"]), 0.01 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(new_state["moving_variance"]), 0.99 + 0.01 * x.var(0), rtol=1e-5)
    # inference leaves the state alone (the same object back)
    _, same = layer.apply(params, new_state, x, training=False)
    assert same is new_state


def test_batch_norm_training_step_is_pure_under_jit():
    layer = layers.BatchNormalization()
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 3))
    x = np.arange(12, dtype="float32").reshape(4, 3)
    step = jax.jit(lambda p, s, x: layer.apply(p, s, x, training=True))
    _, s1 = step(params, state, x)
    _, s2 = step(params, s1, x)
    np.testing.assert_allclose(np.asarray(state["moving_mean"]), 0.0)  # the input state is not mutated
    np.testing.assert_allclose(np.asarray(s2["moving_mean"]), (1 - 0.99**2) * x.mean(0), rtol=1e-5)


def test_frozen_batch_norm_runs_in_inference_mode_as_keras(keras):
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(8, 3)) + 4.0).astype("float32")
    k_layer, j_layer = _pair(keras, "BatchNormalization", {}, (8, 3), rng)
    k_layer.trainable = False
    j_layer.trainable = False
    before = j_layer.get_weights()
    np.testing.assert_allclose(
        np.asarray(j_layer(x, training=True)), np.asarray(k_layer(x, training=True)), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(np.asarray(j_layer(x, training=True)), np.asarray(j_layer(x)), rtol=1e-6)
    for a, b in zip(before, j_layer.get_weights()):
        np.testing.assert_array_equal(a, b)  # moving statistics untouched
    assert [w.name for w in j_layer.non_trainable_weights] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]


def test_masked_batch_norm_statistics_match_keras(keras):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]], bool)
    k_layer = keras.layers.BatchNormalization()
    j_layer = layers.BatchNormalization()
    expected = np.asarray(k_layer(x, training=True, mask=mask))
    np.testing.assert_allclose(
        np.asarray(j_layer(x, training=True, mask=mask)), expected, rtol=1e-4, atol=1e-5
    )
    for ours, theirs in zip(j_layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert j_layer.compute_mask(x, mask) is mask  # passed on, as in Keras


def test_keras_defaults_and_weight_order():
    bn = layers.BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    bn.build((None, 3))
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    np.testing.assert_array_equal(bn.get_weights()[0], 1.0)
    np.testing.assert_array_equal(bn.get_weights()[3], 1.0)
    ln = layers.LayerNormalization()
    assert (ln.epsilon, ln.rms_scaling) == (1e-3, False)
    assert layers.GroupNormalization().groups == 32


def test_batch_norm_params_are_counted_as_non_trainable_in_summary(keras, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    def build(L, m):
        return m.Sequential(
            [m.Input(shape=(8, 8, 3)), L.Conv2D(4, 3), L.BatchNormalization(), L.Flatten(), L.Dense(2)]
        )

    keras.backend.clear_session()
    k_text, j_text = [], []
    build(keras.layers, keras).summary(print_fn=lambda s, **kw: k_text.append(s))
    build(layers, jseq).summary(print_fn=lambda s, **kw: j_text.append(s))
    assert "".join(j_text) == "".join(k_text)
    assert " Non-trainable params: 8 (32.00 B)" in j_text[0]


def test_layer_norm_rms_scaling_matches_keras_and_warns(keras):
    x = np.random.default_rng(4).normal(size=(3, 5)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.asarray(keras.layers.LayerNormalization(rms_scaling=True)(x))
    with pytest.warns(UserWarning, match="rms_scaling"):
        layer = layers.LayerNormalization(rms_scaling=True)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5)
    assert [w.name for w in layer.weights] == ["gamma"]


def test_unit_normalization_gives_unit_norm():
    x = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")
    y = np.asarray(layers.UnitNormalization()(x))
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(layers.UnitNormalization()(np.zeros((1, 3), "float32"))), 0.0)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: layers.BatchNormalization(renorm=True), ValueError, "renorm"),
        (lambda: layers.BatchNormalization(synchronized=True), ValueError, "synchronized"),
        (lambda: layers.BatchNormalization(axis=[1, 2]), TypeError, "axis"),
        (lambda: layers.BatchNormalization(gamma_constraint="non_neg"), ValueError, "constraints"),
        (lambda: layers.LayerNormalization(axis="last"), TypeError, "axis"),
        (lambda: layers.GroupNormalization(groups=0), ValueError, "groups"),
        (lambda: layers.UnitNormalization(axis=1.5), TypeError, "axis"),
    ],
)
def test_bad_hyperparameters_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_input_shapes_name_the_layer():
    with pytest.raises(ValueError, match=r"'bn' \(BatchNormalization\): axis 3 is out of bounds"):
        layers.BatchNormalization(axis=3, name="bn").build((None, 4, 2))
    with pytest.raises(ValueError, match=r"'ln' \(LayerNormalization\) needs the size of axis \[1\]"):
        layers.LayerNormalization(axis=1, name="ln").build((None, None, 3))
    with pytest.raises(ValueError, match=r"'gn' \(GroupNormalization\).*channels \(6\).*groups \(4\)"):
        layers.GroupNormalization(groups=4, name="gn").build((None, 5, 6))
    with pytest.raises(ValueError, match=r"batch axis"):
        layers.LayerNormalization(axis=0).build((None, 3))


@pytest.mark.skipif(not hasattr(jseq.Sequential, "compile"), reason="training is not available")
def test_fit_updates_moving_statistics_and_leaves_them_to_the_layer():
    x = (np.random.default_rng(6).normal(size=(64, 3)) + 5.0).astype("float32")
    model = jseq.Sequential([jseq.Input(shape=(3,)), layers.BatchNormalization()])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((64, 3), "float32"), batch_size=64, epochs=1, shuffle=False, verbose=0)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.get_weights()[2], 0.01 * x.mean(0), rtol=1e-4)  # about 0.05, as Keras
    np.testing.assert_allclose(bn.get_weights()[3], 0.99 + 0.01 * x.var(0), rtol=1e-4)
