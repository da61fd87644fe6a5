"""`to_categorical`, `normalize`, `pad_sequences`: Keras's results on the same inputs, and clear errors."""

import numpy as np
import pytest

from jseq.utils import normalize, pad_sequences, to_categorical

CATEGORICAL_CASES = [
    ([0, 2, 1], None),
    ([0, 2, 1], 5),
    (np.array([[1], [2], [0]]), None),  # (n, 1) -> (n, classes), as Keras
    (np.array([[0, 1], [2, 3]]), 4),  # (2, 2) -> (2, 2, 4)
    (np.array([[[1]], [[0]]], dtype=np.uint8), 3),  # (2, 1, 1) -> (2, 1, 3)
    (3, 5),  # a scalar -> (5,)
    (np.array([1.0, 0.0]), None),  # integral floats are fine
    (np.array([True, False]), None),
    (np.zeros((0,), np.int64), 3),
]


@pytest.mark.parametrize("x, num_classes", CATEGORICAL_CASES)
def test_to_categorical_matches_keras(keras, x, num_classes):
    expected = keras.utils.to_categorical(x, num_classes)
    got = to_categorical(x, num_classes)
    assert got.dtype == expected.dtype == np.float64
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_to_categorical_values_without_keras():
    got = to_categorical(np.array([[2], [0]]))
    assert got.shape == (2, 3) and got.dtype == np.float64
    np.testing.assert_array_equal(got, [[0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize(
    "x, num_classes, error, pattern",
    [
        ([0, 5], 3, ValueError, r"\[0, 3\); found values from 0 to 5"),
        ([-1, 1], 3, ValueError, "from -1 to 1"),  # Keras would silently wrap -1 to the last class
        ([0.5, 1.0], None, ValueError, "non-integer"),  # Keras would silently truncate
        (["a"], None, TypeError, "dtype <U1"),
        ([], None, ValueError, "num_classes"),
    ],
)
def test_to_categorical_errors(x, num_classes, error, pattern):
    with pytest.raises(error, match=pattern):
        to_categorical(x, num_classes)


@pytest.mark.parametrize(
    "shape, axis, order, dtype",
    [
        ((4, 3), -1, 2, np.float32),
        ((4, 3), 1, 2, np.float64),
        ((2, 3, 5), -1, 2, np.float32),
        ((4, 3), -1, 1, np.float64),
        ((4, 3), -1, np.inf, np.float32),
        ((4, 3), -1, 2, np.int64),  # integer input -> float64
    ],
)
def test_normalize_matches_keras(keras, shape, axis, order, dtype):
    x = np.random.default_rng(0).normal(size=shape).astype(dtype) if dtype != np.int64 else np.arange(12) - 5
    x = x.reshape(shape)
    x[0] = 0  # a zero row stays zero (its norm is replaced by 1)
    expected = keras.utils.normalize(x, axis=axis, order=order)
    got = normalize(x, axis=axis, order=order)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_normalize_keeps_the_shape_and_honours_axis_0():
    # Keras's NumPy path returns (1, 2) here and mis-broadcasts axis=0; jseq keeps x's shape.
    np.testing.assert_allclose(normalize(np.array([3.0, 4.0])), [0.6, 0.8])
    x = np.array([[3.0, 1.0], [4.0, 0.0]])
    np.testing.assert_allclose(normalize(x, axis=0), [[0.6, 1.0], [0.8, 0.0]])
    with pytest.raises(ValueError, match="out of range"):
        normalize(x, axis=2)


SEQUENCES = [[1], [2, 3], [4, 5, 6, 7], []]
PAD_CASES = [
    {},
    {"maxlen": 2},
    {"maxlen": 3, "padding": "post"},
    {"maxlen": 3, "truncating": "post"},
    {"maxlen": 6, "padding": "post", "truncating": "post", "value": -1},
    {"dtype": "float32", "value": 0.5},
]


@pytest.mark.parametrize("kwargs", PAD_CASES)
def test_pad_sequences_matches_keras(keras, kwargs):
    expected = keras.utils.pad_sequences(SEQUENCES, **kwargs)
    got = pad_sequences(SEQUENCES, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_pad_sequences_matches_keras_on_vectors_and_strings(keras):
    vectors = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    np.testing.assert_array_equal(
        pad_sequences(vectors, dtype="float32"), keras.utils.pad_sequences(vectors, dtype="float32")
    )
    words = [["a", "bb"], ["c"]]
    got = pad_sequences(words, dtype=object, value="")
    assert got.tolist() == keras.utils.pad_sequences(words, dtype=object, value="").tolist()


def test_pad_sequences_values_without_keras():
    got = pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[0, 1], [2, 3], [5, 6]])
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert pad_sequences(SEQUENCES, maxlen=0).shape == (4, 0)  # Keras fails to broadcast here


@pytest.mark.parametrize(
    "sequences, kwargs, pattern",
    [
        ([[1]], {"padding": "middle"}, 'padding must be "pre" or "post"'),
        ([[]], {"truncating": "end"}, 'truncating must be "pre" or "post"'),  # checked even for empty rows
        ([[1], 5], {}, "non-iterable at position 1"),
        ([], {}, "no sequences and no maxlen"),
        ([[1]], {"maxlen": -1}, "non-negative"),
        ([["a"]], {"value": "x"}, "dtype=object"),
        ([np.ones((2, 3)), np.ones((2, 4))], {}, r"Shape of sample \(4,\)"),
    ],
)
def test_pad_sequences_errors(sequences, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        pad_sequences(sequences, **kwargs)
