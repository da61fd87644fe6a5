"""Functional models: layers called on symbolic tensors, and `Model(inputs, outputs)` over that record.

Calling a layer on a `KerasTensor` (what `Input(...)` returns) builds the layer for the tensor's shape, as
Keras does, and records the call as a *node* of the layer::

    layer._inbound[i] = (inputs, outputs)    # its i-th symbolic call: the input structure, the output(s)
    y.history         = (layer, [x, ...])    # for each output y: the layer that made it, and its inputs

`layer.input` / `layer.output` are the tensors of the first call. A layer takes one tensor or, for merging
layers and nested models, a list (or dict) of tensors; such a layer's `init(key, input_shape)` then receives
the same structure of shapes and its `apply(params, state, xs, ...)` the same structure of arrays.

`Model(inputs, outputs)` walks the nodes back from `outputs` to `inputs` and orders them as Keras does
(deepest first). Its pure functions are Sequential's fold, over that list of nodes::

    Model.init(key, input_shape)                        -> (output_shape, params, state)
    Model.apply(params, state, x, *, training, key)     -> (y, state)

`params` and `state` are dicts keyed by layer name. A layer called twice (shared) is ONE entry: its weights
are shared and counted once. The model holds the very layer objects of the graph it was made from, so a
feature extractor built from a Sequential's tensors shares that Sequential's weights.

Structures: `inputs` / `outputs` may be one tensor, a list, or a dict (and nested). Flattened, lists keep
their order and dicts go by sorted key, as in Keras; a list of one output is returned as that one output.
"""

from typing import NamedTuple

import jax.numpy as jnp

from jseq.core import (
    Container,
    KerasTensor,
    Layer,
    infer_output_shape,
    next_key,
    shape_str,
    split_key,
    unique_name,
)
from jseq.saving.api import Saving
from jseq.summary import summary_lines
from jseq.training import Trainer


class NotBuiltError(ValueError, AttributeError):
    """`.input` / `.output` of a model with no symbolic graph yet. An AttributeError as well, as in Keras, so
    `hasattr(model, "output")` stays False."""


# --------------------------------------------------------------------------------------------------------
# Structures: one leaf, or (nested) lists and dicts. Tuples of tensors are read as lists; a tuple of ints
# is a shape, i.e. a leaf.


def _lists(structure):
    """The same structure with tuples of tensors/arrays turned into lists (shapes stay tuples)."""
    if isinstance(structure, dict):
        return {k: _lists(v) for k, v in structure.items()}
    if isinstance(structure, list) or (isinstance(structure, tuple) and not _is_shape(structure)):
        return [_lists(v) for v in structure]
    return structure


def _is_shape(x):
    return isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x)


def _leaves(structure):
    """The leaves in Keras's order: lists in order, dicts by sorted key."""
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure) for leaf in _leaves(structure[k])]
    if isinstance(structure, list):
        return [leaf for item in structure for leaf in _leaves(item)]
    return [structure]


