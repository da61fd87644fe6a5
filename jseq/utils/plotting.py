"""Pictures with matplotlib alone: `plot_model` (the layers as boxes and arrows) and `plot_history` (curves).

    plot_model(model, to_file="model.png", ...)      -> an image a notebook shows inline (or the path)
    plot_history(history, metrics=None, to_file=None) -> the matplotlib Figure

matplotlib is an optional dependency (`pip install "jseq[plot]"`), imported only when a picture is asked for.
No Graphviz binary is needed: `plot_model` lays the graph out itself, in layers as Graphviz's `dot` does
(ranks by longest path, an order per rank that reduces crossings, long edges routed through the gaps).
"""

import math
import os
import sys
from pathlib import Path

_INSTALL_HINT = 'Install it with `pip install "jseq[plot]"` (or `pip install matplotlib`).'
_RANKDIRS = ("TB", "BT", "LR", "RL")

# Sizes in inches (1 inch = 72 points); font sizes in points.
_TITLE_SIZE, _VALUE_SIZE, _CAPTION_SIZE, _CLUSTER_SIZE = 10.0, 9.0, 7.5, 8.5
_PAD_X, _PAD_Y = 0.12, 0.06  # inside a box, around each row's text
_RANK_GAP, _NODE_GAP = 0.42, 0.35  # between ranks (arrows run here), between boxes of one rank
_CLUSTER_PAD, _EDGE_LANE = 0.14, 0.12  # around a nested model's boxes; width of a long edge's lane
_TITLE_CLEARANCE = 0.12  # between a frame's title and the arrows that cross its top
_PORT_SPREAD = 1.2  # the most of a box's side that the arrows at that side spread over
_MARGIN = 0.15
_COLORS = {
    "header": "#263238",
    "border": "#263238",
    "body": "#ffffff",
    "caption": "#607d8b",
    "edge": "#37474f",
    "cluster": "#78909c",
    "trainable": "#2e7d32",
    "frozen": "#c62828",
}


def _import_matplotlib(what):
    """matplotlib, or an ImportError that says how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f"{what} needs matplotlib, which is not installed. {_INSTALL_HINT}") from error
    return matplotlib


def _pyplot(matplotlib):
    """pyplot, on the Agg backend when nothing was chosen and there is no display to open a window on."""
    no_display = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if no_display and "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _image_format(to_file, canvas_class):
    """The file format named by `to_file`'s suffix ("png" when it has none), checked against matplotlib's."""
    suffix = Path(to_file).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    supported = canvas_class.get_supported_filetypes()
    if suffix not in supported:
        raise ValueError(
            f"Cannot write an image to {str(to_file)!r}: unknown file type '.{suffix}'. Use one of "
            f"{', '.join('.' + s for s in sorted(supported))} (e.g. 'model.png' or 'model.svg')."
        )
    return suffix


def _inline_image(path, fmt):
    """`IPython.display.Image` / `SVG` of the file (a notebook shows it inline); without IPython, the path."""
    try:
        from IPython import display
    except ImportError:
        return str(path)
    if fmt == "svg":
        return display.SVG(filename=str(path))
    if fmt in ("png", "jpg", "jpeg"):
        return display.Image(filename=str(path))
    return str(path)


# --------------------------------------------------------------------------------------------------------
# The model as a graph: one box per layer, an edge per connection, a cluster per expanded nested model.


def _flat(structure):
    """The leaves of a tensor structure: one tensor, or (nested) lists, tuples and dicts (dicts by key)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flat(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flat(item)]
    return [structure]


def _is_model(layer):
    return isinstance(getattr(layer, "layers", None), list)


def _is_input_layer(layer):
    return type(layer).__name__ == "InputLayer"


def _is_sequential(model):
    from jseq.models import Sequential

    return isinstance(model, Sequential)


def _producer(tensor):
    """`(layer, index)`: the layer whose call made `tensor`, and its place among that call's outputs."""
    history = getattr(tensor, "history", None)
    if not history:
        return None, 0
    layer = history[0]
    for _, outputs in getattr(layer, "_inbound", []):
        for index, out in enumerate(_flat(outputs)):
            if out is tensor:
                return layer, index
    return layer, 0


def _calls(model, layer):
    """The input structures of `layer`'s calls that belong to `model`'s graph (all of them when unknown)."""
    node_keys = getattr(model, "_node_keys", None)
    return [
        inputs
        for index, (inputs, _) in enumerate(getattr(layer, "_inbound", []))
        if node_keys is None or (id(layer), index) in node_keys
    ]


def _format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        return ", ".join(f"{key}: {_format_shape(value)}" for key, value in shape.items())
    if isinstance(shape, list):
        return "[" + ", ".join(_format_shape(s) for s in shape) + "]"
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    return str(shape)


