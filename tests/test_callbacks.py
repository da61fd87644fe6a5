"""jseq.callbacks driven through their hooks, against Keras's own callbacks fed the same logs.

`fit` is not needed here: `play_fit` calls the hooks in the order Keras's trainer does, on a small model that
provides the contract the callbacks rely on (weights as NumPy arrays, an optimizer with `learning_rate`,
`stop_training`, `save` / `save_weights` that write a file).
"""

import io
import math
import os
import random
import sys
import time

import numpy as np
import pytest

from jseq import callbacks as jcb


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """Two weight arrays, set to `epoch + 1` in each epoch by `play_fit`; saves write a small text file."""

    def __init__(self, optimizer=None):
        self.name = "fake"
        self.stop_training = False
        self.optimizer = optimizer if optimizer is not None else FakeOptimizer(0.1)
        self.weights = [np.zeros((2, 3), "float32"), np.zeros(3, "float32")]
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, filepath, overwrite=True):
        self._write("model", filepath)

    def save_weights(self, filepath, overwrite=True):
        self._write("weights", filepath)

    def _write(self, kind, filepath):
        with open(filepath, "w") as f:
            f.write(f"{kind} {self.weights[1][0]}")
        self.saved.append(os.path.basename(filepath))


def play_fit(callbacks, model, epoch_logs, steps=2, verbose=0, batch_logs=None, clock=None, validation=False):
    """Calls the hooks of `callbacks` as Keras's `fit` does; returns the epochs that ran.

    `callbacks` is a list (each callback called in turn, as Keras's CallbackList does) or a jseq
    `CallbackList`. `batch_logs(epoch, batch)` gives the logs after each step (default: the epoch's loss).
    With a `clock`, each step takes 0.125 s; `validation=True` runs a silent validation pass of 2 steps.
    """
    params = {"verbose": verbose, "epochs": len(epoch_logs), "steps": steps}
    if isinstance(callbacks, jcb.CallbackList):
        callbacks.set_model(model)
        callbacks.set_params(params)
        targets = [callbacks]
    else:
        targets = list(callbacks)
        for callback in targets:
            callback.set_model(model)
            callback.set_params(params)

    def call(hook, *args):
        for callback in targets:
            getattr(callback, hook)(*args)

    def tick():
        if clock is not None:
            clock.now += 0.125  # exact in binary, so the printed times are not rounding borderline

    model.stop_training = False
    ran, logs = [], {}
    call("on_train_begin", None)
    for epoch, epoch_values in enumerate(epoch_logs):
        call("on_epoch_begin", epoch, None)
        for batch in range(steps):
            call("on_train_batch_begin", batch, None)
            model.weights = [np.full_like(w, epoch + 1) for w in model.weights]
            tick()
            values = batch_logs(epoch, batch) if batch_logs else {"loss": epoch_values.get("loss", 0.0)}
            call("on_train_batch_end", batch, values)
            if model.stop_training:
                break
        if validation:
            call("on_test_begin", None)
            for batch in range(2):
                call("on_test_batch_begin", batch, None)
                tick()
                call("on_test_batch_end", batch, {"loss": 9.0})
            call("on_test_end", {"loss": 9.0})
        logs = dict(epoch_values)
        call("on_epoch_end", epoch, logs)
        ran.append(epoch)
        if model.stop_training:
            break
    call("on_train_end", logs)
    return ran


def weights_value(model):
    return float(model.weights[0].flat[0])


# --------------------------------------------------------------------------------------------------------
# History and CallbackList.


def test_history_records_every_epoch_and_the_params():
    model = FakeModel()
    callback_list = jcb.CallbackList(None, add_history=True, model=model)
    logs = [{"loss": 0.5, "acc": 0.6}, {"loss": 0.4, "acc": 0.7}]
    play_fit(callback_list, model, logs, steps=4, verbose=2)
    history = model.history
    assert isinstance(history, jcb.History)
    assert history.history == {"acc": [0.6, 0.7], "loss": [0.5, 0.4]}
    assert list(history.history) == ["acc", "loss"]  # alphabetical, as Keras logs them
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 2, "epochs": 2, "steps": 4}


def test_callback_list_adds_history_and_progbar_once():
    mine = jcb.History()
    callback_list = jcb.CallbackList([mine], add_history=True, add_progbar=True)
    assert callback_list.callbacks[0] is mine
    assert [type(c).__name__ for c in callback_list.callbacks] == ["History", "ProgbarLogger"]
    callback_list = jcb.CallbackList([[jcb.TerminateOnNaN()], jcb.ProgbarLogger()], add_progbar=True)
    assert [type(c).__name__ for c in callback_list.callbacks] == ["TerminateOnNaN", "ProgbarLogger"]


