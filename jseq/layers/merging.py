"""Merging layers: combine a LIST of inputs into one (Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot).

They extend the layer contract to several inputs: `init` receives the list of input shapes and `apply` the
list of arrays, in the same order::

    init(key, [shape_1, shape_2, ...])                          -> (output_shape, {}, {})
    apply(params, state, [x_1, x_2, ...], *, training, key)     -> (y, state)

They have no weights. Elementwise merges broadcast as Keras does: apart from the batch axis, shapes are
aligned from the right and a size of 1 stretches (`(None, 1, 3)` and `(None, 4, 3)` give `(None, 4, 3)`); an
input of lower rank gets axes of size 1 after the batch axis. A Python number in the list (what `x * 2.0`
on a symbolic tensor records) is a scalar that broadcasts against everything.

>>> Add()([jnp.ones((2, 3)), jnp.ones((2, 3))]).shape
(2, 3)
"""

import jax
import jax.numpy as jnp

from jseq.core import KerasTensor, Layer, shape_str, standardize_shape


def _is_scalar(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _shapes_str(shapes):
    return "[" + ", ".join(shape_str(s) for s in shapes) + "]"


class _Merge(Layer):
    """Base of the merging layers: list handling for `build` and eager calls, and Keras's mask rule."""

    supports_masking = True
    takes_structure = True  # called on a list of tensors
    exact_inputs = None  # Subtract and Dot take exactly 2 inputs

    def _check_list(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, tuple) for s in input_shape):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) should be called on a list of inputs, e.g. "
                f"{type(self).__name__}()([x1, x2]). Received: input_shape={input_shape!r}"
            )
        if not input_shape or (self.exact_inputs and len(input_shape) != self.exact_inputs):
            wanted = f"exactly {self.exact_inputs}" if self.exact_inputs else "at least 1"
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) should be called on {wanted} inputs. "
                f"Received {len(input_shape)} inputs with shapes {_shapes_str(input_shape)}."
            )
        return list(input_shape)

    def init(self, key, input_shape):
        del key
        return self.compute_output_shape(self._check_list(input_shape)), {}, {}

    def compute_output_shape(self, input_shapes):
        """Keras's elementwise rule: sizes equal, 1 or None, compared from the right (batch axis apart)."""
        tensors = [s for s in input_shapes if s != ()]  # () is a Python number: it broadcasts
        if not tensors:
            return ()
        batch = {s[0] for s in tensors} - {None}
        if len(batch) > 1:
            raise self._mismatch(input_shapes, "different batch sizes")
        out = []
        for shape in tensors:
            rest = list(shape[1:])
            if len(rest) > len(out):
                out, rest = rest, out
            for i in range(1, len(rest) + 1):
                a, b = out[-i], rest[-i]
                if a is None or b is None:
                    out[-i] = a if b == 1 else b if a == 1 else None
                elif a == 1:
                    out[-i] = b
                elif b != 1 and a != b:
                    raise self._mismatch(input_shapes, "shapes that do not broadcast")
        return (batch.pop() if batch else None,) + tuple(out)

    def _mismatch(self, input_shapes, what):
        return ValueError(
            f"Layer '{self.name}' ({type(self).__name__}) received inputs with {what}: "
            f"{_shapes_str(input_shapes)}. Apart from the batch axis, each size must be equal or 1."
        )

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        rank = max(jnp.ndim(v) for v in x)
        # (B, 3) next to (B, 4, 3): (B, 1, 3), as Keras does (axes of size 1 after the batch axis).
        xs = [
            v
            if _is_scalar(v) or jnp.ndim(v) in (0, rank)
            else v.reshape(v.shape[:1] + (1,) * (rank - v.ndim) + v.shape[1:])
            for v in x
        ]
        return self._merge(xs), state

    def compute_mask(self, x, mask):
        """Keras: the OR of the input masks when every input has one, else no mask."""
        if mask is None or any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = jnp.logical_or(out, m)
        return out

    # ---- list-aware build and eager call (the base Layer's expect one input) ----------------------------

    def build(self, input_shape):
        shapes = [standardize_shape(s, "input_shape") for s in self._check_list(input_shape)]
        if self.built:
            self.compute_output_shape(shapes)  # raises for shapes that do not merge
            return
        self._set_built(shapes, self.compute_output_shape(shapes), {}, {})

    def __call__(self, x, training=False, mask=None, **kwargs):
        if not isinstance(x, (list, tuple)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) should be called on a list of inputs, e.g. "
                f"{type(self).__name__}()([x1, x2]). Received: {type(x).__name__}."
            )
        if any(isinstance(v, KerasTensor) for v in x):
            from jseq.functional import call_symbolic

            return call_symbolic(self, list(x), training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Unexpected arguments for calling layer '{self.name}': {sorted(kwargs)}")
        xs = [v if _is_scalar(v) else self._cast_input(v) for v in x]
        self.build([() if _is_scalar(v) else (None,) + tuple(v.shape[1:]) for v in xs])
        y, _ = self.apply({}, {}, xs)
        return y


class Add(_Merge):
    """Elementwise sum of a list of inputs: `y = x_1 + x_2 + ...`.

    Input shape: a list of arrays of the same shape (or shapes that broadcast). Output shape: that shape.
    """

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """Elementwise difference of exactly two inputs: `y = x_1 - x_2`."""

    exact_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]


