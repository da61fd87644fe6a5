"""Symbolic tensors and `Model(inputs, outputs)`: the seeds' feature extraction and branching model, merging
layers, Keras parity (outputs, summary, config), random DAGs against composing the layers by hand, bad
input."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jseq
from jseq import layers
from jseq.functional import NotBuiltError

os.environ.setdefault("KERAS_BACKEND", "jax")


def _capture(model):
    out = []
    model.summary(print_fn=lambda s, **kw: out.append(s))
    assert len(out) == 1
    return out[0]


def _copy_weights(keras_model, jseq_model):
    """Copy every Keras layer's weights into the jseq layer of the same name."""
    for k_layer in keras_model.layers:
        if k_layer.get_weights():
            jseq_model.get_layer(k_layer.name).set_weights(k_layer.get_weights())


def _branching(lib, dim=784):
    """Seed 002's branching model: a shared input, two branches summed with `+`."""
    input_ = lib.Input((dim,))
    dense1 = lib.layers.Dense(64, activation="relu")(input_)
    dense2 = lib.layers.Dense(64, activation="relu")(input_)
    dense3 = lib.layers.Dense(64, activation="relu")(dense1 + dense2)
    out = lib.layers.Dense(10, activation="softmax")(dense3)
    return lib.Model(inputs=input_, outputs=out)


# ---- the seeds -------------------------------------------------------------------------------------------


def test_seed_feature_extractor_over_a_dense_stack():
    initial_model = jseq.Sequential(
        [
            jseq.Input(shape=(6,)),
            layers.Dense(5, activation="relu"),
            layers.Dense(4, activation="relu"),
            layers.Dense(3, activation="relu"),
        ]
    )
    feature_extractor = jseq.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    x = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    features = feature_extractor(x)
    assert [f.shape for f in features] == [(2, 5), (2, 4), (2, 3)]
    np.testing.assert_allclose(np.asarray(features[-1]), np.asarray(initial_model(x)), rtol=1e-6)
    # The same layer objects: changing the model's weights changes what the extractor computes.
    assert feature_extractor.layers[1:] == initial_model.layers
    last = initial_model.layers[-1]
    last.set_weights([w * 2 for w in last.get_weights()])
    np.testing.assert_allclose(np.asarray(feature_extractor(x)[-1]), np.asarray(initial_model(x)), rtol=1e-6)