def test_callback_list_rejects_what_is_not_a_callback():
    with pytest.raises(TypeError, match=r"jseq.callbacks.Callback.*Received: 'early' \(of type str\)"):
        jcb.CallbackList(["early"])
    with pytest.raises(TypeError, match="must be a list"):
        jcb.CallbackList(jcb.History)


def test_epoch_logs_arrive_sorted_as_python_floats():
    seen = []
    recorder = jcb.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs))
    callback_list = jcb.CallbackList([recorder])
    callback_list.on_epoch_end(0, {"loss": np.float32(0.5), "acc": np.array(0.25), "outputs": {"aux": 1}})
    assert list(seen[0]) == ["acc", "loss", "aux"]  # sorted, then nested dicts flattened in place
    assert all(type(v) is float for v in seen[0].values())
    assert seen[0]["loss"] == 0.5


def test_batch_logs_are_converted_only_for_callbacks_that_read_them():
    value = np.float32(0.5)
    assert not jcb.CallbackList([], add_history=True, add_progbar=True)._convert_train_batch
    seen = []
    reader = jcb.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"]))
    callback_list = jcb.CallbackList([reader], add_history=True, add_progbar=True)
    assert callback_list._convert_train_batch and not callback_list._convert_test_batch
    callback_list.on_train_batch_end(0, {"loss": value})
    assert type(seen[0]) is float


def test_hooks_of_the_base_class_and_keras_2_batch_names():
    calls = []
    callback = jcb.LambdaCallback(on_batch_begin=lambda b, logs: calls.append(("begin", b)))
    callback.on_batch_end = lambda b, logs: calls.append(("end", b, logs["loss"]))
    callback_list = jcb.CallbackList([callback])
    callback_list.on_train_batch_begin(3)
    callback_list.on_train_batch_end(3, {"loss": 1.5})
    assert calls == [("begin", 3), ("end", 3, 1.5)]
    base = jcb.Callback()
    for hook in jcb._HOOKS:
        args = (0, None) if "batch" in hook or "epoch" in hook else (None,)
        assert getattr(base, hook)(*args) is None
    with pytest.raises(TypeError, match="unexpected keyword argument 'on_epoch_finish'.*on_epoch_end"):
        jcb.LambdaCallback(on_epoch_finish=print)
    # Keras's positional order: on_epoch_begin, on_epoch_end, ...
    ends = []
    jcb.CallbackList([jcb.LambdaCallback(None, lambda e, logs: ends.append(e))]).on_epoch_end(4)
    assert ends == [4]


# --------------------------------------------------------------------------------------------------------
# EarlyStopping.


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(capsys):
    model = FakeModel()
    stop = jcb.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    logs = [{"val_loss": v} for v in [1.0, 0.8, 0.9, 0.85, 0.95, 0.7]]
    assert play_fit([stop], model, logs) == [0, 1, 2, 3]
    assert model.stop_training and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert weights_value(model) == 2.0  # the weights at the end of epoch index 1
    out = capsys.readouterr().out
    assert out == "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_mode_auto_follows_the_metric_name():
    stop = jcb.EarlyStopping(monitor="val_accuracy", patience=1)
    logs = [{"val_accuracy": v} for v in [0.5, 0.6, 0.55, 0.7]]
    assert play_fit([stop], FakeModel(), logs) == [0, 1, 2]
    with pytest.raises(ValueError, match="monitor=val_my_metric, but jseq isn't able to automatically"):
        play_fit([jcb.EarlyStopping(monitor="val_my_metric")], FakeModel(), logs)
    with pytest.raises(ValueError, match="unknown mode='bigger'.*'auto', 'min', 'max'"):
        jcb.EarlyStopping(mode="bigger")


def test_early_stopping_reads_the_direction_of_the_model_metrics():
    class Metric:
        name, _direction = "my_metric", "up"

    model = FakeModel()
    model.metrics = [Metric()]
    stop = jcb.EarlyStopping(monitor="val_my_metric", patience=1)
    play_fit([stop], model, [{"val_my_metric": v} for v in [0.1, 0.2, 0.3]])
    assert stop.higher_is_better and not model.stop_training


