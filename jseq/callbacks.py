"""Callbacks: code that `fit`, `evaluate` and `predict` run at fixed points, with Keras 3's names and hooks.

The protocol (every hook has a do-nothing default on `Callback`)::

    on_train_begin(logs)     on_epoch_begin(epoch, logs)     on_train_batch_begin(batch, logs)
    on_train_end(logs)       on_epoch_end(epoch, logs)       on_train_batch_end(batch, logs)
    on_test_begin(logs)      on_test_end(logs)               on_test_batch_begin / on_test_batch_end
    on_predict_begin(logs)   on_predict_end(logs)            on_predict_batch_begin / on_predict_batch_end
    on_batch_begin / on_batch_end: the Keras 2 names, called by the default on_train_batch_begin / _end

* `epoch` and `batch` are 0-based. Batch logs hold the running means of the epoch so far; epoch logs the
  epoch's means, with `val_`-prefixed validation results after `fit`'s validation pass.
* A callback sees the model as `self.model` and the run's settings as `self.params`
  (`{"verbose", "epochs", "steps"}`).

What a callback may rely on from the model: `model.stop_training` (set it to end `fit` after this batch or
epoch), `model.get_weights()` / `model.set_weights(list)`, `model.optimizer.learning_rate` (a float; assigning
it changes the rate from the next step on), `model.save(path, overwrite=True)`,
`model.save_weights(path, overwrite=True)`, `model.name`.
"""

import csv
import inspect
import math
import numbers
import os
import string
import warnings

import numpy as np

from jseq.saving.files import writes_files
from jseq.utils.progbar import Progbar, print_msg

# --------------------------------------------------------------------------------------------------------
# The base class and the two callbacks every `fit` has.


class Callback:
    """Base class of callbacks: subclass it and override the hooks you need.

    Attributes:
        model: the model being trained, evaluated or used for prediction.
        params: dict of the run's settings: `verbose`, `epochs`, `steps` (steps per epoch).

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    def __init__(self):
        self.model = None
        self.params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once at the start of `fit`."""

    def on_train_end(self, logs=None):
        """Called once at the end of `fit` (with the last epoch's logs); not called when `fit` raised."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch of `fit`."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch of `fit` with the epoch's metrics (and `val_` ones)."""

    def on_batch_begin(self, batch, logs=None):
        """Keras 2 name of `on_train_batch_begin`; called by it unless that is overridden."""

    def on_batch_end(self, batch, logs=None):
        """Keras 2 name of `on_train_batch_end`; called by it unless that is overridden."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training step."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training step with the epoch's running metrics."""
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        """Called at the start of `evaluate`, and of the validation pass inside `fit`."""

    def on_test_end(self, logs=None):
        """Called at the end of `evaluate`, and of the validation pass inside `fit`."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation step."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation step with the running metrics."""

    def on_predict_begin(self, logs=None):
        """Called at the start of `predict`."""

    def on_predict_end(self, logs=None):
        """Called at the end of `predict`."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction step."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction step."""


class History(Callback):
    """Records every epoch's logs; `fit` returns it.

    Attributes:
        history: dict of lists, `{"loss": [0.73, 0.61], "val_loss": [...], ...}`, one entry per epoch.
        epoch: the epoch indices run, 0-based.
        params: `{"verbose", "epochs", "steps"}`.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        if self.model is not None:
            self.model.history = self

    def plot(self, metrics=None, to_file=None, *, title=None, figsize=None, dpi=100):
        """Draw the loss and metric curves, training against validation: `jseq.utils.plot_history(self, ...)`.

        Args:
            metrics: a name or list of names to plot; default: all, loss first.
            to_file: also write the picture there (`.png`, `.svg`, `.pdf`).
            title: a title over the panels.
            figsize: `(width, height)` in inches; default 4.8 x 3.6 per panel.
            dpi: resolution of the picture.

        Returns:
            The matplotlib `Figure`.
        """
        from jseq.utils.plotting import plot_history

        return plot_history(self, metrics=metrics, to_file=to_file, title=title, figsize=figsize, dpi=dpi)


class ProgbarLogger(Callback):
    """Prints the `Epoch 1/5` header and drives a `Progbar` through `fit`, `evaluate` and `predict`.

    verbose=1 shows a bar updated after each step; verbose=2 one line per epoch. Inside `fit` the validation
    pass is silent and its `val_` results appear on the epoch's final line.
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # validation inside `fit` prints nothing of its own

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start_progbar()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start_progbar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_begin(self, logs=None):
        self._start_progbar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # predictions are not shown

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _start_progbar(self):
        self.seen = 0
        # Every value arrives already averaged by the trainer, so none is averaged again.
        self.progbar = Progbar(target=self.target, verbose=self.verbose, stateless_metrics=())

    def _update_progbar(self, batch, logs):
        if self.progbar is None:
            self._start_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        if self.progbar is None:
            self._start_progbar()
        if self.target is None:
            # Unknown length (a generator): the first epoch's length becomes the target.
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