@pytest.mark.skipif(not hasattr(layers, "Conv2D"), reason="Conv2D is not in jseq.layers yet")
def test_seed_feature_extractor_over_the_conv_stack():
    initial_model = jseq.Sequential(
        [
            jseq.Input(shape=(25, 25, 3)),  # the seed uses 250 x 250; a smaller image keeps the test fast
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = jseq.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    x = np.ones((1, 25, 25, 3), "float32")
    features = feature_extractor(x)
    assert [f.shape for f in features] == [(1, 11, 11, 32), (1, 9, 9, 32), (1, 7, 7, 32)]
    np.testing.assert_allclose(np.asarray(features[-1]), np.asarray(initial_model(x)), rtol=1e-6)

    # The seed's second example: one intermediate layer, found by name.
    one = jseq.Model(
        inputs=initial_model.inputs, outputs=initial_model.get_layer(name=initial_model.layers[1].name).output
    )
    np.testing.assert_allclose(np.asarray(one(x)), np.asarray(features[1]), rtol=1e-6)


def test_seed_get_layer_output_by_name():
    initial_model = jseq.Sequential(
        [
            jseq.Input(shape=(4,)),
            layers.Dense(3, activation="relu"),
            layers.Dense(3, activation="relu", name="my_intermediate_layer"),
            layers.Dense(2),
        ]
    )
    feature_extractor = jseq.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    x = np.ones((2, 4), "float32")
    by_hand = initial_model.layers[1](initial_model.layers[0](x))
    np.testing.assert_allclose(np.asarray(feature_extractor(x)), np.asarray(by_hand), rtol=1e-6)


def test_seed_branching_model_counts_and_runs():
    model = _branching(jseq)
    assert model.count_params() == 50240 * 2 + 4160 + 650
    assert [layer.name for layer in model.layers] == [
        "input_layer",
        "dense",
        "dense_1",
        "add",
        "dense_2",
        "dense_3",
    ]
    y = model(np.ones((3, 784)))
    assert y.shape == (3, 10)
    np.testing.assert_allclose(np.asarray(y.sum(axis=-1)), np.ones(3), rtol=1e-5)
    # the params pytree: one dict per layer with weights-or-not, keyed by name (no InputLayer)
    assert list(model.params) == ["dense", "dense_1", "add", "dense_2", "dense_3"]
    assert model.params["dense"]["kernel"].shape == (784, 64)


# ---- Sequential's symbolic attributes --------------------------------------------------------------------


def test_sequential_from_input_exposes_inputs_outputs_input_output():
    inp = jseq.Input(shape=(4,))
    model = jseq.Sequential([inp, layers.Dense(3), layers.Dense(2)])
    assert model.inputs == [inp] and model.input is inp  # keras#20116: Keras fails on model.input here
    assert model.outputs == [model.output]
    assert model.output.shape == (None, 2)
    assert model.layers[0].input is inp
    assert model.layers[1].input is model.layers[0].output
    assert model.layers[1].output is model.output


@pytest.mark.parametrize("how", ["input_shape", "build", "first_call", "add"])
def test_sequential_gets_a_graph_however_it_is_built(how):
    if how == "input_shape":
        model = jseq.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)])
    elif how == "build":
        model = jseq.Sequential([layers.Dense(3), layers.Dense(2)])
        model.build((None, 4))
    elif how == "first_call":
        model = jseq.Sequential([layers.Dense(3), layers.Dense(2)])
        model(np.ones((5, 4)))
    else:
        model = jseq.Sequential()
        model.add(jseq.Input(shape=(4,)))
        model.add(layers.Dense(3))
        model.add(layers.Dense(7))
        model.pop()
        model.add(layers.Dense(2))
    assert model.input.shape == (None, 4)
    assert [layer.output.shape for layer in model.layers] == [(None, 3), (None, 2)]
    assert model.output is model.layers[-1].output
    extractor = jseq.Model(model.inputs, [layer.output for layer in model.layers])
    out = extractor(np.ones((1, 4)))
    np.testing.assert_allclose(np.asarray(out[-1]), np.asarray(model(np.ones((1, 4)))), rtol=1e-6)


def test_unbuilt_sequential_says_how_to_build():
    model = jseq.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="has not been built yet.*Input\\(shape=...\\)"):
        _ = model.output
    with pytest.raises(NotBuiltError):
        _ = model.inputs
    assert not hasattr(model, "input")  # also an AttributeError, as in Keras


def test_output_of_a_layer_never_called_names_it_and_says_how_to_build():
    layer = layers.Dense(3, name="lonely")
    with pytest.raises((AttributeError, ValueError), match="'lonely'.*Input\\(shape=...\\)"):
        _ = layer.output


# ---- Model: calling, structures, sharing ---------------------------------------------------------------


def test_multi_input_multi_output_list_and_dict():
    a, b = jseq.Input(shape=(3,), name="a"), jseq.Input(shape=(2,), name="b")
    h = layers.Concatenate()([layers.Dense(4)(a), layers.Dense(4)(b)])
    y1, y2 = layers.Dense(1, name="y1")(h), layers.Dense(2, name="y2")(h)
    model = jseq.Model([a, b], [y1, y2])
    xa, xb = np.ones((5, 3)), np.ones((5, 2))
    out = model([xa, xb])
    assert [o.shape for o in out] == [(5, 1), (5, 2)]
    by_name = model({"a": xa, "b": xb})  # a dict keyed by Input names, as Keras accepts
    np.testing.assert_allclose(np.asarray(by_name[1]), np.asarray(out[1]))
    assert model.output_names == ["y1", "y2"]
    assert model.input_shape == [(None, 3), (None, 2)] and model.output_shape == [(None, 1), (None, 2)]

    as_dicts = jseq.Model({"b": b, "a": a}, {"second": y2, "first": y1})
    out = as_dicts({"a": xa, "b": xb})
    assert list(out) == ["second", "first"]  # the structure given, keys in their own order
    assert as_dicts.outputs == [y1, y2]  # flattened by sorted key, as Keras
    np.testing.assert_allclose(np.asarray(out["first"]), np.asarray(model([xa, xb])[0]))