class Multiply(_Merge):
    """Elementwise product of a list of inputs: `y = x_1 * x_2 * ...`."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class TrueDivide(_Merge):
    """Elementwise quotient of exactly two inputs, `y = x_1 / x_2`: what `a / b` records on symbolic tensors.

    (Keras records `a / b` as its `TrueDivide` operation; this layer is the same computation.)
    """

    exact_inputs = 2

    def _merge(self, xs):
        return xs[0] / xs[1]


class Average(_Merge):
    """Elementwise mean of a list of inputs: `y = (x_1 + ... + x_n) / n`."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs)


class Maximum(_Merge):
    """Elementwise maximum of a list of inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = jnp.maximum(out, x)
        return out


class Minimum(_Merge):
    """Elementwise minimum of a list of inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = jnp.minimum(out, x)
        return out


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis`.

    Args:
        axis: the axis to join along (the last by default); every other size must match.

    Input shape: a list of `(batch, ..., d_i, ...)`. Output shape: `(batch, ..., sum(d_i), ...)`.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"Concatenate expects an integer axis. Received: axis={axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shapes):
        ranks = {len(s) for s in input_shapes}
        axis = self.axis % max(ranks) if ranks and max(ranks) else 0
        if len(ranks) != 1 or axis == 0:
            raise self._concat_error(input_shapes)
        out = list(input_shapes[0])
        for shape in input_shapes[1:]:
            for i, (a, b) in enumerate(zip(out, shape)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is not None and b is not None and a != b:
                    raise self._concat_error(input_shapes)
                elif a is None:
                    out[i] = b
        return tuple(out)

    def _concat_error(self, input_shapes):
        return ValueError(
            f"Layer '{self.name}' (Concatenate) requires inputs of the same rank whose sizes match on every "
            f"axis but the concatenation axis ({self.axis}, not the batch axis). Received: input_shape="
            f"{_shapes_str(input_shapes)}"
        )

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return jnp.concatenate(x, axis=self.axis), state

    def compute_mask(self, x, mask):
        """Keras: the masks (all-True where an input has none) joined on `axis`, then any() over the last."""
        if mask is None or all(m is None for m in mask):
            return None
        full = []
        for v, m in zip(x, mask):
            if m is None:
                m = jnp.ones(v.shape, bool)
            elif m.ndim < v.ndim:
                m = jnp.broadcast_to(m[..., None], v.shape)
            full.append(m)
        return jnp.any(jnp.concatenate(full, axis=self.axis), axis=-1)


class Dot(_Merge):
    """Dot product of two inputs along `axes`, sample by sample (Keras's `batch_dot`).

    Args:
        axes: an int (the same axis of both inputs) or a pair `(axis_1, axis_2)`; never the batch axis.
        normalize: L2-normalise both inputs along the axes first, so the result is the cosine similarity.

    Input shape: `[(batch, ..., d, ...), (batch, ..., d, ...)]`. Output shape: the first input's shape without
    `axes[0]`, then the second's without the batch axis and `axes[1]`; `(batch, 1)` if nothing is left.
    """

    supports_masking = False
    exact_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
                raise ValueError(
                    f"Dot expects `axes` to be an int or a pair of ints. Received: axes={axes!r}"
                )
            axes = tuple(axes)
        elif not isinstance(axes, int) or isinstance(axes, bool):
            raise TypeError(f"Dot expects `axes` to be an int or a pair of ints. Received: axes={axes!r}")
        self.axes, self.normalize = axes, bool(normalize)

    def _axes(self, shape_1, shape_2):
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        return pair[0] % len(shape_1), pair[1] % len(shape_2)

    def compute_output_shape(self, input_shapes):
        shape_1, shape_2 = input_shapes
        if len(shape_1) < 2 or len(shape_2) < 2:
            raise ValueError(
                f"Layer '{self.name}' (Dot) needs inputs of rank >= 2 (batch axis included). Received: "
                f"input_shape={_shapes_str(input_shapes)}"
            )
        a1, a2 = self._axes(shape_1, shape_2)
        if a1 == 0 or a2 == 0:
            raise ValueError(
                f"Layer '{self.name}' (Dot) cannot take the dot product over the batch axis. "
                f"Received: axes={self.axes}"
            )
        d1, d2 = shape_1[a1], shape_2[a2]
        if d1 is not None and d2 is not None and d1 != d2:
            raise ValueError(
                f"Layer '{self.name}' (Dot) received incompatible input shapes: axis values {d1} (at axis "
                f"{a1}) != {d2} (at axis {a2}). Full input shapes: {_shapes_str(input_shapes)}"
            )
        out = shape_1[:a1] + shape_1[a1 + 1 :] + tuple(d for i, d in enumerate(shape_2) if i not in (0, a2))
        return out if len(out) > 1 else out + (1,)

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        x1, x2 = x
        a1, a2 = self._axes(x1.shape, x2.shape)
        if self.normalize:  # x * min(1 / ||x||, 1 / eps), Keras's L2 normalisation
            x1, x2 = _l2_normalize(x1, a1), _l2_normalize(x2, a2)
        # Contract a1 with a2, batch axis 0 with 0: (B, x1 free axes..., x2 free axes...)
        y = jax.lax.dot_general(x1, x2, (((a1,), (a2,)), ((0,), (0,))))
        return (y[:, None] if y.ndim == 1 else y), state

    def compute_mask(self, x, mask):
        del x, mask
        return None


def _l2_normalize(x, axis, epsilon=1e-7):
    inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv_norm, 1.0 / epsilon)