def _pack(structure, leaves):
    """`leaves` (in `_leaves` order) put back into `structure`'s shape; dicts keep their own key order."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, dict):
            values = {k: build(s[k]) for k in sorted(s)}
            return {k: values[k] for k in s}
        if isinstance(s, list):
            return [build(v) for v in s]
        return next(it)

    return build(structure)


def _unpack_singleton(x):
    return x[0] if isinstance(x, list) and len(x) == 1 else x


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_symbolic(x):
    """True for a KerasTensor or a list / tuple / dict holding one."""
    return any(isinstance(t, KerasTensor) for t in _leaves(_lists(x)))


# --------------------------------------------------------------------------------------------------------
# Recording calls


def record_call(layer, inputs, output_shape, dtype="float32"):
    """Append a node `(inputs, outputs)` to `layer._inbound` and return the new output tensor(s).

    `output_shape` is a shape, or a list / dict of shapes for a layer (a nested model) with several outputs.
    """
    parents = [t for t in _leaves(inputs) if isinstance(t, KerasTensor)]
    if _is_shape(output_shape):
        outputs = KerasTensor(output_shape, dtype, history=(layer, parents))
    else:
        shapes = _leaves(_lists(output_shape))
        outputs = _pack(
            _lists(output_shape), [KerasTensor(s, dtype, history=(layer, parents)) for s in shapes]
        )
    layer._inbound.append((inputs, outputs))
    return outputs


def call_symbolic(layer, x, training=False, **kwargs):
    """`layer(x)` for symbolic `x`: build the layer for `x`'s shape(s), record the call, return the output."""
    if kwargs:
        raise TypeError(f"Unexpected arguments for calling layer '{layer.name}': {sorted(kwargs)}")
    if training:
        raise ValueError(
            f"Layer '{layer.name}' was called with training=True on a symbolic tensor; jseq does not record "
            "a fixed training flag in a graph. Pass `training=True` when calling the model instead."
        )
    x = _lists(x)
    leaves = _leaves(x)
    tensors = [t for t in leaves if isinstance(t, KerasTensor)]
    for t in leaves:
        if not isinstance(t, KerasTensor) and not _is_number(t):
            raise TypeError(
                f"Layer '{layer.name}' was called on a mix of symbolic tensors and {type(t).__name__}. In a "
                "functional graph, every input must come from `Input(...)` or from another layer's output."
            )
    if not isinstance(x, KerasTensor) and not getattr(layer, "takes_structure", False):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) takes one input tensor, but it was called on "
            f"{_describe(x)}. To combine tensors, merge them first, e.g. `Add()([a, b])` or "
            "`Concatenate()([a, b])`."
        )
    shapes = _pack(x, [t.shape if isinstance(t, KerasTensor) else () for t in leaves])
    try:
        layer.build(shapes)
        output_shape = infer_output_shape(layer, shapes)
    except ValueError as error:
        if len(tensors) < 2:
            raise
        sources = ", ".join(f"'{t.history[0].name}' {shape_str(t.shape)}" for t in tensors)
        raise ValueError(f"{error} The inputs come from layers (output shapes): {sources}.") from None
    return record_call(layer, x, output_shape, output_dtype(layer, tensors[0].dtype))


def output_dtype(layer, input_dtype):
    """The dtype of `layer`'s symbolic output: its own if it casts or holds weights, else its input's."""
    if isinstance(layer, Functional):
        return layer._outputs[0].dtype
    return layer.dtype if layer.autocast or layer._names("params") else input_dtype


def _describe(x):
    if isinstance(x, dict):
        return f"a dict of {len(x)} tensors"
    return f"a list of {len(_leaves(x))} tensors"


# --------------------------------------------------------------------------------------------------------
# The graph: from the recorded nodes to a topologically ordered list


class Node(NamedTuple):
    """One call of `layer`: `layer._inbound[index]`, with its input structure and output(s)."""

    layer: Layer
    index: int
    inputs: object
    outputs: object


def producer(tensor):
    """`(layer, node_index, tensor_index)`: which call of which layer made `tensor` (Keras's history)."""
    if not isinstance(tensor, KerasTensor) or tensor.history is None:
        raise ValueError(
            f"{tensor!r} was not made by `Input(...)` or by calling a layer, so it belongs to no graph."
        )
    layer = tensor.history[0]
    for i, (_, outputs) in enumerate(layer._inbound):
        for j, t in enumerate(_leaves(outputs)):
            if t is tensor:
                return layer, i, j
    raise ValueError(f"Tensor {tensor.name} is not among the recorded outputs of layer '{layer.name}'.")