def test_single_output_in_a_list_is_returned_alone_as_in_keras():
    inp = jseq.Input(shape=(3,))
    model = jseq.Model(inp, [layers.Dense(2)(inp)])
    assert model(np.ones((1, 3))).shape == (1, 2)


def test_shared_layer_is_one_params_entry_counted_once():
    inp = jseq.Input(shape=(3,))
    shared = layers.Dense(3, name="shared")
    y = shared(shared(inp))
    model = jseq.Model(inp, y)
    assert list(model.params) == ["shared"]
    assert model.count_params() == 12
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(shared(shared(x))), rtol=1e-6)
    assert "shared[0][0]" in _capture(model)  # the second call is connected to the first


def test_model_is_a_pure_function_under_jit_and_grad():
    model = _branching(jseq, dim=5)
    x = jnp.ones((2, 5))
    box = {}

    def init(key):
        box["out"], params, state = model.init(key, (None, 5))
        return params, state

    params, state = jax.eval_shape(init, jax.random.PRNGKey(0))  # traced, nothing computed
    assert box["out"] == (None, 10)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, model.params)
    params, state = model.params, model.state
    jitted, _ = jax.jit(model.apply)(params, state, x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(model(x)), rtol=1e-5, atol=1e-7)
    grads = jax.jit(jax.grad(lambda p: model.apply(p, state, x)[0][:, 0].sum()))(params)
    assert set(grads) == set(params) and grads["dense"]["kernel"].shape == (5, 64)
    assert float(jnp.abs(grads["dense"]["kernel"]).sum()) > 0


def test_nested_model_and_sequential_as_layers():
    inner_in = jseq.Input(shape=(4,))
    inner = jseq.Model(inner_in, [layers.Dense(3)(inner_in), layers.Dense(2)(inner_in)], name="inner")
    seq = jseq.Sequential([layers.Dense(2, input_shape=(3,))], name="seq")
    outer_in = jseq.Input(shape=(4,))
    a, b = inner(outer_in)
    model = jseq.Model(outer_in, seq(a) + b)
    assert [layer.name for layer in model.layers] == [
        "input_layer_2",
        "inner",
        "seq",
        "add",
    ]  # seq made input_layer_1
    x = np.ones((2, 4), "float32")
    ia, ib = inner(x)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(seq(ia) + ib), rtol=1e-6)
    assert model.count_params() == inner.count_params() + seq.count_params()
    assert set(model.params) == {"inner", "seq", "add"} and set(model.params["inner"]) == {"dense", "dense_1"}


def test_operators_record_merging_layers_and_accept_numbers():
    inp = jseq.Input(shape=(3,))
    x = layers.Activation("linear")(inp)
    y = (x + 1.0) * x - x / 2.0
    z = 1 - 2 / (x + 3)
    model = jseq.Model(inp, [y, z])
    v = np.array([[1.0, 2.0, 3.0]], "float32")
    out_y, out_z = model(v)
    np.testing.assert_allclose(np.asarray(out_y), (v + 1) * v - v / 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out_z), 1 - 2 / (v + 3), rtol=1e-6)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert {"Add", "Multiply", "Subtract", "TrueDivide"} <= set(kinds)


@pytest.mark.slow
def test_seed_branching_model_trains():
    model = _branching(jseq)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 784)).astype("float32")
    y = (x[:, :10].argmax(axis=1)).astype("int32")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (64, 10)


