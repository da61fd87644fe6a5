"""SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed: Keras parity with copied weights, masks, stateful
carry, parameter counts, and the contract checks for the wrappers whose params are nested."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jseq
from jseq import layers

os.environ.setdefault("KERAS_BACKEND", "jax")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 4)).astype("float32")  # (batch, timesteps, features)
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]], bool)  # padding at the end, and inside


def _close(ours, theirs):
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _close(a, b)
        return
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-5)


def _copied(theirs, ours, input_shape=(None, 5, 4)):
    """Build `ours` and give it the Keras layer's weights (which must fit: same order, shapes and dtypes)."""
    ours.build(input_shape)
    ours.set_weights(theirs.get_weights())
    return ours


# ---- parity with Keras, layer by layer ------------------------------------------------------------------

CASES = [
    ("SimpleRNN", {"return_sequences": True}, True),
    ("SimpleRNN", {"go_backwards": True, "activation": "relu"}, False),
    ("LSTM", {}, False),
    ("LSTM", {"return_sequences": True, "go_backwards": True}, True),
    ("LSTM", {"return_state": True, "use_bias": False}, True),
    ("GRU", {"return_sequences": True}, True),
    ("GRU", {"reset_after": False, "go_backwards": True}, True),
    ("GRU", {"reset_after": False, "return_sequences": True, "return_state": True}, False),
]


@pytest.mark.parametrize("kind, kwargs, masked", CASES, ids=[f"{c[0]}-{c[1]}-mask{c[2]}" for c in CASES])
def test_recurrent_layer_matches_keras(keras, kind, kwargs, masked):
    theirs = getattr(keras.layers, kind)(3, **kwargs)
    mask = MASK if masked else None
    expected = theirs(X, mask=mask)
    ours = _copied(theirs, getattr(layers, kind)(3, **kwargs))
    _close(ours(X, mask=None if mask is None else jnp.asarray(mask)), expected)
    assert ours.count_params() == theirs.count_params()
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_matches_keras(keras, merge_mode):
    return_sequences = merge_mode in ("concat", "ave")  # masked padded steps give 0 in both halves
    theirs = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=return_sequences), merge_mode)
    expected = theirs(X, mask=MASK)
    ours = _copied(theirs, layers.Bidirectional(layers.GRU(3, return_sequences=return_sequences), merge_mode))
    _close(ours(X, mask=jnp.asarray(MASK)), expected)
    assert [w.path for w in ours.weights] == [
        f"{half}_gru/{name}"
        for half in ("forward", "backward")
        for name in ("kernel", "recurrent_kernel", "bias")
    ]
    assert ours.count_params() == theirs.count_params() == 2 * 81  # two GRU(3) on 4 features


def test_bidirectional_lstm_return_state_matches_keras(keras):
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(2, return_state=True))
    expected = theirs(X)  # (output, h_fwd, c_fwd, h_bwd, c_bwd)
    ours = _copied(theirs, layers.Bidirectional(layers.LSTM(2, return_state=True)))
    _close(ours(X), expected)
    assert ours.compute_output_shape((None, 5, 4)) == ((None, 4),) + ((None, 2),) * 4


def test_activity_regularizer_covers_every_output_over_the_batch_as_keras(keras):
    theirs = keras.layers.LSTM(3, return_state=True, activity_regularizer="l2")
    theirs(X)
    ours = _copied(theirs, layers.LSTM(3, return_state=True, activity_regularizer="l2"))
    _, _, penalty = ours.forward(ours.params, ours.state, jnp.asarray(X))
    np.testing.assert_allclose(float(penalty), float(sum(theirs.losses)), rtol=1e-4)
    pair = layers.Bidirectional(layers.GRU(2, activity_regularizer="l2"))
    _, params, state = pair.init(jax.random.PRNGKey(0), (None, 5, 4))
    y, _, penalty = pair.forward(params, state, jnp.asarray(X))
    np.testing.assert_allclose(float(penalty), 0.01 * float(jnp.sum(y**2)) / 3, rtol=1e-5)  # both halves


