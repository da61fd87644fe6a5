"""What keeps building a model cheap: its init program runs only when a weight is first read (so
`set_weights` right after building compiles no init, and every other use sees exactly the values an
immediate init would have given), and keys are derived with `fold_in`, which compiles faster than `split`.
"""

import jax
import numpy as np

import jseq
from jseq import layers
from jseq.core import next_key, split_key


def test_split_key_gives_the_keys_of_jax_random_split():
    for key in (next_key(), jax.random.key(3), jax.random.PRNGKey(3)):
        typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        data = jax.random.key_data if typed else np.asarray
        for a, b in zip(jax.random.split(key, 3), split_key(key, 3)):
            np.testing.assert_array_equal(data(a), data(b))


def _mlp():
    return jseq.Sequential(
        [jseq.Input((6,)), layers.Dense(5, activation="relu"), layers.BatchNormalization(), layers.Dense(3)]
    )


def _pending(model):
    return [layer._pending for layer in model.layers if layer._pending is not None]


def test_setting_every_weight_first_never_runs_the_init_program():
    model = _mlp()
    pending = _pending(model)
    assert len(pending) == 3  # built, values not made yet
    assert model.count_params() == 6 * 5 + 5 + 4 * 5 + 5 * 3 + 3  # shapes alone
    model.summary(print_fn=lambda *a, **k: None)
    weights = [np.full(w.shape, i, "float32") for i, w in enumerate(model.weights)]
    model.set_weights(weights)
    assert not _pending(model)
    assert all(p._values is None for p, _ in pending)  # the program never ran
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)


def test_deferred_values_equal_an_immediate_init_whatever_is_read_first():
    jseq.utils.set_random_seed(3)
    eager = _mlp()
    expected = eager.get_weights()
    jseq.utils.set_random_seed(3)
    lazy = _mlp()
    np.testing.assert_array_equal(lazy.layers[2].get_weights()[1], expected[-1])  # the last layer first
    for got, want in zip(lazy.get_weights(), expected):
        np.testing.assert_array_equal(got, want)


def test_assigning_one_weight_keeps_the_initial_values_of_the_others():
    jseq.utils.set_random_seed(5)
    expected = _mlp().get_weights()
    jseq.utils.set_random_seed(5)
    model = _mlp()
    dense = model.layers[0]
    dense.kernel.assign(np.ones((6, 5), "float32"))
    np.testing.assert_array_equal(dense.kernel.numpy(), np.ones((6, 5)))
    np.testing.assert_array_equal(dense.bias.numpy(), expected[1])
    for got, want in zip(model.get_weights()[2:], expected[2:]):
        np.testing.assert_array_equal(got, want)


def test_a_deferred_model_trains_like_an_immediate_one():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)
    losses = []
    for read_first in (True, False):
        jseq.utils.set_random_seed(7)
        model = _mlp()
        if read_first:
            model.get_weights()
        model.compile("adam", jseq.losses.SparseCategoricalCrossentropy(from_logits=True))
        jseq.utils.set_random_seed(8)
        losses.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"])
    np.testing.assert_array_equal(losses[0], losses[1])
