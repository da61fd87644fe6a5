"""Shared contract checks over the layer catalogue, and property tests of shape inference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jseq
from jseq import layers
from tests.catalog import CATALOG

IDS = [entry[0] for entry in CATALOG]


def _input(shape, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.asarray(rng.integers(0, 10, size=shape), dtype)
    return jnp.asarray(rng.normal(size=shape), dtype)


def _entry(entry):
    name, factory, in_shape, params, state = entry[:5]
    dtype = entry[5] if len(entry) > 5 else "float32"
    return name, factory, in_shape, params, state, dtype


@pytest.mark.parametrize("entry", CATALOG, ids=IDS)
def test_declared_shape_equals_applied_shape_and_eval_shape(entry):
    _, factory, in_shape, _, _, dtype = _entry(entry)
    layer = factory()
    out_shape, params, state = layer.init(jax.random.PRNGKey(0), (None,) + in_shape)
    x = _input((2,) + in_shape, dtype)
    y, _ = layer.apply(params, state, x)
    assert tuple(y.shape) == (2,) + tuple(out_shape[1:])
    abstract, _ = jax.eval_shape(lambda p, s, x: layer.apply(p, s, x), params, state, x)
    assert tuple(abstract.shape) == tuple(y.shape)


@pytest.mark.parametrize("entry", CATALOG, ids=IDS)
def test_jit_equals_eager(entry):
    _, factory, in_shape, _, _, dtype = _entry(entry)
    layer = factory()
    _, params, state = layer.init(jax.random.PRNGKey(1), (None,) + in_shape)
    x = _input((3,) + in_shape, dtype, seed=1)
    eager, _ = layer.apply(params, state, x)
    jitted, _ = jax.jit(lambda p, s, x: layer.apply(p, s, x))(params, state, x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("entry", CATALOG, ids=IDS)
def test_param_and_state_names_and_shapes_are_pinned(entry):
    _, factory, in_shape, param_shapes, state_shapes, _ = _entry(entry)
    _, params, state = factory().init(jax.random.PRNGKey(2), (None,) + in_shape)
    assert {k: tuple(v.shape) for k, v in params.items()} == param_shapes
    assert list(params) == list(param_shapes)  # Keras's creation order: kernel before bias, ...
    assert {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")} == state_shapes


@pytest.mark.parametrize("entry", CATALOG, ids=IDS)
def test_eager_call_builds_once_and_matches_apply(entry):
    _, factory, in_shape, param_shapes, _, dtype = _entry(entry)
    layer = factory()
    assert not layer.built and layer.weights == []
    x = _input((2,) + in_shape, dtype)
    y = layer(x)
    assert layer.built
    assert [w.name for w in layer.trainable_weights] == list(param_shapes)
    expected, _ = layer.apply(layer.params, layer.state, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-6)


# ---- property-based: random stacks of shape-agnostic layers ------------------------------------------

_STACKABLE = [
    lambda d: layers.Dense(d),
    lambda d: layers.Dense(d, activation="relu", use_bias=False),
    lambda d: layers.Activation("sigmoid"),
    lambda d: layers.Dropout(0.3),
    lambda d: layers.LeakyReLU(),
    lambda d: layers.Identity(),
]


@settings(max_examples=25, deadline=None)
@given(
    spec=st.lists(st.tuples(st.integers(0, len(_STACKABLE) - 1), st.integers(1, 6)), min_size=1, max_size=5),
    in_dims=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    batch=st.integers(1, 4),
)
def test_sequential_shape_inference_matches_apply(spec, in_dims, batch):
    model = jseq.Sequential([_STACKABLE[i](d) for i, d in spec])
    in_shape = (None,) + tuple(in_dims)
    out_shape, params, state = model.init(jax.random.PRNGKey(0), in_shape)
    y, _ = model.apply(params, state, jnp.ones((batch,) + tuple(in_dims)))
    assert tuple(y.shape) == (batch,) + tuple(out_shape[1:])
    expected_last = in_dims[-1]
    for i, d in spec:
        if i in (0, 1):
            expected_last = d
    assert out_shape[-1] == expected_last


@settings(max_examples=15, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=4), units=st.integers(1, 5))
def test_flatten_then_dense_shapes(dims, units):
    model = jseq.Sequential([layers.Flatten(), layers.Dense(units)])
    model.build((None,) + tuple(dims))
    assert model.layers[0].output_shape == (None, int(np.prod(dims)))
    assert model.output_shape == (None, units)
    assert model.count_params() == int(np.prod(dims)) * units + units
