"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization, UnitNormalization.

Each standardizes its input over some axes and (except UnitNormalization) rescales it with a learnt `gamma`
and shifts it with a learnt `beta`:

    y = gamma * (x - mean) / sqrt(variance + epsilon) + beta

computed, as Keras does, as `x * inv + (beta - mean * inv)` with `inv = gamma * rsqrt(variance + epsilon)`.
The variance is the biased one (mean of squared deviations). Statistics of float16 / bfloat16 inputs are
computed in float32.

They differ in what the mean and variance are taken over:
  BatchNormalization  every axis but the feature axis: over the batch (moving averages at inference)
  LayerNormalization  the feature axis (or axes), per sample
  GroupNormalization  groups of channels, per sample (with spatial axes too)
  UnitNormalization   no mean: `x / ||x||` along the axis, no weights
"""

import warnings

import jax.numpy as jnp
from jax import lax

from jseq import initializers, regularizers
from jseq.core import Layer, shape_str, split_key

_EPSILON = 1e-7  # Keras's backend epsilon, guarding the masked mean's denominator


def _resolve_axes(layer, axis, input_shape):
    """Non-negative, sorted axes of `input_shape`; each must exist and (for weights) be known."""
    ndim = len(input_shape)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}): axis {a} is out of bounds for input shape "
                f"{shape_str(input_shape)}. Received: axis={axis}"
            )
    axes = sorted(a % ndim for a in axes)
    if 0 in axes:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) cannot normalize over the batch axis 0. "
            f"Received: axis={axis}"
        )
    return axes


def _known(layer, input_shape, axes):
    sizes = tuple(input_shape[a] for a in axes)
    if None in sizes:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs the size of axis {list(axes)} of its "
            f"input to be known. Received input_shape={shape_str(input_shape)}."
        )
    return sizes


def _compute_dtype(x):
    return jnp.result_type(x.dtype, jnp.float32)


def _normalize(x, mean, variance, gamma, beta, epsilon):
    """`gamma * (x - mean) / sqrt(variance + epsilon) + beta`, with every statistic broadcast against x."""
    inv = lax.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    offset = -mean * inv
    if beta is not None:
        offset = offset + beta
    return x * inv + offset


def _no_constraints(cls, **constraints):
    given = sorted(name for name, value in constraints.items() if value is not None)
    if given:
        raise ValueError(f"{cls}: weight constraints are not supported by jseq; leave {given} as None.")


class _Affine(Layer):
    """The learnt `gamma` / `beta` every normalization but UnitNormalization has, and their penalties."""

    def _store_affine(
        self, center, scale, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer
    ):
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _affine_params(self, key, shape, scale=None, center=None):
        """`{"gamma": ..., "beta": ...}` (Keras's order), each present when scale / center is on."""
        k_gamma, k_beta = split_key(key)
        params = {}
        if self.scale if scale is None else scale:
            params["gamma"] = initializers.draw(self.gamma_initializer, k_gamma, shape, self.dtype)
        if self.center if center is None else center:
            params["beta"] = initializers.draw(self.beta_initializer, k_beta, shape, self.dtype)
        return params

    def regularization_loss(self, params):
        penalty = 0.0
        if self.gamma_regularizer is not None and "gamma" in params:
            penalty += self.gamma_regularizer(params["gamma"])
        if self.beta_regularizer is not None and "beta" in params:
            penalty += self.beta_regularizer(params["beta"])
        return penalty


class BatchNormalization(_Affine):
    """Normalizes each feature with the batch's statistics in training, and with their moving averages
    (kept in `state`) at inference.

    In training (`training=True` and the layer trainable):
        mean, variance = moments of x over every axis but `axis`        (masked steps left out)
        moving_mean     <- momentum * moving_mean     + (1 - momentum) * mean
        moving_variance <- momentum * moving_variance + (1 - momentum) * variance
    Otherwise mean, variance = moving_mean, moving_variance, and the state is returned unchanged. A frozen
    layer (`trainable=False`) runs in inference mode even when training, as in Keras (fine-tuning).
    Then `y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`.

    Args:
        axis: the feature axis (default -1; 1 for channels_first images).
        momentum: of the moving averages (default 0.99). epsilon: added to the variance (default 1e-3).
        center, scale: whether to learn `beta` / `gamma`.
        beta_initializer ("zeros"), gamma_initializer ("ones"), moving_mean_initializer ("zeros"),
        moving_variance_initializer ("ones"), beta_regularizer, gamma_regularizer.

    Params: `gamma (features,)`, `beta (features,)`. State (non-trainable weights, counted by summary):
    `moving_mean (features,)`, `moving_variance (features,)`. `get_weights()` gives all four in that order.
    """

    supports_masking = True
    call_takes_mask = True

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ):
        _no_constraints(
            "BatchNormalization", beta_constraint=beta_constraint, gamma_constraint=gamma_constraint
        )
        if renorm or synchronized:
            raise ValueError(
                "BatchNormalization: batch renormalization (`renorm=True`) and cross-device statistics "
                f"(`synchronized=True`) are not supported by jseq. Received: renorm={renorm}, "
                f"synchronized={synchronized}"
            )
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"BatchNormalization expects an integer `axis`. Received: axis={axis!r}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self._store_affine(
            center, scale, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer
        )
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, None, float(renorm_momentum)
        self.synchronized = False

    def init(self, key, input_shape):
        (axis,) = _resolve_axes(self, self.axis, input_shape)
        shape = _known(self, input_shape, [axis])
        k_affine, k_mean, k_var = split_key(key, 3)
        state = {
            "moving_mean": initializers.draw(self.moving_mean_initializer, k_mean, shape, self.dtype),
            "moving_variance": initializers.draw(self.moving_variance_initializer, k_var, shape, self.dtype),
        }
        return input_shape, self._affine_params(k_affine, shape), state

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        del key
        axis = self.axis % x.ndim
        reduce = tuple(a for a in range(x.ndim) if a != axis)
        stats_shape = [1] * x.ndim
        stats_shape[axis] = x.shape[axis]  # (1, ..., features, ..., 1) broadcasts against x
        xc = x.astype(_compute_dtype(x))
        if training and self.trainable:
            mean, variance = _moments(xc, reduce, mask)
            m = self.momentum
            state = {
                "moving_mean": (state["moving_mean"] * m + mean * (1.0 - m)).astype(
                    state["moving_mean"].dtype
                ),
                "moving_variance": (state["moving_variance"] * m + variance * (1.0 - m)).astype(
                    state["moving_variance"].dtype
                ),
            }
        else:
            mean, variance = state["moving_mean"], state["moving_variance"]
        gamma, beta = params.get("gamma"), params.get("beta")
        y = _normalize(
            xc,
            mean.reshape(stats_shape),
            variance.reshape(stats_shape),
            None if gamma is None else gamma.reshape(stats_shape),
            None if beta is None else beta.reshape(stats_shape),
            self.epsilon,
        )
        return y.astype(x.dtype), state