def test_early_stopping_never_takes_a_nan_as_the_best():
    model = FakeModel()
    stop = jcb.EarlyStopping(patience=1, restore_best_weights=True)
    logs = [{"val_loss": v} for v in [math.nan, 1.0, 0.9]]
    assert play_fit([stop], model, logs) == [0, 1, 2]
    assert stop.best == 0.9 and weights_value(model) == 3.0


def test_early_stopping_warns_when_the_monitor_is_missing():
    stop = jcb.EarlyStopping()
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics are: loss"):
        play_fit([stop], FakeModel(), [{"loss": 1.0}, {"loss": 2.0}])
    assert stop.stopped_epoch == 0


def test_early_stopping_matches_keras(keras):
    rng = random.Random(0)
    for _ in range(60):
        config = dict(
            patience=rng.choice([0, 1, 2, 3]),
            min_delta=rng.choice([0, 0.05]),
            mode=rng.choice(["auto", "min", "max"]),
            baseline=rng.choice([None, 0.3, 0.7]),
            start_from_epoch=rng.choice([0, 2]),
            restore_best_weights=rng.choice([True, False]),
        )
        logs = [{"val_loss": round(rng.random(), 1), "loss": 0.5} for _ in range(10)]
        results = []
        for stop in (jcb.EarlyStopping(**config), keras.callbacks.EarlyStopping(**config)):
            model = FakeModel()
            ran = play_fit([stop], model, logs)
            results.append((ran, stop.stopped_epoch, stop.best_epoch, stop.best, weights_value(model)))
        assert results[0] == results[1], (config, logs)


# --------------------------------------------------------------------------------------------------------
# ModelCheckpoint.


def saved_files(directory):
    return sorted(os.listdir(directory))


def test_checkpoint_file_names_from_format_strings_match_keras(keras, tmp_path):
    logs = [{"loss": 1.0, "val_loss": v} for v in [0.9, 0.777, 0.8]]
    names = []
    for module, folder in ((jcb, "jseq"), (keras.callbacks, "keras")):
        pattern = str(tmp_path / folder / "w.{epoch:02d}-{val_loss:.2f}.weights.h5")
        play_fit([module.ModelCheckpoint(pattern, save_weights_only=True)], FakeModel(), logs)
        names.append(saved_files(tmp_path / folder))
    assert names[0] == names[1] == ["w.01-0.90.weights.h5", "w.02-0.78.weights.h5", "w.03-0.80.weights.h5"]


@pytest.mark.parametrize(
    "config",
    [
        dict(monitor="val_loss", mode="auto"),
        dict(monitor="val_acc", mode="max"),
        dict(monitor="val_loss", mode="min", initial_value_threshold=0.5),
    ],
)
def test_checkpoint_save_best_only_matches_keras(keras, tmp_path, monkeypatch, capsys, config):
    rng = random.Random(str(config))
    logs = [{"val_loss": round(rng.random(), 2), "val_acc": round(rng.random(), 2)} for _ in range(8)]
    results = []
    for module, folder in ((jcb, "a"), (keras.callbacks, "b")):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        model = FakeModel()
        checkpoint = module.ModelCheckpoint("best.e{epoch}.keras", save_best_only=True, verbose=1, **config)
        play_fit([checkpoint], model, logs)
        results.append((model.saved, capsys.readouterr().out))
    assert results[0] == results[1]
    assert results[0][0]  # something was saved


def test_checkpoint_refuses_bad_suffixes_with_keras_messages(keras):
    for kwargs in (
        dict(filepath="ck.h5", save_weights_only=True),
        dict(filepath="ckpt.bin"),
        dict(filepath="m.keras", save_freq="batch"),
    ):
        with pytest.raises(ValueError) as expected:
            keras.callbacks.ModelCheckpoint(**kwargs)
        with pytest.raises(ValueError) as got:
            jcb.ModelCheckpoint(**kwargs)
        assert str(got.value) == str(expected.value)
    jcb.ModelCheckpoint("m.h5")  # the legacy whole-model suffix is accepted, as in Keras


def test_checkpoint_template_errors(tmp_path):
    with pytest.raises(ValueError, match=r"`\{batch\}`, which only exists with an integer `save_freq`"):
        jcb.ModelCheckpoint("m{batch}.keras")
    with pytest.raises(ValueError, match="placeholders must be named"):
        jcb.ModelCheckpoint("m{}.keras")
    with pytest.raises(ValueError, match="not a valid template"):
        jcb.ModelCheckpoint("m{epoch.keras")
    checkpoint = jcb.ModelCheckpoint(str(tmp_path / "m{val_acc_typo:.2f}.keras"))
    with pytest.raises(KeyError, match="Failed to format this callback filepath.*Available: epoch, loss"):
        play_fit([checkpoint], FakeModel(), [{"loss": 1.0}])


