"""compile / fit / evaluate / predict: one jitted pure step over an explicit train state.

The whole loop in one module. `compile` only resolves names: an Optax transformation with Keras's formulas
(`jseq.optimizers`), a loss (`jseq.losses`), metrics (`jseq.metrics`). `fit` then keeps one `TrainState`

    TrainState(trainable, frozen, state, opt_state, key)
      trainable  params pytree, frozen leaves replaced by None  (what jax.grad differentiates)
      frozen     params pytree, trainable leaves replaced by None
      state      non-trainable layer state (BatchNormalization statistics, carried RNN states)
      opt_state  the optimizer's state over `trainable` (iterations and learning rate included)
      key        the fit's PRNG key: a step's dropout key is it folded with the epoch and the step index

and calls `train_step(train_state, metrics_state, data, order) -> (train_state, metrics_state, logs)`, jitted
once per batch shape (the full batch and the last partial one), usually as the body of a `fori_loop` that
runs many full batches per call (`compile(steps_per_execution=)`). The epoch's data sits on the device; a step
takes its rows with `dynamic_slice` from the epoch's permutation, so nothing is copied from the host per step.
`logs` are running means computed on the device; the progress bar reads them only when it redraws.

The layer objects are updated once, when `fit` returns, and whenever a callback may read the weights.

Across processes (see `jseq.distribution`) the same loop runs in every process on its own rows: the data
and the orders get a leading process axis (processes, n, ...), and a step's batch is every process's rows.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils

from jseq import distribution as distribution_module
from jseq import kernels
from jseq import losses as losses_module
from jseq import metrics as metrics_module
from jseq import optimizers as optimizers_module
from jseq.callbacks import CallbackList
from jseq.core import in_order_of, next_key, shape_str

_NOT_COMPILED = "You must call `compile()` before using the model."


class TrainState(NamedTuple):
    trainable: Any
    frozen: Any
    state: Any
    opt_state: Any
    key: jax.Array


def split_by_mask(params, mask):
    """(trainable, frozen): two copies of `params`, each with the other's leaves replaced by None."""
    trainable = jax.tree.map(lambda p, m: p if m else None, params, mask)
    frozen = jax.tree.map(lambda p, m: None if m else p, params, mask)
    return trainable, frozen


def merge(trainable, frozen):
    return jax.tree.map(lambda t, f: f if t is None else t, trainable, frozen, is_leaf=lambda v: v is None)


# --------------------------------------------------------------------------------------------------------
# Host-side data handling: plain NumPy.