def test_time_distributed_dense_matches_keras_and_passes_the_mask_on(keras):
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(2, activation="tanh"))
    expected = theirs(X)
    ours = _copied(theirs, layers.TimeDistributed(layers.Dense(2, activation="tanh")))
    _close(ours(X), expected)
    assert ours.output_shape == (None, 5, 2) and ours.count_params() == 10
    assert ours.compute_mask(jnp.asarray(X), jnp.asarray(MASK)) is not None
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        layers.TimeDistributed(layers.Dense(2)).build((None, 4))


def test_embedding_mask_zero_reaches_stacked_lstms_as_in_keras(keras):
    ids = np.array([[5, 2, 7, 0, 0, 0], [1, 1, 3, 4, 9, 2], [0, 0, 6, 2, 0, 8]], "int32")  # 0 = padding

    def stack(lib):
        return [
            lib.layers.Embedding(10, 4, mask_zero=True),
            lib.layers.LSTM(3, return_sequences=True),
            lib.layers.Dense(3),  # passes the mask on
            lib.layers.GRU(2),
        ]

    theirs = keras.Sequential([keras.Input((6,), dtype="int32")] + stack(keras))
    ours = jseq.Sequential(stack(jseq))
    ours.build((None, 6))
    ours.set_weights(theirs.get_weights())
    _close(ours(ids), theirs(ids))
    assert ours.compute_mask(jnp.asarray(ids), None) is None  # the last GRU returns no sequence: no mask


def test_masking_layer_before_simple_rnn_matches_keras(keras):
    x = X.copy()
    x[0, 3:] = 0.0  # padded steps
    theirs = keras.Sequential([keras.Input((5, 4)), keras.layers.Masking(), keras.layers.SimpleRNN(3)])
    ours = jseq.Sequential([layers.Masking(), layers.SimpleRNN(3)])
    ours.build((None, 5, 4))
    ours.set_weights(theirs.get_weights())
    _close(ours(x), theirs(x))


# ---- stateful layers --------------------------------------------------------------------------------------


def test_stateful_lstm_carries_state_across_calls_as_keras(keras):
    x1, x2 = X[:2], RNG.normal(size=(2, 5, 4)).astype("float32")
    theirs = keras.layers.LSTM(3, stateful=True, return_sequences=True)
    first = theirs(x1)
    second = theirs(x2)
    ours = _copied(theirs, layers.LSTM(3, stateful=True, return_sequences=True, batch_size=2), (2, 5, 4))
    assert len(ours.get_weights()) == 3  # the carried states are not weights, as in Keras
    _close(ours(x1), first)
    _close(ours(x2), second)  # started from the final state of the first call
    _close([ours.state["h"], ours.state["c"]], [v.value for v in theirs.states])
    ours.reset_states()
    assert not np.any(np.asarray(ours.state["h"])) and not np.any(np.asarray(ours.state["c"]))
    _close(ours(x1), first)  # from zeros again


def test_stateful_carry_is_in_the_state_pytree_and_jit_threads_it():
    layer = layers.GRU(2, stateful=True)
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), (4, 5, 4))
    assert out_shape == (4, 2) and {k: v.shape for k, v in state.items()} == {"h": (4, 2)}
    apply = jax.jit(lambda p, s, x: layer.apply(p, s, x))
    x = jnp.asarray(RNG.normal(size=(4, 10, 4)), jnp.float32)
    _, s1 = apply(params, state, x[:, :5])
    y2, s2 = apply(params, s1, x[:, 5:])
    whole = layers.GRU(2)  # one pass over all ten steps ends where the two halves end
    y_whole, _ = whole.apply(params, {}, x)
    _close(y2, y_whole)
    _close(s2["h"], y_whole)
    with pytest.raises(ValueError, match="Expected batch size: 4"):
        layer.apply(params, s2, x[:3])


def test_stateful_batch_size_comes_from_the_first_batch_when_not_given():
    layer = layers.SimpleRNN(2, stateful=True)
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 5, 4))
    assert state["h"].shape == (0, 2)  # not known yet
    _, state = layer.apply(params, state, jnp.asarray(X))
    assert state["h"].shape == (3, 2)