def test_training_a_sequential_moves_its_feature_extractor_and_a_loss_per_output():
    model = jseq.Sequential([jseq.Input(shape=(4,)), layers.Dense(3, activation="tanh"), layers.Dense(1)])
    extractor = jseq.Model(model.inputs, [layer.output for layer in model.layers])
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    before = np.asarray(extractor(x)[0])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0)
    assert not np.allclose(np.asarray(extractor(x)[0]), before)  # one set of weights, moved by fit
    np.testing.assert_allclose(np.asarray(extractor(x)[1]), np.asarray(model(x)), rtol=1e-6)

    # The extractor itself trains with one loss per output (a list, or a dict keyed by output name).
    extractor.compile(optimizer="sgd", loss=["mse", "mse"], loss_weights=[0.0, 1.0])
    history = extractor.fit(x, [np.zeros((32, 3)), x[:, :1]], epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "dense_loss", "dense_1_loss"}
    extractor.compile(optimizer="sgd", loss={"dense": "mse", "dense_1": "mae"})
    logs = extractor.evaluate(x, [np.zeros((32, 3)), x[:, :1]], verbose=0, return_dict=True)
    out = extractor(x)
    np.testing.assert_allclose(logs["dense_loss"], float(np.mean(np.asarray(out[0]) ** 2)), rtol=1e-4)
    np.testing.assert_allclose(
        logs["dense_1_loss"], float(np.mean(np.abs(np.asarray(out[1]) - x[:, :1]))), rtol=1e-4
    )


def test_dropout_in_a_graph_uses_the_training_flag():
    inp = jseq.Input(shape=(50,))
    model = jseq.Model(inp, layers.Dropout(0.5)(inp))
    x = np.ones((4, 50), "float32")
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    dropped = np.asarray(model(x, training=True))
    assert (dropped == 0).any() and set(np.unique(dropped)) <= {0.0, 2.0}


# ---- merging layers: the contract and Keras parity ---------------------------------------------------------

MERGES = [
    ("add", lambda m: m.Add(), [(4, 3), (4, 3)]),
    ("add_broadcast", lambda m: m.Add(), [(4, 3), (1, 3), (4, 1)]),
    ("subtract", lambda m: m.Subtract(), [(5,), (5,)]),
    ("multiply", lambda m: m.Multiply(), [(2, 3), (2, 3), (2, 3)]),
    ("average", lambda m: m.Average(), [(3,), (3,)]),
    ("maximum", lambda m: m.Maximum(), [(3,), (3,)]),
    ("minimum", lambda m: m.Minimum(), [(2, 2), (2, 2)]),
    ("concatenate", lambda m: m.Concatenate(), [(2, 3), (2, 4)]),
    ("concatenate_axis1", lambda m: m.Concatenate(axis=1), [(2, 3), (4, 3)]),
    ("dot", lambda m: m.Dot(axes=1), [(4,), (4,)]),
    ("dot_pair", lambda m: m.Dot(axes=(1, 2)), [(3, 5), (2, 3)]),
    ("dot_last", lambda m: m.Dot(axes=-1), [(3, 4), (2, 4)]),
    ("dot_normalize", lambda m: m.Dot(axes=-1, normalize=True), [(3,), (3,)]),
]


def _arrays(shapes, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch,) + s).astype("float32") for s in shapes]


@pytest.mark.parametrize("entry", MERGES, ids=[e[0] for e in MERGES])
def test_merging_layer_contract(entry):
    _, factory, shapes = entry
    layer = factory(layers)
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), [(None,) + s for s in shapes])
    assert params == {} and state == {}
    xs = [jnp.asarray(a) for a in _arrays(shapes)]
    y, _ = layer.apply(params, state, xs)
    assert tuple(y.shape) == (2,) + tuple(out_shape[1:])
    abstract, _ = jax.eval_shape(lambda xs: layer.apply({}, {}, xs), xs)
    assert abstract.shape == y.shape
    jitted, _ = jax.jit(lambda xs: layer.apply({}, {}, xs))(xs)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("entry", MERGES, ids=[e[0] for e in MERGES])
