"""Saving and loading: Keras 3's `.keras` / `.weights.h5` files both ways, round trips over every layer, and
the saving API (errors, all-or-nothing loads, compile settings, checkpoints)."""

import json
import os
import warnings
import zipfile

import h5py
import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jseq
from jseq import layers as L
from jseq import optimizers as O
from tests.catalog import CATALOG

DETERMINISTIC = settings(
    max_examples=6,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _x(shape, dtype="float32", seed=0, batch=4):
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return rng.integers(0, 5, (batch,) + tuple(shape)).astype("int32")
    return rng.normal(size=(batch,) + tuple(shape)).astype("float32")


def _mlp(units=3, optimizer="adam", **compile_kwargs):
    model = jseq.Sequential(
        [jseq.Input((4,)), L.Dense(units, activation="relu"), L.BatchNormalization(), L.Dense(2)]
    )
    if optimizer is not None:
        model.compile(optimizer, "mse", **compile_kwargs)
    return model


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def _same_tree(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves_a, leaves_b)
    )


def _h5_layout(data):
    import io

    out = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, getattr(obj, "shape", None)))
    return out


# --------------------------------------------------------------------------------------------------------
# Round trips


def test_save_load_predicts_the_same_and_continues_training_identically(tmp_path):
    x, y = _data()
    model = _mlp(metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = jseq.models.load_model(tmp_path / "m.keras")

    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert _same_tree(model._opt_state, loaded._opt_state)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss == "mse" and loaded._metric_specs == ["mae"]
    # The next epoch from the file is the next epoch of the original run.
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))


@pytest.fixture(scope="module")
def catalog_model():
    """Every layer of the catalogue as one branch of a functional model (one file holds them all)."""
    inputs, outputs, xs = [], [], []
    for entry in CATALOG:
        name, factory, shape = entry[:3]
        dtype = entry[5] if len(entry) > 5 else "float32"
        tensor = jseq.Input(shape, dtype=dtype, name=f"in_{name}")
        inputs.append(tensor)
        outputs.append(factory()(tensor))
        xs.append(_x(shape, dtype, seed=len(xs), batch=2))
    return jseq.Model(inputs, outputs, name="catalog"), xs


