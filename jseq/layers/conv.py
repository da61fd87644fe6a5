"""Convolution layers: Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose.

Every convolution is one call of XLA's native convolution: `lax.conv_general_dilated` through
`jseq.kernels.conv` (which computes the kernel gradient its own way inside CPU training loops), or
`lax.conv_transpose`. Kernels keep Keras's layout whatever the data format,
`(*kernel_size, in_channels // groups, filters)`, so `set_weights(keras_layer.get_weights())` copies across.

The output length along one spatial axis (Keras's rule), with the dilated kernel `k' = d * (k - 1) + 1`:

    valid:          floor((L - k') / stride) + 1      (0 or less: the layer refuses to build)
    same, causal:   ceil(L / stride)

The argument helpers at the top are shared by the pooling and reshaping layers.
"""

from jax import lax

from jseq import activations, initializers, kernels, regularizers
from jseq.core import Layer, check_not_empty, shape_str, split_key
from jseq.layers.core import _positive_int

# --------------------------------------------------------------------------------------------------------
# Argument helpers (also used by pooling.py and reshaping.py)


def normalize_tuple(cls, arg, value, n, allow_zero=False):
    """An int or a sequence of `n` ints -> a tuple of `n` ints, each > 0 (or >= 0 with `allow_zero`)."""
    values = (value,) * n if isinstance(value, int) else value
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    lowest = 0 if allow_zero else 1
    if len(values) != n or any(not isinstance(v, int) or isinstance(v, bool) or v < lowest for v in values):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"{cls}: `{arg}` must be a {what} integer or a tuple of {n} {what} integers. "
            f"Received: {arg}={value!r}"
        )
    return values


def normalize_data_format(cls, data_format):
    """None (Keras's default image data format) -> "channels_last"; otherwise one of the two names."""
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f'{cls}: `data_format` must be "channels_last" or "channels_first". '
            f"Received: data_format={data_format!r}"
        )
    return data_format


def normalize_padding(cls, padding, allow_causal=False):
    valid = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if not isinstance(padding, str) or padding.lower() not in valid:
        raise ValueError(
            f"{cls}: `padding` must be one of {', '.join(repr(v) for v in valid)}. "
            f"Received: padding={padding!r}"
        )
    return padding.lower()


def check_rank(layer, input_shape, layout):
    """Raise unless `input_shape` has one axis per name in `layout`, e.g. "(batch, rows, cols, channels)"."""
    rank = layout.count(",") + 1
    if len(input_shape) != rank:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects inputs of rank {rank}, {layout}. "
            f"Received input_shape={shape_str(input_shape)}."
        )


def spatial_layout(rank, data_format):
    """The axes of an image batch in words: "(batch, rows, cols, channels)" and the like."""
    spatial = ("steps",) if rank == 1 else ("rows", "cols")
    axes = ("batch",) + (
        spatial + ("channels",) if data_format == "channels_last" else ("channels",) + spatial
    )
    return "(" + ", ".join(axes) + ")"


def spatial_axes(rank, data_format):
    return tuple(range(1, rank + 1)) if data_format == "channels_last" else tuple(range(2, rank + 2))


def with_spatial(input_shape, data_format, spatial, channels):
    """The batch axis of `input_shape` with new spatial lengths and channels, in the data format's order."""
    if data_format == "channels_last":
        return (input_shape[0],) + tuple(spatial) + (channels,)
    return (input_shape[0], channels) + tuple(spatial)


