"""Metrics with Keras's names and values, as pure state-update functions the jitted train step can run.

The protocol (what `fit` / `evaluate` use, inside `jax.jit`)::

    state = metric.init()                                       # a dict of jnp arrays
    state = metric.update(state, y_true, y_pred, sample_weight)  # pure: returns a new state
    value = metric.result(state)                                # a jnp scalar (or vector)

plus `metric.name`. The same object also offers Keras's stateful convenience around an internal state,
so Keras code runs unchanged::

    m = jseq.metrics.AUC()
    m.update_state(y_true, y_pred)
    float(m.result())
    m.reset_state()

Values match Keras's for the same inputs, sample weights included: a `MeanMetricWrapper` metric keeps
`total = sum(w * value)` and `count = sum(w)` (Keras's `Mean`), the confusion-matrix metrics (`AUC`,
`Precision`, `Recall`, ...) keep weighted counts per threshold.

`get(identifier, y_true_shape, y_pred_shape)` resolves what `compile(metrics=[...])` received;
`"accuracy"` / `"acc"` pick binary, sparse or categorical accuracy by shape, as Keras does.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np

from jseq import losses as losses_module
from jseq.core import to_snake_case, unique_name
from jseq.losses import EPSILON, crossentropy_kind, squeeze_or_expand_to_same_rank

# --------------------------------------------------------------------------------------------------------
# Accuracy functions: per-sample 1.0 / 0.0.


def accuracy(y_true, y_pred):
    """`y_true == y_pred`, elementwise."""
    y_pred = jnp.asarray(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(jnp.asarray(y_true, y_pred.dtype), y_pred)
    return (y_true == y_pred).astype(jnp.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """`y_true == (y_pred > threshold)`, elementwise."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(jnp.asarray(y_true), jnp.asarray(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(jnp.float32)


def categorical_accuracy(y_true, y_pred):
    """`argmax(y_true) == argmax(y_pred)` over the last axis, for one-hot labels."""
    return (jnp.argmax(y_true, axis=-1) == jnp.argmax(y_pred, axis=-1)).astype(jnp.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """`y_true == argmax(y_pred)` for integer labels shaped `(n,)` or `(n, 1)`."""
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true, y_pred.dtype)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
    return (y_true == jnp.argmax(y_pred, axis=-1).astype(y_pred.dtype)).astype(jnp.float32)