def test_every_layer_round_trips_config_and_weights(catalog_model, tmp_path):
    model, _ = catalog_model
    model.save(tmp_path / "all.keras")
    loaded = jseq.models.load_model(tmp_path / "all.keras")
    assert loaded.to_json() == model.to_json()  # same architecture, argument for argument
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    for a, b in zip(model.weights, loaded.weights):
        assert a.path == b.path and a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_every_layer_loads_in_keras_and_back(catalog_model, keras, tmp_path):
    model, xs = catalog_model
    model.save(tmp_path / "all.keras")
    keras_model = keras.models.load_model(tmp_path / "all.keras")
    for ours, theirs in zip(model.predict(xs, verbose=0), keras_model.predict(xs, verbose=0)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    keras_model.save(tmp_path / "keras.keras")
    # Keras writes the weights where jseq does: the same groups, datasets and shapes.
    ours = _h5_layout(zipfile.ZipFile(tmp_path / "all.keras").read("model.weights.h5"))
    theirs = _h5_layout(zipfile.ZipFile(tmp_path / "keras.keras").read("model.weights.h5"))
    assert ours == theirs
    back = jseq.models.load_model(tmp_path / "keras.keras")
    for a, b in zip(model.weights, back.weights):
        assert np.array_equal(a.numpy(), b.numpy())


def _stack(entry, head_units, extra):
    """A Sequential over one catalogue layer, flattened into a small Dense head."""
    name, factory, shape = entry[:3]
    dtype = entry[5] if len(entry) > 5 else "float32"
    body = [jseq.Input(shape, dtype=dtype), factory(), L.Flatten()]
    body += {"none": [], "dropout": [L.Dropout(0.25)], "batchnorm": [L.BatchNormalization()]}[extra]
    return jseq.Sequential(body + [L.Dense(head_units)]), shape, dtype


_OPTIMIZERS = ["sgd", "rmsprop", "adam", "adagrad", "nadam"]


@DETERMINISTIC
@given(
    entry=st.sampled_from(CATALOG),
    head_units=st.integers(1, 3),
    extra=st.sampled_from(["none", "dropout", "batchnorm"]),
    optimizer=st.sampled_from(_OPTIMIZERS),
)
def test_random_stacks_round_trip_with_optimizer_state(tmp_path, entry, head_units, extra, optimizer):
    model, shape, dtype = _stack(entry, head_units, extra)
    model.compile(optimizer, "mse")
    x = _x(shape, dtype, batch=4)
    model.fit(x, np.ones((4, head_units), "float32"), epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "s.keras")
    loaded = jseq.models.load_model(tmp_path / "s.keras")
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert _same_tree(model._opt_state, loaded._opt_state)
    assert type(loaded.optimizer) is type(model.optimizer)


# --------------------------------------------------------------------------------------------------------
# Keras interop: models, optimizers, configs


def test_keras_model_loads_and_continues_training_as_keras_does(keras, tmp_path):
    x, y = _data()
    kmodel = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(), keras.layers.Dense(2)]
    )
    kmodel.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    kmodel.fit(x, y, epochs=2, batch_size=4, verbose=0)
    kmodel.save(tmp_path / "k.keras")

    model = jseq.models.load_model(tmp_path / "k.keras")
    assert np.array_equal(kmodel.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(model._opt_state.iterations) == int(kmodel.optimizer.iterations) == 8
    kmodel.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(kmodel.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_jseq_model_loads_in_keras_and_continues_training_as_jseq_does(keras, tmp_path):
    x, y = _data()
    model = _mlp(optimizer=O.Adam(0.01))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "j.keras")
    kmodel = keras.models.load_model(tmp_path / "j.keras")
    assert np.array_equal(kmodel.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(kmodel.optimizer.iterations) == 8
    assert kmodel.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    kmodel.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(kmodel.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


_OPTIMIZER_PAIRS = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("Adagrad", {}),
    ("Adadelta", {}),
    ("Adamax", {}),
    ("Nadam", {}),
    ("Lion", {}),
]


@pytest.mark.parametrize("name, kwargs", _OPTIMIZER_PAIRS, ids=[f"{n}{k or ''}" for n, k in _OPTIMIZER_PAIRS])
def test_optimizer_variables_are_in_keras_order(keras, tmp_path, name, kwargs):
    """Keras's optimizer variables, filled with distinct values, land in jseq's state and come back out in
    the same order (a swapped slot or weight would move a value)."""
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    kmodel.layers[0].trainable = False  # frozen weights have no slots, in Keras and in jseq
    kmodel.compile(getattr(keras.optimizers, name)(**kwargs), "mse")
    kmodel.optimizer.build(kmodel.trainable_variables)
    rng = np.random.default_rng(0)
    for i, v in enumerate(kmodel.optimizer.variables):
        value = i + 7 if "int" in str(v.dtype) else rng.uniform(0.1, 1.0, v.shape)
        v.assign(np.asarray(value, dtype=str(v.dtype)))
    kmodel.save_weights(tmp_path / "k.weights.h5")
    expected = [np.asarray(v) for v in kmodel.optimizer.variables]

    model = jseq.Sequential([jseq.Input((3,)), L.Dense(2), L.Dense(1)])
    model.layers[0].trainable = False
    model.compile(getattr(O, name)(**kwargs), "mse")
    model.load_weights(tmp_path / "k.weights.h5")
    assert int(model._opt_state.iterations) == 7 and model.optimizer.iterations == 7

    model.save_weights(tmp_path / "j.weights.h5")
    with h5py.File(tmp_path / "j.weights.h5", "r") as f:
        ours = [np.asarray(f[f"optimizer/vars/{i}"]) for i in range(len(f["optimizer/vars"]))]
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-7)
    # And Keras reads jseq's file back into the same values.
    for v in kmodel.optimizer.variables:
        v.assign(np.zeros(v.shape, str(v.dtype)))
    kmodel.load_weights(tmp_path / "j.weights.h5")
    for a, b in zip(kmodel.optimizer.variables, expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-7)


def test_schedule_optimizer_round_trips(tmp_path):
    schedule = O.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model = _mlp(optimizer=O.SGD(schedule, momentum=0.9))
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = jseq.models.load_model(tmp_path / "m.keras")
    assert _same_tree(model._opt_state, loaded._opt_state)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()


def test_to_json_and_model_from_json_in_both_libraries(keras):
    model = jseq.Sequential(
        [jseq.Input((5, 3)), L.LSTM(4, return_sequences=True), L.TimeDistributed(L.Dense(2)), L.Flatten()]
    )
    text = model.to_json()
    again = jseq.models.model_from_json(text)
    assert json.loads(again.to_json())["config"] == json.loads(text)["config"]
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
    assert jseq.Sequential.from_config(model.get_config()).get_config() == model.get_config()
    kmodel = keras.models.model_from_json(text)
    assert [tuple(w.shape) for w in kmodel.weights] == [w.shape for w in model.weights]
    back = jseq.models.model_from_json(kmodel.to_json())
    assert [w.shape for w in back.weights] == [w.shape for w in model.weights]


def test_functional_model_with_shared_layer_round_trips_with_keras(keras, tmp_path):
    a, b = jseq.Input((4,), name="a"), jseq.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    merged = L.Concatenate()([shared(a), shared(b)])
    model = jseq.Model([a, b], [L.Dense(2, name="out1")(merged), L.Dense(1, name="out2")(merged)])
    model.compile("rmsprop", ["mse", "mae"])
    x = [_x((4,), seed=1), _x((4,), seed=2)]
    model.fit(x, [np.ones((4, 2)), np.ones((4, 1))], epochs=1, verbose=0)
    model.save(tmp_path / "f.keras")
    loaded = jseq.models.load_model(tmp_path / "f.keras")
    for p, q in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        assert np.array_equal(p, q)
    assert _same_tree(model._opt_state, loaded._opt_state)
    kmodel = keras.models.load_model(tmp_path / "f.keras")
    for p, q in zip(model.predict(x, verbose=0), kmodel.predict(x, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)
    assert int(kmodel.optimizer.iterations) == 1  # Keras restored the optimizer state jseq wrote
    kernel = model.get_layer("shared").weights[0].numpy()
    velocity = [np.asarray(v) for v in kmodel.optimizer.variables if v.shape == kernel.shape]
    assert len(velocity) == 1 and np.array_equal(velocity[0], model._opt_state.slots.nu["shared"]["kernel"])


# --------------------------------------------------------------------------------------------------------
# The API: suffixes, errors, overwrite, all-or-nothing loading


def test_suffix_and_state_errors_are_keras_s(tmp_path):
    model = _mlp(optimizer=None)
    with pytest.raises(ValueError, match="Invalid filepath extension for saving"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(
        ValueError, match=r"The filename must end in `\.weights\.h5`. Received: filepath=.*m\.h5"
    ):
        model.save_weights(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="File format not supported"):
        jseq.models.load_model(tmp_path / "m.h5")
    unbuilt = jseq.Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="saving a model that has not yet been built"):
        unbuilt.save_weights(tmp_path / "u.weights.h5")
    with pytest.raises(ValueError, match="loading weights into a model that has not yet been built"):
        unbuilt.load_weights(tmp_path / "u.weights.h5")
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        jseq.models.load_model(tmp_path / "missing.keras")
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        model.load_weights(tmp_path / "missing.weights.h5")


def test_overwrite_false_refuses_without_asking(tmp_path):
    model = _mlp(optimizer=None)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(FileExistsError, match="m.keras"):
        model.save(tmp_path / "m.keras", overwrite=False)
    with pytest.raises(FileExistsError, match="w.weights.h5"):
        model.save_weights(tmp_path / "w.weights.h5", overwrite=False)


def test_unbuilt_sequential_round_trips(tmp_path):
    model = jseq.Sequential([L.Dense(3), L.Dense(1)], name="deferred")
    model.save(tmp_path / "u.keras")
    loaded = jseq.models.load_model(tmp_path / "u.keras")
    assert (
        not loaded.built and loaded.name == "deferred" and [type(x) for x in loaded.layers] == [L.Dense] * 2
    )
    loaded.build((None, 4))
    assert [w.shape for w in loaded.weights] == [(4, 3), (3,), (3, 1), (1,)]


def test_load_weights_from_keras_file_and_weights_file(tmp_path):
    source, target = _mlp(), _mlp()
    source.save(tmp_path / "m.keras")
    target.load_weights(tmp_path / "m.keras")
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), target.get_weights()))
    target = _mlp()
    source.save_weights(tmp_path / "m.weights.h5")
    target.load_weights(tmp_path / "m.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), target.get_weights()))


def test_failed_load_weights_changes_nothing_and_lists_every_mismatch(tmp_path):
    source = jseq.Sequential([jseq.Input((4,)), L.Dense(3), L.Dense(5), L.Dense(2)])
    source.save_weights(tmp_path / "w.weights.h5")
    # The first layer matches; the second and third do not.
    target = jseq.Sequential([jseq.Input((4,)), L.Dense(3), L.Dense(6), L.Dense(2)])
    before = target.get_weights()
    with pytest.raises(ValueError) as info:
        target.load_weights(tmp_path / "w.weights.h5")
    message = str(info.value)
    assert "w.weights.h5" in message and "Nothing was loaded" in message
    assert "(5, 6)" in message and "(5, 2)" in message or "(6, 2)" in message
    assert message.count("\n  - ") == 2  # both mismatched layers listed
    assert all(np.array_equal(a, b) for a, b in zip(before, target.get_weights()))
    with pytest.warns(UserWarning, match="skipped"):
        target.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    after = target.get_weights()
    assert np.array_equal(after[0], source.get_weights()[0])  # the matching layer was loaded
    assert np.array_equal(after[2], before[2])  # the mismatched ones kept their weights


def test_extra_layers_in_the_file_are_a_mismatch(tmp_path):
    jseq.Sequential([jseq.Input((4,)), L.Dense(3), L.Dense(2)]).save_weights(tmp_path / "w.weights.h5")
    smaller = jseq.Sequential([jseq.Input((4,)), L.Dense(3)])
    with pytest.raises(ValueError, match="no place for"):
        smaller.load_weights(tmp_path / "w.weights.h5")


def test_compile_settings_come_back(tmp_path):
    model = _mlp(
        optimizer=O.RMSprop(0.005, momentum=0.5),
        metrics=[jseq.metrics.MeanAbsoluteError(name="m_a_e"), "mse"],
    )
    model.compile(model.optimizer, jseq.losses.Huber(delta=2.0), metrics=model._metric_specs)
    model.save(tmp_path / "m.keras")
    loaded = jseq.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, jseq.losses.Huber) and loaded.loss.get_config() == model.loss.get_config()
    assert isinstance(loaded._metric_specs[0], jseq.metrics.MeanAbsoluteError)
    assert loaded._metric_specs[0].name == "m_a_e" and loaded._metric_specs[1] == "mse"
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert not jseq.models.load_model(tmp_path / "m.keras", compile=False).compiled


