"""Convolution layers: Keras parity with copied weights, shapes against Keras's, clear rejections."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jseq
from jseq import layers, regularizers
from jseq.core import infer_output_shape

# (layer class name, constructor kwargs, input shape with batch)
CONV_CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3), (2, 7, 6, 3)),
    (
        "Conv2D",
        dict(filters=4, kernel_size=(3, 2), strides=2, padding="same", activation="relu"),
        (2, 7, 6, 3),
    ),
    ("Conv2D", dict(filters=4, kernel_size=3, strides=(2, 1)), (2, 8, 7, 3)),
    ("Conv2D", dict(filters=4, kernel_size=3, dilation_rate=2, padding="same"), (2, 9, 8, 3)),
    ("Conv2D", dict(filters=3, kernel_size=2, dilation_rate=(2, 1), use_bias=False), (2, 6, 5, 2)),
    ("Conv2D", dict(filters=6, kernel_size=3, groups=3), (2, 7, 6, 3)),
    ("Conv2D", dict(filters=4, kernel_size=3, data_format="channels_first", strides=2), (2, 3, 7, 6)),
    ("Conv2D", dict(filters=4, kernel_size=3, data_format="channels_first", padding="same"), (2, 2, 5, 6)),
    ("Conv1D", dict(filters=4, kernel_size=3), (2, 9, 3)),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2), (2, 9, 3)),
    ("Conv1D", dict(filters=4, kernel_size=4, padding="causal", strides=2), (2, 9, 3)),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="same", strides=2, activation="tanh"), (2, 9, 3)),
    ("Conv1D", dict(filters=4, kernel_size=2, groups=2), (2, 9, 4)),
    ("Conv1D", dict(filters=4, kernel_size=3, data_format="channels_first", padding="causal"), (2, 3, 9)),
    ("DepthwiseConv2D", dict(kernel_size=3), (2, 6, 5, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 6, 3)),
    ("DepthwiseConv2D", dict(kernel_size=(2, 3), dilation_rate=2), (2, 7, 8, 2)),
    ("DepthwiseConv2D", dict(kernel_size=3, data_format="channels_first"), (2, 3, 7, 6)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3), (2, 6, 5, 3)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, depth_multiplier=2, padding="same"), (2, 7, 6, 3)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, strides=2, use_bias=False), (2, 7, 6, 3)),
    ("SeparableConv2D", dict(filters=2, kernel_size=2, data_format="channels_first"), (2, 3, 5, 4)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3), (2, 5, 4, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2), (2, 5, 4, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=2, strides=3), (2, 5, 4, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 4, 3)),
    (
        "Conv2DTranspose",
        dict(filters=4, kernel_size=4, strides=3, padding="same", output_padding=1),
        (2, 5, 4, 3),
    ),
    ("Conv2DTranspose", dict(filters=4, kernel_size=2, strides=3, output_padding=(2, 0)), (2, 5, 4, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, dilation_rate=2, padding="same"), (2, 5, 4, 3)),
    (
        "Conv2DTranspose",
        dict(filters=2, kernel_size=3, strides=2, data_format="channels_first"),
        (2, 3, 5, 4),
    ),
]


def _case_id(case):
    name, kwargs, _ = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


# Both libraries start from zeros (cheap to build: no random initializer to compile); the weights compared
# are then drawn here and copied into both.
_ZEROS = {
    "DepthwiseConv2D": dict(depthwise_initializer="zeros"),
    "SeparableConv2D": dict(depthwise_initializer="zeros", pointwise_initializer="zeros"),
}


def _build_pair(keras, name, kwargs, shape, rng):
    """The Keras layer and the jseq layer, built for `shape`, holding the same random weights."""
    kwargs = {**_ZEROS.get(name, dict(kernel_initializer="zeros")), **kwargs}
    k_layer = getattr(keras.layers, name)(**kwargs)
    k_layer.build(shape)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.3 for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    j_layer = getattr(layers, name)(**kwargs)
    j_layer.build((None,) + tuple(shape[1:]))
    j_layer.set_weights(weights)  # same order, shapes and dtypes as Keras's get_weights()
    return k_layer, j_layer


@pytest.mark.parametrize("case", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_outputs_match_keras_with_copied_weights(keras, case):
    name, kwargs, shape = case
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    k_layer, j_layer = _build_pair(keras, name, kwargs, shape, rng)
    assert [w.name for w in j_layer.weights] == [w.name for w in k_layer.weights]
    assert j_layer.count_params() == k_layer.count_params()
    assert j_layer.output_shape == tuple(k_layer.compute_output_shape((None,) + shape[1:]))
    np.testing.assert_allclose(np.asarray(j_layer(x)), np.asarray(k_layer(x)), rtol=1e-4, atol=1e-5)


def test_weight_penalties_match_keras(keras):
    rng = np.random.default_rng(1)
    cases = [
        ("Conv2D", dict(filters=3, kernel_size=2, kernel_regularizer="l2", bias_regularizer="l1")),
        ("DepthwiseConv2D", dict(kernel_size=2, depthwise_regularizer="l2", bias_regularizer="l2")),
        (
            "SeparableConv2D",
            dict(filters=3, kernel_size=2, depthwise_regularizer="l1", pointwise_regularizer="l2"),
        ),
        ("Conv2DTranspose", dict(filters=3, kernel_size=2, kernel_regularizer="l1")),
    ]
    for name, kwargs in cases:
        k_layer, j_layer = _build_pair(keras, name, kwargs, (None, 5, 5, 2), rng)
        expected = sum(float(loss) for loss in k_layer.losses)
        assert expected > 0
        np.testing.assert_allclose(float(j_layer.regularization_loss(j_layer.params)), expected, rtol=1e-5)


def test_activity_regularizer_penalizes_the_output():
    layer = layers.Conv1D(2, 2, activity_regularizer=regularizers.L2(0.5))
    x = jnp.ones((1, 4, 1))
    layer.build((None, 4, 1))
    y, _, penalty = layer.forward(layer.params, layer.state, x)
    np.testing.assert_allclose(float(penalty), 0.5 * float(jnp.sum(y**2)), rtol=1e-6)


def test_causal_conv1d_never_sees_the_future():
    layer = layers.Conv1D(3, 3, padding="causal", dilation_rate=2)
    layer.build((None, 10, 2))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 10, 2)), "float32")
    # d y[:, t] / d x[:, s] must vanish for every s > t
    jac = jax.jacobian(lambda x: layer.apply(layer.params, layer.state, x)[0][0, :, 0])(x)[:, 0, :, 0]
    assert jac.shape == (10, 10)
    assert np.all(np.triu(np.asarray(jac), k=1) == 0)
    assert np.any(np.tril(np.asarray(jac)) != 0)


def test_channels_first_equals_channels_last_transposed():
    x = np.random.default_rng(2).normal(size=(2, 7, 6, 3)).astype("float32")
    last = layers.Conv2D(4, 3, strides=2, padding="same")
    first = layers.Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")
    last.build((None, 7, 6, 3))
    first.build((None, 3, 7, 6))
    first.set_weights(last.get_weights())  # the kernel layout does not depend on the data format
    y_first = first(np.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_allclose(
        np.transpose(np.asarray(y_first), (0, 2, 3, 1)), np.asarray(last(x)), atol=1e-5
    )


def test_grouped_conv_is_separate_convs_per_group():
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 4)).astype("float32")
    grouped = layers.Conv2D(6, 3, groups=2, use_bias=False)
    grouped.build((None, 5, 5, 4))
    kernel = np.asarray(grouped.params["kernel"])  # (3, 3, 2, 6): filters 0-2 read channels 0-1
    halves = []
    for g in range(2):
        single = layers.Conv2D(3, 3, use_bias=False)
        single.build((None, 5, 5, 2))
        single.set_weights([kernel[..., 3 * g : 3 * g + 3]])
        halves.append(np.asarray(single(x[..., 2 * g : 2 * g + 2])))
    np.testing.assert_allclose(np.asarray(grouped(x)), np.concatenate(halves, axis=-1), atol=1e-5)


# ---- shapes: property-based against Keras's compute_output_shape ----------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["valid", "same"]),
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    channels_first=st.booleans(),
)
def test_conv2d_shapes_agree_with_keras_or_both_reject(
    keras, kernel, strides, dilation, padding, size, channels_first
):
    if dilation > 1:
        strides = (1, 1)  # Keras refuses strides > 1 with dilation > 1, and so does jseq
    data_format = "channels_first" if channels_first else "channels_last"
    kwargs = dict(filters=2, kernel_size=kernel, strides=strides, padding=padding, dilation_rate=dilation)
    kwargs["kernel_initializer"] = "zeros"
    in_shape = (None, 3) + size if channels_first else (None,) + size + (3,)
    try:
        expected = tuple(
            keras.layers.Conv2D(data_format=data_format, **kwargs).compute_output_shape(in_shape)
        )
    except ValueError:
        expected = None  # Keras: "Computed output size would be zero or negative"
    layer = layers.Conv2D(data_format=data_format, name="probe", **kwargs)
    if expected is None:
        with pytest.raises(ValueError, match="'probe' \\(Conv2D\\) would produce an empty output"):
            layer.init(jax.random.PRNGKey(0), in_shape)
        return
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), in_shape)
    assert out_shape == expected
    y, _ = layer.apply(params, state, jnp.zeros((2,) + in_shape[1:]))
    assert y.shape == (2,) + out_shape[1:]


@settings(max_examples=15, deadline=None)
@given(
    kernel=st.integers(1, 4),
    strides=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
    output_padding=st.one_of(st.none(), st.integers(0, 2)),
    size=st.integers(1, 6),
)
def test_conv2d_transpose_shapes_agree_with_keras(keras, kernel, strides, padding, output_padding, size):
    if output_padding is not None and output_padding >= strides:
        output_padding = strides - 1
    kwargs = dict(
        filters=2, kernel_size=kernel, strides=strides, padding=padding, output_padding=output_padding
    )
    in_shape = (None, size, size + 1, 3)
    expected = tuple(keras.layers.Conv2DTranspose(**kwargs).compute_output_shape(in_shape))
    layer = layers.Conv2DTranspose(name="probe", **kwargs)
    if 0 in expected[1:]:
        with pytest.raises(ValueError, match="'probe' \\(Conv2DTranspose\\) would produce an empty output"):
            layer.init(jax.random.PRNGKey(0), in_shape)
        return
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), in_shape)
    assert out_shape == expected
    y, _ = layer.apply(params, state, jnp.zeros((1,) + in_shape[1:]))
    assert y.shape == (1,) + out_shape[1:]


def test_unknown_spatial_sizes_stay_unknown():
    assert infer_output_shape(layers.Conv2D(8, 3, strides=2), (None, None, 10, 3)) == (None, None, 4, 8)
    transpose = layers.Conv2DTranspose(8, 3, strides=2, data_format="channels_first")
    assert infer_output_shape(transpose, (None, 3, 5, None)) == (None, 8, 11, None)


# ---- rejections -------------------------------------------------------------------------------------------


def test_3x3_valid_conv_on_2x2_input_is_a_clear_error():
    model = jseq.Sequential([layers.Conv2D(4, 3, name="too_big")])
    with pytest.raises(
        ValueError, match=r"'too_big' \(Conv2D\) would produce an empty output of shape \(None, 0, 0, 4\)"
    ):
        model.build((None, 2, 2, 1))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: layers.Conv2D(0, 3), "filters"),
        (lambda: layers.Conv2D(4, 0), "kernel_size"),
        (lambda: layers.Conv2D(4, (3, 3, 3)), "kernel_size"),
        (lambda: layers.Conv2D(4, 3, strides=0), "strides"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), "padding"),
        (lambda: layers.Conv2D(4, 3, padding="full"), "padding"),
        (lambda: layers.Conv2D(4, 3, data_format="NHWC"), "data_format"),
        (lambda: layers.Conv2D(5, 3, groups=2), "divisible by the number of groups"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: layers.Conv2D(4, 3, kernel_constraint="non_neg"), "constraints"),
        (lambda: layers.Conv1D(4, 3, padding="causal", data_format="channels_middle"), "data_format"),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding"),
        (lambda: layers.Conv2DTranspose(4, 3, padding="causal"), "padding"),
    ],
)
def test_bad_hyperparameters_are_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="kernal_size"):
        layers.Conv2D(4, 3, kernal_size=3)


def test_input_checks_name_the_layer():
    with pytest.raises(ValueError, match=r"'c' \(Conv2D\) expects inputs of rank 4"):
        layers.Conv2D(4, 3, name="c").build((None, 8, 3))
    with pytest.raises(ValueError, match=r"'g'.*divisible by the number of groups.*5 channels"):
        layers.Conv2D(4, 3, groups=2, name="g").build((None, 8, 8, 5))
    with pytest.raises(ValueError, match="channel axis"):
        layers.Conv1D(4, 3).build((None, 8, None))


def test_config_round_trip():
    layer = layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", kernel_regularizer="l2")
    config = layer.get_config()
    assert config["kernel_size"] == [3, 2] and config["strides"] == [2, 2] and config["activation"] == "relu"
    clone = layers.Conv2D.from_config({**config, "name": "clone"})
    assert clone.get_config() == {**config, "name": "clone"}