def _to_numpy(data, what):
    """A NumPy array (or a list / dict of them); refuse strings, objects and complex numbers up front."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _to_numpy(v, f"{what}[{k!r}]") for k, v in data.items()}
    if isinstance(data, (list, tuple)) and data and all(_is_array_like(d) for d in data):
        return [_to_numpy(d, f"{what}[{i}]") for i, d in enumerate(data)]
    a = np.asarray(data)
    if a.dtype.kind in "OUSVc" or a.dtype.kind not in "biuf":
        raise TypeError(
            f"`{what}` must be a numeric array (float, int or bool). Received an array of dtype {a.dtype} "
            f"with shape {a.shape}. Convert it first, e.g. `np.asarray({what}, dtype='float32')`."
        )
    if a.ndim == 0:
        raise ValueError(f"`{what}` must have a batch axis. Received a scalar.")
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    elif a.dtype == np.int64 or a.dtype == np.uint64:
        a = a.astype(np.int32)
    return a


def _is_array_like(d):
    return isinstance(d, (np.ndarray, jax.Array)) or (
        isinstance(d, (list, tuple))
        and d
        and isinstance(d[0], (list, tuple, np.ndarray, numbers.Number))
        and np.ndim(d) >= 1
        and not isinstance(d[0], numbers.Number)
    )


def _leaves(data):
    if data is None:
        return []
    if isinstance(data, dict):
        return list(data.values())
    if isinstance(data, list):
        return data
    return [data]


def _num_samples(x, y, sample_weight):
    sizes = {}
    for what, data in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        for a in _leaves(data):
            sizes.setdefault(what, set()).add(len(a))
    flat = {s for v in sizes.values() for s in v}
    if len(flat) > 1:
        detail = ", ".join(f"{k} sizes: {sorted(v)}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous: all inputs must have the same number of samples. {detail}"
        )
    n = flat.pop() if flat else 0
    if n == 0:
        raise ValueError("The data is empty: `x` has 0 samples. Pass at least one sample.")
    return n


def _take(data, index):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: v[index] for k, v in data.items()}
    if isinstance(data, list):
        return [v[index] for v in data]
    return data[index]


def _check_positive_int(name, value, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _check_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return verbose


def _class_weights_to_sample_weights(y, class_weight):
    y = np.asarray(y)
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = labels.astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"`class_weight` has no weight for classes {missing}. Received: {class_weight!r}")
    table = np.zeros(max(class_weight) + 1, np.float32)
    for k, w in class_weight.items():
        table[k] = w
    return table[labels]


# --------------------------------------------------------------------------------------------------------
# The mixin that gives Sequential and Model their Keras training methods.


class Trainer:
    """compile / fit / evaluate / predict for any jseq container (a layer with `forward`)."""

    compiled = False
    optimizer = None
    stop_training = False
    history = None
    _opt_state = None  # the optimizer state kept between `fit` calls (and saved with the model)
    _opt_mask = None  # the trainable mask `_opt_state` was built for

    # ---- compile ---------------------------------------------------------------------------------------

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution="auto",
        jit_compile="auto",
        auto_scale_loss=True,
    ):
        """Choose the optimizer, the loss and the metrics (names resolve to functions; nothing runs yet).

        Args:
            optimizer: a name ("rmsprop", "Adam", ...), a `jseq.optimizers` object, or an
                `optax.GradientTransformation`.
            loss: a name ("sparse_categorical_crossentropy", "mse", ...), a `jseq.losses` object, or a
                function `fn(y_true, y_pred)`; a list or dict of them for several outputs.
            loss_weights: a weight per output's loss (list or dict), for several outputs.
            metrics: names ("accuracy", "mae", ...), `jseq.metrics` objects or functions; a single string is
                accepted too (Keras 2 style, `metrics="accuracy"`); a list or dict per output.
            run_eagerly: run the steps without `jax.jit` (for debugging with print and pdb).
            steps_per_execution: steps per jitted call. An int runs that many (a `fori_loop` over the step;
                callbacks see every `steps_per_execution`-th batch, as in Keras); 1 is one plain jitted step
                per call. "auto" (default): where nothing looks at single batches (no verbose=1 progress
                bar, no callback with batch hooks), every full batch of an epoch in one call; with a
                progress bar, calls of about 0.2 s, measured as it runs, so the bar still moves; with batch
                hooks, one step per call as in Keras. Results are the same either way. Models the loop
                makes slower (transposed convolutions on CPU, see `_loops_well`) keep one plain step per
                call. Across processes with a progress bar, one step per call (timings differ there).
        """
        del auto_scale_loss
        if isinstance(loss_weights, (list, tuple)) and any(isinstance(w, str) for w in loss_weights):
            raise ValueError(
                "`loss_weights` holds strings: compile's third positional argument is `loss_weights`, not "
                f"`metrics`. Write `compile(optimizer, loss, metrics={list(loss_weights)!r})`."
            )
        if steps_per_execution != "auto":
            steps_per_execution = _check_positive_int("steps_per_execution", steps_per_execution)
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        self._losses = _resolve_losses(loss)  # raises for unknown names, before anything changes
        self._metric_specs = _metric_spec(metrics, "metrics")
        self._weighted_metric_specs = _metric_spec(weighted_metrics, "weighted_metrics")
        for name in self._metric_specs + self._weighted_metric_specs:
            _check_metric_name(name)
        self._loss_weights = loss_weights
        self._run_eagerly = bool(run_eagerly)
        self._steps_per_execution = steps_per_execution
        self._jit_compile = jit_compile
        self._tx = self.optimizer.build()
        self._opt_state = self._opt_mask = None
        self._compiled_fns = {}
        self._step_seconds = {}  # (kind, batch) -> measured seconds per looped step, for "auto" chunks
        self._compiled_metrics = None
        self.compiled = True

    # ---- fit -------------------------------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for `epochs` passes over `(x, y)`; returns a `History` (`.history`, `.params`, `.epoch`)."""
        self._require_compiled()
        batch_size = _check_positive_int("batch_size", 32 if batch_size is None else batch_size)
        epochs = _check_positive_int("epochs", epochs, minimum=0)
        verbose = _check_verbose(verbose)
        if not (isinstance(validation_split, numbers.Real) and 0.0 <= validation_split < 1.0):
            raise ValueError(
                f"`validation_split` must be in [0, 1). Received: validation_split={validation_split!r}"
            )
        x, y, sample_weight, n = self._prepare(x, y, sample_weight, class_weight)
        if validation_data is None and validation_split:
            split = int(n * (1.0 - validation_split))  # Keras: the *last* samples, before any shuffle
            if split == 0 or split == n:
                raise ValueError(
                    f"validation_split={validation_split} leaves an empty training or validation set "
                    f"for {n} samples."
                )
            validation_data = (_take(x, slice(split, None)), _take(y, slice(split, None)))
            if sample_weight is not None:
                validation_data += (_take(sample_weight, slice(split, None)),)
            x, y, sample_weight = (
                _take(x, slice(0, split)),
                _take(y, slice(0, split)),
                _take(sample_weight, slice(0, split)),
            )
            n = split
        val = None
        if validation_data is not None:
            val = _unpack_validation(validation_data)
        self._ensure_ready(x, y)
        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:  # more steps than the data holds: the epoch ends with the data
            steps = min(steps, _check_positive_int("steps_per_epoch", steps_per_epoch))

        self._dist = distribution_module.resolve(batch_size, verbose)
        _check_same_count_on_every_process(self._dist, n)
        data = self._place_data((x, y, sample_weight))
        # the shuffle seed: epoch e uses (seed, e); across processes process 0's, as a backup stores it
        self._fit_seed = int(self._from_process_0(np.int32(np.random.randint(0, 2**31 - 1))))
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=steps)  # fmt: skip
        self.stop_training = False
        self._resume = None
        self._live_train_state = self._place(self._initial_train_state())
        logs = {}
        try:
            cbs.on_train_begin()
            if self._resume is not None:
                # A callback (BackupAndRestore) restored weights and optimizer state into the model and asks
                # to go on from its epoch with the key and shuffle seed of the interrupted run.
                self._live_train_state = self._place(
                    self._initial_train_state()._replace(key=self._resume["key"])
                )
                self._fit_seed = int(self._resume["seed"])
                initial_epoch = int(self._resume["epoch"])
            seed = self._fit_seed
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                self._adopt_layer_changes()  # a callback may have changed weights or the learning rate
                # Without shuffling the steps read contiguous rows (a slice, not a gather of `order`'s rows).
                order = _epoch_order(n, shuffle, seed, epoch, self._process()) if _shuffles(shuffle) else None
                logs = self._run_epoch(data, order, n, batch_size, steps, cbs, epoch)
                if self.stop_training and not logs:
                    break
                if val is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._evaluate_arrays(*val, validation_batch_size or batch_size, None)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                self._defer_sync()
                cbs.on_epoch_end(epoch, logs)
                self._adopt_layer_changes()
                if self.stop_training:
                    break
        finally:  # also on an error or Ctrl-C: the layers hold the newest values, no state is left live
            self._end_fit()
        cbs.on_train_end(logs)
        return self.history

    def _run_epoch(self, data, order, n, batch_size, steps, cbs, epoch):
        order = None if order is None else self._place_order(order)
        metrics_state = self._metrics_init(epoch)
        logs = {}
        hooks = _user_batch_hooks(cbs)  # callbacks that may read or write weights between batches
        plan = self._chunks("train", batch_size, cbs)
        full_steps = min(steps, n // batch_size)  # the rest (at most one) is the last, partial batch
        for step, count in plan.calls(steps, full_steps):
            # Before a batch the layers already agree with the train state (waiting on it, handed its values,
            # or the source it was rebuilt from): only a call moves it on.
            cbs.on_train_batch_begin(step)
            if hooks:
                self._adopt_layer_changes()
            _, metrics_state, logs = self._run_steps(
                plan, "train", batch_size, n, step, full_steps, count,
                self._live_train_state, metrics_state, data, order,
            )  # fmt: skip
            if hooks:
                self._defer_sync()
            cbs.on_train_batch_end(step + count - 1, logs)
            if hooks:
                self._adopt_layer_changes()
            if self.stop_training:
                break
        return {k: float(v) for k, v in logs.items()}

    def _run_steps(self, plan, kind, batch, n, step, full_steps, count, *args):
        """Steps `step .. step + count - 1` of `kind` on `args`: the last, partial batch with its own program,
        else one plain step, or the device loop over `count` full batches (timed, for the auto plan)."""
        if step >= full_steps:
            return self._dispatched(kind, self._get_fn(kind, n % batch, batch)(*args))
        if not plan.loop:
            return self._dispatched(kind, self._get_fn(kind, batch, batch)(*args))
        fn = self._get_fn(kind, batch, batch, loop=True)
        with plan.timing(count):
            return plan.wait_for(self._dispatched(kind, fn(*args, np.int32(count))))

    def _dispatched(self, kind, outputs):
        """Keep a train call's new state as soon as the call is queued: it donated the old one, so an
        interrupt (Ctrl-C) while waiting for it must leave the model with the new one."""
        if kind == "train":
            self._live_train_state = outputs[0]
        return outputs

    def _chunks(self, kind, batch, cbs):
        """The plan of steps per jitted call for this run (see `compile(steps_per_execution=)`)."""
        spe = getattr(self, "_steps_per_execution", "auto")  # predict needs no compile
        slow_loop = spe == "auto" and kind == "train" and not self._loops_well()  # only gradients are slow
        if getattr(self, "_run_eagerly", False) or spe == 1 or slow_loop:
            return _Chunks(loop=False, fixed=1)
        if self._multi_process() and kind == "predict":
            # the looped predict writes one array of outputs, where each process wants only its own rows
            return _Chunks(loop=False, fixed=1)
        if spe != "auto":  # Keras's meaning: callbacks see batches spe - 1, 2 * spe - 1, ...
            return _Chunks(loop=True, fixed=spe)
        one_at_a_time = _user_batch_hooks(cbs, kind)
        if not one_at_a_time and not _shows_batches(cbs):
            # Nothing looks at single batches: all full batches in one call. Each call costs more than
            # its steps (on CPU, XLA allocates the program's scratch memory afresh each time: 18 ms per call
            # for the benchmarks' CNN at batch 128, about one step's compute).
            return _Chunks(loop=True, fixed=_Chunks.ALL)
        if self._multi_process():  # every process must make the same calls; timings differ between them
            return _Chunks(loop=False, fixed=1)
        if one_at_a_time:  # auto keeps Keras's default for callbacks that act on every batch
            return _Chunks(loop=True, fixed=1)
        if not hasattr(self, "_step_seconds"):
            self._step_seconds = {}  # (kind, batch) -> measured seconds per looped step
        return _Chunks(loop=True, fixed=None, record=self._step_seconds, key=(kind, batch))

    def _loops_well(self):
        """Whether this model's train step runs at least as fast inside a device loop as called step by step.

        It does everywhere except on XLA:CPU for layers marked `slow_in_cpu_loops` (transposed
        convolutions): XLA computes a convolution's gradients inside a while loop with kernels several
        times slower than the ones it picks at the top level of a program (jax-ml/jax#12868). The other
        convolutions compute their gradients in loops with `jseq.kernels.conv` instead.
        """
        if jax.default_backend() != "cpu":
            return True
        return not any(getattr(layer, "slow_in_cpu_loops", False) for layer in _all_layers(self))

    # ---- evaluate / predict ----------------------------------------------------------------------------

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):  # fmt: skip
        """The loss and metrics over `(x, y)`: `[loss, *metrics]`, a float without metrics, or a dict."""
        self._require_compiled()
        batch_size = _check_positive_int("batch_size", 32 if batch_size is None else batch_size)
        verbose = _check_verbose(verbose)
        x, y, sample_weight, _ = self._prepare(x, y, sample_weight)
        self._ensure_ready(x, y)
        logs = self._evaluate_arrays(x, y, sample_weight, batch_size, callbacks, verbose=verbose, steps=steps)
        if return_dict:
            return logs
        names = self._log_names()
        values = [logs[name] for name in names]
        return values[0] if len(values) == 1 else values

    def _evaluate_arrays(self, *args, **kwargs):
        outer = getattr(self, "_dist", None)  # validation inside fit keeps fit's layout afterwards
        try:
            return self._evaluate_arrays_on_devices(*args, **kwargs)
        finally:
            self._dist = outer

    def _evaluate_arrays_on_devices(self, x, y, sample_weight, batch_size, callbacks, verbose=0, steps=None):
        n = _num_samples(x, y, sample_weight)
        total = math.ceil(n / batch_size) if steps is None else min(steps, math.ceil(n / batch_size))
        cbs = CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=total
        )
        self._dist = distribution_module.resolve(batch_size)
        _check_same_count_on_every_process(self._dist, n)
        params, state = self._place(self._current_params_state())
        data = self._place_data((x, y, sample_weight))
        metrics_state = self._metrics_init()
        cbs.on_test_begin()
        logs = {}
        plan = self._chunks("test", batch_size, cbs)
        full_steps = min(total, n // batch_size)
        for step, count in plan.calls(total, full_steps):
            cbs.on_test_batch_begin(step)
            state, metrics_state, logs = self._run_steps(
                plan, "test", batch_size, n, step, full_steps, count, params, state, metrics_state, data, None
            )
            cbs.on_test_batch_end(step + count - 1, logs)
        logs = {k: float(v) for k, v in logs.items()}
        self._store_state(state)
        cbs.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for `x`, as NumPy arrays, computed in batches."""
        batch_size = _check_positive_int("batch_size", 32 if batch_size is None else batch_size)
        verbose = _check_verbose(verbose)
        x = _to_numpy(x, "x")
        n = _num_samples(x, None, None)
        self._ensure_built(x)
        total = math.ceil(n / batch_size) if steps is None else min(steps, math.ceil(n / batch_size))
        cbs = CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=total
        )
        self._dist = distribution_module.resolve(batch_size)
        _check_same_count_on_every_process(self._dist, n)
        params, state = self._place(self._current_params_state())
        xs = self._place_data(x)
        outputs = []
        cbs.on_predict_begin()
        plan = self._chunks("predict", batch_size, cbs)
        full_steps = min(total, n // batch_size)
        buffer = None  # looped: the outputs of all full batches, written in place on the device
        for step, count in plan.calls(total, full_steps):
            cbs.on_predict_batch_begin(step)
            if step < full_steps and plan.loop:  # the loop's arguments differ: first step, count, buffer
                fn = self._get_fn("predict", batch_size, batch_size, loop=True)
                if buffer is None:
                    buffer = fn.empty(params, state, xs, full_steps)
                with plan.timing(count):
                    state, buffer = plan.wait_for(
                        fn(params, state, xs, np.int32(step), np.int32(count), buffer)
                    )
                y = buffer
            else:
                args = (params, state, xs, np.int32(step * batch_size))
                y, state = self._run_steps(plan, "predict", batch_size, n, step, full_steps, 1, *args)
                y = self._local_rows(y)
                outputs.append(y)
            cbs.on_predict_batch_end(step + count - 1, {"outputs": y})
        self._store_state(state)
        cbs.on_predict_end()
        if buffer is not None:  # exactly the full batches' rows
            outputs.insert(0, buffer)
        return jax.tree.map(lambda *ys: np.concatenate([np.asarray(v) for v in ys]), *outputs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the batch's loss (and metrics)."""
        self._require_compiled()
        if jax.process_count() > 1 and distribution_module.distribution() is not None:
            raise NotImplementedError(
                "train_on_batch runs on one device: in a multi-process run each process would train a model "
                "of its own. Use `fit(x, y, batch_size=len(x), epochs=1, shuffle=False)` instead."
            )
        x, y, sample_weight, n = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_ready(x, y)
        self._dist = None
        self._live_train_state = self._initial_train_state()
        self._push_learning_rate()
        fn = self._get_fn("train", n, n)
        data, order = _device_data(x, y, sample_weight), jnp.arange(n, dtype=jnp.int32)
        ts, _, logs = fn(self._live_train_state, self._metrics_init(), data, order)
        self._live_train_state = ts
        self._sync_to_layers(keep_training=False)
        return self._format_batch_logs(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of one batch, without training."""
        self._require_compiled()
        x, y, sample_weight, n = self._prepare(x, y, sample_weight)
        self._ensure_ready(x, y)
        logs = self._evaluate_arrays(x, y, sample_weight, n, None)
        return self._format_batch_logs(logs, return_dict)

    def predict_on_batch(self, x):
        x = _to_numpy(x, "x")
        return self.predict(x, batch_size=_num_samples(x, None, None), verbose=0)

    def _format_batch_logs(self, logs, return_dict):
        logs = {k: float(v) for k, v in logs.items()}
        if return_dict:
            return logs
        values = [logs[name] for name in self._log_names()]
        return values[0] if len(values) == 1 else values

    # ---- state: between the layer objects and the train state ------------------------------------------

    def _require_compiled(self):
        if not self.compiled:
            raise ValueError(_NOT_COMPILED)

    def _ensure_built(self, x):
        if not self.built:
            leaves = _leaves(x)
            shapes = [(None,) + tuple(a.shape[1:]) for a in leaves]
            self.build(shapes[0] if not isinstance(x, (list, dict)) else shapes)

    def _prepare(self, x, y, sample_weight, class_weight=None):
        """NumPy x / y / sample weights (class weights folded in), targets in output order, and the count."""
        x, y = _to_numpy(x, "x"), _to_numpy(y, "y")
        sample_weight = _to_numpy(sample_weight, "sample_weight")
        if y is None:
            raise ValueError("`y` is None, but the loss compares predictions with targets: pass `y`.")
        y = self._targets_by_output(y)
        n = _num_samples(x, y, sample_weight)
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise ValueError(
                    f"`class_weight` must be a dict {{class: weight}}. Received: {class_weight!r}"
                )
            weights = _class_weights_to_sample_weights(_leaves(y)[0], class_weight)
            sample_weight = weights if sample_weight is None else sample_weight * weights
        return x, y, sample_weight, n

    def _targets_by_output(self, y):
        """A dict of targets keyed by output name becomes a list in the order of `output_names`."""
        if not isinstance(y, dict):
            return y
        names = self._output_names()
        unknown = sorted(set(y) - set(names))
        if unknown:
            raise ValueError(
                f"`y` has targets for outputs {unknown} the model does not have. Outputs: {names}"
            )
        missing = [name for name in names if name not in y]
        if missing:
            raise ValueError(f"`y` has no targets for outputs {missing}. Outputs: {names}")
        return [y[name] for name in names]

    def _ensure_ready(self, x, y):
        """Build, resolve metrics by output shape, and check targets against the loss, before any change."""
        self._ensure_built(x)
        _check_input_shapes(self, x)
        out_shapes = self._output_shapes()
        y_leaves = _leaves(y)
        if len(y_leaves) != len(out_shapes):
            raise ValueError(
                f"The model has {len(out_shapes)} output(s) but `y` holds {len(y_leaves)} array(s)."
            )
        losses = self._losses_per_output(len(out_shapes))
        for i, (loss, yt, out) in enumerate(zip(losses, y_leaves, out_shapes)):
            _check_targets(loss, yt, out, self._output_names()[i])
        if self._compiled_metrics is None:
            self._compiled_metrics = self._build_metrics(y_leaves, out_shapes)

    def _current_params_state(self):
        if getattr(self, "_live_train_state", None) is not None:
            ts = self._live_train_state
            return merge(ts.trainable, ts.frozen), ts.state
        return self.params, self.state

    def _initial_train_state(self):
        params, state = self.params, self.state
        self._synced_leaves = [id(v) for v in jax.tree.leaves(params)]  # what `_adopt_layer_changes` checks
        mask = self.trainable_mask()
        trainable, frozen = split_by_mask(params, mask)
        if self._opt_state is None or self._opt_mask != mask:
            fresh = jax.jit(self._tx.init)(trainable)  # one program, not one per slot shape
            if self._opt_state is not None and isinstance(fresh, optimizers_module.OptimizerState):
                # Frozen or unfrozen since the last fit: new slots, same step count and learning rate.
                fresh = type(fresh)(self._opt_state.iterations, self._opt_state.learning_rate, fresh.slots)
            self._opt_state, self._opt_mask = fresh, mask
        self._pushed_lr = None
        # The steps donate the train state's buffers, so it owns copies: the layers keep theirs.
        return _copy(TrainState(trainable, frozen, state, self._opt_state, next_key()))

    # Between its calls, `fit` gives the layers nothing: they wait on the train state (`Layer._await`) and
    # take its values when a callback reads or writes one (`_sync_to_layers`), so an epoch that no callback
    # looks into copies nothing, and the layers hold no second copy of the weights while `fit` runs.

    def _defer_sync(self):
        """Between calls of a fit: the layers take the train state's values only when one is read."""
        ts = self._live_train_state
        self._opt_state = ts.opt_state  # for a callback that saves; every call is followed by this or a sync
        if isinstance(ts.opt_state, optimizers_module.OptimizerState):
            self.optimizer.iterations = optimizers_module.get_iterations(ts.opt_state)
        source = _LiveValues(self)
        for layer in _value_holders(self):
            layer._await(source)

    def _sync_to_layers(self, keep_training=True):
        """Hand the train state's current values to the layer objects (the one sync point). While training
        goes on, the train state takes copies: the next call donates its buffers."""
        ts = getattr(self, "_live_train_state", None)
        if ts is None:
            return
        for layer in _value_holders(self):
            if _waits_on(layer, self):
                layer._stop_waiting()
        params = merge(ts.trainable, ts.frozen)
        self.params = in_order_of(self.params, params)
        self.state = in_order_of(self.state, ts.state)
        self._opt_state = ts.opt_state
        if isinstance(ts.opt_state, optimizers_module.OptimizerState):
            self.optimizer.iterations = optimizers_module.get_iterations(ts.opt_state)
        self._synced_leaves = [id(v) for v in jax.tree.leaves(self.params)]
        self._live_train_state = _copy(ts) if keep_training else None

    def _end_fit(self):
        """The layers take the train state's values, unless a callback gave them newer ones since it was
        made (one that failed in `on_train_begin`, say); no train state stays live."""
        if self._live_train_state is not None and self._layers_changed():
            self._live_train_state = None
        self._sync_to_layers(keep_training=False)

    def _layers_changed(self):
        """Whether a layer's arrays were assigned since the train state was made from them or handed to them.
        Layers still waiting on the train state were not (a write takes the values first)."""
        if any(_waits_on(layer, self) for layer in _value_holders(self)):
            return False
        return [id(v) for v in jax.tree.leaves(self.params)] != self._synced_leaves

    def _adopt_layer_changes(self):
        """If a callback assigned weights (or changed `trainable`), rebuild the train state from them."""
        ts = getattr(self, "_live_train_state", None)
        if ts is None:
            return
        if self._layers_changed() or self._opt_mask != self.trainable_mask():
            key = ts.key
            self._opt_state = ts.opt_state
            self._live_train_state = self._place(self._initial_train_state()._replace(key=key))
        self._push_learning_rate()

    def _push_learning_rate(self):
        """Put `optimizer.learning_rate` (as a callback may have set it) into the optimizer state."""
        ts = getattr(self, "_live_train_state", None)
        lr = getattr(self.optimizer, "learning_rate", None)
        if ts is None or not isinstance(lr, numbers.Real):
            return
        if not isinstance(ts.opt_state, optimizers_module.OptimizerState):
            return
        if float(lr) != getattr(self, "_pushed_lr", None):
            opt_state = optimizers_module.set_learning_rate(ts.opt_state, float(lr))
            # the new rate is a fresh scalar on one device: place it like the rest (the step's cache wants it)
            self._live_train_state = ts._replace(opt_state=self._place(opt_state))
            self._pushed_lr = float(lr)

    def _place(self, tree):
        """Replicate `tree` on the data-parallel devices (a no-op on one device).

        Across processes, every leaf that is not yet a global array takes process 0's value (a broadcast),
        so the replicas start alike even when the processes were seeded differently.
        """
        dist = getattr(self, "_dist", None)
        if dist is None:
            return tree
        if dist.num_processes == 1:
            return jax.device_put(tree, dist.replicated())
        return _replicate_from_process_0(tree, dist.replicated())

    def _shard(self, tree, batch):
        """Inside a step: split the batch's rows across the devices (when they divide). `batch` counts one
        process's rows; across processes the step holds (processes * batch, ...) rows."""
        dist = getattr(self, "_dist", None)
        if dist is None or batch % dist.devices_per_process:
            return tree
        return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, dist.batch_sharding()), tree)

    def _multi_process(self):
        """Whether this run spans several processes (each feeding its own rows)."""
        dist = getattr(self, "_dist", None)
        return dist is not None and dist.num_processes > 1

    def _process(self):
        return jax.process_index() if self._multi_process() else 0

    def _place_data(self, tree):
        """The data on the devices: replicated on this process's devices; across processes, one global
        array (processes, n, ...) per leaf, slice p holding process p's rows on process p's devices."""
        if not self._multi_process():
            return self._place(_device_put(tree))
        sharding = self._dist.process_sharding()
        return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a[None]), tree)

    def _place_order(self, order):
        """An epoch's order of this process's rows: (n,) replicated, or (processes, n) across processes."""
        if not self._multi_process():
            return self._place(jax.device_put(order))
        return jax.make_array_from_process_local_data(self._dist.process_sharding(), order[None])

    def _from_process_0(self, value):
        """Process 0's `value` (a NumPy array) on every process; `value` itself in a one-process run."""
        if not self._multi_process():
            return value
        return multihost_utils.broadcast_one_to_all(value)

    def _rows_by_process(self, tree):
        """Inside a predict step across processes: rows (processes * batch, ...) -> (processes, batch, ...),
        slice p on process p's devices, so that each process can read its own rows."""
        dist = self._dist

        def by_process(a):
            a = a.reshape((dist.num_processes, -1) + a.shape[1:])
            return jax.lax.with_sharding_constraint(a, dist.process_sharding())

        return jax.tree.map(by_process, tree)

    def _local_rows(self, y):
        """A predict step's outputs as this process sees them: across processes, its own rows (batch, ...)."""
        if not self._multi_process():
            return y
        # each of this process's devices holds its whole slice (1, batch, ...) of y (processes, batch, ...)
        return jax.tree.map(lambda a: a.addressable_shards[0].data[0], y)

    def _store_state(self, state):
        if jax.tree.leaves(state):
            self.state = in_order_of(self.state, state)

    def _optimizer_params(self):
        if self._opt_state is None or self.optimizer is None:
            return None
        count = self.optimizer.num_variables(self._opt_mask_params())
        return count, 4 * count

    def _opt_mask_params(self):
        return split_by_mask(self.params, self.trainable_mask())[0]

    # ---- outputs, losses, metrics ----------------------------------------------------------------------

    def _output_shapes(self):
        shapes = self.output_shape
        if isinstance(shapes, dict):
            return [shapes[name] for name in self._output_names()]
        return list(shapes) if isinstance(shapes, list) else [shapes]

    def _output_names(self):
        names = getattr(self, "output_names", None)
        return list(names) if names else [self.layers[-1].name if self.layers else "output"]

    def _losses_per_output(self, count):
        losses = self._losses
        if isinstance(losses, dict):
            names = self._output_names()
            unknown = sorted(set(losses) - set(names))
            if unknown:
                raise ValueError(f"`loss` names outputs {unknown} the model does not have. Outputs: {names}")
            return [losses.get(name) for name in names]
        if isinstance(losses, list):
            if len(losses) != count:
                raise ValueError(
                    f"`loss` is a list of {len(losses)} losses, but the model has {count} outputs."
                )
            return losses
        return [losses] * count

    def _loss_weight_list(self, count):
        w = self._loss_weights
        if w is None:
            return [1.0] * count
        if isinstance(w, dict):
            return [float(w.get(name, 1.0)) for name in self._output_names()]
        if isinstance(w, (list, tuple)):
            if len(w) != count:
                raise ValueError(f"`loss_weights` has {len(w)} entries, but the model has {count} outputs.")
            return [float(v) for v in w]
        return [float(w)] * count

    def _build_metrics(self, y_leaves, out_shapes):
        """[(log name, output index, metric, weighted)] for every compiled metric, resolved by shape."""
        names = self._output_names()
        multi = len(out_shapes) > 1
        result = []
        for specs, weighted in ((self._metric_specs, False), (self._weighted_metric_specs, True)):
            for spec, out_index in _per_output(specs, names):
                yt, out = y_leaves[out_index], out_shapes[out_index]
                metric = metrics_module.get(spec, yt.shape, (len(yt),) + tuple(out[1:]))
                name = metric.name
                result.append(((names[out_index] + "_" if multi else "") + name, out_index, metric, weighted))
        return result

    def _log_names(self):
        """The order of `evaluate`'s list: loss, then per-output losses, then metrics in compile order."""
        names = ["loss"]
        if len(self._output_shapes()) > 1:
            names += [f"{n}_loss" for n in self._output_names()]
        return names + [name for name, _, _, _ in self._compiled_metrics or []]

    def _metrics_init(self, epoch=0):
        """Zeroed running means and metric states, and the epoch and step counters (a train step's key is
        the train state's folded with both), made by one jitted program (cached per compile), on the
        data-parallel devices already: placed like the step's outputs, they do not make it compile again."""
        dist = getattr(self, "_dist", None)
        key = ("metrics_init", id(self._compiled_metrics), len(self._output_shapes()), dist)
        fn = self._compiled_fns.get(key)
        if fn is None:
            fn = self._compiled_fns[key] = _jit_placed(self._fresh_metrics, dist)
        return fn(np.int32(epoch))

    def _fresh_metrics(self, epoch):
        loss_count = len(self._output_shapes())
        trackers = {"loss": _mean_init()}
        if loss_count > 1:
            trackers.update({f"{n}_loss": _mean_init() for n in self._output_names()})
        metrics = [m.init() for _, _, m, _ in self._compiled_metrics]
        return {"trackers": trackers, "metrics": metrics, "batch": jnp.int32(0), "epoch": epoch}

    # ---- the pure steps --------------------------------------------------------------------------------

    def _get_fn(self, kind, batch, stride, loop=False):
        """The jitted step for `kind` and this batch size (or, with `loop`, a loop over it), traced once
        and cached (per compile).

        Step i reads rows `[i * stride, i * stride + batch)` of the epoch's order (the last, partial batch
        has `batch < stride`); i is counted on the device, in the metrics state.
        """
        dist = getattr(self, "_dist", None)  # the key holds it, so its id is never reused for another
        key = (kind, batch, stride, loop, dist, _structure_key(self))
        fn = self._compiled_fns.get(key) if hasattr(self, "_compiled_fns") else None
        if fn is None:
            if not hasattr(self, "_compiled_fns"):
                self._compiled_fns = {}
            if kind == "predict":
                step = _predict_step(self, batch)
                fn = _predict_loop(step, batch, dist) if loop else _jit(self, step)
            elif kind == "train":
                step = self._train_step(batch, stride)
                fn = (
                    _jit(self, _train_loop(step, self._logs), donate=(0, 1))
                    if loop
                    else _jit(self, step, donate=(0, 1))
                )
            else:
                step = self._test_step(batch, stride)
                fn = (
                    _jit(self, _test_loop(step, self._logs), donate=(2,))
                    if loop
                    else _jit(self, step, donate=(2,))
                )
            self._compiled_fns[key] = fn
        return fn

    def _loss_and_logs(self, y_pred, y, sw, metrics_state, penalty, batch):
        """Total loss (weighted output losses + penalties) and the updated running metrics."""
        outs = (
            [y_pred[name] for name in self._output_names()] if isinstance(y_pred, dict) else _as_list(y_pred)
        )
        ys = _leaves(y)
        losses = self._losses_per_output(len(outs))
        weights = self._loss_weight_list(len(outs))
        per_output = [loss(yt, yp, sample_weight=sw) for loss, yt, yp in zip(losses, ys, outs)]
        total = sum(w * value for w, value in zip(weights, per_output)) + penalty
        trackers = dict(metrics_state["trackers"])
        trackers["loss"] = _mean_update(trackers["loss"], total, batch)
        if len(outs) > 1:
            for name, value in zip(self._output_names(), per_output):
                trackers[f"{name}_loss"] = _mean_update(trackers[f"{name}_loss"], value, batch)
        outs = [jax.lax.stop_gradient(o) for o in outs]  # metrics are observed, not differentiated
        new_metric_states = [
            metric.update(m_state, ys[i], outs[i], sw if weighted else None)  # Keras: only weighted_metrics
            for (_, i, metric, weighted), m_state in zip(self._compiled_metrics, metrics_state["metrics"])
        ]
        new_state = {**metrics_state, "trackers": trackers, "metrics": new_metric_states}
        new_state["batch"] = metrics_state["batch"] + 1
        return total, new_state, self._logs(new_state)

    def _logs(self, metrics_state):
        """The running loss and metric values held in `metrics_state` (device scalars)."""
        logs = {name: _mean_result(s) for name, s in metrics_state["trackers"].items()}
        for (name, _, metric, _), m_state in zip(self._compiled_metrics, metrics_state["metrics"]):
            logs[name] = metric.result(m_state)
        return logs

    def _train_step(self, batch, stride):
        """The pure train step `(ts, metrics_state, data, order) -> (ts, metrics_state, logs)`."""
        model, tx = self, self._tx
        by_process = model._multi_process()

        def step(ts, metrics_state, data, order):
            rows = _slice_batch(data, order, metrics_state["batch"] * stride, batch, by_process)
            x, y, sw = model._shard(rows, batch)
            # The step's key is the fit's key folded with the epoch and the step's index: unused (no
            # dropout), XLA drops it, where a key carried from step to step would be split at every step.
            epoch_key = jax.random.fold_in(ts.key, metrics_state["epoch"])
            step_key = jax.random.fold_in(epoch_key, metrics_state["batch"])

            def loss_fn(trainable):
                params = merge(trainable, ts.frozen)
                y_pred, state, penalty = model.forward(params, ts.state, x, training=True, key=step_key)
                penalty = penalty + model.regularization_loss(params)
                total, new_metrics, logs = model._loss_and_logs(y_pred, y, sw, metrics_state, penalty, batch)
                return total, (state, new_metrics, logs)

            (_, (state, new_metrics, logs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(ts.trainable)
            updates, opt_state = tx.update(grads, ts.opt_state, ts.trainable)
            trainable = optax.apply_updates(ts.trainable, updates)
            return TrainState(trainable, ts.frozen, state, opt_state, ts.key), new_metrics, logs

        return step

    def _test_step(self, batch, stride):
        """The pure test step `(params, state, metrics_state, data, order) -> (state, metrics_state, logs)`;
        `order` None reads contiguous rows."""
        model = self
        by_process = model._multi_process()

        def step(params, state, metrics_state, data, order):
            rows = _slice_batch(data, order, metrics_state["batch"] * stride, batch, by_process)
            x, y, sw = model._shard(rows, batch)
            y_pred, state, penalty = model.forward(params, state, x, training=False)
            penalty = penalty + model.regularization_loss(params)
            _, new_metrics, logs = model._loss_and_logs(y_pred, y, sw, metrics_state, penalty, batch)
            return state, new_metrics, logs

        return step


def _predict_step(model, batch):
    """The pure predict step `(params, state, xs, start) -> (y, state)` on rows `[start, start + batch)`;
    across processes `y` is (processes, batch, ...), slice p holding process p's rows."""
    by_process = model._multi_process()

    def step(params, state, xs, start):
        x = model._shard(_slice_batch(xs, None, start, batch, by_process), batch)
        y, state, _ = model.forward(params, state, x, training=False)
        return (model._rows_by_process(y) if by_process else y), state

    return step


def _jit(model, fn, donate=()):
    return fn if getattr(model, "_run_eagerly", False) else jax.jit(fn, donate_argnums=donate)


# ---- several steps per call ------------------------------------------------------------------------------
# One step is traced once, as the body of a `fori_loop` with a traced trip count: one compiled program runs
# any number of steps, and every full batch goes through the same body whatever the count, so how the steps
# are grouped into calls never changes the numbers.


def _train_loop(step, logs_of):
    def loop(ts, metrics_state, data, order, count):
        body = lambda _, carry: step(*carry, data, order)[:2]
        with kernels.device_loop():  # layers may differentiate another way inside loops (see jseq.kernels)
            ts, metrics_state = jax.lax.fori_loop(0, count, body, (ts, metrics_state))
        return ts, metrics_state, logs_of(metrics_state)

    return loop


def _test_loop(step, logs_of):
    def loop(params, state, metrics_state, data, order, count):
        body = lambda _, carry: step(params, *carry, data, order)[:2]
        state, metrics_state = jax.lax.fori_loop(0, count, body, (state, metrics_state))
        return state, metrics_state, logs_of(metrics_state)

    return loop


def _predict_loop(step, batch, dist):
    """Run steps `first .. first + count - 1`, writing each batch's outputs into `buffer` at its rows."""

    def loop(params, state, xs, first, count, buffer):
        def body(i, carry):
            state, buffer = carry
            start = (first + i) * batch
            y, state = step(params, state, xs, start)
            buffer = jax.tree.map(lambda b, v: jax.lax.dynamic_update_slice_in_dim(b, v, start, 0), buffer, y)
            return state, buffer

        return jax.lax.fori_loop(0, count, body, (state, buffer))

    def empty(params, state, xs, steps):
        """Zeros shaped like the outputs of `steps` full batches (traced once per input shape)."""
        shapes = jax.eval_shape(step, params, state, xs, 0)[0]
        return jax.tree.map(lambda s: jnp.zeros((steps * batch,) + s.shape[1:], s.dtype), shapes)

    jitted = jax.jit(loop, donate_argnums=(5,))
    jitted.empty = _jit_placed(empty, dist, static_argnums=(3,))  # placed as the loop returns it
    return jitted


def _jit_placed(fn, dist, **kwargs):
    """`jax.jit(fn)` whose outputs are replicated on the data-parallel devices, as the steps' outputs are
    (`fn` makes them from nothing: by default they would sit on one device, and the step compile again)."""
    if dist is None:
        return jax.jit(fn, **kwargs)
    return jax.jit(fn, out_shardings=dist.replicated(), **kwargs)


class _Chunks:
    """How many steps each looped call runs: `fixed`, or (auto) as many as take about `TARGET` seconds.

    The auto plan runs one step per call until it has timed a call that did not compile, then sizes the
    calls from the last measured seconds per step (kept in `record` on the model, across epochs and fits).
    """

    TARGET = 0.2  # seconds per call, where a progress bar redraws after each
    ALL = 2**31 - 1  # a `fixed` count: every remaining full batch in one call

    def __init__(self, loop, fixed, record=None, key=None):
        self.loop, self.fixed, self.record, self.key = loop, fixed, record, key

    def calls(self, total, full_steps):
        """`(first step, count)` of each call: chunks of the `full_steps` full batches, then the partial."""
        step = 0
        while step < total:
            count = self.size(full_steps - step) if step < full_steps else 1
            yield step, count
            step += count

    def size(self, remaining):
        if self.fixed is not None:
            return max(1, min(self.fixed, remaining))
        seconds = self.record.get(self.key)
        if not seconds:  # never run (it compiles) or not timed yet
            return 1
        return max(1, min(remaining, int(self.TARGET / seconds)))

    @contextlib.contextmanager
    def timing(self, count):
        start = time.perf_counter()
        yield
        if self.fixed is None:
            compiled_now = self.key not in self.record  # the first call's time is mostly the compile
            self.record[self.key] = 0.0 if compiled_now else (time.perf_counter() - start) / count

    def wait_for(self, outputs):
        """Auto plans time each call, so they wait for it; fixed plans return at once (async dispatch)."""
        return jax.block_until_ready(outputs) if self.fixed is None else outputs


def _all_layers(model):
    """Every layer inside `model`, nested containers included."""
    for layer in model._sublayers():
        yield layer
        yield from _all_layers(layer)


def _value_holders(model):
    """The layers inside `model` that hold arrays themselves (containers and wrappers hand them down)."""
    return [layer for layer in _all_layers(model) if not layer._sublayers()]


class _LiveValues:
    """What a fit's layers wait on between its calls: the model's live train state, handed to all of them
    (`Trainer._sync_to_layers`) when the first is read."""

    replaceable = False  # a `set_weights` of one layer must not skip it: the others' values come with it

    def __init__(self, model):
        self.model = model

    def hand_over(self, layer, index):
        self.model._sync_to_layers()
        if _waits_on(layer, self.model):  # not in the model any more, and its values went with the fit
            raise RuntimeError(
                f"Layer '{layer.name}' left model '{self.model.name}' while `fit` was running and its "
                "weights were never read: they are lost. Take layers out with `model.pop()`, which keeps "
                "them."
            )


def _waits_on(layer, model):
    return layer._pending is not None and getattr(layer._pending[0], "model", None) is model


def _copy(tree):
    """New buffers for every array in `tree` (a runtime copy: unlike `a.copy()`, nothing is compiled)."""
    return jax.tree.map(lambda a: _copy_array(a) if isinstance(a, jax.Array) else a, tree)


def _copy_array(a):
    if _is_global(a):  # device_put refuses to copy it: XLA does
        return _copy_global(a)
    if a.sharding.num_devices > 1:
        # keep the sharding as it is: a PRNG key's copy would lose its mesh, and the step compile again
        return jax.device_put(a, a.sharding, may_alias=False)
    return jax.device_put(a, may_alias=False)


_copy_global = jax.jit(jnp.copy)


def _slice_batch(data, order, start, batch, by_process=False):
    """Rows `order[start:start + batch]` of every array in `data` (inside jit: no host copies); rows
    `start:start + batch` when `order` is None (evaluate: a contiguous slice, no gather).

    `by_process` (across processes): every leaf of `data` is (processes, n, ...) and `order` (processes, n);
    each process's rows come from its own slice (a vmap over the process axis: the gather stays on that
    process's devices) and form the global batch (processes * batch, ...), process 0's rows first.
    """

    def rows(a, order):
        if order is None:
            return jax.lax.dynamic_slice_in_dim(a, start, batch)
        return jnp.take(a, jax.lax.dynamic_slice_in_dim(order, start, batch), axis=0)

    if not by_process:
        return jax.tree.map(lambda a: rows(a, order), data)
    per_process = jax.vmap(rows, in_axes=(0, None if order is None else 0))  # -> (processes, batch, ...)
    return jax.tree.map(lambda a: per_process(a, order).reshape((-1,) + a.shape[2:]), data)


def _shows_batches(cbs):
    """Whether a progress bar redraws after batches (verbose=1), so calls should end now and then."""
    progbar = cbs._progbar
    return progbar is not None and progbar.verbose == 1


def _user_batch_hooks(cbs, kind="train"):
    """Whether a callback (besides the History and the progress bar) acts on each `kind` batch."""
    from jseq.callbacks import Callback, History, ProgbarLogger

    hooks = {
        "train": ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end"),
        "test": ("on_test_batch_begin", "on_test_batch_end"),
        "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
    }[kind]
    return any(
        getattr(type(c), h) is not getattr(Callback, h) or h in vars(c)
        for c in cbs.callbacks
        if not isinstance(c, (History, ProgbarLogger))
        for h in hooks
    )


def _as_list(y):
    if isinstance(y, dict):
        return list(y.values())
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _mean_init():
    return {"total": jnp.float32(0.0), "count": jnp.float32(0.0)}


def _mean_update(s, value, weight):
    return {"total": s["total"] + value * weight, "count": s["count"] + weight}


def _mean_result(s):
    return s["total"] / jnp.maximum(s["count"], 1.0)


def _structure_key(model):
    """Changes when the model's layers change (add / pop), so cached steps are rebuilt."""

    def walk(layer):
        subs = layer._sublayers()
        # `trainable` is read while tracing (a frozen BatchNormalization runs in inference mode)
        return (id(layer), layer.trainable, tuple(walk(s) for s in subs))

    return walk(model)


def _device_put(data):
    # `jax.device_put`, not `jnp.asarray`: in jax 0.10 the latter compiles a small program per new shape.
    return jax.tree.map(jax.device_put, data)


def _device_data(x, y, sample_weight):
    return _device_put((x, y, sample_weight))


def _shuffles(shuffle):
    return shuffle == "batch" or shuffle is True


def _epoch_order(n, shuffle, seed, epoch, process=0):
    """The order of the samples in epoch `epoch`: a permutation derived from (seed, epoch) when shuffling,
    so a resumed run sees the same orders as an uninterrupted one. Across processes each shuffles its own
    rows, process p > 0 from (seed, epoch, p)."""
    if shuffle == "batch" or shuffle is True:
        entropy = [seed, epoch] if process == 0 else [seed, epoch, process]
        order = np.random.default_rng(entropy).permutation(n).astype(np.int32)
        return order
    return np.arange(n, dtype=np.int32)


def _replicate_from_process_0(tree, sharding):
    """`tree` replicated over `sharding` (the devices of every process): global arrays as they are, every
    other leaf with process 0's value (one broadcast for all of them)."""
    leaves, treedef = jax.tree.flatten(tree)
    local = [i for i, v in enumerate(leaves) if not _is_global(v)]
    if local:
        is_key = {i: jax.dtypes.issubdtype(jnp.result_type(leaves[i]), jax.dtypes.prng_key) for i in local}
        # PRNG keys travel as their raw uint32 data
        raw = [jax.random.key_data(leaves[i]) if is_key[i] else np.asarray(leaves[i]) for i in local]
        for i, value in zip(local, multihost_utils.broadcast_one_to_all(raw)):
            array = jax.make_array_from_process_local_data(sharding, value)
            if is_key[i]:
                array = jax.random.wrap_key_data(array, impl=jax.random.key_impl(leaves[i]))
            leaves[i] = array
    return jax.tree.unflatten(treedef, leaves)


def _is_global(a):
    """Whether `a` is an array over several processes' devices (this process holds only its part)."""
    return isinstance(a, jax.Array) and not a.is_fully_addressable


def _check_same_count_on_every_process(dist, n):
    """Across processes each one must run the same steps: refuse shards of different sizes."""
    if dist is None or dist.num_processes == 1:
        return
    counts = multihost_utils.process_allgather(np.int32(n)).tolist()
    if len(set(counts)) > 1:
        raise ValueError(
            "Every process must pass the same number of samples (each trains on its own shard, step by "
            f"step with the others). Received, by process: {counts}. Drop or repeat samples so that they "
            "match."
        )


def _unpack_validation(validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight). "
            f"Received: {type(validation_data).__name__} of length {len(validation_data)}"
            if isinstance(validation_data, (tuple, list))
            else "`validation_data` must be a tuple (x_val, y_val). "
            f"Received: {type(validation_data).__name__}"
        )
    x, y = _to_numpy(validation_data[0], "x_val"), _to_numpy(validation_data[1], "y_val")
    sw = _to_numpy(validation_data[2], "val_sample_weight") if len(validation_data) == 3 else None
    _num_samples(x, y, sw)
    return x, y, sw


def _check_input_shapes(model, x):
    from jseq.core import check_compatible

    if isinstance(x, dict):  # a functional model's inputs, by Input name
        expected = {t.name: t.shape for t in getattr(model, "inputs", [])}
        for name, a in x.items():
            if name not in expected:
                raise ValueError(f"`x` has an entry '{name}' but the model's inputs are {sorted(expected)}.")
            check_compatible(name, expected[name], tuple(a.shape))
        return
    expected = model.input_shape
    shapes = expected if isinstance(expected, list) else [expected]
    first = model.layers[0].name if model.layers else model.name
    for shape, a in zip(shapes, _leaves(x)):
        check_compatible(first, shape, tuple(a.shape))


def _check_targets(loss, y, out_shape, output_name):
    """Catch, before any step runs, targets the loss would silently misread."""
    if loss is None:
        raise ValueError(f"No loss for output '{output_name}': pass `loss=` to compile().")
    if isinstance(loss, losses_module.AutoCrossentropy):
        return
    kind = _loss_kind(loss)
    classes = out_shape[-1]
    if kind == "sparse":
        labels = np.asarray(y)
        if (
            labels.ndim == len(out_shape)
            and labels.shape[-1] == classes
            and classes > 1
            and labels.shape[-1] != 1
        ):
            raise ValueError(
                f"The targets have shape {labels.shape}, like one-hot vectors, but the loss is "
                "sparse_categorical_crossentropy, which takes integer class indices of shape (n,). "
                "Use loss='categorical_crossentropy' for one-hot targets (or pass np.argmax(y, axis=-1))."
            )
        if labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0):
            raise ValueError(
                "sparse_categorical_crossentropy takes integer class indices, but the targets hold "
                "non-integral values. Use categorical_crossentropy for probability targets."
            )
        if classes is not None and labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(
                f"Target class indices must be in [0, {classes}) for an output of {classes} classes. "
                f"Received indices from {labels.min()} to {labels.max()}. (Without this check JAX would "
                "silently use 0 as the loss of out-of-range labels.)"
            )
    elif kind == "categorical":
        labels = np.asarray(y)
        if labels.ndim < len(out_shape) or labels.shape[-1] != classes:
            hint = ""
            if labels.ndim < len(out_shape) or labels.shape[-1] == 1:
                hint = (
                    " Use loss='sparse_categorical_crossentropy' for integer labels, or one-hot encode them "
                    "with jseq.utils.to_categorical(y)."
                )
            raise ValueError(
                f"categorical_crossentropy needs targets shaped like the output {shape_str(out_shape)}; "
                f"received targets of shape {labels.shape}.{hint}"
            )


