"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D and the global poolings.

Windowed pooling is `lax.reduce_window` (XLA's native op) in general. The most common case, windows that
tile the input (`strides == pool_size`, "valid" padding), is a reshape that puts each window on its own
axes, then a max / mean over them: the same values, and on CPU a gradient several times faster than the
`select_and_scatter` that `reduce_window`'s max differentiates into. (Where a window holds tied maxima the
reshape path splits the gradient between them, `reduce_window` gives it to one; the sum is the same.)

Output length along one axis (Keras's rule): "valid": `floor((L - pool) / stride) + 1`; "same":
`ceil(L / stride)`, the window counting only the real (unpadded) inputs when averaging.
"""

import math

import jax.numpy as jnp
from jax import lax

from jseq.core import Layer, check_not_empty
from jseq.layers.conv import (
    check_rank,
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    spatial_axes,
    spatial_layout,
    with_spatial,
)


def _tiled_pool(x, pool_size, axes, reduce):
    """Pool non-overlapping windows by a reshape: each spatial axis n -> (n // p, p), then reduce the p axes.

    Inputs whose length does not divide by the pool size are cropped first, which is what Keras's floor in
    "valid" pooling does.
    """
    window = dict(zip(axes, pool_size))  # spatial axis -> pool size
    x = x[tuple(slice(0, n - n % window[a]) if a in window else slice(None) for a, n in enumerate(x.shape))]
    shape, window_axes = [], []
    for a, n in enumerate(x.shape):
        if a in window:
            shape += [n // window[a], window[a]]  # (B, H, W, C) -> (B, H/p, p, W/q, q, C)
            window_axes.append(len(shape) - 1)
        else:
            shape.append(n)
    return reduce(x.reshape(shape), axis=tuple(window_axes))


def _window_pool(x, pool_size, strides, padding, axes, mode):
    """Pool with `lax.reduce_window`: any strides, "valid" or "same" padding."""
    window, steps = [1] * x.ndim, [1] * x.ndim
    for a, p, s in zip(axes, pool_size, strides):
        window[a], steps[a] = p, s
    # The initial values are Python scalars: reduce_window is differentiable only when it can see they
    # are max's / add's identity (a traced array would hide that under jit).
    if mode == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, window, steps, padding.upper())
    total = lax.reduce_window(x, 0.0, lax.add, window, steps, padding.upper())
    if padding == "valid":
        return total / math.prod(pool_size)
    # "same": divide by the number of real inputs in each window (padding is not counted), as Keras does.
    ones = jnp.ones([n if a in axes else 1 for a, n in enumerate(x.shape)], x.dtype)
    return total / lax.reduce_window(ones, 0.0, lax.add, window, steps, padding.upper())


class _Pooling(Layer):
    """Max or average over sliding windows (the body of MaxPooling1D/2D and AveragePooling1D/2D).

    Args:
        pool_size: an int or a tuple of `rank` ints, the window.
        strides: an int or a tuple of ints; None (default) means `pool_size` (non-overlapping windows).
        padding: "valid" (default: windows inside the input) or "same" (output length `ceil(L / stride)`).
        data_format: "channels_last" (default) or "channels_first".
    """

    rank, mode = 2, "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = normalize_tuple(cls, "pool_size", pool_size, self.rank)
        self.strides = normalize_tuple(
            cls, "strides", self.pool_size if strides is None else strides, self.rank
        )
        self.padding = normalize_padding(cls, padding)
        self.data_format = normalize_data_format(cls, data_format)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(self.rank, self.data_format))
        axes = spatial_axes(self.rank, self.data_format)
        lengths = [
            conv_output_length(input_shape[a], p, s, self.padding)
            for a, p, s in zip(axes, self.pool_size, self.strides)
        ]
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        output_shape = with_spatial(input_shape, self.data_format, lengths, channels)
        check_not_empty(self, output_shape)
        return output_shape

    def _tiles(self):
        """Whether the windows tile the input, so the reshape path applies."""
        return self.padding == "valid" and self.strides == self.pool_size

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        axes = spatial_axes(self.rank, self.data_format)
        if self._tiles():
            y = _tiled_pool(x, self.pool_size, axes, jnp.max if self.mode == "max" else jnp.mean)
        else:
            y = _window_pool(x, self.pool_size, self.strides, self.padding, axes, self.mode)
        return y, state


class MaxPooling1D(_Pooling):
    """The maximum over windows of steps: `(batch, steps, channels)` -> `(batch, new_steps, channels)`.

    Args: `pool_size=2`, `strides=None` (= pool_size), `padding="valid"`, `data_format`; see MaxPooling2D.
    """

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    """The maximum over windows of an image: `y[b, i, j, c] = max_{u, v} x[b, i*s + u, j*s + v, c]`.

    Args:
        pool_size: an int or a tuple of 2 ints (default (2, 2)).
        strides: an int or a tuple of 2 ints; None (default) means `pool_size`.
        padding: "valid" (default) or "same".
        data_format: "channels_last" (default) or "channels_first".

    Input shape: `(batch, rows, cols, channels)`. Output shape: `(batch, new_rows, new_cols, channels)`,
    `new_rows = floor((rows - pool) / stride) + 1` ("valid") or `ceil(rows / stride)` ("same").

    >>> MaxPooling2D(3)(jnp.ones((1, 121, 121, 32))).shape
    (1, 40, 40, 32)
    """

    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """The mean over windows of steps (pool_size is required); arguments as MaxPooling1D."""

    rank, mode = 1, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """The mean over windows of an image (pool_size is required); arguments as MaxPooling2D.

    With "same" padding a window at the border averages only the real inputs it covers.
    """

    rank, mode = 2, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """Max or mean over every spatial axis (the body of the global poolings).

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the spatial axes with length 1 (default False: `(batch, channels)`).
    """

    rank, mode = 2, "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(self.rank, self.data_format))
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if self.keepdims:
            return with_spatial(input_shape, self.data_format, (1,) * self.rank, channels)
        return (input_shape[0], channels)

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        reduce = jnp.max if self.mode == "max" else jnp.mean
        return reduce(x, axis=spatial_axes(self.rank, self.data_format), keepdims=self.keepdims), state


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over all steps: `(batch, steps, channels)` -> `(batch, channels)`."""

    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over all pixels: `(batch, rows, cols, channels)` -> `(batch, channels)`.

    Args: `data_format`, `keepdims` (True gives `(batch, 1, 1, channels)`).
    """

    rank, mode = 2, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over steps: `(batch, steps, channels)` -> `(batch, channels)`.

    With a mask (e.g. from `Embedding(mask_zero=True)`), the mean is over the unmasked steps only:
    `y[b, c] = sum_t mask[b, t] * x[b, t, c] / sum_t mask[b, t]`. The mask stops here.
    """

    rank, mode = 1, "average"
    supports_masking = True
    call_takes_mask = True

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        if mask is None:
            return super().apply(params, state, x, training=training, key=key)
        steps = 1 if self.data_format == "channels_last" else 2
        weights = jnp.expand_dims(mask, 2 if self.data_format == "channels_last" else 1).astype(x.dtype)
        total = jnp.sum(jnp.where(weights > 0, x, 0), axis=steps, keepdims=self.keepdims)
        return total / jnp.sum(weights, axis=steps, keepdims=self.keepdims), state

    def compute_mask(self, x, mask):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over all pixels: `(batch, rows, cols, channels)` -> `(batch, channels)`.

    Args: `data_format`, `keepdims` (True gives `(batch, 1, 1, channels)`).
    """

    rank, mode = 2, "average"