def _moments(x, reduce, mask):
    """Mean and biased variance over the axes `reduce`; with a mask `(batch, steps)`, over unmasked steps."""
    if mask is None:
        return jnp.mean(x, axis=reduce), jnp.var(x, axis=reduce)
    keep = jnp.broadcast_to(jnp.expand_dims(mask.astype(bool), -1), x.shape)
    count = jnp.sum(keep.astype(x.dtype), axis=reduce, keepdims=True) + _EPSILON
    mean = jnp.sum(jnp.where(keep, x, 0.0), axis=reduce, keepdims=True) / count
    variance = jnp.sum(jnp.where(keep, x - mean, 0.0) ** 2, axis=reduce, keepdims=True) / count
    return mean.squeeze(reduce), variance.squeeze(reduce)


class LayerNormalization(_Affine):
    """Normalizes each sample over its feature axis (or axes), with that sample's own statistics.

    `y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`, the mean and variance taken over `axis` of
    each sample alone: no state, the same in training and inference.

    Args:
        axis: an int or a list of ints (default -1): the axes normalized together; gamma and beta have
            their shape.
        epsilon: added to the variance (default 1e-3).
        center, scale, beta_initializer ("zeros"), gamma_initializer ("ones"), beta_regularizer,
        gamma_regularizer: as in BatchNormalization.
        rms_scaling: Keras's deprecated option (default False): `y = gamma * x / sqrt(var + eps)`, no beta.

    Params: `gamma`, `beta`, each of the normalized axes' shape.
    """

    supports_masking = True

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        rms_scaling=False,
        **kwargs,
    ):
        _no_constraints(
            "LayerNormalization", beta_constraint=beta_constraint, gamma_constraint=gamma_constraint
        )
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise TypeError(
                f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r}"
            )
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon, self.rms_scaling = float(epsilon), bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(
                "LayerNormalization: `rms_scaling=True` is deprecated (as in Keras): it scales the input by "
                "the variance, not the root mean square.",
                stacklevel=2,
            )
        self._store_affine(
            center, scale, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer
        )

    def init(self, key, input_shape):
        axes = _resolve_axes(self, self.axis, input_shape)
        shape = _known(self, input_shape, axes)
        scale, center = self.scale or self.rms_scaling, self.center and not self.rms_scaling
        return input_shape, self._affine_params(key, shape, scale=scale, center=center), {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        axes = tuple(a % x.ndim for a in (self.axis if isinstance(self.axis, list) else [self.axis]))
        stats_shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
        xc = x.astype(_compute_dtype(x))
        gamma, beta = params.get("gamma"), params.get("beta")
        gamma = None if gamma is None else gamma.reshape(stats_shape)
        variance = jnp.var(xc, axis=axes, keepdims=True)
        if self.rms_scaling:
            y = xc * lax.rsqrt(variance + self.epsilon)
            y = y if gamma is None else y * gamma
        else:
            mean = jnp.mean(xc, axis=axes, keepdims=True)
            y = _normalize(
                xc, mean, variance, gamma, None if beta is None else beta.reshape(stats_shape), self.epsilon
            )
        return y.astype(x.dtype), state


class GroupNormalization(_Affine):
    """Splits the channels into `groups` and normalizes each group of each sample (over its channels and
    every spatial position): between LayerNormalization (`groups=1`) and instance normalization
    (`groups=-1`, one group per channel). No state; the same in training and inference.

    Args:
        groups: the number of groups (default 32); the channels must divide by it. -1: one per channel.
        axis: the channel axis (default -1).
        epsilon (1e-3), center, scale, beta_initializer, gamma_initializer, beta_regularizer,
        gamma_regularizer: as in LayerNormalization.

    Params: `gamma (channels,)`, `beta (channels,)`.
    """

    supports_masking = True

    def __init__(
        self,
        groups=32,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        if not isinstance(groups, int) or isinstance(groups, bool) or (groups <= 0 and groups != -1):
            raise ValueError(
                "Received an invalid value for argument `groups`, expected a positive integer (or `-1` for "
                f"instance normalization). Received: groups={groups!r}"
            )
        _no_constraints(
            "GroupNormalization", beta_constraint=beta_constraint, gamma_constraint=gamma_constraint
        )
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"GroupNormalization expects an integer `axis`. Received: axis={axis!r}")
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self._store_affine(
            center, scale, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer
        )

    def init(self, key, input_shape):
        (axis,) = _resolve_axes(self, self.axis, input_shape)
        (channels,) = _known(self, input_shape, [axis])
        groups = channels if self.groups == -1 else self.groups
        if channels < groups or channels % groups:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization): the number of channels ({channels}) must be a "
                f"multiple of the number of groups ({groups}). Received input_shape={shape_str(input_shape)}."
            )
        return input_shape, self._affine_params(key, (channels,)), {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        axis = self.axis % x.ndim
        channels = x.shape[axis]
        groups = channels if self.groups == -1 else self.groups
        # (B, ..., C, ...) -> (B, ..., G, C / G, ...): statistics over all but the batch and group axes
        grouped = x.shape[:axis] + (groups, channels // groups) + x.shape[axis + 1 :]
        xg = x.astype(_compute_dtype(x)).reshape(grouped)
        reduce = tuple(a for a in range(1, xg.ndim) if a != axis)
        stats_shape = [1] * xg.ndim
        stats_shape[axis], stats_shape[axis + 1] = groups, channels // groups
        gamma, beta = params.get("gamma"), params.get("beta")
        y = _normalize(
            xg,
            jnp.mean(xg, axis=reduce, keepdims=True),
            jnp.var(xg, axis=reduce, keepdims=True),
            None if gamma is None else gamma.reshape(stats_shape),
            None if beta is None else beta.reshape(stats_shape),
            self.epsilon,
        )
        return y.reshape(x.shape).astype(x.dtype), state


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm along `axis`: `y = x / max(||x||, 1e-12)` (no weights).

    Args:
        axis: an int or a list of ints (default -1).
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise TypeError(
                "Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                f"Received: axis={axis!r}"
            )
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def compute_output_shape(self, input_shape):
        _resolve_axes(self, self.axis, input_shape)
        return input_shape

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        axes = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        inv_norm = lax.rsqrt(jnp.sum(jnp.square(x), axis=axes, keepdims=True))
        return x * jnp.minimum(inv_norm, 1e12), state