def test_merging_layer_matches_keras(entry, keras):
    _, factory, shapes = entry
    xs = _arrays(shapes, seed=1)
    expected = np.asarray(factory(keras.layers)(xs))
    got = np.asarray(factory(layers)(xs))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    k_shape = factory(keras.layers).compute_output_shape([(None,) + s for s in shapes])
    assert factory(layers).compute_output_shape([(None,) + s for s in shapes]) == tuple(k_shape)


def test_keras_parity_multi_input_multi_output_with_copied_weights(keras):
    def build(lib):
        a = lib.Input(shape=(6,), name="a")
        b = lib.Input(shape=(4,), name="b")
        ha = lib.layers.Dense(5, activation="tanh", name="ha")(a)
        hb = lib.layers.Dense(5, activation="relu", name="hb")(b)
        shared = lib.layers.Dense(5, name="shared")
        s1, s2 = shared(ha), shared(hb)
        merged = lib.layers.Concatenate(name="cat")([s1 - s2, lib.layers.Maximum(name="mx")([ha, hb])])
        y1 = lib.layers.Dense(3, activation="softmax", name="y1")(merged)
        y2 = lib.layers.Dot(axes=1, normalize=True, name="cos")([s1, s2])
        y3 = lib.layers.Average(name="avg")([ha * 0.5, lib.layers.Multiply(name="mul")([hb, s2])])
        return lib.Model(inputs=[a, b], outputs=[y1, y2, y3])

    keras.backend.clear_session()
    k_model = build(keras)
    j_model = build(jseq)
    _copy_weights(k_model, j_model)
    xa, xb = _arrays([(6,), (4,)], batch=3, seed=2)
    for k_out, j_out in zip(k_model([xa, xb]), j_model([xa, xb])):
        np.testing.assert_allclose(np.asarray(j_out), np.asarray(k_out), rtol=1e-4, atol=1e-5)
    assert j_model.count_params() == k_model.count_params()
    assert [w.shape for w in j_model.weights] == [tuple(w.shape) for w in k_model.weights]


