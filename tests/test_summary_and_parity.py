"""summary() is Keras 3's table; same weights give Keras's outputs (checked by running Keras)."""

import numpy as np
import pytest

import jseq
from jseq import layers


def _capture(model, **kwargs):
    out = []
    model.summary(print_fn=lambda s, **kw: out.append(s), **kwargs)
    assert len(out) == 1  # the whole table in one string, as in Keras
    return out[0]


def test_summary_mlp_verbatim(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    model = jseq.Sequential(
        [jseq.Input(shape=(784,)), layers.Dense(512), layers.Dropout(0.2), layers.Dense(10)], name="mlp"
    )
    expected = """\
Model: "mlp"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ dense (Dense)                        │ (None, 512)                 │         401,920 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dropout (Dropout)                    │ (None, 512)                 │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense_1 (Dense)                      │ (None, 10)                  │           5,130 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 407,050 (1.55 MB)
 Trainable params: 407,050 (1.55 MB)
 Non-trainable params: 0 (0.00 B)
"""
    assert _capture(model) == expected


def test_unbuilt_summary_shows_question_marks_and_does_not_raise(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = _capture(jseq.Sequential([layers.Dense(3)]))
    assert "│ dense (Dense)                        │ ?                           │     0 (unbuilt) │" in text
    assert " Total params: 0 (0.00 B)" in text


def test_memory_sizes_are_1024_based():
    from jseq.summary import readable_memory_size

    assert readable_memory_size(407050 * 4) == "1.55 MB"
    assert readable_memory_size(13642 * 4) == "53.29 KB"
    assert readable_memory_size(0) == "0.00 B"


def _same_in_keras(keras, build_jseq, build_keras, monkeypatch, **summary_kwargs):
    monkeypatch.setenv("COLUMNS", "200")
    keras.backend.clear_session()
    k_model = build_keras(keras)
    k_text = []
    k_model.summary(print_fn=lambda s, **kw: k_text.append(s), **summary_kwargs)
    j_model = build_jseq()
    return _capture(j_model, **summary_kwargs), "".join(k_text), j_model, k_model


SUMMARY_CASES = {
    "deferred_then_built": (
        lambda L, m: m.Sequential([L.Dense(2, activation="relu"), L.Dense(3), L.Dense(4)]),
        (4,),
    ),
    "long_names_wrap": (
        lambda L, m: m.Sequential(
            [L.Dense(2, name="a_rather_long_layer_name_that_wraps"), L.Flatten(), L.Reshape((3, 2))]
        ),
        (3, 3),
    ),
    "nested": (
        lambda L, m: m.Sequential([m.Sequential([L.Dense(5), L.Dense(6)], name="inner"), L.Dense(1)]),
        (3,),
    ),
}


@pytest.mark.parametrize("case", list(SUMMARY_CASES))
@pytest.mark.parametrize(
    "kwargs", [{}, {"show_trainable": True}, {"expand_nested": True}, {"line_length": 70}]
)
def test_summary_matches_keras(keras, monkeypatch, case, kwargs):
    make, in_shape = SUMMARY_CASES[case]

    def jseq_model():
        jseq.core.clear_session()
        model = make(jseq.layers, jseq)
        model.build((None,) + in_shape)
        return model

    def keras_model(keras):
        model = make(keras.layers, keras)
        model.build((None,) + in_shape)
        return model

    j_text, k_text, j_model, k_model = _same_in_keras(keras, jseq_model, keras_model, monkeypatch, **kwargs)
    assert j_model.count_params() == k_model.count_params()
    assert j_text == k_text


def test_same_weights_same_outputs_as_keras(keras):
    rng = np.random.default_rng(0)
    spec = lambda L: [  # noqa: E731
        L.Dense(16, activation="relu"),
        L.Dense(8, activation="tanh", use_bias=False),
        L.Dropout(0.3),
        L.Flatten(),
        L.Dense(6, activation="gelu"),
        L.Reshape((3, 2)),
        L.Softmax(),
        L.Flatten(),
        L.LeakyReLU(),
        L.ReLU(max_value=0.5),
        L.Dense(4, activation="selu"),
        L.Activation("softplus"),
    ]
    k_model = keras.Sequential([keras.Input((5, 3))] + spec(keras.layers))
    j_model = jseq.Sequential([jseq.Input(shape=(5, 3))] + spec(jseq.layers))
    assert [w.shape for w in j_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    j_model.set_weights(k_model.get_weights())  # Keras's order, shapes and dtypes: one call
    x = rng.normal(size=(7, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(j_model(x)), np.asarray(k_model(x)), rtol=1e-5, atol=1e-6)
    assert j_model.count_params() == k_model.count_params()


@pytest.mark.parametrize(
    "name",
    ["linear", "relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "elu", "selu",
     "gelu", "softplus", "softsign", "silu", "swish", "exponential", "mish", "hard_silu", "log_softmax"],
)  # fmt: skip
def test_activations_match_keras(keras, name):
    x = np.linspace(-5, 5, 24, dtype=np.float32).reshape(4, 6)
    ours = jseq.activations.get(name)(x)
    theirs = keras.activations.get(name)(x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name, shape",
    [("glorot_uniform", (300, 200)), ("glorot_normal", (300, 200)), ("he_normal", (3, 3, 16, 32)),
     ("he_uniform", (400, 100)), ("lecun_normal", (500, 50)), ("lecun_uniform", (500, 50)),
     ("random_normal", (200, 200)), ("random_uniform", (200, 200)), ("truncated_normal", (200, 200)),
     ("uniform", (200, 200)), ("normal", (200, 200)), ("orthogonal", (64, 32))],
)  # fmt: skip
def test_initializer_distributions_match_keras(keras, name, shape):
    ours = np.asarray(jseq.initializers.get(name)(shape))
    theirs = np.asarray(keras.initializers.get(name)(shape))
    assert ours.shape == theirs.shape == shape
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.06)
    q = lambda a: np.quantile(np.abs(a), 0.99)  # noqa: E731  (bounds of uniform / truncated draws)
    np.testing.assert_allclose(q(ours), q(theirs), rtol=0.1)
    assert abs(ours.mean()) < 0.1 * ours.std() + 1e-3


@pytest.mark.parametrize("name, value", [("zeros", 0.0), ("zero", 0.0), ("ones", 1.0), ("one", 1.0)])
def test_constant_initializers_and_keras2_aliases(name, value):
    np.testing.assert_array_equal(np.asarray(jseq.initializers.get(name)((2, 3))), np.full((2, 3), value))


def test_orthogonal_is_orthogonal():
    w = np.asarray(jseq.initializers.Orthogonal(gain=2.0)((32, 16)))
    np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(16), atol=1e-4)


def test_regularizers_by_name_class_and_callable(keras):
    w = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    for name in ["l1", "l2", "L1", "L2"]:
        ours = float(jseq.regularizers.get(name)(w))
        theirs = float(keras.regularizers.get(name)(w))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    # Keras 3 dropped the string "l1_l2"; Keras 2 meant l1_l2(l1=0.01, l2=0.01) by it
    np.testing.assert_allclose(float(jseq.regularizers.get("l1_l2")(w)),
                               0.01 * np.abs(w).sum() + 0.01 * (w**2).sum(), rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(float(jseq.regularizers.L1L2(l1=0.1, l2=0.2)(w)),
                               0.1 * np.abs(w).sum() + 0.2 * (w**2).sum(), rtol=1e-5)  # fmt: skip
    assert jseq.regularizers.get(lambda w: 3.0)(w) == 3.0