def trace_graph(inputs, outputs, model_name):
    """The nodes between `inputs` and `outputs` in Keras's order, and the layers (InputLayers included).

    A depth-first walk from the outputs gives a topological order; then, as Keras does, each node gets a depth
    (its distance to the outputs, at least one more than any node it feeds) and nodes and layers are listed
    deepest first, ties in the order the walk first met them. Raises for outputs that need an input that is
    not in `inputs` and for inputs no output uses.
    """
    from jseq.models import InputLayer

    input_ids = {id(t) for t in inputs}
    finished, walk, first_seen = set(), [], {}  # walk: every node after the nodes it needs
    node_of = {}
    for out in outputs:
        stack = [(out, False)]
        while stack:
            tensor, expanded = stack.pop()
            layer, index, _ = producer(tensor)
            key = (id(layer), index)
            if key in finished:
                continue
            if expanded:
                finished.add(key)
                walk.append(key)
                continue
            if isinstance(layer, InputLayer) and id(tensor) not in input_ids:
                raise ValueError(
                    f"Graph disconnected: output '{producer(out)[0].name}' of model '{model_name}' depends "
                    f"on Input '{layer.name}', which is not among the model's inputs "
                    f"{[producer(t)[0].name for t in inputs]}. Pass that Input in `inputs=`, or build the "
                    "graph from this model's own inputs (a tensor from another graph cannot be mixed in)."
                )
            first_seen.setdefault(id(layer), len(first_seen))
            node_inputs = None if isinstance(layer, InputLayer) else layer._inbound[index][0]
            node_of[key] = Node(layer, index, node_inputs, layer._inbound[index][1])
            stack.append((tensor, True))
            if node_inputs is not None:
                parents = [t for t in _leaves(node_inputs) if isinstance(t, KerasTensor)]
                stack.extend((t, False) for t in reversed(parents))

    unused = [t for t in inputs if (id(producer(t)[0]), producer(t)[1]) not in finished]
    if unused:
        raise ValueError(
            f"Input '{producer(unused[0])[0].name}' of model '{model_name}' is not connected to any output. "
            "Remove it from `inputs=`, or use it on the way to an output."
        )

    # Depths, exactly as Keras computes them (a shared layer takes the largest depth of its nodes).
    node_depth, layer_depth, layer_by_id = {}, {}, {}
    for key in reversed(walk):
        node = node_of[key]
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)], node_depth[key] = depth, depth
        layer_by_id[id(node.layer)] = node.layer
        for t in [] if node.inputs is None else _tensors(node.inputs):
            layer, index, _ = producer(t)
            node_depth[(id(layer), index)] = max(depth + 1, node_depth.get((id(layer), index), 0))
    nodes = [node_of[key] for key in sorted(node_depth, key=lambda k: -node_depth[k])]
    layers = sorted(layer_by_id, key=lambda i: (-layer_depth[i], first_seen[i]))
    return nodes, [layer_by_id[i] for i in layers]


def _tensor_label(tensor):
    layer, index, j = producer(tensor)
    return f"{layer.name}[{index}][{j}]"


# --------------------------------------------------------------------------------------------------------
# The model