def conv_output_length(length, kernel, stride, padding, dilation=1):
    """The output length along one axis (None stays None); 0 when the window does not fit."""
    if length is None:
        return None
    if padding == "valid":
        return max(0, (length - dilation * (kernel - 1) - 1) // stride + 1)
    return -(-length // stride)  # same / causal: ceil(length / stride)


def _no_constraints(cls, **constraints):
    given = sorted(name for name, value in constraints.items() if value is not None)
    if given:
        raise ValueError(f"{cls}: weight constraints are not supported by jseq; leave {given} as None.")


# --------------------------------------------------------------------------------------------------------
# What every convolution shares


class _BaseConv(Layer):
    """Argument checks, shapes in either data format, bias + activation, and the weight penalties."""

    rank = 2
    _regularized = {"kernel": "kernel_regularizer", "bias": "bias_regularizer"}  # param -> its penalty

    def _store_common(self, kernel_size, strides, padding, data_format, dilation_rate, allow_causal=False):
        cls = type(self).__name__
        self.kernel_size = normalize_tuple(cls, "kernel_size", kernel_size, self.rank)
        self.strides = normalize_tuple(cls, "strides", strides, self.rank)
        self.padding = normalize_padding(cls, padding, allow_causal)
        self.data_format = normalize_data_format(cls, data_format)
        self.dilation_rate = normalize_tuple(cls, "dilation_rate", dilation_rate, self.rank)

    def _forbid_strided_dilation(self):
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{type(self).__name__}: `strides > 1` not supported in conjunction with "
                "`dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )

    def _input_channels(self, input_shape):
        check_rank(self, input_shape, spatial_layout(self.rank, self.data_format))
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs the channel axis of its input to be "
                "known. "
                f"Received input_shape={shape_str(input_shape)}."
            )
        return channels

    def _spatial(self, input_shape):
        return [input_shape[a] for a in spatial_axes(self.rank, self.data_format)]

    def _output_lengths(self, input_shape):
        return [
            conv_output_length(n, k, s, self.padding, d)
            for n, k, s, d in zip(
                self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate
            )
        ]

    def _dimension_numbers(self):
        """Input / kernel / output layouts for lax: e.g. ("NHWC", "HWIO", "NHWC") for channels_last 2-D."""
        spatial = "HW"[-self.rank :]
        image = f"N{spatial}C" if self.data_format == "channels_last" else f"NC{spatial}"
        return image, f"{spatial}IO", image

    def _bias_and_activation(self, y, params):
        if self.use_bias:
            bias = params["bias"]
            if self.data_format == "channels_first":
                bias = bias.reshape((-1,) + (1,) * self.rank)  # (C, 1, 1) broadcasts over (B, C, H, W)
            y = y + bias
        return self.activation(y)

    def regularization_loss(self, params):
        penalty = 0.0
        for name, attribute in self._regularized.items():
            regularizer = getattr(self, attribute)
            if regularizer is not None and name in params:
                penalty += regularizer(params[name])
        return penalty

    def activity_regularization_loss(self, y):
        return 0.0 if self.activity_regularizer is None else self.activity_regularizer(y)


def _store_bias_and_activation(
    layer, activation, use_bias, bias_initializer, bias_regularizer, activity_regularizer
):
    layer.activation = activations.get(activation)
    layer.use_bias = bool(use_bias)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)
    layer.activity_regularizer = regularizers.get(activity_regularizer)


# --------------------------------------------------------------------------------------------------------
# Layers