def _in_top_k(labels, y_pred, k):
    # Keras's rule: the label's score ranks within the k best (ties count in favour); NaN scores lose.
    y_pred = jnp.reshape(y_pred, (-1, y_pred.shape[-1]))
    at_label = jnp.take_along_axis(y_pred, labels.reshape(-1, 1), axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    rank = 1 + jnp.sum(y_pred > at_label, axis=-1)
    return (rank <= k).astype(jnp.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether the one-hot label's class is among the `k` highest predictions."""
    labels = jnp.argmax(y_true, axis=-1)
    return _in_top_k(labels.astype(jnp.int32), jnp.asarray(y_pred), k).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether the integer label is among the `k` highest predictions."""
    labels = jnp.asarray(y_true).astype(jnp.int32)
    return _in_top_k(labels, jnp.asarray(y_pred), k).reshape(labels.shape)


# --------------------------------------------------------------------------------------------------------
# The base class.


class Metric:
    """Base class: the pure protocol `init` / `update` / `result`, and Keras's stateful methods around it.

    Subclasses implement `init()`, `update(state, ...)` and `result(state)`.

    Args:
        name: the name it logs under.
        dtype: the dtype of its state; float32.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = jnp.dtype(dtype or "float32")
        self._state = None

    def init(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `init()`.")

    def update(self, state, y_true, y_pred, sample_weight=None):
        raise NotImplementedError(f"{type(self).__name__} must implement `update(state, ...)`.")

    def _result(self, state):
        raise NotImplementedError(f"{type(self).__name__} must implement `_result(state)`.")

    def result(self, state=None):
        """The metric's value for `state`; without one, for the state held by `update_state` (as Keras)."""
        return self._result(self._held_state() if state is None else state)

    # ---- Keras's stateful convenience

    def _held_state(self):
        if self._state is None:
            self._state = self.init()
        return self._state

    def update_state(self, *args, **kwargs):
        """Accumulate a batch into the held state (Keras's `update_state`)."""
        self._state = self.update(self._held_state(), *args, **kwargs)

    def reset_state(self):
        """Forget everything accumulated."""
        self._state = self.init()

    def __call__(self, *args, **kwargs):
        """Accumulate a batch and return the result so far, as Keras's metrics do."""
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def variables(self):
        return list(self._held_state().values())

    def get_config(self):
        return {"name": self.name, "dtype": str(self.dtype)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


# --------------------------------------------------------------------------------------------------------
# Reduction metrics.


def _samplewise(values, sample_weight, reduce_fn):
    """Keras's `reduce_to_samplewise_values`: per-sample `values` weighted, and the matching weights.

    `values` are reduced to the rank of `sample_weight` with `reduce_fn`, weighted, then to `(n,)`.
    """
    values = jnp.asarray(values, jnp.float32)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight, jnp.float32)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        w_ndim = sample_weight.ndim
        if values.ndim > w_ndim:
            values = reduce_fn(values, axis=tuple(range(w_ndim, values.ndim)))
        sample_weight = jnp.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if w_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, w_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of the values seen: `update(state, values, sample_weight=None)`."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def init(self):
        return {"total": jnp.zeros([], self.dtype)}

    def update(self, state, values, sample_weight=None):
        values, _ = _samplewise(values, sample_weight, jnp.sum)
        return {"total": state["total"] + jnp.sum(values)}

    def _result(self, state):
        return state["total"]


class Mean(Metric):
    """The (weighted) mean of the values seen: `update(state, values, sample_weight=None)`.

    `total += sum(w * value)`, `count += sum(w)` (or the number of samples); result `total / count`.
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def init(self):
        return {"total": jnp.zeros([], self.dtype), "count": jnp.zeros([], self.dtype)}

    def update(self, state, values, sample_weight=None):
        values, sample_weight = _samplewise(values, sample_weight, jnp.mean)
        if sample_weight is not None:
            count = jnp.sum(sample_weight)
        else:
            count = values.shape[0] if values.ndim >= 1 else 1
        return {"total": state["total"] + jnp.sum(values), "count": state["count"] + count}

    def _result(self, state):
        count = state["count"]
        return jnp.where(count != 0, state["total"] / jnp.where(count != 0, count, 1.0), 0.0)


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over all samples seen: how a function becomes a metric.

    Args:
        fn: `fn(y_true, y_pred) -> per-sample values`, e.g. a loss function or your own.
        name: the name it logs under (default "mean_metric_wrapper", made unique, as Keras).
        dtype: see `Metric`.
        **kwargs: passed to `fn` on every call.
    """

    _config_keys = ()  # which of the kwargs Keras puts in the config

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        Metric.__init__(self, name=name, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def update(self, state, y_true, y_pred, sample_weight=None):
        return super().update(state, self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({k: self.fn_kwargs[k] for k in self._config_keys})
        return config


# Accuracy metrics.


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` equals the 0/1 label."""

    _config_keys = ("threshold",)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` equals `argmax(y_true)` (one-hot labels)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label is among the `k` top predictions."""

    _config_keys = ("k",)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the `k` top predictions."""

    _config_keys = ("k",)

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


# Probabilistic metrics: the mean of the loss functions.


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary crossentropy (see `jseq.losses.binary_crossentropy`)."""

    _config_keys = ("from_logits", "label_smoothing")

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        kwargs = dict(from_logits=from_logits, label_smoothing=label_smoothing)
        super().__init__(losses_module.binary_crossentropy, name=name, dtype=dtype, **kwargs)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical crossentropy (see `jseq.losses.categorical_crossentropy`)."""

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1
    ):
        kwargs = dict(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        super().__init__(losses_module.categorical_crossentropy, name=name, dtype=dtype, **kwargs)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean sparse categorical crossentropy (see `jseq.losses.sparse_categorical_crossentropy`).

    Samples whose label is `ignore_class` are left out of the mean, as in the loss. (Keras leaves them
    out only when a `sample_weight` is given, and otherwise averages their zeros in.)
    """

    _config_keys = ("from_logits", "ignore_class", "axis")

    def __init__(
        self,
        name="sparse_categorical_crossentropy",
        dtype=None,
        from_logits=False,
        ignore_class=None,
        axis=-1,
    ):
        kwargs = dict(from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        super().__init__(losses_module.sparse_categorical_crossentropy, name=name, dtype=dtype, **kwargs)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def update(self, state, y_true, y_pred, sample_weight=None):
        if self.ignore_class is not None:
            labels = jnp.asarray(y_true)
            if labels.ndim == jnp.ndim(y_pred) and labels.shape[-1] == 1:
                labels = jnp.squeeze(labels, -1)
            valid = (labels != self.ignore_class).astype(jnp.float32)
            if sample_weight is None:
                sample_weight = valid
            else:
                valid, sample_weight = squeeze_or_expand_to_same_rank(
                    valid, jnp.asarray(sample_weight, jnp.float32)
                )
                sample_weight = sample_weight * valid
        return super().update(state, y_true, y_pred, sample_weight)


class KLDivergence(MeanMetricWrapper):
    """The mean Kullback-Leibler divergence."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(losses_module.kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """The mean Poisson loss."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(losses_module.poisson, name=name, dtype=dtype)


# Regression and hinge metrics.


class MeanSquaredError(MeanMetricWrapper):
    """The mean of `mean((y_true - y_pred)², axis=-1)`."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses_module.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of `mean(|y_true - y_pred|, axis=-1)`."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses_module.mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean absolute percentage error."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(losses_module.mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean squared logarithmic error."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses_module.mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean of `log(cosh(y_pred - y_true))`."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(losses_module.log_cosh, name=name, dtype=dtype)


def _cosine_similarity(y_true, y_pred, axis=-1):
    return -losses_module.cosine_similarity(y_true, y_pred, axis=axis)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity between labels and predictions (1 is the same direction)."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(_cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Hinge(MeanMetricWrapper):
    """The mean hinge loss."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(losses_module.hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean squared hinge loss."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(losses_module.squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean categorical hinge loss."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(losses_module.categorical_hinge, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """`sqrt(mean((y_pred - y_true)²))` over every element seen (weighted per sample)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update(self, state, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(
            jnp.asarray(y_true, self.dtype), jnp.asarray(y_pred, self.dtype)
        )
        return super().update(state, jnp.square(y_pred - y_true), sample_weight)

    def _result(self, state):
        return jnp.sqrt(super()._result(state))


class _AutoMetric(MeanMetricWrapper):
    """ "accuracy" / "crossentropy" before the shapes are known: picks the function by shape at each update.

    `resolve(y_true_shape, y_pred_shape)` gives the concrete metric, as `get` does with shapes.
    """

    _FUNCTIONS = {}
    _CLASSES = {}

    def __init__(self, name, dtype=None):
        super().__init__(self._pick, name=name, dtype=dtype)

    def _pick(self, y_true, y_pred):
        fn = self._FUNCTIONS[crossentropy_kind(jnp.shape(y_true), jnp.shape(y_pred))]
        return fn(y_true, y_pred)

    def resolve(self, y_true_shape, y_pred_shape):
        return self._CLASSES[crossentropy_kind(y_true_shape, y_pred_shape)](name=self.name, dtype=self.dtype)


class AutoAccuracy(_AutoMetric):
    """The metric named "accuracy" / "acc": binary, sparse or categorical accuracy by shape (Keras's rule)."""

    _FUNCTIONS = {
        "binary": binary_accuracy,
        "sparse": sparse_categorical_accuracy,
        "categorical": categorical_accuracy,
    }
    _CLASSES = {
        "binary": BinaryAccuracy,
        "sparse": SparseCategoricalAccuracy,
        "categorical": CategoricalAccuracy,
    }


class AutoCrossentropy(_AutoMetric):
    """The metric named "crossentropy" / "ce": binary, sparse or categorical crossentropy by shape."""

    _FUNCTIONS = {
        "binary": losses_module.binary_crossentropy,
        "sparse": losses_module.sparse_categorical_crossentropy,
        "categorical": losses_module.categorical_crossentropy,
    }
    _CLASSES = {
        "binary": BinaryCrossentropy,
        "sparse": SparseCategoricalCrossentropy,
        "categorical": CategoricalCrossentropy,
    }


# --------------------------------------------------------------------------------------------------------
# Confusion-matrix metrics: weighted counts of true/false positives/negatives per threshold.

NEG_INF = -1e10  # Keras's score for predictions outside the top k


def _evenly_spaced(thresholds):
    # Keras's `is_evenly_distributed_thresholds`: then counts come from one pass of bucketing.
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=EPSILON))


def _confusion_counts(
    y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None, evenly=False
):
    """Weighted (tp, fp, tn, fn), each `(len(thresholds),)`: a prediction is positive when `> threshold`.

    Labels count as positive when non-zero. Follows Keras's `update_confusion_matrix_variables`, including
    its bucketed fast path for evenly spaced thresholds (what `AUC` uses), so the counts agree exactly.
    """
    y_true = jnp.asarray(y_true, jnp.float32)
    y_pred = jnp.asarray(y_pred, jnp.float32)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = jnp.expand_dims(jnp.asarray(sample_weight, jnp.float32), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        _, top_idx = jax.lax.top_k(y_pred, top_k)
        in_top = jnp.sum(jax.nn.one_hot(top_idx, y_pred.shape[-1]), axis=-2)
        y_pred = y_pred * in_top + NEG_INF * (1 - in_top)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape (num_samples, num_classes), "
                f"found shape: {y_pred.shape}"
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = 1.0 if sample_weight is None else jnp.broadcast_to(sample_weight, y_pred.shape).reshape(-1)
    positive = (y_true != 0).astype(jnp.float32).reshape(-1)
    y_pred = y_pred.reshape(-1)
    true_labels, false_labels = positive * weights, (1.0 - positive) * weights
    n_thresholds = len(thresholds)
    if evenly:
        # Threshold i is i / (n - 1): count each prediction once in the bucket just below it, then
        # "above threshold i" is the sum of buckets >= i (a reversed cumulative sum).
        bucket = jnp.ceil(jnp.clip(y_pred, 0.0, 1.0) * (n_thresholds - 1)) - 1
        if thresholds[0] < 0.0 or thresholds[-1] > 1.0:
            bucket = jnp.maximum(bucket, 0)
        bucket = bucket.astype(jnp.int32)

        def above(labels):
            per_bucket = jax.ops.segment_sum(jnp.broadcast_to(labels, bucket.shape), bucket, n_thresholds)
            return jnp.flip(jnp.cumsum(jnp.flip(per_bucket)))

        tp, fp = above(true_labels), above(false_labels)
    else:
        is_above = y_pred[None, :] > jnp.asarray(thresholds, jnp.float32)[:, None]  # (thresholds, samples)
        tp = jnp.sum(jnp.where(is_above, true_labels, 0.0), axis=1)
        fp = jnp.sum(jnp.where(is_above, false_labels, 0.0), axis=1)
    tn = jnp.sum(jnp.broadcast_to(false_labels, y_pred.shape)) - fp
    fn = jnp.sum(jnp.broadcast_to(true_labels, y_pred.shape)) - tp
    return {"true_positives": tp, "false_positives": fp, "true_negatives": tn, "false_negatives": fn}


def _parse_thresholds(thresholds, default):
    values = [default] if thresholds is None else list(np.atleast_1d(thresholds))
    if thresholds is not None:
        bad = [t for t in values if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def _divide_no_nan(a, b):
    return jnp.where(b != 0, a / jnp.where(b != 0, b, 1.0), 0.0)


class _ConfusionMetric(Metric):
    """Shared machinery: keep the counts named in `_counts` for each threshold."""

    _counts = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = _evenly_spaced(self.thresholds)

    def init(self):
        return {k: jnp.zeros(len(self.thresholds), self.dtype) for k in self._counts}

    def update(self, state, y_true, y_pred, sample_weight=None):
        counts = _confusion_counts(
            y_true, y_pred, self.thresholds, sample_weight, self.top_k, self.class_id, self._evenly
        )
        return {k: state[k] + counts[k] for k in self._counts}

    def _single(self, value):
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        config = super().get_config()
        config.update({"thresholds": self.init_thresholds, "top_k": self.top_k, "class_id": self.class_id})
        return config


class Precision(_ConfusionMetric):
    """`tp / (tp + fp)`: how many predicted positives (`y_pred > threshold`) are positive.

    Args:
        thresholds: a float or list in [0, 1] (default 0.5); a list gives one value per threshold.
        top_k: count only the k highest predictions of each sample as positive.
        class_id: compute for this class (column) only.
        name, dtype: see `Metric`.
    """

    _counts = ("true_positives", "false_positives")

    def _result(self, state):
        tp, fp = state["true_positives"], state["false_positives"]
        return self._single(_divide_no_nan(tp, tp + fp))


class Recall(_ConfusionMetric):
    """`tp / (tp + fn)`: how many positives are predicted positive (`y_pred > threshold`).

    Args:
        thresholds, top_k, class_id, name, dtype: as `Precision`.
    """

    _counts = ("true_positives", "false_negatives")

    def _result(self, state):
        tp, fn = state["true_positives"], state["false_negatives"]
        return self._single(_divide_no_nan(tp, tp + fn))


class _ConditionCount(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def _result(self, state):
        return self._single(state[self._counts[0]])

    def get_config(self):
        return {"name": self.name, "dtype": str(self.dtype), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """The weighted number of positives predicted positive (`y_pred > threshold`, default 0.5)."""

    _counts = ("true_positives",)


class FalsePositives(_ConditionCount):
    """The weighted number of negatives predicted positive."""

    _counts = ("false_positives",)


class TrueNegatives(_ConditionCount):
    """The weighted number of negatives predicted negative."""

    _counts = ("true_negatives",)


class FalseNegatives(_ConditionCount):
    """The weighted number of positives predicted negative."""

    _counts = ("false_negatives",)


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at `num_thresholds` thresholds (Keras's).

    Thresholds are `[-1e-7, 1/(n-1), ..., (n-2)/(n-1), 1 + 1e-7]`; the area is a Riemann sum over them,
    with Keras's interpolation (for PR, Davis & Goadrich's interpolation).

    Args:
        num_thresholds: n, > 1.
        curve: "ROC", "PR" or "PRGAIN".
        summation_method: "interpolation", "minoring" or "majoring".
        name, dtype: see `Metric`.
        thresholds: explicit thresholds in [0, 1] instead of evenly spaced ones.
        multi_label, num_labels, label_weights: only the defaults (False, None, None) are supported.
        from_logits: apply a sigmoid to predictions first.
    """

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        super().__init__(name=name, dtype=dtype)
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        if str(curve).lower() not in curves:
            raise ValueError(
                f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]'
            )
        methods = ("interpolation", "majoring", "minoring")
        if str(summation_method).lower() not in methods:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". '
                f"Expected values are {list(methods)}"
            )
        if multi_label or num_labels is not None or label_weights is not None:
            raise NotImplementedError(
                "jseq's AUC supports single-label AUC only (multi_label=False, no num_labels/label_weights). "
                "For per-label AUCs, use one AUC(...) per output column with `class_id`-style slicing."
            )
        self.curve = curves[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        self.from_logits = from_logits
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced([0.0] + inner + [1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    f"Argument `num_thresholds` must be an integer > 1. Received: {num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        # End points just outside [0, 1], so predictions of exactly 0 or 1 fall inside.
        self.thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]

    def init(self):
        names = ("true_positives", "false_positives", "true_negatives", "false_negatives")
        return {k: jnp.zeros(self.num_thresholds, self.dtype) for k in names}

    def update(self, state, y_true, y_pred, sample_weight=None):
        if self.from_logits:
            y_pred = jax.nn.sigmoid(jnp.asarray(y_pred, jnp.float32))
        counts = _confusion_counts(y_true, y_pred, self.thresholds, sample_weight, evenly=self._evenly)
        return {k: state[k] + counts[k] for k in state}

    def _result(self, state):
        tp, fp = state["true_positives"], state["false_positives"]
        tn, fn = state["true_negatives"], state["false_negatives"]
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN: recall and precision gains, with Keras's fixes where they diverge
            scale = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = jnp.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
            x, y = (
                jnp.maximum(recall_gain, 0.0),
                jnp.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp)),
            )
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = jnp.minimum(y[:-1], y[1:])
        else:
            heights = jnp.maximum(y[:-1], y[1:])
        return jnp.sum((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_thresholds": self.num_thresholds,
                "curve": self.curve,
                "summation_method": self.summation_method,
                "multi_label": False,
                "num_labels": None,
                "label_weights": None,
                "from_logits": self.from_logits,
            }
        )
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


def _interpolate_pr_auc(tp, fp, fn):
    """Davis & Goadrich (2006): integrate precision over recall, interpolating between thresholds."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    prec_slope = _divide_no_nan(dtp, jnp.maximum(dp, 0))
    intercept = tp[1:] - prec_slope * p[1:]
    safe_p_ratio = jnp.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], jnp.maximum(p[1:], 0)), 1.0)
    increments = _divide_no_nan(
        prec_slope * (dtp + intercept * jnp.log(safe_p_ratio)), jnp.maximum(tp[1:] + fn[1:], 0)
    )
    return jnp.sum(increments)


# --------------------------------------------------------------------------------------------------------
# Names.

_CLASSES = (
    Mean,
    Sum,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Poisson,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    LogCoshError,
    CosineSimilarity,
    RootMeanSquaredError,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    AUC,
    Precision,
    Recall,
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
)

# Keras's string ids: class names, their snake_case forms, and short aliases.
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({to_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update(
    {
        "bce": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "rmse": RootMeanSquaredError,
        "logcosh": LogCoshError,
        "log_cosh": LogCoshError,
        "kld": KLDivergence,
        "kullback_leibler_divergence": KLDivergence,
    }
)
_BY_NAME.update({k.upper(): v for k, v in list(_BY_NAME.items()) if k.islower() and len(k) <= 4})


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolve one entry of `compile(metrics=[...])` into a `Metric`, as Keras's `get_metric` does.

    Args:
        identifier: `"accuracy"` / `"acc"` (binary, sparse or categorical accuracy chosen by shape: binary
            if `y_pred_shape[-1] == 1`, else sparse if `y_true` has lower rank or a last axis of 1, else
            categorical), `"crossentropy"` / `"ce"` (the same rule), any other metric name (`"mse"`,
            `"auc"`, `"precision"`, `"top_k_categorical_accuracy"`, `"AUC"`, ...: the metric is named by
            the string as passed), a `Metric` instance (returned as is) or class, a `jseq.losses.Loss`, or
            a function `fn(y_true, y_pred)` (averaged over samples, named `fn.__name__`).
        y_true_shape, y_pred_shape: the shapes the metric will see (the batch dimension may be None).
            Without them, "accuracy" and "crossentropy" choose at each update from the arrays' shapes.
    """
    if isinstance(identifier, Metric):
        return identifier
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, losses_module.Loss):
        return MeanMetricWrapper(identifier.call, name=identifier.name)
    if isinstance(identifier, str):
        auto = {
            "accuracy": AutoAccuracy,
            "acc": AutoAccuracy,
            "crossentropy": AutoCrossentropy,
            "ce": AutoCrossentropy,
        }
        cls = auto.get(identifier.lower())
        if cls is not None:
            metric = cls(name=identifier)
            if y_true_shape is not None and y_pred_shape is not None:
                return metric.resolve(y_true_shape, y_pred_shape)
            return metric
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is not None:
            return cls(name=identifier)
    elif callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    valid = ["accuracy", "acc", "crossentropy", "ce"] + sorted(k for k in _BY_NAME if k.islower())
    raise ValueError(
        f"Could not interpret metric identifier: {identifier!r}. Expected a function `fn(y_true, y_pred)`, a "
        f"`jseq.metrics.Metric`, or one of the names: {', '.join(valid)}."
    )
