"""What every worker shares: its command line, the clock, the figures it reports, and its result file.

A worker is one process that runs one case in one framework once:

    python -m benchmarks.<worker> TASK.json RESULT.json T0

TASK.json names the framework, the case (`Case.to_json()`), the .npz of data and initial weights, the number
of epochs and of timed `evaluate` / `predict` calls. T0 is the parent's `time.time()` just before it started
the process, so "time to the end of the first epoch" counts the interpreter's start-up too. The worker writes
RESULT.json with the figures of `figures()`; the parent collects the repeats and takes medians.

Only the standard library and NumPy are imported here, before the framework's import is timed.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time

# time.time() of the instant perf_counter() read 0, to place perf_counter readings on the parent's clock
_WALL_OFFSET = time.time() - time.perf_counter()


def now():
    """A monotonic, high-resolution clock in seconds (perf_counter)."""
    return time.perf_counter()


def parse_argv(argv=None):
    """(task dict, result path, t0) from `TASK.json RESULT.json T0`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        raise SystemExit("usage: python -m benchmarks.<worker> TASK.json RESULT.json T0")
    task_path, result_path, t0 = argv
    with open(task_path) as f:
        task = json.load(f)
    return task, result_path, float(t0)


def peak_rss_mib():
    """The process's peak resident memory so far (ru_maxrss is in KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed_calls(fn, count):
    """Call `fn` once to warm up (compile), then `count` times; (durations of the timed calls, last value)."""
    value = fn()
    durations = []
    for _ in range(count):
        start = now()
        value = fn()
        durations.append(now() - start)
    return durations, value


def figures(*, t0, t_import, t_imported, t_built, t_fit, epoch_ends, steps, evaluate, predict, accuracy,
            loss, train_loss):  # fmt: skip
    """The reported figures of one run, from the clock readings (all `now()` values except `t0`).

    Args:
        t0: the parent's `time.time()` when it started this process.
        t_import, t_imported: around the framework's import.
        t_built: after the model was built, given its weights and compiled (the hand loop: on the device).
        t_fit: when `fit` (the hand loop's first epoch) was called.
        epoch_ends: when each epoch's logs were ready on the host (a sync point in every framework).
        steps: training steps per epoch.
        evaluate, predict: durations of the timed calls after the warm-up call.
    """
    epochs = [epoch_ends[0] - t_fit] + [b - a for a, b in zip(epoch_ends, epoch_ends[1:])]
    steady = statistics.median(epochs[1:]) if len(epochs) > 1 else float("nan")
    return {
        "startup_s": t_import + _WALL_OFFSET - t0,  # interpreter, NumPy and the data file
        "import_s": t_imported - t_import,
        "build_s": t_built - t_imported,  # construct, set weights, compile
        "first_epoch_s": epoch_ends[0] + _WALL_OFFSET - t0,  # from process start
        # From model construction to the end of the first step, estimated as the first epoch minus the
        # remaining (steps - 1) steps at the steady rate: a callback at every batch would change the loop.
        "first_step_s": (epoch_ends[0] - t_imported) - (steps - 1) * steady / steps,
        "steady_epoch_s": steady,
        "step_ms": 1000.0 * steady / steps,
        "evaluate_s": statistics.median(evaluate),
        "predict_s": statistics.median(predict),
        "peak_rss_mib": peak_rss_mib(),
        "accuracy": float(accuracy),
        "loss": float(loss),
        "epoch_s": epochs,
        "evaluate_calls_s": list(evaluate),
        "predict_calls_s": list(predict),
        "train_loss": [float(v) for v in train_loss],
    }


def write_result(path, result):
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