def test_custom_loss_needs_custom_objects(tmp_path):
    def my_loss(y_true, y_pred):
        return jax.numpy.mean((y_true - y_pred) ** 2, axis=-1)

    model = _mlp(optimizer="sgd")
    model.compile("sgd", my_loss)
    model.save(tmp_path / "m.keras")
    with pytest.warns(UserWarning, match="custom_objects"):
        loaded = jseq.models.load_model(tmp_path / "m.keras")
    assert not loaded.compiled
    loaded = jseq.models.load_model(tmp_path / "m.keras", custom_objects={"my_loss": my_loss})
    assert loaded.compiled and loaded.loss is my_loss


def test_model_checkpoint_writes_loadable_files(tmp_path):
    x, y = _data()
    model = _mlp()
    callbacks = [
        jseq.callbacks.ModelCheckpoint(str(tmp_path / "m_{epoch:02d}.keras")),
        jseq.callbacks.ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True),
    ]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    assert sorted(os.listdir(tmp_path)) == ["m_01.keras", "m_02.keras", "w.weights.h5"]
    last = jseq.models.load_model(tmp_path / "m_02.keras")
    assert np.array_equal(last.predict(x, verbose=0), model.predict(x, verbose=0))
    other = _mlp()
    other.load_weights(tmp_path / "w.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), model.get_weights()))


def test_keras_reads_a_jseq_weights_file(keras, tmp_path):
    model = _mlp()
    model.save_weights(tmp_path / "w.weights.h5")
    kmodel = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, "relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that its model has no optimizer to restore
        kmodel.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(kmodel.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)


def _merging_model():
    """The layers the catalogue cannot hold (they take several inputs or wrap a recurrent layer)."""
    a, b = jseq.Input((5, 3), name="a"), jseq.Input((5, 3), name="b")
    x = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="sum")(a)
    y = L.Bidirectional(L.GRU(2, return_sequences=True))(b)
    y = L.TimeDistributed(L.Dense(2))(y)
    merged = [cls()([x, y]) for cls in (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)]
    head = jseq.Sequential([L.Flatten(), L.Dense(2)], name="head")  # a model nested in a model
    outputs = [head(L.Concatenate()(merged)), L.Flatten()(L.Dot(axes=2)([x, y]))]
    return jseq.Model([a, b], outputs, name="merging")


