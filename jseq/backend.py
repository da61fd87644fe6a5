"""The array ops custom metrics and losses use as `K.*` (`from jseq import backend as K`), on jax.numpy.

Names and arguments are those of Keras's backend module (`keras.backend` in Keras 2), so code like::

    def r2(y_true, y_pred):
        ss_res = K.sum(K.square(y_true - y_pred))
        ss_tot = K.sum(K.square(y_true - K.mean(y_true)))
        return 1 - ss_res / (ss_tot + K.epsilon())

runs unchanged, inside `jax.jit` and `jax.grad` like any jnp code.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp

from jseq.core import clear_session

__all__ = [
    "abs", "argmax", "argmin", "cast", "clear_session", "clip", "concatenate", "dot", "epsilon", "equal",
    "exp", "expand_dims", "flatten", "floatx", "greater", "greater_equal", "image_data_format", "int_shape",
    "less", "less_equal", "log", "max", "maximum", "mean", "min", "minimum", "ndim", "not_equal",
    "ones_like", "pow", "prod", "relu", "reshape", "round", "sigmoid", "sign", "softmax", "sqrt", "square",
    "squeeze", "stack", "std", "sum", "transpose", "var", "zeros_like",
]  # fmt: skip


def epsilon():
    """The fuzz factor Keras adds to denominators: 1e-7."""
    return 1e-7


def floatx():
    """The default float type: "float32"."""
    return "float32"


def image_data_format():
    """The default image layout: "channels_last"."""
    return "channels_last"


def _float_if_bool(x):
    x = jnp.asarray(x)
    return x.astype(floatx()) if x.dtype == jnp.bool_ else x


# Reductions: Keras's argument names `axis=None, keepdims=False` (booleans are averaged as 0/1).


def mean(x, axis=None, keepdims=False):
    return jnp.mean(_float_if_bool(x), axis=axis, keepdims=keepdims)


def sum(x, axis=None, keepdims=False):
    return jnp.sum(x, axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    return jnp.prod(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    return jnp.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return jnp.min(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    """Population standard deviation (ddof=0), as Keras."""
    return jnp.std(_float_if_bool(x), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    """Population variance (ddof=0), as Keras."""
    return jnp.var(_float_if_bool(x), axis=axis, keepdims=keepdims)


def argmax(x, axis=-1):
    return jnp.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return jnp.argmin(x, axis=axis)


# Elementwise.


def square(x):
    return jnp.square(x)


def sqrt(x):
    """`sqrt(max(x, 0))`: negative inputs give 0, not NaN (Keras 2's behaviour)."""
    return jnp.sqrt(jnp.maximum(x, 0.0))


def abs(x):
    return jnp.abs(x)


def sign(x):
    return jnp.sign(x)


def round(x):
    """Round half to even, as Keras."""
    return jnp.round(x)


def exp(x):
    return jnp.exp(x)


def log(x):
    return jnp.log(x)


def pow(x, a):
    return jnp.power(x, a)


def clip(x, min_value, max_value):
    """Clip to `[min_value, max_value]`; None is unbounded; `max_value < min_value` clips to `min_value`."""
    min_value = -jnp.inf if min_value is None else min_value
    max_value = jnp.inf if max_value is None else max_value
    if isinstance(min_value, (int, float)) and isinstance(max_value, (int, float)):
        max_value = builtins.max(max_value, min_value)
    return jnp.clip(x, min_value, max_value)


def maximum(x, y):
    return jnp.maximum(x, y)


def minimum(x, y):
    return jnp.minimum(x, y)


def equal(x, y):
    return jnp.equal(x, y)


def not_equal(x, y):
    return jnp.not_equal(x, y)


def greater(x, y):
    return jnp.greater(x, y)


def greater_equal(x, y):
    return jnp.greater_equal(x, y)


def less(x, y):
    return jnp.less(x, y)


def less_equal(x, y):
    return jnp.less_equal(x, y)


def cast(x, dtype):
    return jnp.asarray(x).astype(dtype)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def relu(x):
    return jax.nn.relu(x)


def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


# Shapes.


def ndim(x):
    return jnp.ndim(x)


def int_shape(x):
    """The static shape as a tuple of ints."""
    return tuple(jnp.shape(x))


def flatten(x):
    return jnp.reshape(x, (-1,))


def reshape(x, shape):
    return jnp.reshape(x, shape)


def expand_dims(x, axis=-1):
    return jnp.expand_dims(x, axis)


def squeeze(x, axis):
    return jnp.squeeze(x, axis)


def transpose(x):
    return jnp.transpose(x)


def concatenate(tensors, axis=-1):
    return jnp.concatenate(tensors, axis=axis)


def stack(x, axis=0):
    return jnp.stack(x, axis=axis)


def ones_like(x, dtype=None, name=None):
    del name  # Keras's graph-mode argument
    return jnp.ones_like(x, dtype=dtype)


def zeros_like(x, dtype=None, name=None):
    del name  # Keras's graph-mode argument
    return jnp.zeros_like(x, dtype=dtype)


def dot(x, y):
    """Matrix product; above rank 2, contracts x's last axis with y's second-to-last (Keras 2's rule)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim > 2 or y.ndim > 2:
        return jnp.tensordot(x, y, axes=[[x.ndim - 1], [builtins.max(y.ndim - 2, 0)]])
    return jnp.dot(x, y)
