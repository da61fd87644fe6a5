"""jseq.utils.Progbar: byte-for-byte Keras 3 in a terminal or notebook, one plain line in a file or pipe."""

import io
import random
import re
import sys
import time
import types

import pytest

from jseq.utils import Progbar
from jseq.utils.progbar import format_eta, format_step_time

CONTROL = re.compile(r"\x1b\[[0-9;]*m|[\r\b]")


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """Stands in for `time.time`: the test sets `.now` before each call to the bar."""

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


def run(progbar_class, script, stream, clock, **kwargs):
    """Builds a bar at t=1000 and plays `script`: (time, method, args) triples. Returns what was written."""
    old_stdout = sys.stdout
    sys.stdout = stream
    try:
        clock.now = 1000.0
        bar = progbar_class(**kwargs)
        for now, method, args in script:
            clock.now = now
            getattr(bar, method)(*args)
    finally:
        sys.stdout = old_stdout
    return stream.getvalue() if isinstance(stream, io.StringIO) else None


def epoch_script(steps, start=1000.0, first=0.2, per_step=0.18, metrics=(("acc", 0.5), ("loss", 0.7))):
    script, now = [], start
    for step in range(1, steps + 1):
        now += first if step == 1 else per_step
        values = [(name, value + 0.01 * step) for name, value in metrics]
        script.append((now, "update", (step, values)))
    return script


def random_script(rng, target):
    """Irregular steps and times, tiny/negative values, jumps of several steps (`add`) and ETAs of hours."""
    script, now, current = [], 1000.0, 0
    n = target or 20
    while current < n:
        step = min(rng.choice([1, 1, 1, 2, 5]), n - current)
        now += rng.choice([1e-5, 3e-4, 0.004, 0.03, 0.06, 0.2, 1.3, 7.0, 75.0, 4000.0])
        values = [("acc", rng.choice([0.5, 1e-4, -0.3, 0.123456, -1e-5])), ("loss", rng.uniform(-2, 2))]
        if rng.random() < 0.3:
            script.append((now, "add", (step, values)))
        else:
            finalize = True if target is None and current + step == n else None
            script.append((now, "update", (current + step, values, finalize)))
        current += step
    return script


# --------------------------------------------------------------------------------------------------------
# The exact lines of keras-behaviour.md §5.


def test_terminal_line_matches_the_keras_screen(clock):
    out = run(Progbar, epoch_script(3), FakeTTY(), clock, target=3)
    last = CONTROL.sub("", out.split("\r")[-1])
    assert last == "3/3 ━━━━━━━━━━━━━━━━━━━━ 1s 180ms/step - acc: 0.5300 - loss: 0.7300\n"
    # Green done part, white rest, bold counter, as Keras draws them.
    assert "\x1b[1m3/3\x1b[0m \x1b[32m" + "━" * 20 + "\x1b[0m\x1b[37m\x1b[0m" in out
    assert "\x1b[1m1/3\x1b[0m \x1b[32m" + "━" * 6 + "\x1b[0m\x1b[37m" + "━" * 14 + "\x1b[0m" in out


def test_file_gets_one_plain_line_per_bar(clock):
    out = run(Progbar, epoch_script(3), io.StringIO(), clock, target=3)
    assert out == "3/3 ━━━━━━━━━━━━━━━━━━━━ 1s 180ms/step - acc: 0.5300 - loss: 0.7300\n"
    assert not CONTROL.search(out)


def test_verbose_2_line(clock):
    script = epoch_script(4, first=0.001, per_step=0.000786, metrics=(("acc", 0.4873), ("loss", 0.676)))
    out = run(Progbar, script, io.StringIO(), clock, target=4, verbose=2)
    assert out == "4/4 - 0s - 786us/step - acc: 0.5273 - loss: 0.7160\n"


def test_verbose_0_writes_nothing(clock):
    assert run(Progbar, epoch_script(3), FakeTTY(), clock, target=3, verbose=0) == ""


def test_eta_while_running_and_elapsed_at_the_end(clock):
    script = [(1000.0 + 75.0 * step, "update", (step,)) for step in range(1, 4)]
    out = run(Progbar, script, FakeTTY(), clock, target=3)
    frames = [CONTROL.sub("", frame) for frame in out.split("\r") if frame]
    assert frames[0].startswith("1/3 ━━━━━━") and " 2:30 " in frames[0]  # 2 steps left at 75 s each
    assert frames[-1].strip() == "3/3 ━━━━━━━━━━━━━━━━━━━━ 225s 75s/step"