def test_checkpoint_never_saves_a_nan_epoch(tmp_path):
    path = tmp_path / "m.keras"
    model = FakeModel()
    play_fit(
        [jcb.ModelCheckpoint(str(path), monitor="loss")], model, [{"loss": v} for v in [0.5, math.nan, 0.4]]
    )
    assert len(model.saved) == 2 and path.read_text() == "model 3.0"

    model = FakeModel()
    best = jcb.ModelCheckpoint(str(tmp_path / "b{epoch}.keras"), monitor="loss", save_best_only=True)
    play_fit([best], model, [{"loss": v} for v in [math.inf, 0.5, math.nan, 0.4]])
    assert model.saved == ["b2.keras", "b4.keras"]


def test_checkpoint_never_saves_nan_weights_whatever_the_callback_order(tmp_path):
    path = tmp_path / "m.weights.h5"

    class Diverge(jcb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.weights[1][:] = np.nan

    model = FakeModel()
    checkpoint = jcb.ModelCheckpoint(str(path), monitor="loss", save_weights_only=True)
    with pytest.warns(UserWarning, match="weights contain NaN or Inf. The last checkpoint written is kept"):
        play_fit([Diverge(), checkpoint], model, [{"loss": 1.0}, {"loss": 0.9}])
    assert path.read_text() == "weights 1.0" and model.saved == ["m.weights.h5"]


def test_checkpoint_save_best_only_with_a_missing_monitor(tmp_path):
    checkpoint = jcb.ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True)
    model = FakeModel()
    with pytest.warns(UserWarning, match="this epoch has no validation results, so epoch 1 is not saved"):
        play_fit([checkpoint], model, [{"loss": 1.0}])
    assert model.saved == []
    typo = jcb.ModelCheckpoint(str(tmp_path / "m.keras"), monitor="val_acc", save_best_only=True)
    with pytest.raises(
        ValueError, match="monitors `val_acc`, which is not in the logs. Available: loss, val_accuracy"
    ):
        play_fit([typo], FakeModel(), [{"loss": 1.0, "val_accuracy": 0.5}])


def test_checkpoint_every_n_batches_matches_keras(keras, tmp_path):
    saved = []
    for module, folder in ((jcb, "a"), (keras.callbacks, "b")):
        pattern = str(tmp_path / folder / "m-{epoch}-{batch}.keras")
        model = FakeModel()
        play_fit([module.ModelCheckpoint(pattern, save_freq=2)], model, [{"loss": 1.0}] * 3, steps=3)
        saved.append(model.saved)
    assert saved[0] == saved[1] == ["m-1-2.keras", "m-2-1.keras", "m-2-3.keras", "m-3-2.keras"]


def test_checkpoint_into_an_existing_directory_is_refused(tmp_path):
    (tmp_path / "d.keras").mkdir()
    with pytest.raises(IsADirectoryError, match="non-directory filepath"):
        play_fit([jcb.ModelCheckpoint(str(tmp_path / "d.keras"))], FakeModel(), [{"loss": 1.0}])


# --------------------------------------------------------------------------------------------------------
# Learning rates.


def keras_model(keras, learning_rate=0.1):
    return FakeModel(optimizer=keras.optimizers.SGD(learning_rate=learning_rate))


def test_learning_rate_scheduler_sets_and_logs_the_rate(keras, capsys):
    def two(epoch, lr):
        return lr if epoch < 2 else lr * 0.5

    def one(epoch):
        return 0.1 / (epoch + 1)

    logs = [{"loss": 1.0}] * 5
    for schedule in (two, one):
        rates = []
        for module in (jcb, keras.callbacks):
            history = module.History()
            play_fit([module.LearningRateScheduler(schedule, verbose=1), history], FakeModel(), logs)
            rates.append((history.history["learning_rate"], capsys.readouterr().out))
        np.testing.assert_allclose(rates[0][0], rates[1][0], rtol=1e-6)
        assert rates[0][1] == rates[1][1]
    assert "\nEpoch 3: LearningRateScheduler setting learning rate to 0.03333333333333333.\n" in rates[0][1]