def test_merging_and_wrapper_layers_round_trip_with_keras(keras, tmp_path):
    model = _merging_model()
    x = [_x((5, 3), seed=1, batch=2), _x((5, 3), seed=2, batch=2)]
    model.save(tmp_path / "m.keras")
    loaded = jseq.models.load_model(tmp_path / "m.keras")
    for p, q in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        assert np.array_equal(p, q)
    kmodel = keras.models.load_model(tmp_path / "m.keras")
    for p, q in zip(model.predict(x, verbose=0), kmodel.predict(x, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    kmodel.save(tmp_path / "k.keras")
    back = jseq.models.load_model(tmp_path / "k.keras")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), back.get_weights()))


def test_true_divide_round_trips(tmp_path):
    a = jseq.Input((3,))
    model = jseq.Model(a, L.TrueDivide()([L.Dense(3)(a), 2.0]))  # jseq's `x / 2.0`; Keras records an op
    model.save(tmp_path / "d.keras")
    x = _x((3,))
    loaded = jseq.models.load_model(tmp_path / "d.keras")
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    again = jseq.Model.from_config(model.get_config())  # a new model, fresh weights
    assert [type(layer) for layer in again.layers] == [type(layer) for layer in model.layers]
    assert again.get_config()["output_layers"] == model.get_config()["output_layers"]


def test_every_layer_class_is_covered_by_these_tests():
    from jseq.saving.config import layer_classes

    def classes(layer):
        return {type(layer).__name__}.union(*(classes(sub) for sub in layer._sublayers()))

    covered = {name for entry in CATALOG for name in classes(entry[1]())}
    covered |= {name for layer in _merging_model().layers for name in classes(layer)}
    covered |= {"InputLayer", "TrueDivide"}
    assert set(layer_classes()) <= covered, sorted(set(layer_classes()) - covered)