# --------------------------------------------------------------------------------------------------------
# The list that `fit` / `evaluate` / `predict` call.


def _flatten_callbacks(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "`callbacks` must be a list of `jseq.callbacks.Callback` instances. "
            f"Received: callbacks={callbacks!r} (of type {type(callbacks).__name__})"
        )
    flat = []
    for item in callbacks:
        if isinstance(item, (list, tuple)):
            flat.extend(_flatten_callbacks(item))
        elif isinstance(item, Callback):
            flat.append(item)
        else:
            raise TypeError(
                "Every callback must be an instance of `jseq.callbacks.Callback` (subclass it, or use "
                f"`LambdaCallback`). Received: {item!r} (of type {type(item).__name__})"
            )
    return flat


def _python_logs(logs):
    """Sorted by name, nested dicts flattened, scalars (NumPy, JAX) turned into Python floats."""
    result = {}
    for name, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_python_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass  # strings, arrays of several values: passed on as they are
        result[name] = value
    return result


def _sorted_logs(logs):
    return dict(sorted((logs or {}).items()))


def _reads_batch_logs(callback, hooks):
    """Whether `callback` does its own work in one of `hooks` (so it wants Python floats there)."""
    if isinstance(callback, (History, ProgbarLogger)):
        return False  # these read values only when printing
    for hook in hooks:
        if hook in vars(callback) or getattr(type(callback), hook) is not getattr(Callback, hook):
            return True
    return False


