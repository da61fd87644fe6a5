"""Keras 3's progress bar, character for character: `3/3 ━━━━━━━━━━━━━━━━━━━━ 1s 180ms/step - loss: 0.7340`.

Where the text goes decides how it is drawn:

* a terminal or a notebook (``sys.stdout.isatty()``, ``ipykernel`` imported, or PyCharm's console): the bar is
  redrawn in place with ``\\b``/``\\r``, the done part green, the rest white, the step counter bold. These
  bytes are exactly the ones Keras writes for the same updates at the same times.
* anything else (a file, a pipe, a CI log): one plain line per bar, written when the bar finishes, with no
  control characters at all. (Keras treats every POSIX system as a terminal and writes its redraws, colour
  codes and backspaces into log files too.)

Every clock reading goes through ``time.time()`` so that tests can replace it.
"""

import math
import os
import re
import sys
import time

import numpy as np

_BOLD, _GREEN, _WHITE, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"
_ANSI_CODE = re.compile("\x1b\\[[0-9;]*m")


def print_msg(message, line_break=True):
    """Write `message` to the current `sys.stdout` and flush, as Keras's `io_utils.print_msg` does.

    A stream that cannot encode `━` (a Windows code page, `LANG=C`) gets `=` instead, as in Keras.
    """
    message = f"{message}\n" if line_break else str(message)
    stream = sys.stdout
    try:
        stream.write(message)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        message = message.replace("━", "=").encode(encoding, errors="ignore").decode(encoding)
        stream.write(message)
    stream.flush()


def is_interactive_stdout():
    """Whether `sys.stdout` can redraw a bar in place: a terminal, a Jupyter kernel, PyCharm's console."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(
        (isatty is not None and isatty()) or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ
    )


def format_step_time(seconds, unit_name="step"):
    """` 180ms/step`: seconds per unit in s, ms or us, rounded to an integer (a leading space included)."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1000.0:.0f}ms/{unit_name}"
    return f" {seconds * 1000000.0:.0f}us/{unit_name}"