def test_learning_rate_scheduler_accepts_numbers_and_refuses_the_rest():
    def constant(value):
        return lambda epoch: value

    for value in (np.float32(0.25), np.array(0.25), 1):
        model = FakeModel()
        play_fit([jcb.LearningRateScheduler(constant(value))], model, [{"loss": 1.0}])
        assert model.optimizer.learning_rate == float(value) and type(model.optimizer.learning_rate) is float
    with pytest.raises(ValueError, match="should be a float. Got: fast"):
        play_fit([jcb.LearningRateScheduler(lambda epoch: "fast")], FakeModel(), [{"loss": 1.0}])
    with pytest.raises(ValueError, match="finite learning rate >= 0. Got: nan at epoch 0"):
        play_fit([jcb.LearningRateScheduler(lambda epoch, lr: math.nan)], FakeModel(), [{"loss": 1.0}])


def test_reduce_lr_on_plateau_matches_keras(keras):
    rng = random.Random(1)
    for _ in range(40):
        config = dict(
            monitor="val_loss",
            factor=rng.choice([0.5, 0.1]),
            patience=rng.choice([0, 1, 2]),
            cooldown=rng.choice([0, 1, 2]),
            min_delta=rng.choice([1e-4, 0.05]),
            min_lr=rng.choice([0.0, 0.01]),
        )
        logs = [{"val_loss": round(rng.random(), 1)} for _ in range(12)]
        rates = []
        for module, model in ((jcb, FakeModel()), (keras.callbacks, keras_model(keras))):
            history = module.History()
            play_fit([module.ReduceLROnPlateau(**config), history], model, logs)
            rates.append(history.history["learning_rate"])
        np.testing.assert_allclose(rates[0], rates[1], rtol=1e-6, err_msg=str((config, logs)))


def test_reduce_lr_on_plateau_defaults_and_message(capsys):
    callback = jcb.ReduceLROnPlateau(verbose=1, patience=1)
    assert (callback.monitor, callback.factor, callback.min_delta, callback.cooldown, callback.min_lr) == (
        "val_loss",
        0.1,
        1e-4,
        0,
        0.0,
    )
    assert jcb.ReduceLROnPlateau().patience == 10
    model = FakeModel()
    play_fit([callback], model, [{"val_loss": 1.0}, {"val_loss": 1.0}])
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    assert capsys.readouterr().out.startswith("\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.01")
    with pytest.raises(ValueError, match="does not support a factor >= 1.0. Received factor=1.5"):
        jcb.ReduceLROnPlateau(factor=1.5)


# --------------------------------------------------------------------------------------------------------
# TerminateOnNaN, CSVLogger.


def test_terminate_on_nan_stops_after_the_first_bad_batch(capsys):
    model = FakeModel()
    losses = {(0, 0): 1.0, (0, 1): 2.0, (1, 0): math.inf, (1, 1): 1.0}
    ran = play_fit(
        [jcb.TerminateOnNaN()], model, [{"loss": 1.0}] * 3, batch_logs=lambda e, b: {"loss": losses[e, b]}
    )
    assert ran == [0, 1] and model.stop_training
    assert capsys.readouterr().out == "Batch 0: Invalid loss, terminating training\n"


def test_terminate_on_nan_can_raise(keras):
    messages = []
    for module in (jcb, keras.callbacks):
        with pytest.raises(RuntimeError) as error:
            play_fit(
                [module.TerminateOnNaN(raise_error=True)],
                FakeModel(),
                [{"loss": 1.0}],
                batch_logs=lambda e, b: {"loss": math.nan},
            )
        messages.append(str(error.value))
    assert (
        messages[0]
        == messages[1]
        == ("NaN or Inf loss encountered at batch 0. Loss value: nan. Terminating training immediately.")
    )


@pytest.mark.parametrize("validation", [True, False])
def test_csv_logger_writes_the_keras_file(keras, tmp_path, validation):
    logs = [{"loss": 0.5 / (e + 1), "acc": 0.25 * e} for e in range(3)]
    if validation:
        logs = [dict(v, val_loss=0.7, val_acc=0.1) for v in logs]
    files = []
    for module in (jcb, keras.callbacks):
        path = tmp_path / f"{module.__name__}.csv"
        play_fit([module.CSVLogger(str(path), separator=";")], FakeModel(), logs)
        play_fit([module.CSVLogger(str(path), separator=";", append=True)], FakeModel(), logs[:1])
        files.append(path.read_bytes())
    assert files[0] == files[1]
    header = b"epoch;acc;loss;val_acc;val_loss\r\n"
    assert files[0].startswith(header) and files[0].count(b"epoch") == 1
    assert (b"NA" in files[0]) != validation  # no validation: Keras still writes val_ columns, as NA


