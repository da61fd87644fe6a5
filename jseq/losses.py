"""Losses with Keras's names, formulas and reduction.

Two levels, as in Keras:

* functions `loss(y_true, y_pred) -> per-sample loss`: the last axis is reduced where Keras reduces it
  (`mean_squared_error` of `(n, d)` arrays is `(n,)`); pure jnp, so they jit and differentiate;
* `Loss` objects: `loss(y_true, y_pred, sample_weight=None) -> scalar`, using Keras's default reduction
  "sum_over_batch_size" (sum of the weighted per-sample values / their number), `loss.call(y_true, y_pred)`
  for the per-sample values, `loss.name`, `get_config()`.

Probabilities (`from_logits=False`) are handled as Keras does on JAX (keras/src/backend/jax/nn.py): the
categorical and sparse crossentropies renormalise `y_pred` to sum to 1, every crossentropy clips to
`[1e-7, 1 - 1e-7]`, then takes the log. Ranks are matched first as Keras's `squeeze_or_expand_to_same_rank`
does, so `(n,)` labels against an `(n, 1)` prediction work.

`get(identifier)` resolves what `compile(loss=...)` received; `"crossentropy"` / `"ce"` give an
`AutoCrossentropy`, which picks binary, sparse or categorical from the shapes (`resolve`), as Keras does.
"""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp

from jseq.core import to_snake_case

EPSILON = 1e-7  # Keras's `backend.epsilon()`


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Make ranks match when they differ by one trailing axis of size 1 (Keras's rule).

    `(n,)` vs `(n, 1)`: the `(n,)` one gets a trailing axis (with `expand_rank_1=False`, the other loses it).
    """
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = jnp.expand_dims(x2, -1)
        else:
            x1 = jnp.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = jnp.expand_dims(x1, -1)
        else:
            x2 = jnp.squeeze(x2, -1)
    return x1, x2


def crossentropy_kind(y_true_shape, y_pred_shape):
    """ "binary", "sparse" or "categorical": Keras's rule for "accuracy" and "crossentropy" by shape.

    binary if `y_pred.shape[-1] == 1`; else sparse if `rank(y_true) < rank(y_pred)` or
    (`y_true.shape[-1] == 1` and `y_pred.shape[-1] > 1`); else categorical.
    """
    y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    true_last = y_true_shape[-1] if y_true_shape else None
    pred_last = y_pred_shape[-1] if y_pred_shape else None
    if pred_last == 1:
        return "binary"
    pred_many = pred_last is None or pred_last > 1
    if len(y_true_shape) < len(y_pred_shape) or (true_last == 1 and pred_many):
        return "sparse"
    return "categorical"


def _prepare(y_true, y_pred):
    y_pred = jnp.asarray(y_pred)
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(jnp.float32)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def _check_same_shape(fn, y_true, y_pred):
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"In {fn}, `y_true` and `y_pred` must have the same shape. "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}. For integer class labels "
            "use 'sparse_categorical_crossentropy'; for one-hot labels of another width, check the last "
            "layer's number of units."
        )


# --------------------------------------------------------------------------------------------------------
# Regression losses: mean over the last axis.


def mean_squared_error(y_true, y_pred):
    """`mean((y_true - y_pred)², axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """`mean(|y_true - y_pred|, axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """`100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|, axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), EPSILON))
    return 100.0 * jnp.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """`mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))², axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    first = jnp.log(jnp.maximum(y_pred, EPSILON) + 1.0)
    second = jnp.log(jnp.maximum(y_true, EPSILON) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """`mean(0.5 e²  if |e| <= delta  else  delta |e| - 0.5 delta², axis=-1)` with `e = y_pred - y_true`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    error = y_pred - y_true
    abs_error = jnp.abs(error)
    quadratic = 0.5 * jnp.square(error)
    linear = delta * abs_error - 0.5 * delta**2
    return jnp.mean(jnp.where(abs_error <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed stably as `x + softplus(-2x) - log 2`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    x = y_pred - y_true
    return jnp.mean(x + jax.nn.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def _l2_normalize(x, axis):
    # Keras's `ops.normalize`: x * min(rsqrt(sum x²), 1 / epsilon).
    inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv_norm, 1.0 / EPSILON)


def cosine_similarity(y_true, y_pred, axis=-1):
    """`-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)`: -1 for the same direction, as Keras."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return -jnp.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


# --------------------------------------------------------------------------------------------------------
# Probabilistic losses.


def kl_divergence(y_true, y_pred):
    """`sum(t * log(t / p), axis=-1)` with both clipped to `[1e-7, 1]`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = jnp.clip(y_true, EPSILON, 1.0)
    y_pred = jnp.clip(y_pred, EPSILON, 1.0)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """`mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + EPSILON), axis=-1)