def _output_dtype(layer):
    try:
        outputs = _flat(layer.output)
    except (AttributeError, ValueError):  # not called on a symbolic input: the dtype of its weights
        return layer.dtype
    dtypes = [str(getattr(t, "dtype", layer.dtype)) for t in outputs]
    return dtypes[0] if len(set(dtypes)) == 1 else "[" + ", ".join(dtypes) + "]"


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", None) or getattr(activation, "name", None) or str(activation)


def _box_content(layer, options):
    """What a box shows: title pieces, an optional activation line, and cells `(caption, value, colour)`."""
    class_name = type(layer).__name__
    if options["show_layer_names"]:
        title = [(layer.name, "bold"), (f" ({class_name})", "normal")]
    else:
        title = [(class_name, "bold")]
    activation = _activation_name(layer) if options["show_layer_activations"] else None
    cells = []
    if options["show_shapes"]:
        if not _is_input_layer(layer):
            cells.append(("Input shape", _format_shape(getattr(layer, "input_shape", None)), None))
        cells.append(("Output shape", _format_shape(getattr(layer, "output_shape", None)), None))
    if options["show_dtype"]:
        cells.append(("Output dtype", _output_dtype(layer), None))
    if options["show_trainable"] and layer.weights:
        trainable = layer.trainable
        cells.append(
            (None, "Trainable" if trainable else "Non-trainable", "trainable" if trainable else "frozen")
        )
    return {"title": title, "activation": activation, "cells": cells}


class _Graph:
    """What to draw: boxes (layer contents), edges between box indices, and clusters (expanded nested models).

    `paths[i]` is the tuple of cluster indices box `i` sits in, outermost first; `clusters[c]` is
    `{"title": ..., "depth": 1 for a model nested in the plotted one, 2 one level deeper, ...}`.
    """

    def __init__(self, options):
        self.options = options
        self.boxes, self.paths, self.edges, self.clusters = [], [], [], []
        self._open = ()  # the clusters being filled, outermost first
        self._units = {}  # id(layer) -> (entry box indices, exit box indices) of that layer in the picture

    def add_model(self, model):
        """Add `model`'s layers and connections; returns its (entry box indices, exit box indices)."""
        layers = model.layers
        units = [self._add_unit(layer) for layer in layers]
        connected = [] if _is_sequential(model) else [self._connect(model, layer) for layer in layers]
        if not any(connected):
            for (_, exits), (entries, _) in zip(units, units[1:]):  # a chain, layer after layer
                self._edge(exits[0], entries[0])
            return (units[0][0], units[-1][1]) if units else ([], [])
        entries = [self._units[id(_producer(t)[0])][0][0] for t in _flat(model.inputs)]
        exits = [self._exit(t) for t in _flat(model.outputs)]
        return entries, exits

    def _add_unit(self, layer):
        if id(layer) in self._units:  # a layer shared by two nested models is drawn once
            return self._units[id(layer)]
        if self.options["expand_nested"] and _is_model(layer) and layer.layers:
            self.clusters.append(
                {"title": f"{layer.name} ({type(layer).__name__})", "depth": len(self._open) + 1}
            )
            outer, self._open = self._open, self._open + (len(self.clusters) - 1,)
            unit = self.add_model(layer)
            self._open = outer
        else:
            self.boxes.append(_box_content(layer, self.options))
            self.paths.append(self._open)
            unit = ([len(self.boxes) - 1], [len(self.boxes) - 1])
        self._units[id(layer)] = unit
        return unit

    def _exit(self, tensor):
        layer, index = _producer(tensor)
        exits = self._units[id(layer)][1]
        return exits[index] if index < len(exits) else exits[0]

    def _connect(self, model, layer):
        """Edges from the producers of `layer`'s inputs to `layer`; False when nothing connects to it."""
        if _is_input_layer(layer) or id(layer) not in self._units:
            return False
        entries = self._units[id(layer)][0]
        found = False
        for inputs in _calls(model, layer):
            for position, tensor in enumerate(_flat(inputs)):
                source, _ = _producer(tensor)
                if source is None or id(source) not in self._units:
                    continue
                self._edge(self._exit(tensor), entries[position] if position < len(entries) else entries[0])
                found = True
        return found

    def _edge(self, source, target):
        if (source, target) not in self.edges and source != target:
            self.edges.append((source, target))


# --------------------------------------------------------------------------------------------------------
# Measuring text and sizing boxes (inches).