class CallbackList(Callback):
    """Calls a list of callbacks in order, adding `History` and `ProgbarLogger` where asked, as Keras.

    Epoch and begin/end logs are passed on sorted by name with Python float values. Batch logs are
    converted only when a callback other than `History` / `ProgbarLogger` reads them: otherwise JAX arrays
    pass through untouched, and the progress bar reads them from the device only when it redraws.

    Args:
        callbacks: a list of `Callback` instances (nested lists are flattened).
        add_history: append a `History` unless the list has one.
        add_progbar: append a `ProgbarLogger` unless the list has one.
        model: the model, given to every callback.
        **params: the run's settings (`verbose`, `epochs`, `steps`), given to every callback.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten_callbacks(callbacks)
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self._decide_batch_conversion()
        self.set_model(model)
        self.set_params(params)

    def _decide_batch_conversion(self):
        def any_reads(hooks):
            return any(_reads_batch_logs(c, hooks) for c in self.callbacks)

        self._convert_train_batch = any_reads(("on_train_batch_end", "on_batch_end"))
        self._convert_test_batch = any_reads(("on_test_batch_end",))
        self._convert_predict_batch = any_reads(("on_predict_batch_end",))

    def append(self, callback):
        self.callbacks.extend(_flatten_callbacks([callback]))
        self._decide_batch_conversion()

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def _call(self, hook, *args, logs, convert=True):
        logs = _python_logs(logs) if convert else _sorted_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=logs, convert=self._convert_train_batch)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs, convert=self._convert_train_batch)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs, convert=self._convert_test_batch)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs, convert=self._convert_predict_batch)


# --------------------------------------------------------------------------------------------------------
# Small callbacks.

_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """A callback made of plain functions, one per hook.

    `on_epoch_begin` / `on_epoch_end` take `(epoch, logs)`, the batch hooks `(batch, logs)`, the begin/end
    hooks `(logs)`. Any hook of `Callback` may be given (`on_batch_end` as in Keras 2, `on_test_end`, ...).

    Example:
        >>> print_epoch = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **other_hooks,
    ):
        super().__init__()
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
        )
        for name, function in other_hooks.items():
            if name not in _HOOKS:
                raise TypeError(
                    f"LambdaCallback got an unexpected keyword argument '{name}'. "
                    f"Valid hooks: {', '.join(_HOOKS)}"
                )
            hooks[name] = function
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: `{name}` must be callable. Received: {function!r}")
            setattr(self, name, function)  # an instance attribute: called without `self`


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite.

    Args:
        raise_error: raise a `RuntimeError` right away (and skip `on_train_end`) instead of stopping
            gracefully after the batch.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.all(np.isfinite(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Writes one row per epoch to a CSV file: `epoch`, then the log names in alphabetical order.

    Without validation results in the first epoch, `val_` columns for every name are added anyway (filled
    with `NA`) as Keras does, so that a later epoch with validation fits the same header. In a
    multi-process JAX run only process 0 writes the file; on the others the callback does nothing.

    Args:
        filename: path of the CSV file.
        separator: the column separator.
        append: append to an existing file (writing the header only if the file is empty) instead of
            overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self._close()
        if not writes_files():
            return
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as existing:
                self.append_header = not existing.readline()
        # newline="": the csv module writes its own `\r\n` line ends.
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if not writes_files():
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            if self.csv_file is None:
                self.on_train_begin()
            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep, lineterminator="\r\n"
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    """A scalar as it is; a list or array as `"[1, 2]"` (quoted), as Keras writes it."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f'"[{", ".join(map(str, np.ravel(value)))}]"'


# --------------------------------------------------------------------------------------------------------
# Callbacks that watch a metric: which direction is better, and what counts as better.

# Metric names and the direction Keras's metric objects declare (`_direction`); `loss` is minimised.
_MAXIMIZED = frozenset(
    """acc accuracy binary_accuracy categorical_accuracy sparse_categorical_accuracy
    top_k_categorical_accuracy sparse_top_k_categorical_accuracy auc precision recall f1_score fbeta_score
    r2_score cosine_similarity io_u mean_io_u binary_io_u one_hot_io_u one_hot_mean_io_u
    pearson_correlation concordance_correlation""".split()
)
_MINIMIZED = frozenset(
    """loss mse mae mape msle mean_squared_error mean_absolute_error mean_absolute_percentage_error
    mean_squared_logarithmic_error root_mean_squared_error binary_crossentropy categorical_crossentropy
    sparse_categorical_crossentropy kl_divergence kld poisson hinge squared_hinge categorical_hinge logcosh
    log_cosh""".split()
)


def _check_mode(callback_name, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(
            f"{callback_name}: unknown mode={mode!r}. Expected one of 'auto', 'min', 'max' "
            "('min': lower is better, 'max': higher is better, 'auto': decided by the metric name)."
        )


def _higher_is_better(callback_name, monitor, mode, model):
    """`mode` 'max' -> True, 'min' -> False, 'auto' -> from the metric's name, as Keras 3 decides it."""
    if mode != "auto":
        return mode == "max"
    name = monitor.removeprefix("val_")
    # A model's own metric objects may say which way they improve, as Keras metrics do.
    for metric in getattr(model, "metrics", None) or []:
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return direction == "up"
    if name in _MAXIMIZED:
        return True
    if name in _MINIMIZED:
        return False
    raise ValueError(
        f"{callback_name} callback received monitor={monitor}, but jseq isn't able to automatically "
        "determine whether that metric should be maximized or minimized. Pass `mode='max'` in order to "
        "monitor based on the highest metric value, or pass `mode='min'` in order to use the lowest value."
    )


def _is_finite_number(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class _MonitorCallback(Callback):
    """Shared by the callbacks that watch one logged value: decides what counts as an improvement.

    An improvement beats the reference by more than `min_delta` in the better direction:
    `current < reference - min_delta` (min mode) or `current > reference + min_delta` (max mode).
    A NaN or infinite value is never an improvement.
    """

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        _check_mode(type(self).__name__, mode)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.higher_is_better = None  # decided once the model (and its metrics) are known

    def _resolve_direction(self):
        if self.higher_is_better is None:
            self.higher_is_better = _higher_is_better(
                type(self).__name__, self.monitor, self.mode, self.model
            )

    def _is_improvement(self, current, reference):
        if not _is_finite_number(current):
            return False
        if reference is None:
            return True
        if self.higher_is_better:
            return current - self.min_delta > reference
        return current + self.min_delta < reference


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            'Optimizer must have a "learning_rate" attribute. Compile the model with an optimizer first. '
            f"Received: optimizer={optimizer!r}"
        )
    return float(optimizer.learning_rate)


class EarlyStopping(_MonitorCallback):
    """Stops training when a monitored metric has stopped improving.

    At the end of each epoch from `start_from_epoch` on, the monitored value counts as an improvement when
    it beats the best so far by more than `min_delta`; after `patience` epochs in a row without one (and
    never in the first epoch), `model.stop_training` is set.

    Args:
        monitor: the logged value to watch, e.g. `"val_loss"`, `"val_accuracy"`, `"loss"`.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints a line when it stops and when it restores weights.
        mode: `"min"`, `"max"`, or `"auto"` (from the metric's name: losses and errors down, accuracies up).
        baseline: a value to beat; while no epoch beats it, patience keeps running out.
        restore_best_weights: at the end of training, set the weights of the best epoch back.
        start_from_epoch: epochs to wait (warm-up) before watching.

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()  # the same instance may serve several `fit` calls
        self._resolve_direction()

    def on_epoch_end(self, epoch, logs=None):
        self._resolve_direction()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # nothing better seen yet
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only when the baseline is beaten as well.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=2,
            )
        return value


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by `factor` when a metric has stopped improving.

    After `patience` epochs without an improvement of more than `min_delta`:
    `lr <- max(lr * factor, min_lr)`, then `cooldown` epochs pass before the count starts again.
    Adds the epoch's `learning_rate` to the logs.

    Args:
        monitor: the logged value to watch.
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints a line at each reduction.
        mode: `"min"`, `"max"` or `"auto"`.
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate is never reduced below this.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if factor <= 0.0:
            raise ValueError(f"ReduceLROnPlateau needs a factor > 0. Received factor={factor}")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()
        self._resolve_direction()

    def on_epoch_end(self, epoch, logs=None):
        self._resolve_direction()
        if logs is None:
            logs = {}
        logs["learning_rate"] = _learning_rate(self.model)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce(self, epoch):
        old_lr = _learning_rate(self.model)
        # The step computes in float32: a rate already at min_lr there is not reduced again.
        if np.float32(old_lr) <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        self.model.optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True


def _takes_current_lr(schedule):
    """Whether `schedule` accepts `(epoch, lr)` (the Keras 2.2+ form) rather than only `(epoch)`."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return True  # a builtin without a signature: try the two-argument form
    try:
        signature.bind(0, 0.0)
        return True
    except TypeError:
        return False


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch from `schedule(epoch, lr)` or `schedule(epoch)`.

    Adds the epoch's `learning_rate` to the logs (and so to `History`).

    Args:
        schedule: a function of the 0-based epoch index (and the current learning rate) returning the new
            learning rate as a float.
        verbose: 1 prints the rate set at each epoch.

    Example:
        >>> def schedule(epoch, lr):
        ...     return lr if epoch < 10 else lr * 0.9
        >>> callback = LearningRateScheduler(schedule)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"`schedule` must be a function of the epoch. Received: schedule={schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._two_arguments = _takes_current_lr(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        if self._two_arguments:
            learning_rate = self.schedule(epoch, _learning_rate(self.model))
        else:
            learning_rate = self.schedule(epoch)
        if isinstance(learning_rate, bool) or not (
            isinstance(learning_rate, numbers.Real)
            or (np.ndim(learning_rate) == 0 and np.issubdtype(np.asarray(learning_rate).dtype, np.floating))
        ):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        learning_rate = float(learning_rate)
        if not (math.isfinite(learning_rate) and learning_rate >= 0):
            raise ValueError(
                "The output of the `schedule` function should be a finite learning rate >= 0. "
                f"Got: {learning_rate} at epoch {epoch}"
            )
        self.model.optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


# --------------------------------------------------------------------------------------------------------
# Checkpoints.


def _template_fields(filepath):
    """The placeholder names of a `str.format` template; a malformed template is a ValueError."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(filepath) if field is not None]
    except ValueError as error:
        fields, reason = None, str(error)
    names = {field.split(".")[0].split("[")[0] for field in fields or []}
    if fields is None or any(not name or name.isdigit() for name in names):
        reason = "placeholders must be named" if fields is not None else reason
        raise ValueError(
            f"ModelCheckpoint: the filepath is not a valid template ({reason}). Placeholders look like "
            "`{epoch:02d}` or `{val_loss:.2f}`; write a literal brace as `{{`. "
            f"Received: filepath={filepath}"
        )
    return names


class ModelCheckpoint(_MonitorCallback):
    """Saves the model or its weights after every epoch (or every `save_freq` batches).

    `filepath` may hold `str.format` placeholders filled from `epoch` (1-based), `batch` (1-based, with an
    integer `save_freq`) and the logs: `"w.{epoch:02d}-{val_loss:.2f}.weights.h5"`. A checkpoint is never
    written when the monitored value or any weight is NaN or infinite, so a diverged run keeps its last good
    file. In a multi-process JAX run every process keeps track of the best value, but only process 0 writes
    the file.

    Args:
        filepath: where to save; ends in `.keras` (whole model) or `.weights.h5` (`save_weights_only=True`).
        monitor: the logged value that decides the best model.
        verbose: 1 prints a line for every save or skip.
        save_best_only: save only when `monitor` improves on the best so far.
        save_weights_only: save with `model.save_weights` instead of `model.save`.
        mode: `"min"`, `"max"` or `"auto"`.
        save_freq: `"epoch"`, or a number of batches between saves.
        initial_value_threshold: the value to beat before the first save (with `save_best_only`).

    Example:
        >>> checkpoint = ModelCheckpoint("best.keras", monitor="val_accuracy", save_best_only=True)
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, 0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None

        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values"
            )
        if save_freq != "epoch" and save_freq <= 0:
            raise ValueError(
                f"save_freq must be 'epoch' or a positive number of batches. Received: {save_freq}"
            )
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must "
                    f"end in `.weights.h5` (Keras weights format). Received: filepath={self.filepath}"
                )
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format). "
                f"Received: filepath={self.filepath}"
            )
        fields = _template_fields(self.filepath)
        if "batch" in fields and save_freq == "epoch":
            raise ValueError(
                "ModelCheckpoint: the filepath uses `{batch}`, which only exists with an integer `save_freq` "
                f"(a save every N batches). Received: filepath={self.filepath}, save_freq='epoch'"
            )

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            self._resolve_direction()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1  # a new epoch began: batches are 0-based
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch, batch, logs):
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {error} is not a '
                f"logged value. Available: {', '.join(sorted(fields))}"
            ) from None

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {filepath}"
            )
        if not self._should_save_model(epoch, logs, filepath) or not writes_files():
            return
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _should_save_model(self, epoch, logs, filepath):
        """Whether to save now; with `save_best_only`, a `True` also makes `current` the new best."""
        current = logs.get(self.monitor)
        if current is not None and not _is_finite_number(current):
            # Whatever `save_best_only` says: a diverged epoch never replaces a checkpoint.
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} is {current}, not saving to {filepath}")
            return False
        if not self.save_best_only:
            if not self._weights_are_finite(epoch, filepath):
                return False
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if current is None:
            if self.monitor.startswith("val_") and not any(key.startswith("val_") for key in logs):
                # No validation ran this epoch (validation_freq > 1, or no validation data at all).
                warnings.warn(
                    f"ModelCheckpoint: can save the best model only with {self.monitor} available; this "
                    f"epoch has no validation results, so epoch {epoch + 1} is not saved. Pass validation "
                    "data to `fit`, or monitor a training value (monitor='loss').",
                    stacklevel=2,
                )
                return False
            raise ValueError(
                f"ModelCheckpoint(save_best_only=True) monitors `{self.monitor}`, which is not in the logs. "
                f"Available: {', '.join(logs)}. Pass one of these as `monitor=`."
            )
        self._resolve_direction()
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if not self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
            return False
        if not self._weights_are_finite(epoch, filepath):
            return False
        if self.verbose > 0:
            print_msg(
                f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to {current:.5f}, "
                f"saving model to {filepath}"
            )
        self.best = current
        return True

    def _weights_are_finite(self, epoch, filepath):
        weights = self.model.get_weights()
        if all(np.all(np.isfinite(w)) for w in map(np.asarray, weights) if w.dtype.kind in "fc"):
            return True
        warnings.warn(
            f"ModelCheckpoint: not saving to {filepath} at epoch {epoch + 1}: the model's weights contain "
            "NaN or Inf. The last checkpoint written is kept.",
            stacklevel=2,
        )
        return False