def _same_summary_as_keras(keras, build, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    keras.backend.clear_session()
    k_text = []
    build(keras).summary(print_fn=lambda s, **kw: k_text.append(s))
    from jseq.core import clear_session

    clear_session()
    assert _capture(build(jseq)) == "".join(k_text)


def test_summary_of_the_branching_model_equals_keras(keras, monkeypatch):
    _same_summary_as_keras(keras, _branching, monkeypatch)


def test_summary_of_a_chain_is_keras_three_column_layout_with_input_row(keras, monkeypatch):
    def build(lib):
        inp = lib.Input((784,))
        x = lib.layers.Dense(64, activation="relu")(inp)
        x = lib.layers.Dense(64, activation="relu")(x)
        return lib.Model(inputs=inp, outputs=lib.layers.Dense(10, activation="softmax")(x))

    _same_summary_as_keras(keras, build, monkeypatch)


def test_summary_of_multi_input_shared_and_nested_models_equals_keras(keras, monkeypatch):
    def build(lib):
        i = lib.Input((4,))
        a, b = lib.layers.Dense(3)(i), lib.layers.Dense(3)(i)
        inner = lib.Model([i], [lib.layers.Add()([a, b]), a])
        seq = lib.Sequential([lib.layers.Dense(2, input_shape=(3,))], name="seq")
        outer_in, other_in = lib.Input((4,)), lib.Input((3,), name="other")
        o = inner(outer_in)
        shared = lib.layers.Dense(3, name="shared")
        f = shared(shared(o[1]))
        return lib.Model([outer_in, other_in], [seq(o[0]), f * other_in], name="outer")

    _same_summary_as_keras(keras, build, monkeypatch)


def test_get_config_layout_equals_keras(keras):
    def build(lib):
        a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
        shared = lib.layers.Dense(4, name="shared")
        s = lib.layers.Add(name="sum")([shared(a), shared(b)])
        return lib.Model({"a": a, "b": b}, [shared(s), s], name="m")

    keras.backend.clear_session()
    k_config = json.loads(json.dumps(build(keras).get_config()))  # as saved: tuples become lists
    j_config = json.loads(json.dumps(build(jseq).get_config()))
    assert j_config["input_layers"] == k_config["input_layers"]
    assert j_config["output_layers"] == k_config["output_layers"]
    assert j_config["name"] == "m" and j_config["trainable"] is True

    def skeleton(config):
        return [
            (layer["module"], layer["class_name"], layer["name"], layer["inbound_nodes"])
            for layer in config["layers"]
        ]

    assert skeleton(j_config) == skeleton(k_config)
    assert [layer.get("build_config") for layer in j_config["layers"]] == [
        layer.get("build_config") for layer in k_config["layers"]
    ]


# ---- random DAGs: the model equals composing the same layers by hand -------------------------------------

WIDTH = 3


@pytest.fixture(scope="module")
def dense_pool():
    """Dense layers built once (width 3 -> 3): reused by every example, and shared within one."""
    pool = [
        layers.Dense(WIDTH, activation=act, name=f"pool_{i}") for i, act in enumerate(["tanh", None, "relu"])
    ]
    for layer in pool:
        layer.build((None, WIDTH))
    return pool


OPS = st.one_of(
    st.tuples(st.just("dense"), st.integers(0, 2), st.integers(0, 99)),
    st.tuples(
        st.sampled_from(["add", "sub", "mul", "max", "avg", "op+", "op*"]),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
)


@settings(max_examples=20, deadline=None)
@given(ops=st.lists(OPS, min_size=1, max_size=7), n_inputs=st.integers(1, 2), n_outputs=st.integers(1, 3))
def test_random_dags_equal_composing_the_layers_by_hand(dense_pool, ops, n_inputs, n_outputs):
    merges = {"add": layers.Add, "sub": layers.Subtract, "mul": layers.Multiply, "max": layers.Maximum}
    merges["avg"] = layers.Average
    inputs = [jseq.Input(shape=(WIDTH,)) for _ in range(n_inputs)]
    rng = np.random.default_rng(len(ops))
    arrays = [jnp.asarray(rng.normal(size=(2, WIDTH)), "float32") for _ in range(n_inputs)]
    symbolic, eager = list(inputs), list(arrays)  # tensor i of the graph, and its value computed by hand
    for kind, i, j in ops:
        if kind == "dense":
            layer = dense_pool[i]
            k = j % len(symbolic)
            symbolic.append(layer(symbolic[k]))
            eager.append(layer(eager[k]))
            continue
        a, b = i % len(symbolic), j % len(symbolic)
        if kind == "op+":
            symbolic.append(symbolic[a] + symbolic[b])
            eager.append(eager[a] + eager[b])
        elif kind == "op*":
            symbolic.append(symbolic[a] * 2.0)
            eager.append(eager[a] * 2.0)
        else:
            layer = merges[kind]()
            symbolic.append(layer([symbolic[a], symbolic[b]]))
            eager.append(layer([eager[a], eager[b]]))
    # Outputs: the last tensor, plus earlier ones; every input must reach an output, so add them as needed.
    chosen = sorted({len(symbolic) - 1 - (k * 2) % len(symbolic) for k in range(n_outputs)})
    used = _ancestors([symbolic[c] for c in chosen])
    chosen += [k for k, t in enumerate(inputs) if id(t) not in used]
    model = jseq.Model(inputs, [symbolic[c] for c in chosen])
    got = model(arrays)
    got = got if isinstance(got, list) else [got]
    for c, value in zip(chosen, got):
        np.testing.assert_allclose(np.asarray(value), np.asarray(eager[c]), rtol=1e-5, atol=1e-6)
    used_pool = {layer.name for layer in model.layers} & {layer.name for layer in dense_pool}
    assert model.count_params() == len(used_pool) * (WIDTH * WIDTH + WIDTH)  # each shared Dense once
    # The pure fold over the same params gives the same values.
    pure, _ = jax.jit(model.apply)(model.params, model.state, arrays)
    pure = pure if isinstance(pure, list) else [pure]
    for a, b in zip(pure, got):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def _ancestors(tensors):
    seen, stack = set(), list(tensors)
    while stack:
        t = stack.pop()
        if id(t) not in seen:
            seen.add(id(t))
            stack.extend(t.history[1])
    return seen


# ---- bad input -------------------------------------------------------------------------------------------


def test_output_that_does_not_depend_on_the_inputs():
    a, b = jseq.Input(shape=(3,)), jseq.Input(shape=(3,))
    y = layers.Dense(2, name="head")(b)
    with pytest.raises(
        ValueError, match="Graph disconnected: output 'head'.*depends on Input 'input_layer_1'"
    ):
        jseq.Model(a, y)


def test_tensor_from_another_graph():
    model = jseq.Sequential([jseq.Input(shape=(3,)), layers.Dense(2, name="d")])
    other = jseq.Input(shape=(3,), name="other")
    with pytest.raises(ValueError, match="output 'd'.*Input 'input_layer'.*\\['other'\\]"):
        jseq.Model(other, model.layers[0].output)


def test_disconnected_input():
    a, b = jseq.Input(shape=(3,), name="used"), jseq.Input(shape=(3,), name="unused")
    with pytest.raises(
        ValueError, match="Input 'unused' of model 'functional' is not connected to any output"
    ):
        jseq.Model([a, b], layers.Dense(2)(a))


def test_merge_shape_mismatch_names_both_layers_and_shapes():
    inp = jseq.Input(shape=(5,))
    a, b = layers.Dense(3, name="left")(inp), layers.Dense(4, name="right")(inp)
    with pytest.raises(
        ValueError, match=r"'add'.*\(None, 3\), \(None, 4\).*'left' \(None, 3\), 'right' \(None, 4\)"
    ):
        a + b
    with pytest.raises(ValueError, match=r"Concatenate.*'left' \(None, 3\)"):
        layers.Concatenate(axis=1)([a, layers.Reshape((2, 2))(b)])
    with pytest.raises(ValueError, match="Dot.*axis values 3.*!= 4"):
        layers.Dot(axes=1)([a, b])


def test_other_misuses_get_clear_errors():
    inp = jseq.Input(shape=(3,))
    h = layers.Dense(3, name="h")(inp)
    with pytest.raises(ValueError, match="takes one input tensor.*Concatenate"):
        layers.Dense(2)([inp, h])
    with pytest.raises(ValueError, match="must be symbolic tensors.*ndarray"):
        jseq.Model(inp, np.ones(3))
    with pytest.raises(ValueError, match="returned by `Input\\(...\\)`.*layer 'h'"):
        jseq.Model(h, layers.Dense(2)(h))
    with pytest.raises(ValueError, match='The name "h" is used 2 times'):
        jseq.Model(inp, layers.Dense(2, name="h")(h))
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([inp, h, h])
    with pytest.raises(TypeError, match="mix of symbolic tensors and ndarray"):
        layers.Add()([inp, np.ones((1, 3))])
    model = jseq.Model(inp, layers.Dense(2)(h))
    with pytest.raises(
        ValueError,
        match=r"Input 'input_layer' of model 'functional_\d*' expects arrays of shape \(None, 3\), but "
        r"received an array of shape \(2, 4\)",
    ):
        model(np.ones((2, 4)))
    with pytest.raises(ValueError, match="expects 1 input"):
        model([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(TypeError, match="Unrecognized keyword arguments"):
        jseq.Model(inp, h, bogus=1)