class _Conv(_BaseConv):
    """An N-D convolution (the body of Conv1D and Conv2D): `y = activation(conv(x, kernel) + bias)`.

    Args:
        filters: the number of output channels.
        kernel_size: an int or a tuple of `rank` ints, the window size.
        strides: an int or a tuple of ints (default 1). `strides > 1` excludes `dilation_rate > 1`.
        padding: "valid" (no padding), "same" (pad so that the output length is `ceil(L / stride)`), or for
            Conv1D "causal" (pad `dilation * (k - 1)` zeros on the left only: output t sees inputs <= t).
        data_format: "channels_last" (default, `(batch, ..., channels)`) or "channels_first".
        dilation_rate: an int or a tuple of ints: the spacing between kernel taps.
        groups: split the input channels into `groups` blocks, each convolved with `filters // groups`
            filters; both the input channels and `filters` must divide by it.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer: as in Dense ("glorot_uniform" and "zeros" by default).

    Params: `kernel (*kernel_size, in_channels // groups, filters)`, `bias (filters,)`.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
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
        cls = type(self).__name__
        _no_constraints(cls, kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        super().__init__(**kwargs)
        self.filters = _positive_int(cls, "filters", filters)
        self._store_common(
            kernel_size, strides, padding, data_format, dilation_rate, allow_causal=self.rank == 1
        )
        self._forbid_strided_dilation()
        self.groups = _positive_int(cls, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"{cls}: the number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={self.groups}, filters={self.filters}."
            )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        _store_bias_and_activation(
            self, activation, use_bias, bias_initializer, bias_regularizer, activity_regularizer
        )

    def init(self, key, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the number of input channels must be evenly "
                f"divisible by the number of groups. Received groups={self.groups}, but the input has "
                f"{channels} channels (input_shape={shape_str(input_shape)})."
            )
        lengths = self._output_lengths(input_shape)
        output_shape = with_spatial(input_shape, self.data_format, lengths, self.filters)
        check_not_empty(self, output_shape)
        k_kernel, k_bias = split_key(key)
        shape = self.kernel_size + (channels // self.groups, self.filters)
        params = {"kernel": initializers.draw(self.kernel_initializer, k_kernel, shape, self.dtype)}
        if self.use_bias:
            params["bias"] = initializers.draw(self.bias_initializer, k_bias, (self.filters,), self.dtype)
        return output_shape, params, {}

    def _lax_padding(self):
        if self.padding == "causal":  # all the padding on the left: output t depends on inputs <= t
            return [(self.dilation_rate[0] * (self.kernel_size[0] - 1), 0)]
        return self.padding.upper()

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        y = kernels.conv(
            x,
            params["kernel"],
            self.strides,
            self._lax_padding(),
            self.dilation_rate,
            self._dimension_numbers(),
            groups=self.groups,
        )
        return self._bias_and_activation(y, params), state


class Conv1D(_Conv):
    """1-D convolution over steps: `(batch, steps, channels)` -> `(batch, new_steps, filters)`.

    Args: as Conv2D, with single ints, and `padding="causal"` as a third choice (for autoregressive models:
    output step t sees input steps <= t).

    >>> Conv1D(8, 3, padding="causal")(jnp.ones((2, 10, 4))).shape
    (2, 10, 8)
    """

    rank = 1


class Conv2D(_Conv):
    """2-D convolution over images: `(batch, rows, cols, channels)` -> `(batch, new_rows, new_cols, filters)`.

    `y[b, i, j, f] = activation(bias[f] + sum_{u, v, c} x[b, i*s + u*d, j*s + v*d, c] * kernel[u, v, c, f])`
    (cross-correlation, as every deep-learning library computes it), over the padded input.

    Args:
        filters: the number of output channels.
        kernel_size: an int or a tuple of 2 ints, the window's (rows, cols).
        strides: an int or a tuple of 2 ints (default 1). `strides > 1` excludes `dilation_rate > 1`.
        padding: "valid" (default, no padding) or "same" (output size `ceil(size / stride)`).
        data_format: "channels_last" (default) or "channels_first" (`(batch, channels, rows, cols)`).
        dilation_rate: an int or a tuple of 2 ints, the spacing between kernel taps.
        groups: channel groups (input channels and filters must both divide by it).
        activation, use_bias, kernel_initializer ("glorot_uniform"), bias_initializer ("zeros"),
        kernel_regularizer, bias_regularizer, activity_regularizer: as in Dense.

    Input shape: `(batch, rows, cols, channels)`. Output shape: `(batch, new_rows, new_cols, filters)`,
    with `new_rows = floor((rows - k') / stride) + 1` for "valid", `ceil(rows / stride)` for "same".
    Params: `kernel (kh, kw, channels // groups, filters)`, `bias (filters,)`.

    >>> Conv2D(32, 5, strides=2)(jnp.ones((1, 250, 250, 3))).shape
    (1, 123, 123, 32)
    """

    rank = 2


class DepthwiseConv2D(_BaseConv):
    """Convolves each input channel with its own `depth_multiplier` filters (no mixing across channels).

    `y[b, i, j, c * m + k] = activation(bias + sum_{u, v} x[b, i*s + u, j*s + v, c] * kernel[u, v, c, k])`

    Args:
        kernel_size, strides, padding, data_format, dilation_rate: as in Conv2D.
        depth_multiplier: output channels per input channel (default 1).
        activation, use_bias, depthwise_initializer ("glorot_uniform"), bias_initializer ("zeros"),
        depthwise_regularizer, bias_regularizer, activity_regularizer: as in Conv2D.

    Input shape: `(batch, rows, cols, channels)`. Output shape: `(batch, new_rows, new_cols,
    channels * depth_multiplier)`. Params: `kernel (kh, kw, channels, depth_multiplier)`,
    `bias (channels * depth_multiplier,)` (Keras 3 names the kernel `kernel`).
    """

    _regularized = {"kernel": "depthwise_regularizer", "bias": "bias_regularizer"}

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        cls = type(self).__name__
        _no_constraints(cls, depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint)
        super().__init__(**kwargs)
        self._store_common(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = _positive_int(cls, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        _store_bias_and_activation(
            self, activation, use_bias, bias_initializer, bias_regularizer, activity_regularizer
        )

    def init(self, key, input_shape):
        channels = self._input_channels(input_shape)
        out_channels = channels * self.depth_multiplier
        lengths = self._output_lengths(input_shape)
        output_shape = with_spatial(input_shape, self.data_format, lengths, out_channels)
        check_not_empty(self, output_shape)
        k_kernel, k_bias = split_key(key)
        shape = self.kernel_size + (channels, self.depth_multiplier)
        params = {"kernel": initializers.draw(self.depthwise_initializer, k_kernel, shape, self.dtype)}
        if self.use_bias:
            params["bias"] = initializers.draw(self.bias_initializer, k_bias, (out_channels,), self.dtype)
        return output_shape, params, {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        return self._bias_and_activation(_depthwise(self, x, params["kernel"]), params), state


def _depthwise(layer, x, kernel):
    """A grouped convolution with one group per input channel: kernel (kh, kw, C, m) -> (kh, kw, 1, C * m)."""
    channels, multiplier = kernel.shape[-2:]
    return kernels.conv(
        x,
        kernel.reshape(kernel.shape[:-2] + (1, channels * multiplier)),  # output channel c * m + k
        layer.strides,
        layer.padding.upper(),
        layer.dilation_rate,
        layer._dimension_numbers(),
        groups=channels,
    )


class SeparableConv2D(_BaseConv):
    """A depthwise convolution followed by a 1x1 (pointwise) convolution that mixes the channels.

    `y = activation(pointwise(depthwise(x)) + bias)`: far fewer weights than Conv2D for the same window.

    Args:
        filters: output channels of the pointwise step.
        kernel_size, strides, padding, data_format, dilation_rate: of the depthwise step, as in Conv2D.
        depth_multiplier: depthwise output channels per input channel (default 1).
        activation, use_bias, depthwise_initializer, pointwise_initializer ("glorot_uniform"),
        bias_initializer ("zeros"), depthwise_regularizer, pointwise_regularizer, bias_regularizer,
        activity_regularizer.

    Params: `depthwise_kernel (kh, kw, channels, depth_multiplier)`,
    `pointwise_kernel (1, 1, channels * depth_multiplier, filters)`, `bias (filters,)`.
    """

    _regularized = {
        "depthwise_kernel": "depthwise_regularizer",
        "pointwise_kernel": "pointwise_regularizer",
        "bias": "bias_regularizer",
    }

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        cls = type(self).__name__
        _no_constraints(
            cls,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
        )
        super().__init__(**kwargs)
        self.filters = _positive_int(cls, "filters", filters)
        self._store_common(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = _positive_int(cls, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        _store_bias_and_activation(
            self, activation, use_bias, bias_initializer, bias_regularizer, activity_regularizer
        )

    def init(self, key, input_shape):
        channels = self._input_channels(input_shape)
        lengths = self._output_lengths(input_shape)
        output_shape = with_spatial(input_shape, self.data_format, lengths, self.filters)
        check_not_empty(self, output_shape)
        k_depth, k_point, k_bias = split_key(key, 3)
        depth_shape = self.kernel_size + (channels, self.depth_multiplier)
        point_shape = (1,) * self.rank + (channels * self.depth_multiplier, self.filters)
        params = {
            "depthwise_kernel": initializers.draw(
                self.depthwise_initializer, k_depth, depth_shape, self.dtype
            ),
            "pointwise_kernel": initializers.draw(
                self.pointwise_initializer, k_point, point_shape, self.dtype
            ),
        }
        if self.use_bias:
            params["bias"] = initializers.draw(self.bias_initializer, k_bias, (self.filters,), self.dtype)
        return output_shape, params, {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        y = _depthwise(self, x, params["depthwise_kernel"])
        ones = (1,) * self.rank
        y = kernels.conv(  # the 1x1 step: a matmul over channels at every pixel
            y, params["pointwise_kernel"], ones, "VALID", ones, self._dimension_numbers()
        )
        return self._bias_and_activation(y, params), state


def transpose_output_length(length, kernel, stride, padding, output_padding=None, dilation=1):
    """The output length of a transposed convolution along one axis (Keras's rule); None stays None.

    valid: `(L - 1) * stride + max(k', stride)` (+ output_padding instead of the max's excess, when given);
    same: `L * stride` (or `(L - 1) * stride + k' % 2 + output_padding`, when given).
    """
    if length is None:
        return None
    k = dilation * (kernel - 1) + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return (length - 1) * stride + k + extra
    if output_padding is None:
        return length * stride
    return max(0, (length - 1) * stride + k % 2 + output_padding)


def _transpose_padding(kernel, stride, padding, output_padding, dilation):
    """(left, right) zeros around the stride-dilated input that give `transpose_output_length`."""
    k = dilation * (kernel - 1) + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min((total + 1) // 2, k - 1)
    return left, total - left


class Conv2DTranspose(_BaseConv):
    """The transpose (gradient) of a Conv2D: upsamples by `strides`, e.g. in decoders and GANs.

    Each input pixel scatters `x[b, i, j, :] @ kernel[u, v, :, :].T` into the output at `(i*s + u, j*s + v)`.

    Args:
        filters: the number of output channels.
        kernel_size, strides, padding ("valid" / "same"), data_format, dilation_rate: as in Conv2D.
        output_padding: None, or an int / tuple of 2 ints (each < the stride) added to the output size.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer: as in Conv2D.

    Output size per axis: "same": `size * stride`; "valid": `(size - 1) * stride + max(kernel, stride)`.
    Params: `kernel (kh, kw, filters, channels)` (Keras's transposed layout), `bias (filters,)`.
    """

    # Its kernel gradient is a convolution that XLA:CPU computes with a much slower kernel inside a while
    # loop (jax-ml/jax#12868), and `jseq.kernels` has no replacement for it: `fit` keeps one step per call
    # for models with this layer on CPU.
    slow_in_cpu_loops = True

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
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
        cls = type(self).__name__
        _no_constraints(cls, kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        super().__init__(**kwargs)
        self.filters = _positive_int(cls, "filters", filters)
        self._store_common(kernel_size, strides, padding, data_format, dilation_rate)
        self._forbid_strided_dilation()
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = normalize_tuple(cls, "output_padding", output_padding, 2, allow_zero=True)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"{cls}: each value of `output_padding` must be strictly less than the corresponding "
                    f"stride. Received: output_padding={self.output_padding}, strides={self.strides}."
                )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        _store_bias_and_activation(
            self, activation, use_bias, bias_initializer, bias_regularizer, activity_regularizer
        )

    def _output_paddings(self):
        return self.output_padding or (None,) * self.rank

    def init(self, key, input_shape):
        channels = self._input_channels(input_shape)
        lengths = [
            transpose_output_length(n, k, s, self.padding, p, d)
            for n, k, s, p, d in zip(
                self._spatial(input_shape),
                self.kernel_size,
                self.strides,
                self._output_paddings(),
                self.dilation_rate,
            )
        ]
        output_shape = with_spatial(input_shape, self.data_format, lengths, self.filters)
        check_not_empty(self, output_shape)
        k_kernel, k_bias = split_key(key)
        shape = self.kernel_size + (self.filters, channels)
        params = {"kernel": initializers.draw(self.kernel_initializer, k_kernel, shape, self.dtype)}
        if self.use_bias:
            params["bias"] = initializers.draw(self.bias_initializer, k_bias, (self.filters,), self.dtype)
        return output_shape, params, {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        padding = [
            _transpose_padding(k, s, self.padding, p, d)
            for k, s, p, d in zip(self.kernel_size, self.strides, self._output_paddings(), self.dilation_rate)
        ]
        # The kernel is (kh, kw, filters, channels): read as HWIO with I = filters, then `transpose_kernel`
        # flips it spatially and swaps I and O, which makes it the gradient of a Conv2D with that kernel.
        y = lax.conv_transpose(
            x,
            params["kernel"],
            self.strides,
            padding,
            rhs_dilation=self.dilation_rate,
            dimension_numbers=self._dimension_numbers(),
            transpose_kernel=True,
        )
        return self._bias_and_activation(y, params), state
