"""`model.summary()`: Keras 3's table, drawn without `rich` but to the same widths, wrapping and rules.

Keras asks rich for columns of `int(position * line_length)` characters inside a table `line_length` wide;
rich then shrinks the over-wide columns evenly (its `ratio_reduce`). We do the same arithmetic so that the
table is character-for-character the one Keras prints.
"""

import math
import shutil

import numpy as np

from jseq.core import shape_str


def readable_memory_size(n_bytes):
    """Bytes as Keras writes them: base 1024, two decimals, B / KB / MB / GB / TB / PB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes / 1024 < 1:
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} PB"


def _weight_stats(weights):
    """(number of scalars, bytes) over `weights`, counting a weight shared by two models once."""
    seen, count, size = set(), 0, 0
    for w in weights:
        if w.key in seen:
            continue
        seen.add(w.key)
        n = math.prod(w.shape)
        count += n
        size += n * np.dtype(w.dtype).itemsize
    return count, size


def _reduce_evenly(excess, widths):
    """rich's `ratio_reduce` with equal ratios: take `excess` characters off the columns, left first."""
    remaining, ratio_left, out = excess, len(widths), []
    for w in widths:
        cut = min(w, round(remaining / ratio_left))
        out.append(w - cut)
        remaining -= cut
        ratio_left -= 1
    return out


def _wrap(text, width):
    """Greedy word wrap; a word longer than the cell is cut with an ellipsis (rich's default overflow)."""
    indent = text[: len(text) - len(text.lstrip(" "))]
    lines, line = [], indent
    for word in text[len(indent) :].split(" "):
        if len(word) > width:
            word = word[: width - 1] + "…"
        if line == indent and (not lines or not indent):
            line = indent + word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return lines


def _align(text, width, how):
    if how == "right":
        return text.rjust(width)
    if how == "center":
        left = (width - len(text)) // 2
        return (" " * left + text).ljust(width)
    return text.ljust(width)


def _table(header, rows, line_length, positions, alignment):
    requested, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        requested.append(width)
        current += width
    widths = [w + 2 for w in requested]  # one space of padding on each side
    available = line_length - (len(widths) + 1)  # minus the vertical rules
    if sum(widths) > available:
        widths = _reduce_evenly(sum(widths) - available, widths)
    inner = [w - 2 for w in widths]

    def rule(left, fill, mid, right):
        return left + mid.join(fill * w for w in widths) + right

    def cells(values, bar):
        wrapped = [_wrap(v, w) for v, w in zip(values, inner)]
        height = max(len(c) for c in wrapped)
        out = []
        for i in range(height):
            parts = [
                " " + _align(c[i] if i < len(c) else "", w, a) + " "
                for c, w, a in zip(wrapped, inner, alignment)
            ]
            out.append(bar + bar.join(parts) + bar)
        return out

    lines = [rule("┏", "━", "┳", "┓")]
    lines += cells(header, "┃")
    lines.append(rule("┡", "━", "╇", "┩"))
    for i, row in enumerate(rows):
        if i:
            lines.append(rule("├", "─", "┼", "┤"))
        lines += cells(row, "│")
    lines.append(rule("└", "─", "┴", "┘"))
    return lines


def _layer_row(layer, prefix, show_trainable, connections):
    name = f"{prefix}{layer.name} ({type(layer).__name__})"
    if not layer.built:
        shape, params = "?", "0 (unbuilt)"
    else:
        shape = _format_shape(layer.output_shape)
        params = f"{layer.count_params():,}"
    row = [name, shape, params]
    if connections is not None:
        row.append(connections(layer))
    if show_trainable:
        row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
    return row


def _format_shape(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_format_shape(s) for s in shape) + "]"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_format_shape(v)}" for k, v in shape.items()) + "}"
    return shape_str(shape).replace(",)", ")")


def summary_lines(
    model,
    line_length=None,
    positions=None,
    expand_nested=False,
    show_trainable=False,
    layer_range=None,
    connections=None,
    optimizer_params=None,
):
    """The summary as a list of lines. `connections(layer) -> str` adds Keras's functional column."""
    if connections is None:
        default_length, positions = 88, positions or [0.45, 0.80, 1.0]
        header, alignment = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    if show_trainable:
        default_length += 12
        positions = [p * 0.9 for p in positions] + [1.0]
        header, alignment = header + ["Trainable"], alignment + ["center"]
    line_length = line_length or min(default_length, shutil.get_terminal_size().columns - 4)
    if positions[-1] > 1:  # absolute positions, as Keras also accepts
        positions = [p / line_length for p in positions]

    layers = list(model.summary_layers())
    if layer_range is not None:
        layers = _slice_by_names(layers, layer_range)

    rows = []

    def add(layer, level):
        prefix = "   " * level + "└ " if level else ""
        rows.append(_layer_row(layer, prefix, show_trainable, connections))
        if expand_nested and hasattr(layer, "layers"):
            for sub in layer.layers:
                add(sub, level + 1)

    for layer in layers:
        add(layer, 0)

    trainable, trainable_bytes = _weight_stats(model.trainable_weights)
    frozen, frozen_bytes = _weight_stats(model.non_trainable_weights)
    opt_count, opt_bytes = optimizer_params if optimizer_params else (0, 0)
    total, total_bytes = trainable + frozen + opt_count, trainable_bytes + frozen_bytes + opt_bytes
    lines = [f'Model: "{model.name}"']
    lines += _table(header, rows, line_length, positions, alignment)
    lines.append(f" Total params: {total:,} ({readable_memory_size(total_bytes)})")
    lines.append(f" Trainable params: {trainable:,} ({readable_memory_size(trainable_bytes)})")
    lines.append(f" Non-trainable params: {frozen:,} ({readable_memory_size(frozen_bytes)})")
    if optimizer_params:
        lines.append(f" Optimizer params: {opt_count:,} ({readable_memory_size(opt_bytes)})")
    return lines


def _slice_by_names(layers, layer_range):
    import re

    if len(layer_range) != 2 or not all(isinstance(n, str) for n in layer_range):
        raise ValueError(f"layer_range must be a list or tuple of two layer names. Received: {layer_range}")
    names = [layer.name for layer in layers]
    starts = [i for i, n in enumerate(names) if re.match(layer_range[0], n)]
    ends = [i for i, n in enumerate(names) if re.match(layer_range[1], n)]
    if not starts or not ends:
        raise ValueError(f"layer_range {layer_range} does not match any layer names: {names}")
    return layers[starts[0] : ends[-1] + 1]
