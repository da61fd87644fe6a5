"""Core layers: Dense, activations as layers, Dropout, and the shape layers Flatten / Reshape / Identity."""

import math

import jax
import jax.numpy as jnp

from jseq import activations, initializers, regularizers
from jseq.core import Layer, shape_str, split_key


def _positive_int(layer_name, arg, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{arg}` of {layer_name}, expected a positive integer. "
            f"Received: {arg}={value!r}"
        )
    return value


class Dense(Layer):
    """A fully connected layer: `y = activation(x @ kernel + bias)`.

    Args:
        units: the size of the output (last axis).
        activation: an activation name or function; None means linear.
        use_bias: whether to add `bias`.
        kernel_initializer, bias_initializer: "glorot_uniform" and "zeros" by default.
        kernel_regularizer, bias_regularizer: penalties on the weights, added to the training loss.
        activity_regularizer: a penalty on the output, added to the training loss.

    Input shape: `(batch, ..., d_in)`. Output shape: `(batch, ..., units)`.
    Params: `kernel (d_in, units)`, `bias (units,)`.

    >>> Dense(3)(jnp.ones((2, 4))).shape     # kernel (4, 3) is made on the first call
    (2, 3)
    """

    supports_masking = True

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        if kernel_constraint is not None or bias_constraint is not None:
            raise ValueError("Dense: weight constraints are not supported by jseq; leave them as None.")
        super().__init__(**kwargs)
        self.units = _positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)

    def init(self, key, input_shape):
        d_in = input_shape[-1]
        if d_in is None:
            raise ValueError(
                f"Layer '{self.name}' (Dense) needs the last axis of its input to be known. "
                f"Received input_shape={shape_str(input_shape)}."
            )
        k_kernel, k_bias = split_key(key)
        params = {
            "kernel": initializers.draw(self.kernel_initializer, k_kernel, (d_in, self.units), self.dtype)
        }
        if self.use_bias:
            params["bias"] = initializers.draw(self.bias_initializer, k_bias, (self.units,), self.dtype)
        return input_shape[:-1] + (self.units,), params, {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        y = x @ params["kernel"]  # (B, ..., d_in) @ (d_in, units)
        if self.use_bias:
            y = y + params["bias"]
        return self.activation(y), state

    def regularization_loss(self, params):
        penalty = 0.0
        if self.kernel_regularizer is not None:
            penalty += self.kernel_regularizer(params["kernel"])
        if self.bias_regularizer is not None and self.use_bias:
            penalty += self.bias_regularizer(params["bias"])
        return penalty

    def activity_regularization_loss(self, y):
        return 0.0 if self.activity_regularizer is None else self.activity_regularizer(y)


class Activation(Layer):
    """Applies an activation function: `Activation("relu")`."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return self.activation(x), state


class ReLU(Layer):
    """`max(x, 0)`, with Keras's `max_value`, `negative_slope` and `threshold`."""

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU expects max_value >= 0. Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"ReLU expects negative_slope >= 0. Received: negative_slope={negative_slope}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold), state


class LeakyReLU(Layer):
    """`x` for `x >= 0`, else `negative_slope * x`.

    Keras's default slope is 0.3 (not 0.01); `alpha=` is Keras 2's name for it.
    """

    supports_masking = True

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(alpha if alpha is not None else negative_slope)
        if self.negative_slope < 0:
            raise ValueError(f"LeakyReLU expects negative_slope >= 0. Received: {self.negative_slope}")

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return activations.leaky_relu(x, self.negative_slope), state


class Softmax(Layer):
    """Softmax over `axis` (the last by default)."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return jax.nn.softmax(x, axis=self.axis), state


class Dropout(Layer):
    """Sets a fraction `rate` of its inputs to 0 in training and scales the rest by `1 / (1 - rate)`.

    It is the identity when `training=False`. In training it needs a PRNG `key`.

    Args:
        rate: the fraction of units to drop, in [0, 1).
        noise_shape: the shape of the keep/drop mask, broadcast against the input (None dims follow it).
        seed: accepted for Keras compatibility; the key passed to `apply` decides the mask.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ValueError(
                "Invalid value received for argument `rate` of Dropout. Expected a float value between 0 "
                f"and 1. Received: rate={rate!r}"
            )
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed

    def apply(self, params, state, x, *, training=False, key=None):
        del params
        if not training or self.rate == 0.0:
            return x, state
        if key is None:
            raise ValueError(
                f"Layer '{self.name}' (Dropout) needs a PRNG key when training=True: call "
                "`apply(..., training=True, key=jax.random.PRNGKey(0))`."
            )
        if self.rate == 1.0:
            return jnp.zeros_like(x), state
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        keep = jax.random.bernoulli(key, 1.0 - self.rate, shape)
        return jnp.where(keep, x / (1.0 - self.rate), 0.0).astype(x.dtype), state


class Flatten(Layer):
    """Flattens every axis but the batch: `(batch, d1, d2, ...)` -> `(batch, d1 * d2 * ...)`."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"Flatten: unknown data_format={data_format!r}")
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        if self.data_format == "channels_first" and x.ndim > 2:
            x = jnp.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1), state


class Reshape(Layer):
    """Reshapes each sample to `target_shape` (which may hold one -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        if sum(d == -1 for d in target_shape) > 1 or any(d == 0 or d < -1 for d in target_shape):
            raise ValueError(
                f"Reshape: target_shape may hold positive sizes and at most one -1. "
                f"Received: target_shape={target_shape}"
            )
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        size = None if None in input_shape[1:] else math.prod(input_shape[1:])
        if -1 not in self.target_shape:
            if size is not None and size != math.prod(self.target_shape):
                raise self._mismatch(input_shape)
            return (input_shape[0],) + self.target_shape
        known = math.prod(d for d in self.target_shape if d != -1)
        if size is not None and size % known:
            raise self._mismatch(input_shape)
        fill = None if size is None else size // known
        return (input_shape[0],) + tuple(fill if d == -1 else d for d in self.target_shape)

    def _mismatch(self, input_shape):
        return ValueError(
            f"Layer '{self.name}' (Reshape) cannot reshape input of shape {shape_str(input_shape)} to "
            f"target_shape {self.target_shape}: the number of elements per sample differs."
        )

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return x.reshape((x.shape[0],) + self.target_shape), state


class Identity(Layer):
    """Returns its input unchanged."""

    supports_masking = True

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return x, state
