"""Between its calls `fit` hands the train state's values to the layers only when someone reads them:
callbacks still see each epoch's weights, writes still reach training, an interrupted fit leaves a usable
model, and a fit that nobody looks into keeps no second copy of the weights."""

import gc

import jax
import numpy as np
import pytest

import jseq
from jseq import layers
from jseq.training import _Chunks


def _data(n=64, d=6, classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, classes, size=n).astype(np.int32)


def _model(weights=None, d=6, units=8):
    jseq.utils.set_random_seed(0)
    model = jseq.Sequential([jseq.Input(shape=(d,)), layers.Dense(units, activation="relu"), layers.Dense(3)])
    if weights is not None:
        model.set_weights(weights)
    model.compile(jseq.optimizers.RMSprop(), jseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _trained(initial, epochs, **fit_args):
    """Weights after `epochs` epochs of a fresh model from `initial` (the reference)."""
    x, y = _data()
    model = _model(initial)
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, **fit_args)
    return model.get_weights()


def _assert_same(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


def test_a_callback_reads_each_epochs_weights_whenever_it_starts_reading():
    x, y = _data()
    initial = _model().get_weights()
    seen, iterations = {}, []

    class Reader(jseq.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            iterations.append(self.model.optimizer.iterations)  # kept current without reading weights
            if epoch >= 1:  # nobody read after epoch 0
                seen[epoch] = [w.copy() for w in self.model.get_weights()]

    model = _model(initial)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[Reader()])
    assert iterations == [4, 8, 12]
    _assert_same(seen[1], _trained(initial, 2))
    _assert_same(seen[2], _trained(initial, 3))
    _assert_same(model.get_weights(), seen[2])


def test_a_callback_that_sets_one_layer_keeps_the_other_layers_trained_values():
    x, y = _data()
    initial = _model().get_weights()
    after_set = {}

    class SetSecond(jseq.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # every weight of one layer: the fast path that skips reading must not apply
                self.model.layers[1].set_weights([np.zeros((8, 3)), np.zeros(3)])

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                after_set["weights"] = [w.copy() for w in self.model.get_weights()]

    model = _model(initial)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[SetSecond()])
    one_epoch = _trained(initial, 1)
    _assert_same(after_set["weights"][:2], one_epoch[:2])  # the first layer's epoch-0 training is kept
    _assert_same(after_set["weights"][2:], [np.zeros((8, 3)), np.zeros(3)])
    # and epoch 1 trained from the zeros (a zero output layer still gets gradients)
    assert not np.allclose(model.get_weights()[2], 0.0)


def test_an_error_between_epochs_leaves_the_model_with_the_last_epochs_weights():
    x, y = _data()
    initial = _model().get_weights()

    class Interrupt(jseq.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    model = _model(initial)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0, callbacks=[Interrupt()])
    _assert_same(model.get_weights(), _trained(initial, 2))
    assert model.predict(x, verbose=0).shape == (64, 3)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # and it trains on
    assert model.optimizer.iterations == 12


def test_an_interrupt_while_waiting_for_a_call_leaves_the_state_that_call_makes(monkeypatch):
    """Ctrl-C lands while `fit` waits on a call, which has donated the old state: the model keeps the new."""
    x, y = _data()
    initial = _model().get_weights()
    original = _Chunks.wait_for

    def interrupted(self, outputs):
        original(self, outputs)
        raise KeyboardInterrupt

    monkeypatch.setattr(_Chunks, "wait_for", interrupted)
    model = _model(initial)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)  # the first call: epoch 0
    monkeypatch.undo()
    assert model.optimizer.iterations == 4
    weights = model.get_weights()  # no buffer of the donated state is read
    _assert_same(weights, _trained(initial, 1))
    assert model.predict(x, verbose=0).shape == (64, 3)


def _live_bytes():
    gc.collect()
    return sum(a.nbytes for a in jax.live_arrays())


def test_a_fit_nobody_looks_into_keeps_no_second_copy_of_the_weights():
    d, units = 1000, 1000  # a 4 MB kernel; RMSprop's train state holds it and one slot of its size
    x = np.random.default_rng(0).normal(size=(32, d)).astype(np.float32)
    y = np.zeros(32, np.int32)
    model = _model(d=d, units=units)
    kernel = 4 * d * units
    during = []

    class Measure(jseq.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            during.append(_live_bytes())

    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # compiled, state made
    before = _live_bytes()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[Measure()])
    # before: the layers' kernel; during: the train state's kernel and slot, not the layers' copy as well
    assert max(during) - before < 1.5 * kernel
    model.get_weights()  # a read hands the values over
    assert _live_bytes() - before < 0.5 * kernel


def test_a_callback_that_freezes_a_layer_between_epochs_freezes_it_from_the_next():
    x, y = _data()
    initial = _model().get_weights()
    at_freeze = {}

    class Freeze(jseq.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # no weight read first: the layers still wait on the train state
                self.model.layers[0].trainable = False

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                at_freeze["weights"] = [w.copy() for w in self.model.get_weights()]

    model = _model(initial)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[Freeze()])
    _assert_same(at_freeze["weights"], _trained(initial, 1))
    final = model.get_weights()
    _assert_same(final[:2], at_freeze["weights"][:2])  # frozen from epoch 1 on
    assert not np.allclose(final[2], at_freeze["weights"][2])  # the other layer trained on


def test_a_layer_popped_between_epochs_keeps_its_trained_weights():
    x, y = _data()
    jseq.utils.set_random_seed(0)
    model = jseq.Sequential(
        [jseq.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dense(3), layers.Dense(3)]
    )
    model.compile("rmsprop", jseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    initial = model.get_weights()
    popped = {}

    class Pop(jseq.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # nothing read first: the layers wait on the train state
                popped["layer"] = self.model.pop()

    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[Pop()])
    reference = jseq.Sequential(
        [jseq.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dense(3), layers.Dense(3)]
    )
    reference.set_weights(initial)
    reference.compile("rmsprop", jseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    reference.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    _assert_same(popped["layer"].get_weights(), reference.get_weights()[4:])
    assert len(model.layers) == 2
    assert not np.allclose(model.get_weights()[2], reference.get_weights()[2])  # trained on in epoch 1


def test_a_callback_failing_in_on_train_begin_leaves_no_stale_train_state():
    x, y = _data()
    model = _model()

    class SetThenFail(jseq.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model.set_weights([np.zeros_like(w) for w in self.model.get_weights()])
            raise RuntimeError("backup unreadable")

    with pytest.raises(RuntimeError, match="backup unreadable"):
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[SetThenFail()])
    assert all(not w.any() for w in model.get_weights())  # the callback's values stand
    # and predict uses them, not the train state made before the callback ran
    np.testing.assert_allclose(model.predict(x, verbose=0), np.zeros((64, 3)), atol=0)


def test_a_batch_hook_reads_the_weights_of_the_batches_before_it():
    x, y = _data()
    initial = _model().get_weights()
    seen = {}

    class ReadAtBegin(jseq.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:  # nothing read at batches 0 and 1
                seen["weights"] = [w.copy() for w in self.model.get_weights()]

    model = _model(initial)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[ReadAtBegin()])
    _assert_same(seen["weights"], _trained(initial, 1, steps_per_epoch=2))
    _assert_same(model.get_weights(), _trained(initial, 1))
