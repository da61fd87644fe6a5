"""Convolution with a hand-written kernel gradient, for training loops on XLA:CPU.

`fit` runs many train steps inside one jitted `fori_loop` (see `compile(steps_per_execution=)`). On CPU,
XLA computes a convolution's kernel gradient inside a loop with a much slower kernel than at the top level
of a program (the rewrite it needs is applied only there; jax-ml/jax#12868): 11x slower per step for a
small CNN. `conv` below is `lax.conv_general_dilated` with the same forward pass and input gradient, and a
kernel gradient written as one matmul per kernel tap:

    dK[tap] = window(x, tap)^T @ dY        window(x, tap): the input rows that tap meets, (B * out_size, C_in)
                                           dY: the output gradient, (B * out_size, C_out)

where `window(x, tap)` is the padded input sliced at `tap * dilation` with the layer's stride. Grouped
convolutions do this per group. It is used only where it helps, while the training loops trace their body
(`device_loop()`) on CPU; everywhere else `conv` is XLA's own convolution, gradient included.
"""

import contextlib
import functools
import itertools
import threading

import jax
import jax.numpy as jnp
from jax import lax

_local = threading.local()


@contextlib.contextmanager
def device_loop():
    """Mark the code traced inside as the body of a device loop (`fit`'s `fori_loop` over steps)."""
    outer = getattr(_local, "in_loop", False)
    _local.in_loop = True
    try:
        yield
    finally:
        _local.in_loop = outer


def in_device_loop():
    """Whether the code being traced is the body of a device loop (see `device_loop`)."""
    return getattr(_local, "in_loop", False)


def conv(x, kernel, strides, padding, dilation, dimension_numbers, groups=1):
    """`lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=dilation, ...)`.

    Args:
        x: the input, laid out as `dimension_numbers[0]` says ("NHWC", "NCH", ...).
        kernel: `(*kernel_size, in_channels // groups, out_channels)` ("HWIO" and the like).
        strides, dilation: one int per spatial axis.
        padding: "VALID", "SAME", or one `(low, high)` pair per spatial axis.
        dimension_numbers: (input, kernel, output) layouts, e.g. ("NHWC", "HWIO", "NHWC").
        groups: `feature_group_count`.
    """
    strides, dilation = tuple(strides), tuple(dilation)
    if not isinstance(padding, str):
        padding = tuple(tuple(pair) for pair in padding)
    if in_device_loop() and jax.default_backend() == "cpu":
        conv_fn = _conv_with_tap_gradient(strides, padding, dilation, tuple(dimension_numbers), groups)
        return conv_fn(x, kernel)
    return _xla_conv(x, kernel, strides, padding, dilation, dimension_numbers, groups)


def _xla_conv(x, kernel, strides, padding, dilation, dimension_numbers, groups):
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=groups,
    )


@functools.cache
def _conv_with_tap_gradient(strides, padding, dilation, dimension_numbers, groups):
    """The convolution for one static configuration, with the per-tap kernel gradient as its VJP."""

    def forward(x, kernel):
        return _xla_conv(x, kernel, strides, padding, dilation, dimension_numbers, groups)

    @jax.custom_vjp
    def conv_fn(x, kernel):
        return forward(x, kernel)

    def fwd(x, kernel):
        return forward(x, kernel), (x, kernel)

    def bwd(residuals, dy):
        x, kernel = residuals
        spatial_in = [n for n, axis in zip(x.shape, dimension_numbers[0]) if axis not in "NC"]
        pads = _explicit_padding(padding, spatial_in, kernel.shape[:-2], strides, dilation)
        dx = _input_gradient(dy, kernel, spatial_in, pads, strides, dilation, dimension_numbers, groups)
        if not dimension_numbers[0].endswith("C"):  # (B, C, *spatial) -> (B, *spatial, C)
            x, dy = jnp.moveaxis(x, 1, -1), jnp.moveaxis(dy, 1, -1)
        dk = _tap_kernel_gradient(x, dy, kernel.shape, pads, strides, dilation, groups)
        return dx.astype(x.dtype), dk.astype(kernel.dtype)

    conv_fn.defvjp(fwd, bwd)
    return conv_fn


def _explicit_padding(padding, spatial_in, sizes, strides, dilation):
    """One `(low, high)` pair per spatial axis, for "VALID" / "SAME" or pairs."""
    if not isinstance(padding, str):
        return list(padding)
    dilated = [d * (k - 1) + 1 for k, d in zip(sizes, dilation)]
    return list(lax.padtype_to_pads(spatial_in, dilated, strides, padding))


def _input_gradient(dy, kernel, spatial_in, pads, strides, dilation, dimension_numbers, groups):
    """dL/dx: a forward convolution of `dy`, spread out by the strides, with the kernel flipped in space and
    its channel axes swapped (as XLA's own gradient, but with that kernel made explicitly: inside a loop
    XLA:CPU runs this form at the forward pass's speed and its own 2-3x slower)."""
    sizes = kernel.shape[:-2]
    c_in_group, c_out = kernel.shape[-2:]
    flipped = jnp.flip(kernel, tuple(range(len(sizes))))
    # (*k, C_in / G, G, C_out / G) -> (*k, C_out / G, G, C_in / G) -> (*k, C_out / G, C_in)
    flipped = flipped.reshape(*sizes, c_in_group, groups, c_out // groups)
    flipped = jnp.swapaxes(flipped, -1, -3).reshape(*sizes, c_out // groups, groups * c_in_group)
    transposed_pads = []
    for length, k, s, d, (low, high) in zip(spatial_in, sizes, strides, dilation, pads):
        dilated = d * (k - 1) + 1
        rest = (length + low + high - dilated) % s  # input rows past the last window the stride reached
        transposed_pads.append((dilated - 1 - low, dilated - 1 - high + rest))
    return lax.conv_general_dilated(
        dy,
        flipped,
        window_strides=(1,) * len(sizes),
        padding=transposed_pads,
        lhs_dilation=strides,
        rhs_dilation=dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=groups,
    )


def _tap_kernel_gradient(x, dy, kernel_shape, pads, strides, dilation, groups):
    """dL/dkernel, from channels-last `x` (B, *in, C_in) and `dy` (B, *out, C_out): a matmul per tap."""
    sizes = kernel_shape[:-2]
    spatial_out = dy.shape[1:-1]
    x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    c_in, c_out = x.shape[-1], dy.shape[-1]
    dy = dy.reshape(-1, groups, c_out // groups)  # (N, G, C_out / G), N = B * out_size
    taps = []
    for tap in itertools.product(*(range(k) for k in sizes)):
        start = (0, *(t * d for t, d in zip(tap, dilation)), 0)
        ends = (s + (n - 1) * st + 1 for s, n, st in zip(start[1:], spatial_out, strides))
        limit = (x.shape[0], *ends, c_in)
        window = lax.slice(x, start, limit, (1, *strides, 1)).reshape(-1, groups, c_in // groups)
        # (C_in / G, G, C_out / G) -> (C_in / G, C_out): output channel g * (C_out / G) + f, as the kernel's.
        # With G = 1 this batched form is still the faster one inside loops on XLA:CPU (a CNN epoch of the
        # benchmarks: 0.55 s, against 0.65 s with a plain (C_in, N) @ (N, C_out)).
        taps.append(jnp.einsum("ngc,ngf->cgf", window, dy).reshape(c_in // groups, c_out))
    return jnp.stack(taps).reshape(kernel_shape)
