"""Noise layers: identity at inference (as Keras), the right noise in training, a clear error without key."""

import jax
import numpy as np
import pytest

import jseq
from jseq import layers

KEY = jax.random.PRNGKey(0)

# (layer class name, constructor kwargs, input shape with batch)
CASES = [
    ("SpatialDropout1D", dict(rate=0.5), (2, 5, 3)),
    ("SpatialDropout2D", dict(rate=0.5), (2, 4, 5, 3)),
    ("SpatialDropout2D", dict(rate=0.3, data_format="channels_first"), (2, 3, 4, 5)),
    ("GaussianNoise", dict(stddev=0.5), (2, 6)),
    ("GaussianDropout", dict(rate=0.4), (2, 6)),
    ("AlphaDropout", dict(rate=0.2), (2, 6)),
]


def _case_id(case):
    name, kwargs, _ = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_identity_at_inference_as_keras(keras, case):
    name, kwargs, shape = case
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    layer = getattr(layers, name)(**kwargs)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(getattr(keras.layers, name)(**kwargs)(x)))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, {}, x, training=False, key=KEY)[0]), x)
    assert layer.compute_mask(x, "the mask") == "the mask"  # masks pass through, as in Keras


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_training_without_a_key_is_a_clear_error(case):
    name, kwargs, shape = case
    layer = getattr(layers, name)(name="noisy", **kwargs)
    with pytest.raises(ValueError, match=f"'noisy' \\({name}\\) needs a PRNG key when training=True"):
        layer.apply({}, {}, np.ones(shape, "float32"), training=True)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_training_noise_is_decided_by_the_key(case):
    name, kwargs, shape = case
    layer = getattr(layers, name)(**kwargs)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    a = layer.apply({}, {}, x, training=True, key=KEY)[0]
    b = layer.apply({}, {}, x, training=True, key=KEY)[0]
    c = layer.apply({}, {}, x, training=True, key=jax.random.PRNGKey(1))[0]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert not np.array_equal(np.asarray(a), x)


def test_zero_rate_needs_no_key():
    x = np.ones((2, 3, 4), "float32")
    for layer in (layers.SpatialDropout1D(0.0), layers.GaussianNoise(0.0), layers.GaussianDropout(0.0)):
        np.testing.assert_array_equal(np.asarray(layer.apply({}, {}, x, training=True)[0]), x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout2d_drops_whole_feature_maps(data_format):
    rate, channels = 0.4, 400
    shape = (3, 4, 5, channels) if data_format == "channels_last" else (3, channels, 4, 5)
    x = np.random.default_rng(2).uniform(1.0, 2.0, size=shape).astype("float32")  # never 0
    y = np.asarray(
        layers.SpatialDropout2D(rate, data_format=data_format).apply({}, {}, x, training=True, key=KEY)[0]
    )
    spatial = (1, 2) if data_format == "channels_last" else (2, 3)
    dropped = np.all(y == 0, axis=spatial)  # (batch, channels)
    kept = np.all(np.isclose(y, x / (1 - rate)), axis=spatial)
    assert np.all(dropped ^ kept)  # each map is dropped or kept whole, and kept maps are scaled
    assert abs(dropped.mean() - rate) < 0.05


def test_spatial_dropout1d_drops_whole_channels():
    rate = 0.5
    x = np.random.default_rng(3).uniform(1.0, 2.0, size=(4, 6, 300)).astype("float32")
    y = np.asarray(layers.SpatialDropout1D(rate).apply({}, {}, x, training=True, key=KEY)[0])
    dropped = np.all(y == 0, axis=1)
    assert np.all(dropped ^ np.all(np.isclose(y, 2 * x), axis=1))
    assert abs(dropped.mean() - rate) < 0.05


def test_gaussian_noise_and_gaussian_dropout_statistics():
    x = np.random.default_rng(4).uniform(1.0, 2.0, size=(100, 200)).astype("float32")
    noise = np.asarray(layers.GaussianNoise(0.3).apply({}, {}, x, training=True, key=KEY)[0]) - x
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.3) < 0.01
    rate = 0.2
    factor = np.asarray(layers.GaussianDropout(rate).apply({}, {}, x, training=True, key=KEY)[0]) / x
    assert abs(factor.mean() - 1.0) < 0.01 and abs(factor.std() - np.sqrt(rate / (1 - rate))) < 0.01


def test_alpha_dropout_values_and_self_normalization():
    rate = 0.3
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * rate
    x = np.random.default_rng(5).normal(size=(200, 250)).astype("float32")  # mean 0, variance 1
    y = np.asarray(layers.AlphaDropout(rate).apply({}, {}, x, training=True, key=KEY)[0])
    dropped = np.isclose(y, a * alpha_p + b, atol=1e-6)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)
    assert abs(dropped.mean() - rate) < 0.01
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1.0) < 0.02  # the point of AlphaDropout


def test_alpha_dropout_noise_shape_shares_the_mask():
    x = np.random.default_rng(6).normal(size=(4, 5, 30)).astype("float32")
    y = np.asarray(
        layers.AlphaDropout(0.5, noise_shape=(None, 1, 30)).apply({}, {}, x, training=True, key=KEY)[0]
    )
    rate, alpha_p = 0.5, -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    dropped = np.isclose(y, a * alpha_p - a * alpha_p * rate, atol=1e-6)
    assert np.all(dropped == dropped[:, :1, :])  # one draw per (sample, channel), shared by the steps


def test_noise_layers_train_inside_a_model():
    model = jseq.Sequential(
        [jseq.Input(shape=(6, 4)), layers.SpatialDropout1D(0.5), layers.GaussianNoise(0.1)]
    )
    _, params, state = model.init(KEY, (None, 6, 4))
    x = np.ones((2, 6, 4), "float32")
    y, _ = model.apply(params, state, x, training=True, key=KEY)
    assert y.shape == (2, 6, 4) and not np.allclose(np.asarray(y), x)
    np.testing.assert_array_equal(np.asarray(model.apply(params, state, x)[0]), x)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: layers.SpatialDropout1D(1.5), "rate"),
        (lambda: layers.SpatialDropout2D(0.5, data_format="NHWC"), "data_format"),
        (lambda: layers.GaussianNoise(-0.1), "stddev"),
        (lambda: layers.GaussianNoise(2.0), "stddev"),
        (lambda: layers.GaussianDropout(1.0), "rate"),
        (lambda: layers.AlphaDropout(1.0), "rate"),
        (lambda: layers.AlphaDropout("half"), "rate"),
    ],
)
def test_bad_hyperparameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_spatial_dropout_checks_the_input_rank():
    with pytest.raises(ValueError, match=r"'sd' \(SpatialDropout2D\) expects inputs of rank 4"):
        layers.SpatialDropout2D(0.5, name="sd").build((None, 5, 3))
    with pytest.raises(TypeError, match="SpatialDropout1D.*data_format"):
        layers.SpatialDropout1D(0.5, data_format="channels_last")  # Keras's 1-D version has none