# --------------------------------------------------------------------------------------------------------
# Fault tolerance


class BackupAndRestore(Callback):
    """Back up the training state at the end of every epoch; after an interruption, resume from it exactly.

    At each epoch end one file, `<backup_dir>/latest.weights.h5`, is written atomically (see
    `jseq.saving`): the weights and optimizer state in Keras's `.weights.h5` layout, plus the next epoch,
    the PRNG key dropout draws from and the shuffle seed. When `fit` starts and finds that file, it loads it
    into the model and goes on from that epoch with that key and seed, so that (on CPU) the resumed run ends
    bit-identical to one that was never interrupted, with `shuffle=True` and Dropout too. Keras's own
    callback restores the weights and the epoch only, so its resumed runs drift.

    A backup is never written from NaN or Inf weights or loss. When training completes, the backup is
    deleted (`delete_checkpoint=True`), except when it ended on a NaN or Inf loss: the last good backup is
    kept to resume from.

    In a multi-process JAX run only process 0 writes (and deletes) the backup; every process reads it when
    `fit` starts, so `backup_dir` must be a folder all hosts can read (a shared file system).

    Args:
        backup_dir: the folder for the backup (created if needed; use one per training run).
        save_freq: "epoch" (the only choice: a run resumes at an epoch boundary, so batch-level backups
            would make it replay batches).
        double_checkpoint: also keep the previous backup (`latest.weights.h5.bkp`) and fall back to it, with
            a warning, when the latest cannot be read.
        delete_checkpoint: delete the backup when `fit` completes.

    >>> model.fit(x, y, epochs=10, callbacks=[BackupAndRestore("/tmp/backup")])
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch":
            if isinstance(save_freq, int) and not isinstance(save_freq, bool):
                raise ValueError(
                    f"BackupAndRestore(save_freq={save_freq}): jseq backs up at the end of each epoch only "
                    "(save_freq='epoch'). A run resumes at an epoch boundary, so a backup taken within an "
                    "epoch would make the resumed run train on some batches twice."
                )
            raise ValueError(
                f"Invalid value for argument `save_freq`. Received: save_freq={save_freq}. Expected 'epoch'."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._prev_weights_path = self._weights_path + ".bkp"

    def on_train_begin(self, logs=None):
        from jseq.saving import FileFormatError
        from jseq.saving.api import read_training_checkpoint

        candidates = [p for p in (self._weights_path, self._prev_weights_path) if os.path.exists(p)]
        for i, path in enumerate(candidates):
            try:
                resume = read_training_checkpoint(self.model, path)
            except FileFormatError as error:
                if i + 1 == len(candidates):
                    raise
                warnings.warn(
                    f"BackupAndRestore: cannot read the backup ({error}); resuming from the previous one, "
                    f"{candidates[i + 1]}.",
                    stacklevel=2,
                )
                continue
            self.model._resume = resume
            return

    def on_epoch_end(self, epoch, logs=None):
        from jseq.saving.api import write_training_checkpoint

        loss = (logs or {}).get("loss")
        weights = self.model.get_weights()
        finite = all(np.all(np.isfinite(w)) for w in map(np.asarray, weights) if w.dtype.kind in "fc")
        if not finite or (loss is not None and not _is_finite_number(loss)):
            warnings.warn(
                f"BackupAndRestore: not backing up epoch {epoch + 1}: the loss or the weights are NaN or "
                "Inf. The last backup is kept.",
                stacklevel=2,
            )
            return
        if not writes_files():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            os.replace(self._weights_path, self._prev_weights_path)
        write_training_checkpoint(
            self.model,
            self._weights_path,
            epoch=epoch + 1,
            key=self.model._live_train_state.key,
            seed=self.model._fit_seed,
        )

    def on_train_end(self, logs=None):
        loss = (logs or {}).get("loss")
        if not self.delete_checkpoint or (loss is not None and not _is_finite_number(loss)):
            return  # a run that ended on NaN keeps its last good backup to resume from
        if not writes_files():
            return
        for path in (self._weights_path, self._prev_weights_path):
            if os.path.exists(path):
                os.remove(path)
        if os.path.isdir(self.backup_dir) and not os.listdir(self.backup_dir):
            os.rmdir(self.backup_dir)