class _Measure:
    """Text extents in inches, from the Agg renderer at the output's dpi (what will be drawn)."""

    def __init__(self, dpi):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.font_manager import FontProperties

        self.dpi = dpi
        self.renderer = FigureCanvasAgg(Figure(dpi=dpi)).get_renderer()
        self.fonts = {
            (size, weight): FontProperties(size=size, weight=weight)
            for size in (_TITLE_SIZE, _VALUE_SIZE, _CAPTION_SIZE, _CLUSTER_SIZE)
            for weight in ("normal", "bold")
        }
        self.fonts[_CLUSTER_SIZE, "italic"] = FontProperties(size=_CLUSTER_SIZE, style="italic")

    def width(self, text, size, weight="normal"):
        w, _, _ = self.renderer.get_text_width_height_descent(text, self.fonts[size, weight], ismath=False)
        return w / self.dpi

    def line(self, size):
        """`(height, descent)` of a line of text at `size`, the same for every string."""
        _, h, d = self.renderer.get_text_width_height_descent("Ag(y)", self.fonts[size, "bold"], ismath=False)
        return h / self.dpi, d / self.dpi


def _size_box(box, measure):
    """Fill in the box's row heights, cell widths and total `(w, h)`."""
    title_h = measure.line(_TITLE_SIZE)[0] + 2 * _PAD_Y
    title_w = sum(measure.width(text, _TITLE_SIZE, weight) for text, weight in box["title"])
    rows_w = [title_w]
    box["title_h"], box["activation_h"], box["cells_h"] = title_h, 0.0, 0.0
    if box["activation"]:
        box["activation_h"] = measure.line(_VALUE_SIZE)[0] + 2 * _PAD_Y
        rows_w.append(
            measure.width("Activation: ", _VALUE_SIZE) + measure.width(box["activation"], _VALUE_SIZE, "bold")
        )
    cell_ws = []
    for caption, value, _ in box["cells"]:
        w = measure.width(value, _VALUE_SIZE, "bold")
        if caption:
            w = max(w, measure.width(caption, _CAPTION_SIZE))
        cell_ws.append(w + 2 * _PAD_X)
    if cell_ws:
        box["cells_h"] = measure.line(_CAPTION_SIZE)[0] + measure.line(_VALUE_SIZE)[0] + 3 * _PAD_Y
        rows_w.append(sum(cell_ws) - 2 * _PAD_X)
    w = max(rows_w) + 2 * _PAD_X
    if cell_ws:  # spread the spare width over the cells, so that they fill the row
        spare = (w - sum(cell_ws)) / len(cell_ws)
        cell_ws = [cw + spare for cw in cell_ws]
    box["cell_ws"] = cell_ws
    box["w"], box["h"] = w, title_h + box["activation_h"] + box["cells_h"]


# --------------------------------------------------------------------------------------------------------
# Layout: ranks, order within ranks, coordinates (a small version of Graphviz's `dot`).