class Functional(Saving, Trainer, Container):
    """A model over a graph of layer calls, from its symbolic inputs to its outputs: `Model(inputs, outputs)`.

    Args:
        inputs: the tensor(s) returned by `Input(...)`: one, a list, or a dict keyed by name.
        outputs: tensor(s) computed from `inputs` by calling layers: one, a list, or a dict.
        name: the model's name (default `functional`, `functional_1`, ...).
        trainable: False freezes every layer of the model.

    >>> inputs = Input(shape=(784,))
    >>> a = Dense(64, activation="relu")(inputs)       # (None, 784) @ (784, 64) + (64,)
    >>> b = Dense(64, activation="relu")(inputs)
    >>> outputs = Dense(10, activation="softmax")(a + b)  # `+` records an Add layer
    >>> model = Model(inputs=inputs, outputs=outputs)
    >>> model(jnp.ones((2, 784))).shape
    (2, 10)
    """

    takes_structure = True  # it may be called on a list or dict of tensors

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        from jseq.models import InputLayer

        self._graph_layers = []  # set before Layer.__init__, whose `self.params = {}` uses the setter below
        super().__init__(name=name or unique_name("functional"), **kwargs)
        self._inputs_struct, self._outputs_struct = _lists(inputs), _lists(outputs)
        self._inputs, self._outputs = _leaves(self._inputs_struct), _leaves(self._outputs_struct)
        for what, struct, flat in (
            ("inputs", self._inputs_struct, self._inputs),
            ("outputs", self._outputs_struct, self._outputs),
        ):
            if not flat or (len(flat) == 1 and flat[0] is None):
                raise ValueError(f"Model '{self.name}': the `{what}` argument cannot be empty.")
            for t in flat:
                if not isinstance(t, KerasTensor):
                    raise ValueError(
                        f"All `{what}` of model '{self.name}' must be symbolic tensors (from `Input(...)` or "
                        f"a layer called on one). Received a value of type {type(t).__name__} in "
                        f"{what}={_short(struct)}."
                    )
        for t in self._inputs:
            layer = producer(t)[0]
            if not isinstance(layer, InputLayer):
                raise ValueError(
                    f"Model '{self.name}': every input must be a tensor returned by `Input(...)` (or another "
                    f"model's `inputs`). Received the output of layer '{layer.name}' "
                    f"({type(layer).__name__}); to start a model there, use a new "
                    f"`Input(shape={t.shape[1:]})`."
                )
        if len({id(t) for t in self._inputs}) != len(self._inputs):
            raise ValueError(f"Model '{self.name}': the same Input appears twice in `inputs`.")

        nodes, layers = trace_graph(self._inputs, self._outputs, self.name)
        names = [layer.name for layer in layers]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(
                    f"The name \"{n}\" is used {names.count(n)} times in model '{self.name}'. All layer "
                    "names should be unique: pass `name=` to one of them."
                )
        self._nodes = [node for node in nodes if not isinstance(node.layer, InputLayer)]
        self._node_keys = {(id(node.layer), node.index) for node in nodes}
        self._layers = layers
        self._graph_layers = [layer for layer in layers if not isinstance(layer, InputLayer)]
        # Keras's names of the outputs (the keys of a dict of losses): dict keys, else the layers' names.
        if isinstance(self._outputs_struct, dict):
            self.output_names = sorted(self._outputs_struct)
        else:
            self.output_names = [producer(t)[0].name for t in self._outputs]
        self.input_shape = _unpack_singleton(_pack(self._inputs_struct, [t.shape for t in self._inputs]))
        self.output_shape = _unpack_singleton(_pack(self._outputs_struct, [t.shape for t in self._outputs]))
        self.built = True
        if not trainable:
            self.trainable = False

    # ---- the graph -------------------------------------------------------------------------------------

    @property
    def layers(self):
        """Every layer of the graph (its InputLayers first), each once, in Keras's order."""
        return list(self._layers)

    def _sublayers(self):
        return self._graph_layers

    def summary_layers(self):
        return self._layers

    @property
    def inputs(self):
        """The flat list of symbolic inputs."""
        return list(self._inputs)

    @property
    def outputs(self):
        """The flat list of symbolic outputs."""
        return list(self._outputs)

    @property
    def input(self):
        """The inputs as given to the constructor (one tensor, a list or a dict)."""
        return _unpack_singleton(self._inputs_struct)

    @property
    def output(self):
        """The outputs as given to the constructor (one tensor, a list or a dict)."""
        return _unpack_singleton(self._outputs_struct)

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` of `model.layers`."""
        if (name is None) == (index is None):
            raise ValueError(
                "Provide either a layer name or layer index at `get_layer`. "
                f"Received: name={name!r}, index={index!r}"
            )
        if index is not None:
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model '{self.name}' only has "
                    f"{len(self._layers)} layers."
                )
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name}. Existing layers are: {[layer.name for layer in self._layers]}."
        )

    # ---- inputs: the structures a model accepts ----------------------------------------------------------

    def _flat_inputs(self, x):
        """`x` (one array, a list, or a dict keyed by input name) as a list in `self.inputs` order."""
        x = _lists(x)
        struct, names = self._inputs_struct, [producer(t)[0].name for t in self._inputs]
        if isinstance(x, dict) and not isinstance(struct, dict):
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(
                    f"Model '{self.name}' was called with a dict missing input(s) {missing}. Expected keys: "
                    f"{names}. Received keys: {sorted(x)}."
                )
            return [x[n] for n in names]
        if isinstance(struct, dict):
            if isinstance(x, dict):
                if set(x) != set(struct):
                    raise ValueError(
                        f"Model '{self.name}' expects a dict with keys {sorted(struct)}. Received keys: "
                        f"{sorted(x)}."
                    )
                return _leaves({k: x[k] for k in struct})
            if isinstance(x, list) and len(x) == len(self._inputs) and list(struct) == sorted(struct):
                return x
            raise ValueError(
                f"Model '{self.name}' expects a dict of inputs with keys {sorted(struct)}. Received: "
                f"{_describe_value(x)}."
            )
        if not isinstance(x, list):
            x = [x]
        flat = _leaves(x)
        if len(flat) != len(self._inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self._inputs)} input(s) ({names}). Received "
                f"{_describe_value(x)}."
            )
        return flat

    def _standardize(self, x):
        """The flat inputs as arrays of each Input's dtype, a trailing axis of 1 added or dropped as Keras
        does; shapes are checked against the Inputs."""
        out = []
        for value, t in zip(self._flat_inputs(x), self._inputs):
            value = jnp.asarray(value)
            if value.dtype != t.dtype:
                value = value.astype(t.dtype)
            if value.ndim == len(t.shape) + 1 and value.shape[-1] == 1:
                value = value[..., 0]
            elif value.ndim == len(t.shape) - 1 and t.shape[-1] == 1:
                value = value[..., None]
            if value.ndim != len(t.shape) or any(
                d is not None and d != v for d, v in zip(t.shape, value.shape)
            ):
                raise ValueError(
                    f"Input '{producer(t)[0].name}' of model '{self.name}' expects arrays of shape "
                    f"{shape_str(t.shape)}, but received an array of shape {shape_str(value.shape)}."
                )
            out.append(value)
        return out

    # ---- the pure functions: folds over the nodes ------------------------------------------------------

    def init(self, key, input_shape):
        """`(key, input_shape) -> (output_shape, params, state)`; `input_shape` is shaped like `inputs`."""
        flat = self._flat_inputs(_shape_tuples(input_shape))
        shapes = {id(t): tuple(s) for t, s in zip(self._inputs, flat)}
        names = [layer.name for layer in self._graph_layers]
        keys = dict(zip(names, split_key(key, max(1, len(names)))))
        params, state = {}, {}
        for node in self._nodes:
            layer = node.layer
            in_shape = _fill(node.inputs, shapes, number=())
            if layer.name in params:  # a shared layer: its weights come from its first call
                out = infer_output_shape(layer, in_shape)
            else:
                out, params[layer.name], state[layer.name] = layer.init(keys[layer.name], in_shape)
            _store(node.outputs, out, shapes)
        out_shapes = _pack(self._outputs_struct, [shapes[id(t)] for t in self._outputs])
        return _unpack_singleton(out_shapes), params, state

    def forward(self, params, state, x, *, training=False, key=None, mask=None):
        """`apply` that also returns the sum of the layers' activity-regularization penalties."""
        values = dict(zip(map(id, self._inputs), self._standardize(x)))
        masks = {}
        if mask is not None:
            masks = {id(t): m for t, m in zip(self._inputs, self._flat_inputs(mask)) if m is not None}
        keys = [None] * len(self._nodes) if key is None else split_key(key, max(1, len(self._nodes)))
        state, penalty = dict(state), 0.0
        for node, k in zip(self._nodes, keys):
            layer = node.layer
            xs = _fill(node.inputs, values)
            in_mask = _fill(node.inputs, masks, number=None, missing=None)
            if not any(m is not None for m in _leaves(in_mask)):
                in_mask = None
            extra = {"mask": in_mask} if layer.call_takes_mask else {}
            y, state[layer.name], p = layer.forward(
                params[layer.name], state[layer.name], xs, training=training, key=k, **extra
            )
            _store(node.outputs, y, values)
            out_mask = layer.compute_mask(xs, in_mask)
            if out_mask is not None:
                _store(node.outputs, out_mask, masks)
            penalty = penalty + p
        y = _pack(self._outputs_struct, [values[id(t)] for t in self._outputs])
        return _unpack_singleton(y), state, penalty

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        y, state, _ = self.forward(params, state, x, training=training, key=key, mask=mask)
        return y, state

    # ---- build and eager use ---------------------------------------------------------------------------

    def build(self, input_shape=None):
        """A functional model is built when it is made; this only checks that `input_shape` fits."""
        if input_shape is None:
            return
        for t, shape in zip(self._inputs, self._flat_inputs(_shape_tuples(input_shape))):
            shape = tuple(shape)
            if len(shape) != len(t.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(t.shape[1:], shape[1:])
            ):
                raise ValueError(
                    f"Input '{producer(t)[0].name}' of model '{self.name}' expects shape "
                    f"{shape_str(t.shape)}; it cannot be built for input shape {shape_str(shape)}."
                )

    def _set_built(self, input_shape, output_shape, params, state):
        del input_shape, output_shape
        self.params, self.state = params, state

    def __call__(self, x, training=False, mask=None, **kwargs):
        if is_symbolic(x):
            return call_symbolic(self, x, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Unexpected arguments for calling model '{self.name}': {sorted(kwargs)}")
        key = next_key() if training else None
        y, state, _ = self.forward(self.params, self.state, x, training=bool(training), key=key, mask=mask)
        if training:
            self.state = state
        return y

    # ---- summary ---------------------------------------------------------------------------------------

    def _is_sequential_like(self):
        """Keras's test for the 3-column summary: one node per depth, one input per node, no shared layer."""
        if len(self._inputs) > 1 or any(len(_tensors(node.inputs)) > 1 for node in self._nodes):
            return False
        layers = [node.layer for node in self._nodes]
        return len(set(map(id, layers))) == len(layers) and _is_chain(self._nodes)

    def _connections(self, layer):
        """Keras's "Connected to" cell: `name[node][tensor]` for each input of each of this model's calls."""
        cells = []
        for index, (inputs, _) in enumerate(layer._inbound):
            if (id(layer), index) not in self._node_keys or _is_input_layer(layer):
                continue
            cells += [_tensor_label(t) for t in _tensors(inputs)]
        return ", ".join(cells) or "-"

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ):
        """Print Keras 3's table of the layers: InputLayer rows, and a "Connected to" column for a graph that
        is not a plain chain. `print_fn` receives the whole table as one string."""
        optimizer_params = getattr(self, "_optimizer_params", None)
        text = "\n".join(
            summary_lines(
                self,
                line_length=line_length,
                positions=positions,
                expand_nested=expand_nested,
                show_trainable=show_trainable,
                layer_range=layer_range,
                connections=None if self._is_sequential_like() else self._connections,
                optimizer_params=optimizer_params() if callable(optimizer_params) else None,
            )
        )
        (print_fn or print)(text + ("\n" if print_fn else ""))

    # ---- config ----------------------------------------------------------------------------------------

    def get_config(self):
        """Keras 3's functional config: the layers with their calls (`inbound_nodes`), and where the inputs
        and outputs are (`[layer name, node index, tensor index]`, node indices counted within this model)."""
        from jseq.serialization import serialize_value

        def index_in_model(layer, index):  # a layer's calls outside this model are not counted
            return sum(1 for i in range(index) if (id(layer), i) in self._node_keys)

        def history(t):
            layer, index, j = producer(t)
            return [layer.name, index_in_model(layer, index), j]

        def tensor_config(t):
            if not isinstance(t, KerasTensor):
                return t
            return {
                "class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": history(t)},
            }

        layer_configs = []
        for layer in self._layers:
            entry = layer_config(layer, serialize_value)
            entry["inbound_nodes"] = []
            for index, (inputs, _) in enumerate(layer._inbound):
                if (id(layer), index) in self._node_keys and not _is_input_layer(layer):
                    args = _pack(inputs, [tensor_config(t) for t in _leaves(inputs)])
                    kwargs = {"mask": None} if layer._sublayers() else {}
                    entry["inbound_nodes"].append({"args": [args], "kwargs": kwargs})
            layer_configs.append(entry)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layer_configs,
            "input_layers": _pack(self._inputs_struct, [history(t) for t in self._inputs]),
            "output_layers": _pack(self._outputs_struct, [history(t) for t in self._outputs]),
        }

    def __repr__(self):
        return f"<Functional name={self.name}, built={self.built}>"


Model = Functional


# --------------------------------------------------------------------------------------------------------
# Helpers of the fold


def _tensors(structure):
    return [t for t in _leaves(structure) if isinstance(t, KerasTensor)]


def _fill(structure, values, number="keep", missing="raise"):
    """`structure` with each tensor replaced by `values[id(tensor)]` (Python numbers kept, or `number`)."""

    def get(t):
        if not isinstance(t, KerasTensor):
            return t if number == "keep" else number
        if missing != "raise":
            return values.get(id(t), missing)
        return values[id(t)]

    return _pack(structure, [get(t) for t in _leaves(structure)])


def _store(outputs, values, table):
    """Record the computed `values` (shapes or arrays, structured like `outputs`) under the tensors' ids."""
    flat_outputs = _leaves(outputs)
    flat_values = [values] if len(flat_outputs) == 1 else _leaves(_lists(values))
    for t, v in zip(flat_outputs, flat_values):
        table[id(t)] = v


def _is_chain(nodes):
    """True when each node is fed by the one before it (a straight line from the single input)."""
    for previous, node in zip(nodes, nodes[1:]):
        if [id(t) for t in _tensors(node.inputs)] != [id(t) for t in _leaves(previous.outputs)]:
            return False
    return True


def _is_input_layer(layer):
    from jseq.models import InputLayer

    return isinstance(layer, InputLayer)


def layer_config(layer, serialize_value):
    """A layer's entry in a functional config, as Keras writes it: module, class_name, config,
    registered_name, build_config (built layers but InputLayers), name."""
    from jseq.models import InputLayer, Sequential

    if isinstance(layer, Functional):
        module = "keras.src.models.functional"
    elif isinstance(layer, Sequential):
        module = "keras"
    else:
        module = "keras.layers"
    entry = {
        "module": module,
        "class_name": type(layer).__name__,
        "config": serialize_value(layer.get_config()),
        "registered_name": None,
    }
    if isinstance(layer, Functional):
        entry["build_config"] = {"input_shape": None}
    elif layer.built and not isinstance(layer, InputLayer):
        entry["build_config"] = {"input_shape": serialize_value(layer.input_shape)}
    entry["name"] = layer.name
    return entry


def _shape_tuples(structure):
    """Shapes written as lists (`[None, 784]`) as tuples, inside any list / dict structure."""
    if isinstance(structure, dict):
        return {k: _shape_tuples(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        if all(d is None or isinstance(d, int) for d in structure):
            return tuple(structure)
        return [_shape_tuples(v) for v in structure]
    return structure


def _short(structure):
    text = repr(structure)
    return text if len(text) < 120 else text[:117] + "..."


def _describe_value(x):
    if isinstance(x, dict):
        return f"a dict with keys {sorted(x)}"
    if isinstance(x, list):
        return f"a list of {len(x)} values"
    return f"one value of type {type(x).__name__}"
