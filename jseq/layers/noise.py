"""Regularization by noise: SpatialDropout1D/2D, GaussianNoise, GaussianDropout, AlphaDropout.

Each is the identity unless `training=True`; in training it draws its noise from the PRNG `key` given to
`apply` (a clear error says so when there is none). `seed=` is accepted for Keras compatibility: the key
decides the noise.
"""

import math

import jax
import jax.numpy as jnp

from jseq.core import Layer
from jseq.layers.conv import check_rank, normalize_data_format, spatial_layout


def _fraction(cls, arg, value, allow_one=True):
    """A float in [0, 1] (or [0, 1) where 1 would divide by zero)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    if not ok or (value == 1 and not allow_one):
        upper = "1" if allow_one else "1 (excluded)"
        raise ValueError(
            f"Invalid value received for argument `{arg}` of {cls}. Expected a float value between 0 and "
            f"{upper}. Received: {arg}={value!r}"
        )
    return float(value)


def _need_key(layer, key):
    if key is None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs a PRNG key when training=True: call "
            "`apply(..., training=True, key=jax.random.PRNGKey(0))`."
        )


class _SpatialDropout(Layer):
    """Dropout of whole feature maps: one keep/drop draw per (sample, channel), shared by every position.

    In training, `y = x * keep / (1 - rate)` with `keep[b, c] ~ Bernoulli(1 - rate)` broadcast over the steps
    or pixels; the identity otherwise. Neighbouring positions of a map are strongly correlated, so dropping
    single positions (plain Dropout) barely regularizes convolutional features; dropping maps does.

    Args:
        rate: the fraction of channels to drop, in [0, 1].
        data_format: (2-D) "channels_last" (default) or "channels_first".
        seed: accepted for Keras compatibility; the key passed to `apply` decides the mask.
    """

    supports_masking = True
    rank = 1
    data_format = "channels_last"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _fraction(type(self).__name__, "rate", rate)
        self.seed = seed

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(self.rank, self.data_format))
        return input_shape

    def apply(self, params, state, x, *, training=False, key=None):
        del params
        if not training or self.rate == 0.0:
            return x, state
        _need_key(self, key)
        if self.rate == 1.0:
            return jnp.zeros_like(x), state
        channel = x.ndim - 1 if self.data_format == "channels_last" else 1
        shape = [x.shape[a] if a in (0, channel) else 1 for a in range(x.ndim)]  # (B, 1, C), (B, 1, 1, C)
        keep = jax.random.bernoulli(key, 1.0 - self.rate, shape)
        return jnp.where(keep, x / (1.0 - self.rate), 0.0).astype(x.dtype), state


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of `(batch, steps, channels)` inputs in training (see `_SpatialDropout`).

    Args: `rate` (fraction of channels dropped), `seed`.
    """

    rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of `(batch, rows, cols, channels)` images in training.

    `y[b, i, j, c] = x[b, i, j, c] * keep[b, c] / (1 - rate)`, `keep[b, c] ~ Bernoulli(1 - rate)`.

    Args: `rate` (fraction of channels dropped), `data_format`, `seed`.
    """

    rank = 2

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = normalize_data_format("SpatialDropout2D", data_format)


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise in training: `y = x + stddev * N(0, 1)`; the identity otherwise.

    Args:
        stddev: the noise's standard deviation, in [0, 1] (Keras's bounds).
        seed: accepted for Keras compatibility; the key passed to `apply` decides the noise.
    """

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _fraction("GaussianNoise", "stddev", stddev)
        self.seed = seed

    def apply(self, params, state, x, *, training=False, key=None):
        del params
        if not training or self.stddev == 0.0:
            return x, state
        _need_key(self, key)
        return x + self.stddev * jax.random.normal(key, x.shape, x.dtype), state


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 in training: `y = x * N(1, rate / (1 - rate))`.

    The variance `rate / (1 - rate)` is that of Dropout's `keep / (1 - rate)` factor, without zeros.

    Args:
        rate: the equivalent drop probability, in [0, 1).
        seed: accepted for Keras compatibility; the key passed to `apply` decides the noise.
    """

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _fraction("GaussianDropout", "rate", rate, allow_one=False)
        self.seed = seed

    def apply(self, params, state, x, *, training=False, key=None):
        del params
        if not training or self.rate == 0.0:
            return x, state
        _need_key(self, key)
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + stddev * jax.random.normal(key, x.shape, x.dtype)), state


# SELU's constants: dropped units are set to SELU's negative saturation value, -scale * alpha.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(Layer):
    """Dropout for self-normalizing (SELU) networks: keeps the mean and variance of its inputs.

    In training, dropped units are set to `alpha' = -scale * alpha` (SELU's saturation value) instead of 0,
    then an affine map restores the statistics:

        y = a * (x * keep + alpha' * (1 - keep)) + b,   keep ~ Bernoulli(1 - rate)
        a = ((1 - rate) * (1 + rate * alpha'^2)) ** -0.5,   b = -a * alpha' * rate

    Args:
        rate: the fraction of units to drop, in [0, 1).
        noise_shape: the shape of the keep/drop mask, broadcast against the input (None dims follow it).
        seed: accepted for Keras compatibility; the key passed to `apply` decides the mask.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _fraction("AlphaDropout", "rate", rate, allow_one=False)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def apply(self, params, state, x, *, training=False, key=None):
        del params
        if not training or self.rate == 0.0:
            return x, state
        _need_key(self, key)
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        keep = (jax.random.uniform(key, shape) >= self.rate).astype(x.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1.0 - self.rate) * (1.0 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        return (a * (x * keep + alpha_p * (1.0 - keep)) + b).astype(x.dtype), state
