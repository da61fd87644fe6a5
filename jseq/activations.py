"""Activation functions with Keras's names and formulas, resolvable by name with `get`.

Every activation is a plain function `x -> y` over JAX arrays, so it can be used inside `jit`.
"""

import jax
import jax.numpy as jnp


def linear(x):
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """`max(x, 0)`; with `negative_slope`, `max_value` and `threshold` as in Keras."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return jax.nn.relu(x)
    y = jnp.where(x >= threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else jnp.minimum(y, max_value)


def relu6(x):
    return jnp.clip(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.2):
    return jnp.where(x >= 0, x, negative_slope * x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def hard_sigmoid(x):
    """`relu6(x + 3) / 6`: 0 below -3, 1 above 3, linear in between (Keras 3's definition)."""
    return relu6(x + 3.0) / 6.0


def tanh(x):
    return jnp.tanh(x)


def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


def elu(x, alpha=1.0):
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))


def selu(x):
    return jax.nn.selu(x)


def gelu(x, approximate=False):
    return jax.nn.gelu(x, approximate=approximate)


def softplus(x):
    return jax.nn.softplus(x)


def softsign(x):
    return x / (1.0 + jnp.abs(x))


def silu(x):
    """`x * sigmoid(x)`, also called swish."""
    return x * jax.nn.sigmoid(x)


swish = silu


def hard_silu(x):
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def exponential(x):
    return jnp.exp(x)


def mish(x):
    return x * jnp.tanh(jax.nn.softplus(x))


_BY_NAME = {
    fn.__name__: fn
    for fn in (
        linear,
        relu,
        relu6,
        leaky_relu,
        sigmoid,
        hard_sigmoid,
        tanh,
        softmax,
        log_softmax,
        elu,
        selu,
        gelu,
        softplus,
        softsign,
        silu,
        hard_silu,
        exponential,
        mish,
    )
}
_BY_NAME.update(swish=silu, hard_swish=hard_silu)


def get(identifier):
    """Resolve `None` (linear), a name such as `"relu"`, or any callable to an activation function."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown activation function: '{identifier}'. "
                f"Valid names are: {', '.join(sorted(_BY_NAME))}."
            )
        return _BY_NAME[identifier]
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret activation function identifier: {identifier!r}. Expected a name such as "
        "'relu', a callable, or None."
    )


def serialize(fn):
    """The name Keras writes in a config for `fn` (an activation layer object serializes its config)."""
    if getattr(fn, "__name__", None) in _BY_NAME and _BY_NAME[fn.__name__] is fn:
        return fn.__name__
    if hasattr(fn, "get_config"):
        return {"class_name": type(fn).__name__, "config": fn.get_config()}
    raise ValueError(
        f"Cannot serialize the activation {fn!r}: only jseq's named activations can be written to a config."
    )