def format_eta(seconds):
    """`42s`, `1:02` (minutes), `1:02:03` (hours), truncated as Keras does."""
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int((seconds % 3600) // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


class Progbar:
    """Displays a progress bar, as `keras.utils.Progbar`.

    Metrics are averaged over the steps seen, weighted by the steps each update covers, unless their name is
    in `stateful_metrics` (shown as given). Pass at most one of `stateful_metrics` / `stateless_metrics`;
    with `stateless_metrics` only those names are averaged.

    Args:
        target: total number of steps, or None if unknown.
        width: width of the bar in characters.
        verbose: 0 silent, 1 a bar, 2 one line when the bar finishes.
        interval: minimum seconds between two redraws (verbose=1).
        stateful_metrics: names whose values are shown as given, not averaged.
        stateless_metrics: names that are averaged; all others are shown as given.
        unit_name: what a step is called in `ms/step`.

    Example::

        bar = Progbar(3)
        for step in range(1, 4):
            bar.update(step, [("loss", 1.0 / step)])  # ends with `3/3 ━━━━━━━━━━━━━━━━━━━━ 0s ...`
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        stateless_metrics=None,
        unit_name="step",
    ):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be provided: `stateful_metrics` "
                "lists the names not to average, `stateless_metrics` the only names to average."
            )
        if verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        # Exactly one of the two sets is used: `_is_averaged` reads whichever was given.
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = set(stateless_metrics) if stateless_metrics is not None else None

        self._dynamic_display = is_interactive_stdout()
        self._seen_so_far = 0
        self._values = {}  # name -> [weighted sum, weight]; shown as sum / weight
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _is_averaged(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        """Moves the bar to step `current` and records `values`, a list of `(name, value)` pairs.

        Args:
            current: index of the current step (1-based: the number of steps done).
            values: `(name, value_for_last_step)` pairs; averaged over steps unless the name is stateful.
            finalize: whether this is the last update; defaults to `current >= target`.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if self._is_averaged(name) and not finalize:
                # Weight by the steps this update covers, so `add(5, ...)` counts five times.
                weight = max(current - self._seen_so_far, 1)
                if name in self._values:
                    self._values[name][0] += value * weight
                    self._values[name][1] += weight
                else:
                    self._values[name] = [value * weight, weight]
            else:
                # A stateful value, or the final one (then already the epoch's mean): shown as given.
                self._values[name] = [value, 1]
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if self._dynamic_display:
                if now - self._last_update < self.interval and not finalize:
                    return
                self._redraw(current, now, time_per_unit, finalize)
            elif finalize:
                bar, info = self._bar_and_info(current, now, time_per_unit, finalize, colour=False)
                print_msg(bar + info)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            print_msg(self._summary_line(current, now, time_per_unit))
        self._last_update = now

    def add(self, n, values=None):
        """Moves the bar `n` steps forward; see `update`."""
        self.update(self._seen_so_far + n, values)

    def _redraw(self, current, now, time_per_unit, finalize):
        """Overwrites the previous drawing of the bar (the verbose=1 terminal/notebook display)."""
        bar, info = self._bar_and_info(current, now, time_per_unit, finalize, colour=True)
        total_width = len(_ANSI_CODE.sub("", bar + info))  # the colour codes take no room on screen
        message = "\b" * self._prev_total_width + "\r" + bar + info
        # Blank out what is left of a longer previous line.
        message += " " * max(self._prev_total_width - total_width, 0)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def _bar_and_info(self, current, now, time_per_unit, finalize, colour):
        """(`" 3/3 ━━━…━"`, `" 1s 180ms/step - loss: 0.7340"`), with or without colour codes."""

        def paint(code, text):
            return f"{code}{text}{_RESET}" if colour else text

        if self.target is not None and self.target > 0:
            bar = paint(_BOLD, self._counter(current)) + " "
            done = int(self.width * (float(current) / self.target))
            if done > 0:
                bar += paint(_GREEN, "━" * done)
            bar += paint(_WHITE, "━" * (self.width - done))
            if not finalize:
                when = format_eta(time_per_unit * (self.target - current))
            else:
                when = f"{now - self._start:.0f}s"
        else:
            bar = f"{int(current):7d}/Unknown"
            when = f"{now - self._start:.0f}s"
        info = " " + paint(_BOLD, when) + format_step_time(time_per_unit, self.unit_name)
        for name in self._values_order:
            mean = self._mean(name)
            # Keras switches to scientific notation for values of magnitude at most 1e-3.
            info += f" - {name}: {mean:.4f}" if abs(mean) > 1e-3 else f" - {name}: {mean:.4e}"
        return bar, info

    def _summary_line(self, current, now, time_per_unit):
        """`4/4 - 0s - 786us/step - loss: 0.7160`: the verbose=2 line."""
        line = self._counter(current)
        line += f" - {now - self._start:.0f}s -" + format_step_time(time_per_unit, self.unit_name)
        for name in self._values_order:
            mean = self._mean(name)
            # Keras's verbose=2 rule compares the signed value: negative values print as `-9.0000e-01`.
            line += f" - {name}: {mean:.4f}" if mean > 1e-3 else f" - {name}: {mean:.4e}"
        return line

    def _counter(self, current):
        """` 7/12`: the step count right-aligned to the width of the target."""
        n_digits = int(math.log10(self.target)) + 1
        return f"{int(current):{n_digits}d}/{int(self.target)}"

    def _mean(self, name):
        total, count = self._values[name]
        if not isinstance(total, float):
            total = np.mean(total)  # NumPy / JAX scalars (read from the device only here)
        return total / max(1, count)

    def _estimate_step_duration(self, current, now):
        """Seconds per step, leaving out the first step (compilation) once a second one exists."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
