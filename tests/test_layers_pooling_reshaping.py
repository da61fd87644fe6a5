"""Pooling and shape layers: Keras parity, the fast max-pooling path, shapes against Keras, rejections."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jseq
from jseq import layers
from jseq.layers.pooling import _tiled_pool, _window_pool

# (layer class name, constructor kwargs, input shape with batch)
CASES = [
    ("MaxPooling2D", dict(), (2, 7, 6, 3)),
    ("MaxPooling2D", dict(pool_size=3), (2, 7, 9, 2)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 3)),
    ("MaxPooling2D", dict(pool_size=(2, 3), strides=1), (2, 7, 6, 3)),
    ("MaxPooling2D", dict(pool_size=2, padding="same"), (2, 5, 5, 3)),
    ("MaxPooling2D", dict(data_format="channels_first"), (2, 3, 7, 6)),
    ("MaxPooling1D", dict(), (2, 7, 3)),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 3)),
    ("MaxPooling1D", dict(pool_size=2, data_format="channels_first"), (2, 3, 7)),
    ("AveragePooling2D", dict(pool_size=2), (2, 7, 6, 3)),
    ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 3)),
    ("AveragePooling2D", dict(pool_size=(3, 2), strides=(1, 2)), (2, 7, 6, 3)),
    ("AveragePooling2D", dict(pool_size=2, data_format="channels_first", padding="same"), (2, 3, 7, 5)),
    ("AveragePooling1D", dict(pool_size=3, padding="same"), (2, 7, 3)),
    ("AveragePooling1D", dict(pool_size=2, strides=1), (2, 7, 3)),
    ("GlobalMaxPooling2D", dict(), (2, 7, 6, 3)),
    ("GlobalMaxPooling2D", dict(keepdims=True, data_format="channels_first"), (2, 3, 7, 6)),
    ("GlobalAveragePooling2D", dict(), (2, 7, 6, 3)),
    ("GlobalAveragePooling2D", dict(keepdims=True), (2, 7, 6, 3)),
    ("GlobalMaxPooling1D", dict(), (2, 7, 3)),
    ("GlobalMaxPooling1D", dict(keepdims=True), (2, 7, 3)),
    ("GlobalAveragePooling1D", dict(), (2, 7, 3)),
    ("GlobalAveragePooling1D", dict(data_format="channels_first", keepdims=True), (2, 3, 7)),
    ("ZeroPadding1D", dict(), (2, 7, 3)),
    ("ZeroPadding1D", dict(padding=(1, 2)), (2, 7, 3)),
    ("ZeroPadding1D", dict(padding=2, data_format="channels_first"), (2, 3, 7)),
    ("ZeroPadding2D", dict(), (2, 7, 6, 3)),
    ("ZeroPadding2D", dict(padding=(2, 0)), (2, 7, 6, 3)),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3)), data_format="channels_first"), (2, 3, 7, 6)),
    ("Cropping1D", dict(), (2, 7, 3)),
    ("Cropping1D", dict(cropping=(0, 2)), (2, 7, 3)),
    ("Cropping2D", dict(cropping=((1, 0), (2, 1))), (2, 7, 6, 3)),
    ("Cropping2D", dict(cropping=(2, 1)), (2, 7, 6, 3)),
    ("Cropping2D", dict(cropping=1, data_format="channels_first"), (2, 3, 7, 6)),
    ("UpSampling1D", dict(), (2, 7, 3)),
    ("UpSampling1D", dict(size=3), (2, 7, 3)),
    ("UpSampling2D", dict(size=(2, 3)), (2, 4, 5, 3)),
    ("UpSampling2D", dict(size=2, data_format="channels_first"), (2, 3, 4, 5)),
    ("UpSampling2D", dict(size=2, interpolation="bilinear"), (2, 4, 5, 3)),
    ("UpSampling2D", dict(size=(3, 2), interpolation="bicubic", data_format="channels_first"), (2, 3, 4, 5)),
    ("RepeatVector", dict(n=3), (2, 5)),
    ("Permute", dict(dims=(2, 1)), (2, 5, 3)),
    ("Permute", dict(dims=(3, 1, 2)), (2, 5, 3, 4)),
]


def _case_id(case):
    name, kwargs, _ = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_outputs_and_shapes_match_keras(keras, case):
    name, kwargs, shape = case
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    k_layer = getattr(keras.layers, name)(**kwargs)
    j_layer = getattr(layers, name)(**kwargs)
    y = j_layer(x)
    assert j_layer.output_shape == tuple(k_layer.compute_output_shape((None,) + shape[1:]))
    np.testing.assert_allclose(np.asarray(y), np.asarray(k_layer(x)), rtol=1e-5, atol=1e-6)


def test_keras_defaults():
    pool = layers.MaxPooling2D()
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2) and pool.padding == "valid"
    assert layers.MaxPooling1D().pool_size == (2,)
    assert layers.MaxPooling2D(3, strides=1).strides == (1, 1)
    with pytest.raises(TypeError):
        layers.AveragePooling2D()  # Keras requires pool_size
    assert layers.ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert layers.GlobalAveragePooling2D().keepdims is False
    assert layers.UpSampling2D().size == (2, 2)


def test_masked_global_average_pooling_matches_keras(keras):
    x = np.random.default_rng(1).normal(size=(3, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    for kwargs in (dict(), dict(keepdims=True)):
        expected = keras.layers.GlobalAveragePooling1D(**kwargs)(x, mask=mask)
        layer = layers.GlobalAveragePooling1D(**kwargs)
        np.testing.assert_allclose(np.asarray(layer(x, mask=mask)), np.asarray(expected), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(layer(x, mask=mask))[1, 0], x[1, 0], rtol=1e-6
    )  # only step 0 is unmasked in row 1
    assert layer.compute_mask(x, mask) is None  # the mask stops here, as in Keras


# ---- the reshape path of pooling equals reduce_window, values and gradients ----------------------------


@pytest.mark.parametrize(
    "shape, pool_size, axes, mode",
    [
        ((2, 8, 6, 3), (2, 2), (1, 2), "max"),
        ((2, 9, 7, 3), (3, 2), (1, 2), "max"),  # 9 / 3 and 7 // 2: the last column is cropped, as floor does
        ((2, 3, 7, 5), (2, 2), (2, 3), "max"),  # channels_first
        ((2, 11, 4), (3,), (1,), "max"),
        ((2, 9, 7, 3), (3, 2), (1, 2), "average"),
        ((2, 3, 10), (4,), (2,), "average"),
    ],
)
def test_tiled_pooling_equals_reduce_window(shape, pool_size, axes, mode):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=shape), "float32")  # continuous values: no tied maxima
    reduce = jnp.max if mode == "max" else jnp.mean
    fast = lambda x: _tiled_pool(x, pool_size, axes, reduce)
    general = lambda x: _window_pool(x, pool_size, pool_size, "valid", axes, mode)
    weights = jnp.asarray(rng.normal(size=jax.eval_shape(general, x).shape), "float32")
    grad = lambda f: jax.grad(lambda x: jnp.sum(f(x) * weights))
    # one compiled program for the four results (eager autodiff would compile op by op)
    y_fast, y_general, g_fast, g_general = jax.jit(
        lambda x: (fast(x), general(x), grad(fast)(x), grad(general)(x))
    )(x)
    np.testing.assert_allclose(np.asarray(y_fast), np.asarray(y_general), atol=1e-6)
    np.testing.assert_allclose(np.asarray(g_fast), np.asarray(g_general), atol=1e-6)
    assert np.count_nonzero(np.asarray(g_fast)) > 0


def test_max_pooling_layer_takes_the_reshape_path_only_where_windows_tile():
    assert layers.MaxPooling2D()._tiles()
    assert layers.MaxPooling2D(3)._tiles()
    assert not layers.MaxPooling2D(3, strides=2)._tiles()
    assert not layers.MaxPooling2D(2, padding="same")._tiles()


# ---- shapes: property-based against Keras's compute_output_shape ----------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["MaxPooling2D", "AveragePooling2D"]),
    pool=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    strides=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    padding=st.sampled_from(["valid", "same"]),
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    channels_first=st.booleans(),
)
def test_pooling2d_shapes_agree_with_keras_or_both_reject(
    keras, kind, pool, strides, padding, size, channels_first
):
    data_format = "channels_first" if channels_first else "channels_last"
    kwargs = dict(pool_size=pool, strides=strides, padding=padding, data_format=data_format)
    in_shape = (None, 2) + size if channels_first else (None,) + size + (2,)
    try:
        expected = tuple(getattr(keras.layers, kind)(**kwargs).compute_output_shape(in_shape))
    except ValueError:
        expected = None  # Keras: "Computed output size would be zero or negative"
    layer = getattr(layers, kind)(name="probe", **kwargs)
    if expected is None:
        with pytest.raises(ValueError, match=f"'probe' \\({kind}\\) would produce an empty output"):
            layer.init(jax.random.PRNGKey(0), in_shape)
        return
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), in_shape)
    assert out_shape == expected
    y, _ = layer.apply(params, state, jnp.zeros((2,) + in_shape[1:]))
    assert y.shape == (2,) + out_shape[1:]


@settings(max_examples=15, deadline=None)
@given(
    crop=st.tuples(
        st.tuples(st.integers(0, 4), st.integers(0, 4)), st.tuples(st.integers(0, 4), st.integers(0, 4))
    ),
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
)
def test_cropping2d_shapes_agree_with_keras_or_both_reject(keras, crop, size):
    in_shape = (None,) + size + (2,)
    try:
        expected = tuple(keras.layers.Cropping2D(crop).compute_output_shape(in_shape))
    except ValueError:
        expected = None
    layer = layers.Cropping2D(crop, name="probe")
    if expected is None:
        with pytest.raises(ValueError, match="'probe' \\(Cropping2D\\) would produce an empty output"):
            layer.build(in_shape)
        return
    assert layer(np.zeros((1,) + in_shape[1:], "float32")).shape == (1,) + expected[1:]
    assert layer.output_shape == expected


# ---- rejections -------------------------------------------------------------------------------------------


def test_pool_larger_than_input_is_a_clear_error():
    model = jseq.Sequential([layers.Conv2D(2, 3), layers.MaxPooling2D(3, name="pool")])
    with pytest.raises(ValueError, match=r"'pool' \(MaxPooling2D\) would produce an empty output"):
        model.build((None, 4, 4, 1))
    with pytest.raises(ValueError, match=r"'crop' \(Cropping1D\) would produce an empty output"):
        layers.Cropping1D((2, 3), name="crop").build((None, 5, 2))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: layers.MaxPooling2D(0), ValueError, "pool_size"),
        (lambda: layers.MaxPooling2D(2, strides=(1, 0)), ValueError, "strides"),
        (lambda: layers.MaxPooling1D(2, padding="causal"), ValueError, "padding"),
        (lambda: layers.AveragePooling2D(2, data_format="NHWC"), ValueError, "data_format"),
        (lambda: layers.GlobalMaxPooling2D(data_format="nchw"), ValueError, "data_format"),
        (lambda: layers.ZeroPadding2D(((1, 2, 3), 1)), ValueError, "padding"),
        (lambda: layers.ZeroPadding1D(-1), ValueError, "padding"),
        (lambda: layers.Cropping2D("all"), ValueError, "cropping"),
        (lambda: layers.UpSampling1D(0), ValueError, "size"),
        (lambda: layers.UpSampling2D(interpolation="area"), ValueError, "interpolation"),
        (lambda: layers.RepeatVector(0), ValueError, "n"),
        (lambda: layers.Permute((1, 3)), ValueError, "consecutive"),
        (lambda: layers.MaxPooling2D(2, pool_mode="max"), TypeError, "pool_mode"),
    ],
)
def test_bad_hyperparameters_are_refused_at_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_wrong_input_rank_names_the_layer():
    with pytest.raises(ValueError, match=r"'p' \(MaxPooling2D\) expects inputs of rank 4"):
        layers.MaxPooling2D(name="p").build((None, 8, 3))
    with pytest.raises(ValueError, match=r"'r' \(RepeatVector\) expects inputs of rank 2"):
        layers.RepeatVector(2, name="r").build((None, 8, 3))
    with pytest.raises(ValueError, match=r"'q' \(Permute\).*rank 3"):
        layers.Permute((2, 1), name="q").build((None, 8, 3, 1))


# ---- the seed model: Conv2D / MaxPooling2D downsampling (shared/seeds/000) --------------------------------


def _downsampling_stack(L, m):
    return m.Sequential(
        [
            m.Input(shape=(250, 250, 3)),
            L.Conv2D(32, 5, strides=2, activation="relu"),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(3),
            L.Conv2D(32, 3, activation="relu"),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(3),
            L.Conv2D(32, 3, activation="relu"),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.GlobalMaxPooling2D(),
            L.Dense(10),
        ]
    )


def test_seed_downsampling_stack_summary_matches_keras(keras, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    keras.backend.clear_session()
    k_text = []
    _downsampling_stack(keras.layers, keras).summary(print_fn=lambda s, **kw: k_text.append(s))
    j_text = []
    model = _downsampling_stack(layers, jseq)
    model.summary(print_fn=lambda s, **kw: j_text.append(s))
    assert "".join(j_text) == "".join(k_text)
    # the shapes and counts the seed prints
    assert [layer.output_shape for layer in model.layers[:3]] == [
        (None, 123, 123, 32),
        (None, 121, 121, 32),
        (None, 40, 40, 32),
    ]
    assert model.layers[8].output_shape == (None, 4, 4, 32)
    assert [layer.count_params() for layer in model.layers[:2]] == [2432, 9248]
    assert model.output_shape == (None, 10)


# ---- the seed's VGG-like convnet (shared/seeds/003) compiles, fits and evaluates ---------------------------


@pytest.mark.slow
def test_seed_vgg_like_convnet_fits_and_evaluates():
    from jseq.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    rng = np.random.default_rng(0)
    x_train = rng.random((16, 32, 32, 3)).astype("float32")  # the seed uses 100 images of 100x100
    y_train = jseq.utils.to_categorical(rng.integers(10, size=(16, 1)), num_classes=10)
    x_test = rng.random((8, 32, 32, 3)).astype("float32")
    y_test = jseq.utils.to_categorical(rng.integers(10, size=(8, 1)), num_classes=10)

    model = jseq.Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)))
    model.add(Conv2D(32, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(256, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation="softmax"))
    assert model.output_shape == (None, 10)
    assert model.layers[6].output_shape == (None, 5, 5, 64)

    sgd = jseq.optimizers.SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x_train, y_train, batch_size=8, epochs=1, verbose=0)
    score = model.evaluate(x_test, y_test, batch_size=8, verbose=0)

    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert np.isfinite(score) and score > 0
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # every layer trained
    assert model.predict(x_test, verbose=0).shape == (8, 10)