def _ranks(n, edges):
    """Longest-path rank of each node (sources at 0), visiting nodes in a topological order."""
    indegree, succs = [0] * n, [[] for _ in range(n)]
    for u, v in edges:
        indegree[v] += 1
        succs[u].append(v)
    ready = [v for v in range(n) if indegree[v] == 0]
    rank = [0] * n
    while ready:
        u = ready.pop(0)
        for v in succs[u]:
            rank[v] = max(rank[v], rank[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    return rank


def _isotonic(targets):
    """The non-decreasing sequence closest to `targets` in least squares (pool adjacent violators)."""
    blocks = []  # [mean, count]
    for t in targets:
        blocks.append([t, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, c2), (m1, c1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    return [m for m, c in blocks for _ in range(c)]


def _common(a, b):
    """The longest common prefix of two cluster paths."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _group_sort(row, key, path, depth=0):
    """`row` sorted by `key`, keeping the nodes of each cluster together (a cluster goes by its mean key)."""
    groups = {}
    for v in row:
        groups.setdefault(path[v][depth] if len(path[v]) > depth else ("node", v), []).append(v)
    ordered = sorted(groups.items(), key=lambda item: sum(key[v] for v in item[1]) / len(item[1]))
    out = []
    for group, members in ordered:
        out += members if isinstance(group, tuple) else _group_sort(members, key, path, depth + 1)
    return out


def _layout(sizes, edges, paths, frame_extra):
    """Ranks, cross coordinates and edge routes for boxes and edges: a small version of Graphviz's `dot`.

    Args:
        sizes: `(along, cross)` extent of each box, along the rank direction and across it.
        edges: `(source, target)` pairs of box indices.
        paths: the clusters each box sits in (see `_Graph`); a cluster's boxes stay side by side and other
            boxes keep out of its frame.
        frame_extra: `(before, after)` room a frame takes across the ranks beyond its padding (its title).

    Returns:
        `(rank, thickness, cross, routes)`: each box's rank, each rank's extent along, each box's centre
        across, and for each edge the `(rank, cross)` of the lane it takes through each rank it skips.
    """
    n = len(sizes)
    rank = _ranks(n, edges)
    cross = [s[1] for s in sizes]
    path = list(paths)
    real = [True] * n
    # A long edge becomes a chain through virtual nodes, one per rank crossed: a lane of its own.
    chains = []
    for u, v in edges:
        chain = [u]
        for r in range(rank[u] + 1, rank[v]):
            rank.append(r)
            cross.append(_EDGE_LANE)
            path.append(_common(paths[u], paths[v]))
            real.append(False)
            chain.append(len(rank) - 1)
        chains.append(chain + [v])
    # Neighbours with Graphviz's weights: straight lanes matter most (8), then lanes into boxes (2).
    neighbours = [([], []) for _ in rank]
    for chain in chains:
        for u, v in zip(chain, chain[1:]):
            weight = 1 if real[u] and real[v] else 2 if real[u] or real[v] else 8
            neighbours[v][0].append((u, weight))
            neighbours[u][1].append((v, weight))
    rows = [[] for _ in range(max(rank, default=-1) + 1)]
    for v in range(len(rank)):
        rows[rank[v]].append(v)

    def sweep(i):
        """Rows in the order of sweep `i` (down, up, down, ...), and which neighbours pull: above or below."""
        return (rows, 0) if i % 2 == 0 else (rows[::-1], 1)

    def pull(v, where, side):
        pairs = neighbours[v][side] if side is not None else neighbours[v][0] + neighbours[v][1]
        total = sum(w for _, w in pairs)
        return sum(where[u] * w for u, w in pairs) / total if total else where[v]

    # Order within ranks: barycentre sweeps (ties and nodes without neighbours keep their place).
    position = {v: i for row in rows for i, v in enumerate(row)}
    for i in range(8):
        sequence, side = sweep(i)
        for row in sequence:
            keys = {v: pull(v, position, side) for v in row}
            row[:] = _group_sort(row, keys, path)
            position.update({v: k for k, v in enumerate(row)})

    def gap(a, b):  # between neighbours in a row: frames of the clusters one is in and the other is not
        common = len(_common(path[a], path[b]))
        return _NODE_GAP + _CLUSTER_PAD * (len(path[a]) + len(path[b]) - 2 * common)

    def place(row, desired):
        offsets = [0.0]
        for a, b in zip(row, row[1:]):
            offsets.append(offsets[-1] + (cross[a] + cross[b]) / 2 + gap(a, b))
        fitted = _isotonic([desired[v] - off for v, off in zip(row, offsets)])
        return {v: y + off for v, y, off in zip(row, fitted, offsets)}

    # Cross coordinates: packed rows, then each node pulled towards its neighbours, row by row.
    coord = {}
    for row in rows:
        coord.update(place(row, {v: 0.0 for v in row}))
    for i in range(12):
        sequence, side = sweep(i)
        for row in sequence:
            coord.update(place(row, {v: pull(v, coord, None if i == 11 else side) for v in row}))
    _clear_frames(rows, rank, coord, cross, path, frame_extra)

    along = [s[0] for s in sizes]
    thickness = [max((along[v] for v in row if v < n), default=0.0) for row in rows]
    routes = [[(rank[v], coord[v]) for v in chain[1:-1]] for chain in chains]
    return rank[:n], thickness, [coord[v] for v in range(n)], routes


def _clear_frames(rows, rank, coord, cross, path, frame_extra):
    """Push the nodes outside a cluster out of its frame, in every rank the frame spans (innermost first)."""
    clusters = sorted({c for p in path for c in p}, key=lambda c: -max(p.index(c) for p in path if c in p))
    for c in clusters:
        inside = [v for v in coord if c in path[v]]
        level = {v: len(path[v]) - path[v].index(c) for v in inside}  # frames between v and this frame's edge
        lo = min(coord[v] - cross[v] / 2 - level[v] * (_CLUSTER_PAD + frame_extra[0]) for v in inside)
        hi = max(coord[v] + cross[v] / 2 + level[v] * (_CLUSTER_PAD + frame_extra[1]) for v in inside)
        for r in range(min(rank[v] for v in inside), max(rank[v] for v in inside) + 1):
            row = sorted(rows[r], key=coord.__getitem__)
            outside = [v for v in row if c not in path[v]]
            right = [v for v in outside if coord[v] >= (lo + hi) / 2]
            left = [v for v in outside if coord[v] < (lo + hi) / 2]
            if right:
                need = hi + _NODE_GAP - (coord[right[0]] - cross[right[0]] / 2)
                for v in row[row.index(right[0]) :] if need > 0 else []:
                    coord[v] += need
            if left:
                need = (coord[left[-1]] + cross[left[-1]] / 2) - (lo - _NODE_GAP)
                for v in row[: row.index(left[-1]) + 1] if need > 0 else []:
                    coord[v] -= need


# --------------------------------------------------------------------------------------------------------
# Drawing.


def _rank_gaps(rank, n_ranks, graph, label_h, rankdir):
    """Space before each rank: the arrow gap, plus room for the frames (and titles) of clusters that open
    or close there. A title sits at the top of its frame: on the side of the first rank for "TB", of the last
    for "BT", beside the boxes for "LR" / "RL"."""
    opening = _CLUSTER_PAD + (label_h if rankdir == "TB" else 0.0)
    closing = _CLUSTER_PAD + (label_h if rankdir == "BT" else 0.0)
    gaps = [_RANK_GAP] * (n_ranks + 1)
    gaps[0] = 0.0
    for c in range(len(graph.clusters)):
        ranks = [rank[i] for i, p in enumerate(graph.paths) if c in p]
        gaps[min(ranks)] += opening
        gaps[max(ranks) + 1] += closing
    return gaps


def _draw_box(ax, box, x0, y1, measure, patches):
    """Draw `box` with its top-left corner at `(x0, y1)` (inches)."""
    w = box["w"]
    y = y1

    def text_row(pieces, y_top, height, size, color, centre_x):
        """`pieces` of `(text, weight)` on one baseline, centred in a row `height` tall below `y_top`."""
        line_h, descent = measure.line(size)
        baseline = y_top - height / 2 - line_h / 2 + descent
        widths = [measure.width(t, size, weight) for t, weight in pieces]
        x = centre_x - sum(widths) / 2
        for (t, weight), tw in zip(pieces, widths):
            ax.text(x, baseline, t, fontsize=size, fontweight=weight, color=color, va="baseline", zorder=4)
            x += tw

    header = patches.Rectangle(
        (x0, y - box["title_h"]), w, box["title_h"], facecolor=_COLORS["header"], lw=0, zorder=2.5
    )
    ax.add_patch(header)
    text_row(box["title"], y, box["title_h"], _TITLE_SIZE, "white", x0 + w / 2)
    y -= box["title_h"]
    if box["activation"]:
        text_row(
            [("Activation: ", "normal"), (box["activation"], "bold")],
            y,
            box["activation_h"],
            _VALUE_SIZE,
            "black",
            x0 + w / 2,
        )
        y -= box["activation_h"]
        if box["cells"]:
            ax.plot([x0, x0 + w], [y, y], color=_COLORS["border"], lw=0.6, zorder=3)
    x = x0
    for (caption, value, colour), cw in zip(box["cells"], box["cell_ws"]):
        if colour:
            ax.add_patch(
                patches.Rectangle(
                    (x, y - box["cells_h"]), cw, box["cells_h"], facecolor=_COLORS[colour], lw=0, zorder=2.5
                )
            )
            text_row([(value, "bold")], y, box["cells_h"], _VALUE_SIZE, "white", x + cw / 2)
        else:
            caption_h = measure.line(_CAPTION_SIZE)[0] + 1.5 * _PAD_Y
            text_row([(caption, "normal")], y, caption_h, _CAPTION_SIZE, _COLORS["caption"], x + cw / 2)
            value_h = box["cells_h"] - caption_h
            text_row([(value, "bold")], y - caption_h, value_h, _VALUE_SIZE, "black", x + cw / 2)
        if x > x0:
            ax.plot([x, x], [y, y - box["cells_h"]], color=_COLORS["border"], lw=0.6, zorder=3)
        x += cw
    ax.add_patch(
        patches.Rectangle(
            (x0, y1 - box["h"]), w, box["h"], facecolor="none", edgecolor=_COLORS["border"], lw=1.0, zorder=3
        )
    )


def _render(graph, to_file, fmt, rankdir, dpi):
    from matplotlib import patches
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath

    measure = _Measure(dpi)
    for box in graph.boxes:
        _size_box(box, measure)
    vertical = rankdir in ("TB", "BT")
    sizes = [(b["h"], b["w"]) if vertical else (b["w"], b["h"]) for b in graph.boxes]
    label_h = measure.line(_CLUSTER_SIZE)[0] if graph.clusters else 0.0
    frame_extra = (0.0, 0.0) if vertical else (label_h, 0.0)  # titles go across the ranks for "LR" / "RL"
    rank, thickness, cross, routes = _layout(sizes, graph.edges, graph.paths, frame_extra)

    # Along the rank direction: where each rank starts (gaps leave room for cluster frames).
    gaps = _rank_gaps(rank, len(thickness), graph, label_h, rankdir)
    starts, cursor = [], 0.0
    for r, t in enumerate(thickness):
        cursor += gaps[r]
        starts.append(cursor)
        cursor += t

    # Box rectangles in layout coordinates (x right, y up), before the margins are added.
    def point(along, across):
        if rankdir == "TB":
            return across, -along
        if rankdir == "BT":
            return across, along
        if rankdir == "LR":
            return along, -across
        return -along, -across

    rects = []
    for i, box in enumerate(graph.boxes):
        centre_along = starts[rank[i]] + thickness[rank[i]] / 2
        cx, cy = point(centre_along, cross[i])
        rects.append([cx - box["w"] / 2, cy - box["h"] / 2, cx + box["w"] / 2, cy + box["h"] / 2])
    lane = _EDGE_LANE / 2
    frames = []  # innermost first, so that a frame can take in the frames inside it
    for c in sorted(range(len(graph.clusters)), key=lambda c: -graph.clusters[c]["depth"]):
        cluster = graph.clusters[c]
        members = [i for i, p in enumerate(graph.paths) if c in p]
        inner = [rects[i] for i in members] + [f["rect"] for f in frames if c in f["path"]]
        for (u, v), route in zip(graph.edges, routes):  # the lanes of long edges inside this cluster
            if c in _common(graph.paths[u], graph.paths[v]):
                for r, across in route:
                    (xa, ya), (xb, yb) = (
                        point(starts[r], across - lane),
                        point(starts[r] + thickness[r], across + lane),
                    )
                    inner.append([min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)])
        title_w = measure.width(cluster["title"], _CLUSTER_SIZE, "italic")
        x0 = min(r[0] for r in inner) - _CLUSTER_PAD
        x1 = max(r[2] for r in inner) + _CLUSTER_PAD
        if vertical:  # keep the title left of the arrows that cross the frame's top side
            top = min if rankdir == "TB" else max
            side_rank = top(rank[i] for i in members)
            arrows_x = min((rects[i][0] + rects[i][2]) / 2 for i in members if rank[i] == side_rank)
            x0 = min(x0, arrows_x - _TITLE_CLEARANCE - title_w - _CLUSTER_PAD)
        x1 = max(x1, x0 + title_w + 2 * _CLUSTER_PAD)
        y0 = min(r[1] for r in inner) - _CLUSTER_PAD
        y1 = max(r[3] for r in inner) + _CLUSTER_PAD + label_h
        path = next(graph.paths[i] for i in members)[: cluster["depth"] - 1]  # the clusters around this one
        frames.append(
            {"title": cluster["title"], "rect": [x0, y0, x1, y1], "depth": cluster["depth"], "path": path}
        )
    every = rects + [f["rect"] for f in frames]
    for route in routes:  # long edges may take a lane beside every box
        for r, across in route:
            x, y = point(starts[r], across)
            every.append([x - lane, y - lane, x + lane, y + lane])
    xmin, ymin = min(r[0] for r in every) - _MARGIN, min(r[1] for r in every) - _MARGIN
    xmax, ymax = max(r[2] for r in every) + _MARGIN, max(r[3] for r in every) + _MARGIN
    width, height = xmax - xmin, ymax - ymin

    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_axis_off()

    max_depth = max((f["depth"] for f in frames), default=0)
    for frame in frames[::-1]:  # outermost first, each inside the one before
        x0, y0, x1, y1 = frame["rect"]
        ax.add_patch(
            patches.FancyBboxPatch(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor="#f5f7f8" if frame["depth"] % 2 else "#eceff1",
                edgecolor=_COLORS["cluster"],
                linestyle="--",
                lw=1.0,
                zorder=0.1 * frame["depth"] / (1 + max_depth),
            )
        )
        ax.text(
            x0 + _CLUSTER_PAD,
            y1 - _CLUSTER_PAD / 2,
            frame["title"],
            fontsize=_CLUSTER_SIZE,
            fontstyle="italic",
            color=_COLORS["caption"],
            ha="left",
            va="top",
            zorder=0.95,
        )

    # Edges: leave the source's far side, pass through the lanes of the ranks crossed, enter the target.
    out_ports, in_ports = _ports(graph.edges, routes, cross)
    for e, ((u, v), route) in enumerate(zip(graph.edges, routes)):
        start = _side_point(rects[u], rankdir, "out", out_ports[e])
        end = _side_point(rects[v], rankdir, "in", in_ports[e])
        middle = []
        for r, c in route:  # through the lane, from the start of the rank to its end
            middle += [point(starts[r], c), point(starts[r] + thickness[r], c)]
        vertices = [start] + middle + [end]
        ax.add_patch(
            patches.FancyArrowPatch(
                path=MplPath(vertices),
                arrowstyle="-|>",
                mutation_scale=11,
                color=_COLORS["edge"],
                lw=1.1,
                shrinkA=0,
                shrinkB=0,
                zorder=1,
            )
        )

    for box, (x0, _, _, y1) in zip(graph.boxes, rects):
        ax.add_patch(
            patches.Rectangle(
                (x0, y1 - box["h"]), box["w"], box["h"], facecolor=_COLORS["body"], lw=0, zorder=2
            )
        )
        _draw_box(ax, box, x0, y1, measure, patches)

    fig.savefig(to_file, format=fmt, dpi=dpi, facecolor="white")


def _ports(edges, routes, cross):
    """Where each edge meets its boxes, as an offset in [-0.5, 0.5] along the side: the edges at one side of
    a box are spread in the order of where they go next, so that they do not cross there."""
    # The cross position of each edge's next point after its source, and before its target.
    after_source = [route[0][1] if route else cross[v] for (u, v), route in zip(edges, routes)]
    before_target = [route[-1][1] if route else cross[u] for (u, v), route in zip(edges, routes)]
    out_ports, in_ports = [0.0] * len(edges), [0.0] * len(edges)
    for ports, end, towards in ((out_ports, 0, after_source), (in_ports, 1, before_target)):
        by_box = {}
        for e, edge in enumerate(edges):
            by_box.setdefault(edge[end], []).append(e)
        for group in by_box.values():
            group.sort(key=towards.__getitem__)
            for k, e in enumerate(group):
                ports[e] = (k + 1) / (len(group) + 1) - 0.5
    return out_ports, in_ports


def _side_point(rect, rankdir, which, offset):
    """The point on the side of `rect` that edges leave (`"out"`) or enter (`"in"`), shifted by `offset`."""
    x0, y0, x1, y1 = rect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    spread_x, spread_y = min(x1 - x0, _PORT_SPREAD) * offset, min(y1 - y0, _PORT_SPREAD) * offset
    first = {"TB": y1, "BT": y0, "LR": x0, "RL": x1}[rankdir]  # the side facing the previous rank
    last = {"TB": y0, "BT": y1, "LR": x1, "RL": x0}[rankdir]
    side = last if which == "out" else first
    if rankdir in ("TB", "BT"):
        return cx + spread_x, side
    return side, cy - spread_y


def plot_model(
    model,
    to_file="model.png",
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
):
    """Draw the model's layers as boxes joined by arrows and write the picture to `to_file`.

    Keras's `plot_model`, drawn by matplotlib (no Graphviz needed). A Sequential is a chain of boxes; a
    functional `Model` is its graph of layer calls (Input boxes first); a nested model is one box, or with
    `expand_nested=True` a dashed frame around its own layers.

    Args:
        model: a built model (an `Input`, `input_shape=`, `build(...)` or a first call builds it).
        to_file: the image file; its suffix picks the format (`.png`, `.svg`, `.pdf`, ...; none means PNG).
        show_shapes: show each layer's input and output shapes.
        show_dtype: show each layer's output dtype.
        show_layer_names: show `name (Class)` rather than only the class.
        rankdir: "TB" (top to bottom), "LR" (left to right), "BT" or "RL".
        expand_nested: draw the layers of nested models inside a frame.
        dpi: resolution of a PNG / JPEG, in dots per inch.
        show_layer_activations: show the activation of layers that have one (`Dense`, `Conv2D`, ...).
        show_trainable: mark layers with weights as Trainable (green) or Non-trainable (red).

    Returns:
        An `IPython.display.Image` (or `SVG`) of the file, which a notebook shows inline, when IPython is
        installed; otherwise the file's path as a string.

    Example:
        >>> model = jseq.Sequential([jseq.Input((784,)), Dense(512, activation="relu"), Dense(10)])
        >>> jseq.utils.plot_model(model, "mlp.png", show_shapes=True)  # doctest: +SKIP
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"Invalid rankdir: {rankdir!r}. Expected one of {list(_RANKDIRS)}.")
    if not getattr(model, "built", False):
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` or by calling the "
            "model on a batch of data (or start it with `Input(shape=...)`)."
        )
    _import_matplotlib("plot_model")
    from matplotlib.backend_bases import FigureCanvasBase

    fmt = _image_format(to_file, FigureCanvasBase)
    options = {
        "show_shapes": show_shapes,
        "show_dtype": show_dtype,
        "show_layer_names": show_layer_names,
        "show_layer_activations": show_layer_activations,
        "show_trainable": show_trainable,
        "expand_nested": expand_nested,
    }
    graph = _Graph(options)
    if _is_model(model) and model.layers:
        graph.add_model(model)
    else:  # a single layer, or an empty model: one box
        graph.boxes.append(_box_content(model, options))
        graph.paths.append(())
    _render(graph, to_file, fmt, rankdir, dpi)
    return _inline_image(to_file, fmt)


# --------------------------------------------------------------------------------------------------------
# Learning curves.

_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")


def _history_dict(history):
    """`(dict of lists, 1-based epoch numbers or None)` from a `History` or a plain dict of lists."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(
            "plot_history expects the History that `fit` returns (or its `.history` dict of lists). "
            f"Received: {type(history).__name__}."
        )
    epochs = getattr(history, "epoch", None)
    return logs, [e + 1 for e in epochs] if epochs else None


def _metric_names(logs, metrics):
    bases = []
    for key in logs:
        base = key[4:] if key.startswith("val_") else key
        if base not in bases:
            bases.append(base)
    bases.sort(key=lambda name: (name != "loss", name))  # loss first, then alphabetical (Keras's order)
    if metrics is None:
        return bases
    chosen = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in chosen:
        base = name[4:] if name.startswith("val_") else name
        if base not in bases:
            raise ValueError(f"No metric {name!r} in this history. Available: {bases}.")
    return [name[4:] if name.startswith("val_") else name for name in chosen]


def _epochs_for(values, n_epochs, epochs):
    """x positions of a curve: the epochs, or every k-th epoch for validation run with `validation_freq=k`."""
    if len(values) == n_epochs:
        return epochs
    step = next(k for k in range(1, n_epochs + 1) if n_epochs // k <= len(values))
    return [epochs[0] - 1 + step * (i + 1) for i in range(len(values))]


def plot_history(history, metrics=None, to_file=None, *, title=None, figsize=None, dpi=100):
    """Plot the loss and metric curves of a `fit`, training against validation, one panel per metric.

    Training values are solid lines, validation (`val_` keys) dashed, as in the usual over-fitting figures:
    where the validation loss stops falling while the training loss still falls, over-fitting starts. The
    best validation value is marked.

    Args:
        history: the `History` returned by `fit`, or its `history` dict (`{"loss": [...], "val_loss": ...}`).
        metrics: a name or list of names to plot (`"loss"`, `"accuracy"`; a `val_` name means the same panel);
            default: every metric in the history, loss first.
        to_file: also write the picture there (`.png`, `.svg`, `.pdf`, ...).
        title: a title over the panels.
        figsize: `(width, height)` in inches; default 4.8 x 3.6 per panel.
        dpi: resolution of the picture.

    Returns:
        The matplotlib `Figure` (a notebook shows it inline). With `to_file` it is written and not kept by
        pyplot; without, it is a pyplot figure that `plt.show()` displays.

    Example:
        >>> history = model.fit(x, y, validation_split=0.2, epochs=20)  # doctest: +SKIP
        >>> history.plot(to_file="curves.png")  # doctest: +SKIP
    """
    logs, epochs = _history_dict(history)
    n_epochs = max((len(v) for k, v in logs.items() if not k.startswith("val_")), default=0)
    n_epochs = n_epochs or max((len(v) for v in logs.values()), default=0)
    if n_epochs == 0:
        raise ValueError("This history is empty: `fit` records one entry per epoch, and none was recorded.")
    names = _metric_names(logs, metrics)
    if epochs is None or len(epochs) != n_epochs:
        epochs = list(range(1, n_epochs + 1))
    matplotlib = _import_matplotlib("plot_history")
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fmt = _image_format(to_file, FigureCanvasBase) if to_file is not None else None
    ncols = min(len(names), 3)
    nrows = math.ceil(len(names) / ncols)
    figsize = figsize or (4.8 * ncols, 3.6 * nrows + (0.4 if title else 0.0))
    if to_file is None:
        fig = _pyplot(matplotlib).figure(figsize=figsize, dpi=dpi, layout="constrained")
    else:
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        higher = any(part in name.lower() for part in _HIGHER_IS_BETTER)
        for key, label, style in ((name, "training", "-"), ("val_" + name, "validation", "--")):
            values = [float(v) for v in logs.get(key, [])]
            if not values:
                continue
            xs = _epochs_for(values, n_epochs, epochs)
            ax.plot(xs, values, style, color="C0" if style == "-" else "C1", marker="o", ms=3.5, label=label)
            if style == "--" and not all(math.isnan(v) for v in values):
                finite = [v if not math.isnan(v) else (-math.inf if higher else math.inf) for v in values]
                best = (
                    max(range(len(values)), key=finite.__getitem__)
                    if higher
                    else min(range(len(values)), key=finite.__getitem__)
                )
                ax.plot(
                    xs[best],
                    values[best],
                    "*",
                    color="C1",
                    ms=12,
                    mec="black",
                    mew=0.6,
                    label=f"best validation (epoch {xs[best]})",
                )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    if to_file is not None:
        fig.savefig(to_file, format=fmt, dpi=dpi, facecolor="white")
    return fig