def _binary_crossentropy_elementwise(y_true, y_pred, from_logits):
    if from_logits:
        return -y_true * jax.nn.log_sigmoid(y_pred) - (1.0 - y_true) * jax.nn.log_sigmoid(-y_pred)
    y_pred = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -(y_true * jnp.log(y_pred) + (1.0 - y_true) * jnp.log(1.0 - y_pred))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """`mean(-(t log p + (1 - t) log(1 - p)), axis)`; smoothing sends labels towards 0.5.

    Args:
        y_true: labels in [0, 1], shaped like `y_pred` (or `(n,)` against `(n, 1)`).
        y_pred: probabilities, or logits with `from_logits=True` (then computed with `log_sigmoid`).
        from_logits: whether `y_pred` are logits.
        label_smoothing: `t = t * (1 - label_smoothing) + 0.5 * label_smoothing`.
        axis: the axis averaged over.
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return jnp.mean(_binary_crossentropy_elementwise(y_true, y_pred, from_logits), axis=axis)


def _log_probabilities(y_pred, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    y_pred = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
    return jnp.log(jnp.clip(y_pred, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """`-sum(t * log p, axis)` for one-hot (or soft) labels.

    Args:
        y_true: one-hot labels, shaped like `y_pred`.
        y_pred: probabilities (renormalised, then clipped to [1e-7, 1 - 1e-7]) or logits.
        from_logits: whether `y_pred` are logits (then `log_softmax`).
        label_smoothing: `t = t * (1 - label_smoothing) + label_smoothing / num_classes`.
        axis: the class axis.
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return -jnp.sum(y_true * _log_probabilities(y_pred, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """`-log p[label]` for integer labels.

    Args:
        y_true: integer class ids shaped `(n,)` or `(n, 1)` (more generally `y_pred.shape[:-1]`).
        y_pred: probabilities `(n, num_classes)` (renormalised, then clipped) or logits.
        from_logits: whether `y_pred` are logits (then `log_softmax`).
        ignore_class: a label value whose samples get loss 0 (and are left out of the loss object's mean).
        axis: the class axis.
    """
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = jnp.squeeze(y_true, axis=axis)
    if y_true.shape != y_pred.shape[:-1] or y_pred.ndim < 1:
        raise ValueError(
            "In sparse_categorical_crossentropy, `y_true` must hold one integer class id per sample: shape "
            f"{y_pred.shape[:-1]} or {y_pred.shape[:-1] + (1,)} for y_pred.shape={y_pred.shape}. "
            f"Received: y_true.shape={y_true.shape}. For one-hot labels use 'categorical_crossentropy'."
        )
    labels = y_true.astype(jnp.int32)
    valid = labels != ignore_class if ignore_class is not None else None
    if valid is not None:
        labels = jnp.where(valid, labels, 0)
    log_prob = _log_probabilities(y_pred, from_logits, axis)
    loss = -jnp.sum(jax.nn.one_hot(labels, y_pred.shape[axis], axis=axis) * log_prob, axis=axis)
    return jnp.where(valid, loss, 0.0) if valid is not None else loss


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    """Binary crossentropy scaled by `(1 - p_t) ** gamma` (Lin et al., 2017); `alpha` balances classes."""
    y_true, y_pred = _prepare(y_true, y_pred)
    _check_same_shape("binary_focal_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    bce = _binary_crossentropy_elementwise(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal = jnp.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal
    return jnp.mean(focal, axis=axis)


def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Categorical crossentropy scaled by `alpha * (1 - p) ** gamma` per class (Lin et al., 2017)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    _check_same_shape("categorical_focal_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        y_pred = jax.nn.softmax(y_pred, axis=axis)
    output = jnp.clip(y_pred / jnp.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    cce = -y_true * jnp.log(output)
    return jnp.sum(alpha * jnp.power(1.0 - output, gamma) * cce, axis=axis)


# --------------------------------------------------------------------------------------------------------
# Hinge losses. Labels may be -1/1 or 0/1: when every label is 0 or 1 they are mapped to -1/1, as Keras.


def _hinge_labels(y_true):
    is_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """`mean(max(1 - t * y_pred, 0), axis=-1)` with labels t in {-1, 1} (0/1 labels are converted)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return jnp.mean(jnp.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """`mean(max(1 - t * y_pred, 0)², axis=-1)` with labels t in {-1, 1} (0/1 labels are converted)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return jnp.mean(jnp.square(jnp.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """`max(max((1 - t) * y_pred) - sum(t * y_pred) + 1, 0)` over the last axis, for one-hot t."""
    y_true, y_pred = _prepare(y_true, y_pred)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, 0.0)


# Keras's short and legacy names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh
kld = KLD = kullback_leibler_divergence = kl_divergence
bce = BCE = binary_crossentropy


# --------------------------------------------------------------------------------------------------------
# Reduction.

REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight")


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Weight per-sample values and reduce them, as Keras's `reduce_weighted_values`.

    Args:
        values: per-sample losses, e.g. `(n,)`.
        sample_weight: broadcastable weights, e.g. `(n,)` or `(n, 1)`; None means 1.
        mask: boolean, like `values`; masked-out entries count for nothing (means are over valid entries).
        reduction: "sum_over_batch_size" (sum / number of values), "sum", "mean" (same as the first),
            "mean_with_sample_weight" (sum / sum of weights), or "none" / None (no reduction).
    """
    values = jnp.asarray(values)
    if mask is not None:
        mask = jnp.asarray(mask, values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            # Valid entries weigh total/valid, so the mean below is over valid entries only.
            valid = jnp.sum(mask)
            mask = mask * jnp.where(valid > 0, mask.size / jnp.maximum(valid, 1.0), 0.0)
        if sample_weight is None:
            sample_weight = mask
        else:
            mask, sample_weight = squeeze_or_expand_to_same_rank(
                mask, jnp.asarray(sample_weight, values.dtype)
            )
            sample_weight = sample_weight * mask
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight, values.dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        # Per-sample weights `(n,)` against per-timestep losses `(n, t)`: broadcast over the trailing axes.
        sample_weight = jnp.reshape(
            sample_weight, sample_weight.shape + (1,) * (values.ndim - sample_weight.ndim)
        )
        values = values * sample_weight
    if reduction in ("none", None) or values.ndim == 0:
        return values
    total = jnp.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = jnp.sum(jnp.broadcast_to(sample_weight, values.shape))
    else:
        divisor = values.size
    return jnp.where(divisor != 0, total / jnp.where(divisor != 0, divisor, 1), 0.0)


# --------------------------------------------------------------------------------------------------------
# Loss objects.


class Loss:
    """Base class: `loss(y_true, y_pred, sample_weight=None) -> scalar`, from per-sample values `call`.

    Subclass and implement `call(y_true, y_pred) -> per-sample losses`, as in Keras.

    Args:
        name: the loss's name (default: snake-case class name).
        reduction: see `reduce_weighted_values`; Keras's default "sum_over_batch_size".
        dtype: the dtype inputs are cast to; float32.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
                f"Received: reduction={reduction!r}"
            )
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = jnp.dtype(dtype or "float32")

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement `call(y_true, y_pred)`.")

    def _mask(self, y_true, y_pred):
        # Entries to leave out of the reduction (SparseCategoricalCrossentropy's `ignore_class`).
        return None

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        """The reduced loss.

        Args:
            y_true: targets.
            y_pred: predictions.
            sample_weight: optional per-sample weights, e.g. `(n,)`.
            mask: optional boolean mask of valid per-sample values (e.g. from a masking layer).
        """
        y_pred = jnp.asarray(y_pred, self.dtype)
        y_true = jnp.asarray(y_true, self.dtype)
        values = self.call(y_true, y_pred)
        own_mask = self._mask(y_true, y_pred)
        if own_mask is not None:
            mask = own_mask if mask is None else jnp.logical_and(own_mask, mask)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class LossFunctionWrapper(Loss):
    """A `Loss` around a function `fn(y_true, y_pred, **kwargs) -> per-sample losses`.

    Ranks are matched first (`squeeze_or_expand_to_same_rank`), as Keras does for every function loss.

    Args:
        fn: the function.
        reduction: see `Loss`.
        name: the loss's name; default `fn.__name__`.
        dtype: see `Loss`.
        **kwargs: passed to `fn` on every call.
    """

    _config_keys = ()  # which of the kwargs Keras puts in the config

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(jnp.asarray(y_true), jnp.asarray(y_pred))
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({k: self.fn_kwargs[k] for k in self._config_keys})
        return config

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} fn={getattr(self.fn, '__name__', self.fn)!r}>"


# One class per function, with Keras's constructor arguments, defaults and names.

_RD = "sum_over_batch_size"


class MeanSquaredError(LossFunctionWrapper):
    """`mean((y_true - y_pred)², axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """`mean(|y_true - y_pred|, axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction, name, dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """`100 * mean(|(y_true - y_pred) / y_true|, axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction, name, dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """`mean((log(y_pred + 1) - log(y_true + 1))², axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction, name, dtype)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along `axis`, averaged over the batch."""

    _config_keys = ("axis",)

    def __init__(self, axis=-1, reduction=_RD, name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction, name, dtype, axis=axis)
        self.axis = axis


class Huber(LossFunctionWrapper):
    """Quadratic for errors up to `delta`, linear beyond; averaged over the batch."""

    _config_keys = ("delta",)

    def __init__(self, delta=1.0, reduction=_RD, name="huber_loss", dtype=None):
        super().__init__(huber, reduction, name, dtype, delta=delta)
        self.delta = delta


class LogCosh(LossFunctionWrapper):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction, name, dtype)


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence `sum(t log(t / p), axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction, name, dtype)


class Poisson(LossFunctionWrapper):
    """`mean(y_pred - y_true * log(y_pred), axis=-1)`, averaged over the batch."""

    def __init__(self, reduction=_RD, name="poisson", dtype=None):
        super().__init__(poisson, reduction, name, dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary crossentropy (see `binary_crossentropy`), averaged over the batch.

    Args:
        from_logits: whether predictions are logits (no sigmoid in the last layer).
        label_smoothing: in [0, 1]; labels move towards 0.5 by this fraction.
        axis: the axis averaged over per sample.
        reduction, name, dtype: see `Loss`.
    """

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_RD,
        name="binary_crossentropy",
        dtype=None,
    ):
        kwargs = dict(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        super().__init__(binary_crossentropy, reduction, name, dtype, **kwargs)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary focal crossentropy (see `binary_focal_crossentropy`), averaged over the batch."""

    _config_keys = ("from_logits", "label_smoothing", "axis", "apply_class_balancing", "alpha", "gamma")

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_RD,
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        kwargs = dict(
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        super().__init__(binary_focal_crossentropy, reduction, name, dtype, **kwargs)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma


class CategoricalCrossentropy(LossFunctionWrapper):
    """Categorical crossentropy for one-hot labels (see `categorical_crossentropy`), averaged over the batch.

    Args:
        from_logits: whether predictions are logits (no softmax in the last layer).
        label_smoothing: in [0, 1]; labels move towards uniform by this fraction.
        axis: the class axis.
        reduction, name, dtype: see `Loss`.
    """

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_RD,
        name="categorical_crossentropy",
        dtype=None,
    ):
        kwargs = dict(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        super().__init__(categorical_crossentropy, reduction, name, dtype, **kwargs)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical focal crossentropy (see `categorical_focal_crossentropy`), averaged over the batch."""

    _config_keys = ("from_logits", "label_smoothing", "axis", "alpha", "gamma")

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_RD,
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        kwargs = dict(
            alpha=alpha, gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
        )
        super().__init__(categorical_focal_crossentropy, reduction, name, dtype, **kwargs)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.alpha, self.gamma = alpha, gamma


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for integer labels (see `sparse_categorical_crossentropy`), averaged over the batch.

    Args:
        from_logits: whether predictions are logits (no softmax in the last layer).
        ignore_class: a label value to leave out (loss 0, and not counted in the mean).
        reduction: see `Loss`.
        axis: the class axis.
        name, dtype: see `Loss`.
    """

    _config_keys = ("from_logits", "ignore_class")

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction=_RD,
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        kwargs = dict(from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        super().__init__(sparse_categorical_crossentropy, reduction, name, dtype, **kwargs)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def _mask(self, y_true, y_pred):
        if self.ignore_class is None:
            return None
        if y_true.ndim == y_pred.ndim and y_true.shape[self.axis] == 1:
            y_true = jnp.squeeze(y_true, self.axis)
        return y_true != self.ignore_class


class Hinge(LossFunctionWrapper):
    """`mean(max(1 - t * y_pred, 0), axis=-1)` for labels -1/1 (or 0/1), averaged over the batch."""

    def __init__(self, reduction=_RD, name="hinge", dtype=None):
        super().__init__(hinge, reduction, name, dtype)


class SquaredHinge(LossFunctionWrapper):
    """`mean(max(1 - t * y_pred, 0)², axis=-1)` for labels -1/1 (or 0/1), averaged over the batch."""

    def __init__(self, reduction=_RD, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction, name, dtype)


class CategoricalHinge(LossFunctionWrapper):
    """`max(max((1 - t) * y_pred) - sum(t * y_pred) + 1, 0)` for one-hot labels, averaged over the batch."""

    def __init__(self, reduction=_RD, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction, name, dtype)


class AutoCrossentropy(Loss):
    """The loss named `"crossentropy"` / `"ce"`: binary, sparse or categorical, chosen by shape as Keras.

    `resolve(y_true_shape, y_pred_shape)` returns the concrete loss (see `crossentropy_kind`); calling this
    object resolves on the shapes it is given.

    Args:
        name: the name as passed to `compile` ("crossentropy" or "ce").
    """

    _CLASSES = {
        "binary": BinaryCrossentropy,
        "sparse": SparseCategoricalCrossentropy,
        "categorical": CategoricalCrossentropy,
    }

    def __init__(self, name="crossentropy", reduction=_RD, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def resolve(self, y_true_shape, y_pred_shape):
        cls = self._CLASSES[crossentropy_kind(y_true_shape, y_pred_shape)]
        return cls(name=self.name, reduction=self.reduction, dtype=self.dtype)

    def call(self, y_true, y_pred):
        return self.resolve(jnp.shape(y_true), jnp.shape(y_pred)).call(y_true, y_pred)

    def _mask(self, y_true, y_pred):
        return None


# --------------------------------------------------------------------------------------------------------
# Names.

_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    Huber,
    LogCosh,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    SparseCategoricalCrossentropy,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
)

# Every name `compile(loss=...)` accepts: function names and aliases -> the class used for them.
_FUNCTION_NAMES = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "cosine_similarity": CosineSimilarity,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
}
_CLASS_NAMES = {cls.__name__: cls for cls in _CLASSES}


def serialize(loss):
    """Keras's layout: `{"module", "class_name", "config", "registered_name"}`."""
    if type(loss) not in _CLASSES and not isinstance(loss, AutoCrossentropy):
        raise TypeError(
            f"Only jseq's built-in losses can be serialized. Received: {loss!r}. A custom loss function is "
            "saved by name only; pass it again (`custom_objects`) when loading."
        )
    return {
        "module": "keras.losses",
        "class_name": type(loss).__name__,
        "config": loss.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """The inverse of `serialize` (also reads Keras's own loss configs)."""
    class_name = config.get("class_name")
    cls = _CLASS_NAMES.get(class_name) or (AutoCrossentropy if class_name == "AutoCrossentropy" else None)
    if cls is None:
        raise ValueError(f"Unknown loss class: {class_name!r}. Expected one of {sorted(_CLASS_NAMES)}.")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier):
    """Resolve what `compile(loss=...)` received into a `Loss` object.

    Args:
        identifier: a function name or alias (`"mse"`, `"sparse_categorical_crossentropy"`: the loss is
            named by the string), a class name (`"MeanSquaredError"`), `"crossentropy"` / `"ce"` (an
            `AutoCrossentropy`, resolved by shape), a `Loss` class or instance, a config dict, or any
            function `fn(y_true, y_pred) -> per-sample losses` (wrapped; named `fn.__name__`).
    """
    if isinstance(identifier, Loss):
        return identifier
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            return AutoCrossentropy(name=identifier)
        if identifier in _CLASS_NAMES:
            return _CLASS_NAMES[identifier]()
        if identifier.lower() in _FUNCTION_NAMES:
            return _FUNCTION_NAMES[identifier.lower()](name=identifier)
    elif callable(identifier):
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    valid = sorted(_FUNCTION_NAMES) + ["crossentropy", "ce"] + sorted(_CLASS_NAMES)
    raise ValueError(
        f"Could not interpret loss identifier: {identifier!r}. Expected a function `fn(y_true, y_pred)`, a "
        f"`jseq.losses.Loss`, or one of the names: {', '.join(valid)}."
    )