def test_format_helpers():
    assert [format_eta(s) for s in (0.4, 42.9, 60, 61, 75.5, 3600, 3700)] == [
        "0s",
        "42s",
        "60s",
        "1:01",
        "1:15",
        "60:00",
        "1:01:40",
    ]
    assert [format_step_time(s) for s in (0, 2.4, 0.18, 0.000786, 1e-3)] == [
        " 0s/step",
        " 2s/step",
        " 180ms/step",
        " 786us/step",
        " 1ms/step",
    ]
    assert format_step_time(0.5, "sample") == " 500ms/sample"


def test_small_values_in_scientific_notation(clock):
    script = [(1000.5, "update", (1, [("lr", 0.0005), ("neg", -0.5), ("loss", 0.25)]))]
    out = run(Progbar, script, io.StringIO(), clock, target=1, stateful_metrics=["lr", "neg", "loss"])
    assert out.endswith(" - lr: 5.0000e-04 - neg: -0.5000 - loss: 0.2500\n")
    # Keras's verbose=2 rule compares the signed value, so a negative value prints in e-notation there.
    out = run(Progbar, script, io.StringIO(), clock, target=1, verbose=2, stateful_metrics=["lr", "neg"])
    assert out.endswith(" - lr: 5.0000e-04 - neg: -5.0000e-01 - loss: 0.2500\n")


def test_values_are_averaged_over_steps_unless_stateful(clock):
    # Step 1 reports 1.0, then one update covers steps 2-3 reporting 4.0: mean (1*1 + 4*2) / 3 = 3.
    script = [
        (1000.1, "update", (1, [("loss", 1.0), ("acc", 1.0)])),
        (1001.0, "update", (3, [("loss", 4.0), ("acc", 4.0)])),
    ]
    out = run(Progbar, script, FakeTTY(), clock, target=4, stateful_metrics=["acc"])
    assert out.endswith("- loss: 3.0000 - acc: 4.0000")


def test_unknown_target_counts_up(clock):
    script = [(1000.1, "update", (1,)), (1000.2, "update", (2,)), (1000.3, "update", (3, None, True))]
    out = run(Progbar, script, FakeTTY(), clock, target=None)
    assert CONTROL.sub("", out.split("\r")[-1]) == "      3/Unknown 0s 100ms/step\n"
    assert run(Progbar, script, io.StringIO(), clock, target=None) == "      3/Unknown 0s 100ms/step\n"


def test_notebook_redraws_in_place(clock, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    out = run(Progbar, epoch_script(3), io.StringIO(), clock, target=3)
    assert out.count("\r") == 3 and "\x1b[32m" in out


def test_stream_that_cannot_encode_the_bar_gets_equals_signs(clock):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    run(Progbar, epoch_script(3), stream, clock, target=3)
    stream.flush()
    assert (
        stream.buffer.getvalue().decode("ascii")
        == "3/3 ==================== 1s 180ms/step - acc: 0.5300 - loss: 0.7300\n"
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="verbose"):
        Progbar(3, verbose=3)
    with pytest.raises(ValueError, match="Only one of `stateful_metrics` or `stateless_metrics`"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


# --------------------------------------------------------------------------------------------------------
# Keras's own Progbar given the same updates at the same times.


@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("target", [None, 1, 3, 7, 100, 12345])
def test_terminal_bytes_equal_keras(keras, clock, target, verbose):
    rng = random.Random(f"{target}-{verbose}")
    for _ in range(8):
        kwargs = dict(target=target, verbose=verbose, width=rng.choice([20, 10, 30]))
        kwargs.update(rng.choice([{}, {"stateful_metrics": {"loss"}}, {"stateless_metrics": {"acc"}}]))
        script = random_script(rng, target)
        expected = run(keras.utils.Progbar, script, FakeTTY(), clock, **kwargs)
        assert run(Progbar, script, FakeTTY(), clock, **kwargs) == expected


def test_file_output_is_keras_final_line_without_control_characters(keras, clock):
    rng = random.Random(0)
    for target in (3, 7, 100):
        script = random_script(rng, target)
        keras_screen = run(keras.utils.Progbar, script, FakeTTY(), clock, target=target)
        final_line = CONTROL.sub("", keras_screen.split("\r")[-1]).rstrip(" \n") + "\n"
        out = run(Progbar, script, io.StringIO(), clock, target=target)
        assert out == final_line
