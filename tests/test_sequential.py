"""Sequential as the seeds use it: construction, deferred build, Input, nesting, weights, freezing, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jseq
from jseq import layers


def test_seed_three_layer_model_runs_eagerly():
    model = jseq.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    y = model(np.ones((3, 3)))
    assert y.shape == (3, 4)
    # the same thing as calling the three layers by hand
    x = jnp.ones((3, 3))
    for layer in model.layers:
        x = layer(x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-6)


def test_names_come_from_per_class_counters():
    a = [layers.Dense(2), layers.Dense(3), layers.Dropout(0.1), layers.Dense(4)]
    assert [layer.name for layer in a] == ["dense", "dense_1", "dropout", "dense_2"]
    assert jseq.Sequential().name == "sequential"
    assert jseq.Sequential(name="my_sequential").name == "my_sequential"
    assert layers.LeakyReLU().name == "leaky_re_lu"


def test_add_pop_and_layers():
    model = jseq.Sequential()
    assert model.layers == []
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    assert len(model.layers) == 3
    popped = model.pop()
    assert popped.name == "dense_2" and len(model.layers) == 2
    with pytest.raises(TypeError, match="no layers"):
        jseq.Sequential().pop()


def test_deferred_build_has_no_weights_until_first_call():
    model = jseq.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3), layers.Dense(4)])
    assert not model.built and model.weights == []
    with pytest.raises(ValueError, match="isn't built"):
        model.count_params()
    model(np.ones((1, 4)))
    assert model.built
    assert len(model.weights) == 6
    assert [w.path for w in model.weights[:2]] == ["dense/kernel", "dense/bias"]
    assert model.count_params() == (4 * 2 + 2) + (2 * 3 + 3) + (3 * 4 + 4)


def test_input_first_builds_as_layers_are_added_and_is_not_a_layer():
    model = jseq.Sequential()
    model.add(jseq.Input(shape=(4,)))
    assert model.layers == []
    model.add(layers.Dense(2, activation="relu"))
    assert model.built and model.layers[0].built
    assert model.layers[0].params["kernel"].shape == (4, 2)
    assert len(model.layers) == 1


@pytest.mark.parametrize(
    "first",
    [
        lambda: layers.Dense(2, input_shape=(4,)),
        lambda: layers.Dense(2, input_dim=4),
        lambda: layers.Dense(2, batch_input_shape=(None, 4)),
        lambda: layers.Dense(2, input_shape=(4,), batch_size=8),
    ],
)
def test_keras2_input_arguments_on_first_layer(first):
    model = jseq.Sequential([first(), layers.Dense(3)])
    assert model.built
    assert model.layers[0].params["kernel"].shape == (4, 2)
    assert model.output_shape[-1] == 3


def test_build_keeps_weights_of_already_built_layers():
    base = jseq.Sequential([jseq.Input(shape=(5,)), layers.Dense(4)])
    before = base.get_weights()
    base.add(layers.Dense(2))
    after = base.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    assert after[2].shape == (4, 2)


def test_rebuild_with_another_input_shape_names_model_and_shapes():
    model = jseq.Sequential([layers.Dense(3)], name="deferred")
    model.build((None, 3))
    with pytest.raises(ValueError) as err:
        model.build((None, 5))
    assert "deferred" in str(err.value) and "(None, 3)" in str(err.value) and "(None, 5)" in str(err.value)
    model.build((None, 3))  # same shape again is fine


def test_wrong_feature_size_names_layer_and_shapes_and_leaves_model_usable():
    model = jseq.Sequential([jseq.Input(shape=(3,)), layers.Dense(2, name="first")])
    weights = model.get_weights()
    big = np.zeros((1, 5), np.float32)
    with pytest.raises(ValueError) as err:
        model(big)
    msg = str(err.value)
    assert "'first'" in msg and "3" in msg and "(1, 5)" in msg
    assert "0. 0." not in msg  # the array itself is never printed
    np.testing.assert_array_equal(model.get_weights()[0], weights[0])
    assert model(np.ones((2, 3))).shape == (2, 2)


def test_nested_sequential_shares_weights_and_counts_once():
    inner = jseq.Sequential([layers.Dense(4, name="shared_dense")], name="inner")
    a = jseq.Sequential([jseq.Input(shape=(3,)), inner, layers.Dense(1, name="head_a")], name="a")
    b = jseq.Sequential([jseq.Input(shape=(3,)), inner, layers.Dense(2, name="head_b")], name="b")
    assert inner.count_params() == 16
    assert a.count_params() == 16 + 5
    assert b.count_params() == 16 + 10
    inner.layers[0].set_weights([np.ones((3, 4)), np.zeros(4)])
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(np.asarray(inner(x)), 3.0 * np.ones((1, 4)))
    # a change through one model is seen by the other: one set of weights
    assert np.asarray(a.params["inner"]["shared_dense"]["kernel"]).sum() == 12
    assert np.asarray(b.params["inner"]["shared_dense"]["kernel"]).sum() == 12


def test_same_model_twice_in_one_parent_counts_once():
    inner = jseq.Sequential([layers.Dense(3)], name="twice")
    outer = jseq.Sequential([jseq.Input(shape=(3,)), inner])
    assert outer.count_params() == 12
    assert len(outer.weights) == 2


def test_trainable_false_moves_weights_to_non_trainable():
    model = jseq.Sequential([jseq.Input(shape=(3,)), layers.Dense(4), layers.Dense(2)])
    assert len(model.trainable_weights) == 4 and model.non_trainable_weights == []
    model.layers[0].trainable = False
    assert [w.path for w in model.non_trainable_weights] == ["dense/kernel", "dense/bias"]
    assert [w.path for w in model.weights] == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    assert model.trainable_mask() == {
        "dense": {"kernel": False, "bias": False},
        "dense_1": {"kernel": False, "bias": False},
    }
    model.layers[1].trainable = True
    assert [w.path for w in model.trainable_weights] == ["dense_1/kernel", "dense_1/bias"]


def test_get_set_weights_round_trip_and_checks_all_shapes_first():
    model = jseq.Sequential([jseq.Input(shape=(3,)), layers.Dense(4), layers.Dense(2)])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    assert all(w.dtype == np.float32 for w in weights)
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(weights)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    bad = [np.zeros((3, 4)), np.zeros(4), np.zeros((5, 2)), np.zeros(2)]
    with pytest.raises(ValueError, match=r"dense_1/kernel.*\(4, 2\).*\(5, 2\)"):
        model.set_weights(bad)
    # nothing was assigned: the first array is unchanged
    np.testing.assert_array_equal(model.get_weights()[0], new[0])
    with pytest.raises(ValueError, match="expects 4 weight arrays"):
        model.set_weights(new[:3])


def test_get_layer_by_name_and_index():
    model = jseq.Sequential([layers.Dense(2, name="a"), layers.Dense(3, name="b")])
    assert model.get_layer(name="b").units == 3
    assert model.get_layer(index=0).name == "a"
    assert model.get_layer("a").name == "a"
    with pytest.raises(ValueError, match="No such layer: c"):
        model.get_layer("c")
    with pytest.raises(ValueError, match="index 5"):
        model.get_layer(index=5)


def test_adding_a_non_layer_or_duplicate_name_leaves_model_unchanged():
    model = jseq.Sequential([layers.Dense(2, name="a")])
    with pytest.raises(ValueError, match="Only instances of `jseq.layers.Layer`.*notalayer"):
        model.add("notalayer")
    with pytest.raises(ValueError, match="unique names"):
        model.add(layers.Dense(2, name="a"))
    assert [layer.name for layer in model.layers] == ["a"]


def test_failed_add_on_built_model_leaves_it_unchanged():
    model = jseq.Sequential([jseq.Input(shape=(2, 3)), layers.Flatten()])
    with pytest.raises(ValueError, match="reshape"):
        model.add(layers.Reshape((4, 4)))
    assert len(model.layers) == 1
    model.add(layers.Dense(2))
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.Dense(0), "units=0"),
        (lambda: layers.Dense(-3), "units=-3"),
        (lambda: layers.Dropout(1.5), "rate=1.5"),
        (lambda: layers.Dense(3, activation="foo"), "Unknown activation function: 'foo'.*relu"),
        (lambda: layers.Dense(3, kernel_initializer="foo"), "Unknown initializer: 'foo'.*glorot_uniform"),
        (lambda: layers.Dense(3, kernel_regularizer="l3"), "Unknown regularizer: 'l3'.*l1_l2"),
    ],
)
def test_bad_hyperparameters_fail_in_the_constructor(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_keyword_argument_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="Dense.*foo"):
        layers.Dense(3, foo=1)


def test_dropout_is_identity_unless_training_and_needs_a_key_then():
    layer = layers.Dropout(0.5)
    x = jnp.ones((4, 1000))
    _, params, state = layer.init(jax.random.PRNGKey(0), (None, 1000))
    y, _ = layer.apply(params, state, x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        layer.apply(params, state, x, training=True)
    y, _ = layer.apply(params, state, x, training=True, key=jax.random.PRNGKey(3))
    y = np.asarray(y)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.45 < (y == 0).mean() < 0.55  # rate = fraction dropped (stax's Dropout takes the keep rate)
    eager = layer(x, training=True)
    assert 0.45 < float((np.asarray(eager) == 0).mean()) < 0.55


def test_set_random_seed_makes_weights_reproducible_and_unseeded_models_differ():
    def weights():
        model = jseq.Sequential([layers.Dense(5, input_shape=(3,)), layers.Dense(2)])
        return model.get_weights()

    jseq.utils.set_random_seed(42)
    a = weights()
    jseq.utils.set_random_seed(42)
    b = weights()
    c = weights()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_pure_functions_compose_with_jit_grad_and_vmap():
    model = jseq.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(1)])
    out_shape, params, state = model.init(jax.random.PRNGKey(0), (None, 3))
    assert out_shape == (None, 1)
    x = jnp.ones((5, 3))

    def loss(params):
        y, _ = model.apply(params, state, x)
        return jnp.mean(y**2)

    grads = jax.jit(jax.grad(loss))(params)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert float(jnp.abs(grads["dense"]["kernel"]).sum()) > 0
    # an ensemble of 4 models: vmap over keys for init, then over params for apply
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    stacked = jax.vmap(lambda k: model.init(k, (None, 3))[1])(keys)
    ys = jax.vmap(lambda p: model.apply(p, state, x)[0])(stacked)
    assert ys.shape == (4, 5, 1)
    assert not np.allclose(np.asarray(ys[0]), np.asarray(ys[1]))


def test_regularization_penalty_has_keras_formula():
    layer = layers.Dense(4, kernel_regularizer="l2", bias_regularizer=jseq.regularizers.l1(0.5))
    model = jseq.Sequential([jseq.Input(shape=(8,)), layer])
    k, b = model.get_weights()
    b = np.arange(4, dtype=np.float32)
    model.set_weights([k, b])
    expected = 0.01 * np.sum(k**2) + 0.5 * np.sum(np.abs(b))
    np.testing.assert_allclose(float(model.regularization_loss(model.params)), expected, rtol=1e-5)


def test_integer_and_list_inputs_are_cast():
    model = jseq.Sequential([layers.Dense(2)])
    y = model([[1, 2, 3]])
    assert y.dtype == jnp.float32 and y.shape == (1, 2)
    with pytest.raises(TypeError, match="numeric array"):
        model(np.array([["a", "b", "c"]]))


def test_eager_calls_carry_a_stateful_rnn_state_and_leave_batchnorm_statistics_alone():
    model = jseq.Sequential([layers.LSTM(4, stateful=True, batch_input_shape=(2, 3, 5)), layers.Dense(1)])
    x = np.ones((2, 3, 5), np.float32)
    first, second = np.asarray(model(x)), np.asarray(model(x))
    assert not np.allclose(first, second)  # the second call starts from the first call's final state
    model.reset_states()
    np.testing.assert_allclose(np.asarray(model(x)), first, rtol=1e-6)
    bn = jseq.Sequential([jseq.Input(shape=(3,)), layers.BatchNormalization()])
    bn(np.full((4, 3), 5.0, np.float32))  # inference: the moving statistics stay put
    np.testing.assert_array_equal(bn.layers[0].state["moving_mean"], np.zeros(3))
    bn(np.full((4, 3), 5.0, np.float32), training=True)
    assert float(bn.layers[0].state["moving_mean"][0]) == pytest.approx(0.05, rel=1e-5)


def test_building_the_same_layers_again_reuses_the_init_program_with_fresh_values():
    from jseq import core

    def build():
        return jseq.Sequential([jseq.Input((5,)), layers.Dense(7), layers.Dense(3, activation="relu")])

    jseq.utils.set_random_seed(1)
    first = build()
    kept = dict(core._INIT_PROGRAMS)
    jseq.utils.set_random_seed(1)
    again = build()  # the kept program: nothing traced or compiled
    assert dict(core._INIT_PROGRAMS) == kept
    core._INIT_PROGRAMS.clear()
    jseq.utils.set_random_seed(1)
    fresh = build()  # traced afresh
    for a, b, c in zip(first.get_weights(), again.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    later = build()  # the key stream moved on: new values from the same program
    assert not np.array_equal(later.get_weights()[0], first.get_weights()[0])
    # tracing with copies made no layers of their own: names still count up by the model's two layers
    numbers = [int(m.layers[0].name.rpartition("_")[2] or 0) for m in (again, fresh, later)]
    assert numbers[1] - numbers[0] == 2 and numbers[2] - numbers[1] == 2
    other = jseq.Sequential([jseq.Input((5,)), layers.Dense(7, use_bias=False)])  # another config
    assert [w.shape for w in other.get_weights()] == [(5, 7)]


def test_keras_weight_attributes_are_views_of_the_built_arrays():
    model = jseq.Sequential(
        [jseq.Input((6,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(3, use_bias=False)]
    )
    dense, bn, last = model.layers
    assert dense.kernel.shape == (6, 4) and dense.bias.shape == (4,) and dense.kernel.path == "dense/kernel"
    assert [bn.gamma.shape, bn.beta.shape, bn.moving_mean.shape, bn.moving_variance.shape] == [(4,)] * 4
    assert not bn.moving_mean.trainable and bn.gamma.trainable
    dense.kernel.assign(np.ones((6, 4), np.float32))
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((6, 4)))
    with pytest.raises(AttributeError, match="'Dense' object has no attribute 'bias'"):
        getattr(last, "bias")  # noqa: B009 (use_bias=False, as in Keras)
    with pytest.raises(AttributeError, match="no attribute 'kernel'"):
        getattr(layers.Dense(2), "kernel")  # noqa: B009 (not built yet)
    embedding = jseq.Sequential([jseq.Input((3,), dtype="int32"), layers.Embedding(10, 2)]).layers[0]
    assert embedding.embeddings.shape == (10, 2)
