"""Shape layers for sequences and images: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, RepeatVector,
Permute. None has weights; each is one array operation (pad, slice, repeat, resize, transpose).
"""

import jax
import jax.numpy as jnp

from jseq.core import Layer, check_not_empty, shape_str
from jseq.layers.conv import (
    check_rank,
    normalize_data_format,
    normalize_tuple,
    spatial_axes,
    spatial_layout,
    with_spatial,
)
from jseq.layers.core import _positive_int


def _pairs(cls, arg, value):
    """2-D padding / cropping: an int, 2 ints (symmetric), or 2 pairs -> ((top, bottom), (left, right))."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        rows, cols = value
    except (TypeError, ValueError):
        raise ValueError(
            f"{cls}: `{arg}` must be an int, a tuple of 2 ints (symmetric rows, cols), or a tuple of 2 "
            f"tuples of 2 ints ((top, bottom), (left, right)). Received: {arg}={value!r}"
        ) from None
    return (
        normalize_tuple(cls, f"{arg}[0]", rows, 2, allow_zero=True),
        normalize_tuple(cls, f"{arg}[1]", cols, 2, allow_zero=True),
    )


def _spatial_lengths(input_shape, data_format, rank):
    return [input_shape[a] for a in spatial_axes(rank, data_format)]


def _channels(input_shape, data_format):
    return input_shape[-1] if data_format == "channels_last" else input_shape[1]


def _grow(n, delta):
    return None if n is None else max(0, n + delta)


class ZeroPadding1D(Layer):
    """Adds zeros at the start and end of the steps axis: `(batch, steps, channels)` ->
    `(batch, left + steps + right, channels)`.

    Args:
        padding: an int (both sides) or a tuple `(left, right)`; default 1.
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_tuple("ZeroPadding1D", "padding", padding, 2, allow_zero=True)
        self.data_format = normalize_data_format("ZeroPadding1D", data_format)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(1, self.data_format))
        (steps,) = _spatial_lengths(input_shape, self.data_format, 1)
        return with_spatial(
            input_shape,
            self.data_format,
            [_grow(steps, sum(self.padding))],
            _channels(input_shape, self.data_format),
        )

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        widths = [(0, 0)] * 3
        widths[spatial_axes(1, self.data_format)[0]] = self.padding
        return jnp.pad(x, widths), state


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around an image.

    Args:
        padding: an int (all sides), a tuple of 2 ints (symmetric rows, cols), or
            `((top, bottom), (left, right))`; default (1, 1).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: `(batch, rows, cols, channels)`. Output shape:
    `(batch, top + rows + bottom, left + cols + right, channels)`.
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs("ZeroPadding2D", "padding", padding)
        self.data_format = normalize_data_format("ZeroPadding2D", data_format)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(2, self.data_format))
        rows, cols = _spatial_lengths(input_shape, self.data_format, 2)
        lengths = [_grow(rows, sum(self.padding[0])), _grow(cols, sum(self.padding[1]))]
        return with_spatial(input_shape, self.data_format, lengths, _channels(input_shape, self.data_format))

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        widths = [(0, 0)] * 4
        for axis, pad in zip(spatial_axes(2, self.data_format), self.padding):
            widths[axis] = pad
        return jnp.pad(x, widths), state


