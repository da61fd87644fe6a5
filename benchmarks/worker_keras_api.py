"""The worker for jseq and for Keras 3 (JAX backend): one user program, two frameworks.

jseq's point is that Keras code runs with `keras` replaced by `jseq`, so both frameworks run exactly the same
calls here: `Sequential([Input, ...])`, `set_weights`, `compile("rmsprop", loss, ["accuracy"])`,
`fit(batch_size, epochs, shuffle=False, verbose=0)`, `evaluate` and `predict` at their default batch size
(32). Epoch ends are read by a callback with only `on_epoch_end`, so no framework is pushed into per-batch
work it would not otherwise do.

    python -m benchmarks.worker_keras_api TASK.json RESULT.json T0   (TASK["framework"]: "jseq" or "keras")
"""

import importlib
import os

from benchmarks import cases, common


def build_model(fw, case):
    """The case's model from `fw`'s layers (`fw` is the jseq or keras module)."""
    layers = [fw.Input(shape=tuple(case["input_shape"]), dtype=case["input_dtype"])]
    for spec in case["layers"]:
        kind = spec[0]
        if kind == "dense":
            layers.append(fw.layers.Dense(spec[1], activation=spec[2]))
        elif kind == "conv2d":
            layers.append(fw.layers.Conv2D(spec[1], spec[2], activation=spec[3]))
        elif kind == "maxpool2d":
            layers.append(fw.layers.MaxPooling2D(spec[1]))
        elif kind == "flatten":
            layers.append(fw.layers.Flatten())
        elif kind == "embedding":
            layers.append(fw.layers.Embedding(spec[1], spec[2]))
        elif kind == "lstm":
            layers.append(fw.layers.LSTM(spec[1]))
        else:
            raise ValueError(f"Unknown layer spec {spec!r}.")
    return fw.Sequential(layers)


def epoch_clock(fw):
    """A callback of `fw` that records when each epoch's logs reach the host."""

    class EpochClock(fw.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(common.now())

    return EpochClock()


def main(argv=None):
    task, result_path, t0 = common.parse_argv(argv)
    case, name = task["case"], task["framework"]
    data, weights = cases.read_case_file(task["data_path"])
    if name == "keras":
        os.environ.setdefault("KERAS_BACKEND", "jax")

    t_import = common.now()
    fw = importlib.import_module(name)
    t_imported = common.now()

    model = build_model(fw, case)
    model.set_weights(weights)
    model.compile(optimizer="rmsprop", loss=case["loss"], metrics=["accuracy"])
    t_built = common.now()

    clock = epoch_clock(fw)
    t_fit = common.now()
    history = model.fit(
        data["x_train"],
        data["y_train"],
        batch_size=case["batch_size"],
        epochs=task["epochs"],
        shuffle=False,
        verbose=0,
        callbacks=[clock],
    )

    x_test, y_test = data["x_test"], data["y_test"]
    calls = task["timed_calls"]
    evaluate, scores = common.timed_calls(
        lambda: model.evaluate(x_test, y_test, verbose=0, return_dict=True), calls
    )
    predict, _ = common.timed_calls(lambda: model.predict(x_test, verbose=0), calls)

    import jax  # already imported by the framework

    result = common.figures(
        t0=t0,
        t_import=t_import,
        t_imported=t_imported,
        t_built=t_built,
        t_fit=t_fit,
        epoch_ends=clock.ends,
        steps=case["steps_per_epoch"],
        evaluate=evaluate,
        predict=predict,
        accuracy=scores["accuracy"],
        loss=scores["loss"],
        train_loss=history.history["loss"],
    )
    device = jax.devices()[0]
    result.update(
        framework=name,
        version=fw.__version__,
        device={"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
    )
    common.write_result(result_path, result)


if __name__ == "__main__":
    main()