def _loss_kind(loss):
    fn = getattr(loss, "fn", None)
    if (
        isinstance(loss, losses_module.SparseCategoricalCrossentropy)
        or fn is losses_module.sparse_categorical_crossentropy
    ):
        return "sparse"
    if (
        isinstance(loss, losses_module.CategoricalCrossentropy)
        or fn is losses_module.categorical_crossentropy
    ):
        return "categorical"
    return None


def _resolve_losses(loss):
    if loss is None:
        return None
    if isinstance(loss, dict):
        return {k: losses_module.get(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [losses_module.get(v) for v in loss]
    return losses_module.get(loss)


def _metric_spec(metrics, what):
    if metrics is None:
        return []
    if isinstance(metrics, (str,)) or callable(metrics) and not isinstance(metrics, (list, tuple, dict)):
        return [metrics]  # Keras 2 accepted metrics="accuracy"
    if isinstance(metrics, (list, tuple, dict)):
        return metrics if isinstance(metrics, dict) else list(metrics)
    raise TypeError(
        f"`{what}` must be a list of metrics (names, objects or functions). Received: {metrics!r}"
    )


def _check_metric_name(spec):
    if isinstance(spec, str):
        metrics_module.get(spec, (2,), (2, 2))  # raises for unknown names, listing the valid ones


def _per_output(specs, names):
    """(spec, output index) pairs: a list applies to every output; a dict or list of lists picks outputs."""
    if isinstance(specs, dict):
        out = []
        for name, value in specs.items():
            if name not in names:
                raise ValueError(f"`metrics` names output '{name}', which the model does not have: {names}")
            for spec in value if isinstance(value, (list, tuple)) else [value]:
                out.append((spec, names.index(name)))
        return out
    if specs and all(isinstance(s, (list, tuple)) for s in specs) and len(specs) == len(names):
        return [(spec, i) for i, group in enumerate(specs) for spec in group]
    return [(spec, i) for i in range(len(names)) for spec in specs]