class Cropping1D(Layer):
    """Removes steps at the start and end: `(batch, steps, channels)` -> `(batch, steps - start - end,
    channels)`.

    Args:
        cropping: an int (both ends) or a tuple `(start, end)`; default (1, 1).
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_tuple("Cropping1D", "cropping", cropping, 2, allow_zero=True)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, "(batch, steps, channels)")
        output_shape = (input_shape[0], _grow(input_shape[1], -sum(self.cropping)), input_shape[2])
        check_not_empty(self, output_shape)
        return output_shape

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        start, end = self.cropping
        return x[:, start : x.shape[1] - end], state


class Cropping2D(Layer):
    """Removes rows and columns at the borders of an image.

    Args:
        cropping: an int (all sides), a tuple of 2 ints (symmetric rows, cols), or
            `((top, bottom), (left, right))`; default no cropping.
        data_format: "channels_last" (default) or "channels_first".

    Input shape: `(batch, rows, cols, channels)`. Output shape:
    `(batch, rows - top - bottom, cols - left - right, channels)`.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs("Cropping2D", "cropping", cropping)
        self.data_format = normalize_data_format("Cropping2D", data_format)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(2, self.data_format))
        rows, cols = _spatial_lengths(input_shape, self.data_format, 2)
        lengths = [_grow(rows, -sum(self.cropping[0])), _grow(cols, -sum(self.cropping[1]))]
        output_shape = with_spatial(
            input_shape, self.data_format, lengths, _channels(input_shape, self.data_format)
        )
        check_not_empty(self, output_shape)
        return output_shape

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        index = [slice(None)] * 4
        for axis, (start, end) in zip(spatial_axes(2, self.data_format), self.cropping):
            index[axis] = slice(start, x.shape[axis] - end)
        return x[tuple(index)], state


class UpSampling1D(Layer):
    """Repeats each step `size` times: `(batch, steps, features)` -> `(batch, steps * size, features)`."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _positive_int("UpSampling1D", "size", size)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, "(batch, steps, features)")
        steps = None if input_shape[1] is None else input_shape[1] * self.size
        return (input_shape[0], steps, input_shape[2])

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return jnp.repeat(x, self.size, axis=1), state


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


class UpSampling2D(Layer):
    """Enlarges an image `size` times along rows and columns.

    Args:
        size: an int or a tuple of 2 ints `(rows, cols)`; default (2, 2).
        data_format: "channels_last" (default) or "channels_first".
        interpolation: "nearest" (default: repeat each pixel), "bilinear", "bicubic", "lanczos3" or
            "lanczos5" (resampling as `jax.image.resize`, as Keras does).

    Input shape: `(batch, rows, cols, channels)`. Output shape: `(batch, rows * size[0], cols * size[1],
    channels)`.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = normalize_tuple("UpSampling2D", "size", size, 2)
        self.data_format = normalize_data_format("UpSampling2D", data_format)
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(
                f"UpSampling2D: `interpolation` must be one of {', '.join(_INTERPOLATIONS)}. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation.lower()

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, spatial_layout(2, self.data_format))
        lengths = [
            None if n is None else n * s
            for n, s in zip(_spatial_lengths(input_shape, self.data_format, 2), self.size)
        ]
        return with_spatial(input_shape, self.data_format, lengths, _channels(input_shape, self.data_format))

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        axes = spatial_axes(2, self.data_format)
        if self.interpolation == "nearest":
            for axis, s in zip(axes, self.size):
                x = jnp.repeat(x, s, axis=axis)
            return x, state
        shape = list(x.shape)
        for axis, s in zip(axes, self.size):
            shape[axis] *= s
        return jax.image.resize(x, shape, method=self.interpolation, antialias=False), state


class RepeatVector(Layer):
    """Repeats a vector `n` times: `(batch, features)` -> `(batch, n, features)`, e.g. to feed a decoder."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int("RepeatVector", "n", n)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, "(batch, features)")
        return (input_shape[0], self.n, input_shape[1])

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return jnp.broadcast_to(x[:, None, :], (x.shape[0], self.n, x.shape[1])), state


class Permute(Layer):
    """Reorders the non-batch axes: `Permute((2, 1))` swaps steps and features of `(batch, steps, features)`.

    Args:
        dims: a permutation of `1 .. rank - 1` (axis 0, the batch, never moves).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must be "
                f"consecutive and start from 1. Received dims={dims}"
            )
        self.dims = dims

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"Layer '{self.name}' (Permute) with dims={self.dims} expects inputs of rank "
                f"{len(self.dims) + 1}. Received input_shape={shape_str(input_shape)}."
            )
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return jnp.transpose(x, (0,) + self.dims), state
