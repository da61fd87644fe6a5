"""Embedding and Masking: shapes, masks and outputs against Keras 3 with the same weights."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jseq
from jseq import layers, regularizers

os.environ.setdefault("KERAS_BACKEND", "jax")

IDS = np.array([[3, 0, 7, 1], [0, 0, 2, 9]], dtype="int32")


def test_embedding_matches_keras_with_copied_weights(keras):
    theirs = keras.layers.Embedding(10, 4, mask_zero=True)
    expected = np.asarray(theirs(IDS))
    ours = layers.Embedding(10, 4, mask_zero=True)
    ours.build((None, 4))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(np.asarray(ours(IDS)), expected, rtol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(ours.compute_mask(jnp.asarray(IDS), None)), np.asarray(theirs.compute_mask(IDS))
    )
    assert ours.count_params() == theirs.count_params() == 40
    assert [w.name for w in ours.weights] == ["embeddings"]


def test_embedding_defaults_follow_keras():
    layer = layers.Embedding(50, 8)
    y = layer(jnp.asarray(IDS))
    assert y.shape == (2, 4, 8) and y.dtype == jnp.float32
    table = np.asarray(layer.get_weights()[0])
    assert table.shape == (50, 8)
    assert np.all(np.abs(table) <= 0.05) and table.std() > 0.01  # RandomUniform(-0.05, 0.05)
    assert layer.compute_mask(jnp.asarray(IDS), None) is None  # mask_zero=False: no mask


def test_embedding_casts_float_ids_and_keeps_integer_inputs_integer():
    layer = layers.Embedding(10, 3)
    layer.build((None, 4))
    table = np.asarray(layer.get_weights()[0])
    np.testing.assert_allclose(np.asarray(layer(IDS.astype("float32"))), table[IDS], rtol=1e-6)
    assert layer.autocast is False


def test_embedding_in_a_sequential_passes_its_mask_on():
    model = jseq.Sequential([layers.Embedding(10, 3, mask_zero=True), layers.Dense(2)])
    model.build((None, 4))
    np.testing.assert_array_equal(np.asarray(model.compute_mask(jnp.asarray(IDS), None)), IDS != 0)
    assert model.output_shape == (None, 4, 2)


def test_embedding_regularizer_is_added():
    layer = layers.Embedding(6, 2, embeddings_regularizer=regularizers.L2(0.1))
    layer.build((None, 3))
    table = np.asarray(layer.get_weights()[0])
    np.testing.assert_allclose(
        float(layer.regularization_loss(layer.params)), 0.1 * np.sum(table**2), rtol=1e-5
    )


def test_embedding_rejects_bad_arguments_and_accepts_keras2_input_length():
    with pytest.raises(ValueError, match="input_dim"):
        layers.Embedding(0, 4)
    with pytest.raises(ValueError, match="output_dim"):
        layers.Embedding(10, -1)
    with pytest.raises(TypeError, match="mask_zeros"):
        layers.Embedding(10, 4, mask_zeros=True)
    layer = layers.Embedding(10, 4, input_length=6)
    assert layer(jnp.zeros((2, 5), "int32")).shape == (2, 5, 4)


def test_embedding_jit_grad_through_the_table():
    layer = layers.Embedding(5, 2)
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 3))
    ids = jnp.asarray([[1, 1, 4]])

    def loss(p):
        return jnp.sum(layer.apply(p, state, ids)[0])

    grad = jax.jit(jax.grad(loss))(params)["embeddings"]
    np.testing.assert_allclose(np.asarray(grad[:, 0]), [0.0, 2.0, 0.0, 0.0, 1.0])  # row 1 used twice


def test_masking_matches_keras(keras):
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]], [[0.0, 0.0], [5.0, 5.0], [5.0, 0.0]]], "float32")
    theirs = keras.layers.Masking(mask_value=5.0)
    ours = layers.Masking(mask_value=5.0)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)))
    np.testing.assert_array_equal(
        np.asarray(ours.compute_mask(jnp.asarray(x), None)), np.asarray(theirs.compute_mask(x))
    )
    np.testing.assert_array_equal(
        np.asarray(layers.Masking().compute_mask(jnp.asarray(x), None)),
        [[True, False, True], [False, True, True]],
    )