# --------------------------------------------------------------------------------------------------------
# ProgbarLogger: the screen of `fit`, `evaluate` and `predict`.


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    return clock


def play_screen(logger, clock, stream, verbose):
    """A 2-epoch `fit` of 3 steps plus a 2-step validation, 0.125 s each, shown by `logger` on `stream`."""
    logs = [{"acc": 0.5 + 0.1 * e, "loss": 0.7 - 0.1 * e, "val_acc": 0.4, "val_loss": 0.8} for e in range(2)]
    old_stdout, sys.stdout = sys.stdout, stream
    try:
        clock.now = 1000.0
        play_fit(
            [logger],
            FakeModel(),
            logs,
            steps=3,
            verbose=verbose,
            clock=clock,
            validation=True,
            batch_logs=lambda e, b: {"acc": 0.5 + 0.01 * b, "loss": 0.7 - 0.01 * b},
        )
    finally:
        sys.stdout = old_stdout
    return stream.getvalue()


@pytest.mark.parametrize("verbose", [1, 2])
def test_progbar_logger_screen_equals_keras(keras, clock, verbose):
    expected = play_screen(keras.callbacks.ProgbarLogger(), clock, FakeTTY(), verbose)
    got = play_screen(jcb.ProgbarLogger(), clock, FakeTTY(), verbose)
    assert got == expected
    assert "Epoch 1/2\n" in got and "val_loss: 0.8000" in got


def test_progbar_logger_in_a_file(clock):
    out = play_screen(jcb.ProgbarLogger(), clock, io.StringIO(), 1)
    bar = "━" * 20
    # 5 ticks of 0.125 s per epoch (validation included): 0.625 s shown as `1s`; per step, leaving out
    # the first: (0.625 - 0.125) / 2 = 250ms.
    assert out == (
        "Epoch 1/2\n"
        f"3/3 {bar} 1s 250ms/step - acc: 0.5000 - loss: 0.7000 - val_acc: 0.4000 - val_loss: 0.8000\n"
        "Epoch 2/2\n"
        f"3/3 {bar} 1s 250ms/step - acc: 0.6000 - loss: 0.6000 - val_acc: 0.4000 - val_loss: 0.8000\n"
    )


def test_progbar_logger_for_evaluate_and_predict(clock, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    callback_list = jcb.CallbackList([], add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=2)
    callback_list.on_test_begin()
    for batch in range(2):
        clock.now += 0.25
        callback_list.on_test_batch_end(batch, {"loss": 0.5})
    callback_list.on_test_end({"loss": 0.5})
    callback_list.on_predict_begin()
    for batch in range(2):
        clock.now += 0.002
        callback_list.on_predict_batch_end(batch, {"outputs": np.zeros(3)})
    callback_list.on_predict_end()
    bar = "━" * 20
    assert stream.getvalue() == f"2/2 {bar} 0s 250ms/step - loss: 0.5000\n2/2 {bar} 0s 2ms/step\n"


def test_reduce_lr_on_plateau_stops_at_min_lr(keras, capsys):
    # 0.1 * 0.1 is 0.010000000000000002 in float64 but min_lr in the float32 step: no second "reduction".
    logs = [{"val_loss": 1.0}] * 6
    for model in (FakeModel(), keras_model(keras)):
        module = jcb if isinstance(model.optimizer, FakeOptimizer) else keras.callbacks
        play_fit([module.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.01, verbose=1)], model, logs)
        assert capsys.readouterr().out.count("reducing learning rate") == 1
        assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_progbar_reads_jax_values_only_when_it_draws(clock, monkeypatch):
    jnp = pytest.importorskip("jax.numpy")
    stream = FakeTTY()
    monkeypatch.setattr(sys, "stdout", stream)
    callback_list = jcb.CallbackList([], add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=2)
    assert not callback_list._convert_train_batch
    callback_list.on_epoch_begin(0)
    for batch in range(2):
        clock.now += 0.25
        callback_list.on_train_batch_end(batch, {"loss": jnp.float32(0.5) * (batch + 1)})
    callback_list.on_epoch_end(0, {"loss": jnp.float32(1.0)})
    assert "2/2" in stream.getvalue() and stream.getvalue().endswith("- loss: 1.0000\n")