def test_sequential_reset_states_resets_every_stateful_layer():
    model = jseq.Sequential(
        [layers.LSTM(3, stateful=True, return_sequences=True, batch_input_shape=(3, 5, 4)), layers.GRU(2)]
    )
    first = model.layers[0](X)
    assert np.any(np.asarray(model.layers[0].state["h"]))
    model.reset_states()
    assert not np.any(np.asarray(model.layers[0].state["h"]))
    _close(model.layers[0](X), first)


# ---- weights, dropout, errors ----------------------------------------------------------------------------


def test_parameter_counts_shapes_and_lstm_forget_bias():
    gru = layers.GRU(3)
    gru.build((None, 5, 4))
    assert gru.count_params() == 81
    assert [w.shape for w in gru.weights] == [(4, 9), (3, 9), (2, 9)]
    old_gru = layers.GRU(3, reset_after=False)
    old_gru.build((None, 5, 4))
    assert old_gru.count_params() == 72
    lstm = layers.LSTM(3)
    lstm.build((None, 5, 4))
    assert lstm.count_params() == 4 * (4 * 3 + 3 * 3 + 3)
    np.testing.assert_array_equal(np.asarray(lstm.params["bias"]), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    recurrent = np.asarray(lstm.params["recurrent_kernel"])  # orthogonal (3, 12): orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)


def test_recurrence_is_one_scan_and_differentiable():
    layer = layers.LSTM(3, return_sequences=True)
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 5, 4))
    jaxpr = str(jax.make_jaxpr(lambda p, x: layer.apply(p, state, x)[0])(params, jnp.asarray(X)))
    assert jaxpr.count("scan[") == 1
    grads = jax.grad(lambda p: jnp.sum(layer.apply(p, state, jnp.asarray(X))[0] ** 2))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0)) for g in grads.values())


def test_dropout_only_in_training_and_needs_a_key():
    layer = layers.SimpleRNN(4, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 5, 4))
    x = jnp.asarray(X)
    inference, _ = layer.apply(params, state, x)
    train_a, _ = layer.apply(params, state, x, training=True, key=jax.random.PRNGKey(1))
    train_b, _ = layer.apply(params, state, x, training=True, key=jax.random.PRNGKey(1))
    _close(train_a, train_b)  # the key decides the masks
    assert not np.allclose(np.asarray(train_a), np.asarray(inference))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        layer.apply(params, state, x, training=True)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="units"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        layers.GRU(3, dropout=1.5)
    with pytest.raises(TypeError, match="retrun_sequences"):
        layers.SimpleRNN(3, retrun_sequences=True)
    with pytest.raises(ValueError, match=r"expected shape \(batch, timesteps, features\)"):
        layers.LSTM(3).build((None, 4))
    with pytest.raises(ValueError, match="recurrent layer"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="Invalid merge mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3))
    with pytest.raises(AttributeError, match="must be stateful"):
        layers.Bidirectional(layers.LSTM(3)).reset_states()


# ---- contract checks for Bidirectional (its params are nested, so it is not in tests/catalog.py) ----------


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_contract(merge_mode):
    layer = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True), merge_mode=merge_mode)
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), (None, 5, 4))
    x = jnp.asarray(X)
    y, _ = layer.apply(params, state, x)
    abstract, _ = jax.eval_shape(lambda p, s, x: layer.apply(p, s, x), params, state, x)
    jitted, _ = jax.jit(lambda p, s, x: layer.apply(p, s, x))(params, state, x)
    if merge_mode is None:
        assert out_shape == ((None, 5, 3), (None, 5, 3))
        assert [a.shape for a in y] == [b.shape for b in abstract] == [(3, 5, 3)] * 2
    else:
        assert out_shape == (None, 5, 6) and y.shape == abstract.shape == (3, 5, 6)
    _close(jitted, y)
    assert list(params) == ["forward_simple_rnn", "backward_simple_rnn"]
    assert {k: v.shape for k, v in params["backward_simple_rnn"].items()} == {
        "kernel": (4, 3),
        "recurrent_kernel": (3, 3),
        "bias": (3,),
    }
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards


def test_bidirectional_in_a_sequential_builds_trains_flags_and_counts():
    model = jseq.Sequential([layers.Bidirectional(layers.LSTM(2), input_shape=(5, 4)), layers.Dense(1)])
    assert model.output_shape == (None, 1)
    assert model.count_params() == 2 * 4 * (4 * 2 + 2 * 2 + 2) + 5
    model.layers[0].trainable = False
    assert jax.tree.leaves(model.trainable_mask()["bidirectional"]) == [False] * 6
    assert model(X).shape == (3, 1)


def test_wrapper_configs_round_trip():
    original = layers.Bidirectional(layers.GRU(2, return_sequences=True, activation="relu"), merge_mode="mul")
    copy = layers.Bidirectional.from_config(original.get_config())
    assert (copy.forward_layer.name, copy.backward_layer.name) == ("forward_gru", "backward_gru")
    assert copy.merge_mode == "mul" and copy.forward_layer.activation is jseq.activations.relu
    assert copy.backward_layer.go_backwards and copy.forward_layer.zero_output_for_mask
    wrapped = layers.TimeDistributed.from_config(layers.TimeDistributed(layers.Dense(2)).get_config())
    assert isinstance(wrapped.layer, layers.Dense) and wrapped.layer.units == 2
    assert layers.LSTM.from_config(layers.LSTM(4, stateful=True).get_config()).stateful


# ---- the seed's sequence models (../shared/seeds/003) compile, fit one epoch and evaluate ----------------


@pytest.mark.slow
def test_seed_embedding_lstm_classifier_fits_and_evaluates():
    max_features = 1024
    model = jseq.Sequential()
    model.add(layers.Embedding(max_features, output_dim=256))
    model.add(layers.LSTM(128))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    x = RNG.integers(0, max_features, size=(32, 10))
    y = RNG.integers(0, 2, size=(32, 1))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(loss) and 0 <= accuracy <= 1
    assert model.count_params() == max_features * 256 + 4 * (256 * 128 + 128 * 128 + 128) + 129


# The seed's stacked LSTM runs verbatim in tests/test_seeds.py.


@pytest.mark.slow
def test_seed_stateful_lstm_carries_state_through_fit_evaluate_and_predict():
    data_dim, timesteps, num_classes, batch_size = 16, 8, 10, 4
    model = jseq.Sequential()
    model.add(
        layers.LSTM(
            32, return_sequences=True, stateful=True, batch_input_shape=(batch_size, timesteps, data_dim)
        )
    )
    model.add(layers.LSTM(32, return_sequences=True, stateful=True))
    model.add(layers.LSTM(32, stateful=True))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    x_train, y_train = (
        RNG.random((batch_size * 3, timesteps, data_dim)),
        RNG.random((batch_size * 3, num_classes)),
    )
    x_val, y_val = (
        RNG.random((batch_size * 2, timesteps, data_dim)),
        RNG.random((batch_size * 2, num_classes)),
    )
    model.fit(
        x_train, y_train, batch_size=batch_size, shuffle=False, validation_data=(x_val, y_val), verbose=0
    )
    last = model.layers[-2]
    assert last.state["h"].shape == (batch_size, 32) and np.any(np.asarray(last.state["h"]))
    assert len(model.get_weights()) == 3 * 3 + 2  # carried states are not weights
    assert np.isfinite(model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0)[0])
    first = model.predict(x_val[:batch_size], batch_size=batch_size, verbose=0)
    again = model.predict(x_val[:batch_size], batch_size=batch_size, verbose=0)
    assert not np.allclose(first, again)  # the second call starts from the first call's final state
    model.reset_states()
    assert not np.any(np.asarray(last.state["h"]))
    fresh = model.predict(x_val[:batch_size], batch_size=batch_size, verbose=0)
    model.reset_states()
    np.testing.assert_allclose(
        model.predict(x_val[:batch_size], batch_size=batch_size, verbose=0), fresh, rtol=1e-5
    )
