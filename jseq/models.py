"""`Input` and `Sequential`: a stack of layers whose `init` and `apply` are visible folds over the layers.

    Sequential.init(key, input_shape)                 -> (output_shape, params, state)
    Sequential.apply(params, state, x, *, training, key) -> (y, state)

`params` and `state` are dicts keyed by layer name (`{"dense": {"kernel": ..., "bias": ...}, ...}`); a nested
Sequential is a nested dict. `forward` is `apply` that also returns the activity-regularization penalty, which
the train step adds to the loss together with `regularization_loss(params)`.
"""

import jax.numpy as jnp

from jseq.core import (
    Container,
    KerasTensor,
    Layer,
    abstract_init,
    as_array,
    build_layers,
    check_compatible,
    in_order_of,
    infer_output_shape,
    next_key,
    shape_str,
    split_key,
    standardize_shape,
    unique_name,
)
from jseq.functional import (
    Functional,
    Model,  # noqa: F401  (re-exported: jseq.models.Model, as keras.models.Model)
    NotBuiltError,
    output_dtype,
    record_call,
)
from jseq.saving import (
    Saving,
    load_model,  # noqa: F401  (re-exported: jseq.models.load_model, as keras.models.load_model)
    model_from_json,  # noqa: F401
    save_model,  # noqa: F401
)
from jseq.summary import summary_lines
from jseq.training import Trainer


class InputLayer(Layer):
    """The layer behind `Input(...)`: it holds the batch shape and passes its input through."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input needs a `shape` (without the batch axis), e.g. Input(shape=(784,)).")
            batch_shape = (batch_size,) + standardize_shape(shape, "shape")
        self.batch_shape = standardize_shape(batch_shape, "batch_shape")
        tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name, history=(self, []))
        self._set_built(self.batch_shape, self.batch_shape, {}, {})
        self._inbound = [(tensor, tensor)]

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        return x, state

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input: `Input(shape=(784,))` stands for arrays of shape `(batch, 784)`.

    Put it first in a Sequential to build the model as layers are added, or use it to start a functional
    `Model(inputs, outputs)`.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer.output


_INPUT_NOT_FIRST = (
    "An Input can only be the first element of a Sequential model. To give the model an input shape after "
    "layers were added, call `model.build((None, ...))` instead."
)


class Sequential(Saving, Trainer, Container):
    """A linear stack of layers.

    >>> model = Sequential([Input(shape=(784,)), Dense(64, activation="relu"), Dense(10)])
    >>> model(jnp.ones((2, 784))).shape      # (None, 784) @ (784, 64) + (64,) -> (None, 64) -> (None, 10)
    (2, 10)
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_layer = None
        self._graph = []  # once built: [input tensor, output of layer 1, ...] (`layer.output`)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if self._batch_input_shape is not None and self._layers:
            self._build_layers(self._batch_input_shape)  # once for the whole list: one compile

    # ---- the stack ---------------------------------------------------------------------------------

    @property
    def layers(self):
        return list(self._layers)

    def _sublayers(self):
        return getattr(self, "_layers", [])  # none yet while Layer.__init__ runs

    def summary_layers(self):
        return self._layers

    def add(self, layer, rebuild=True):
        """Append a layer (or put an `Input` first). A model with a known input shape builds the new layer."""
        if isinstance(layer, KerasTensor) and isinstance(layer.history[0], InputLayer):
            layer = layer.history[0]
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(_INPUT_NOT_FIRST)
            self._input_layer = layer
            self._batch_input_shape = layer.batch_shape
            return
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `jseq.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer)})"
            )
        if layer is self:
            raise ValueError(f"Cannot add Sequential model '{self.name}' to itself.")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(
                "All layers added to a Sequential model should have unique names. Name "
                f"'{layer.name}' is already the name of a layer in this model. Update the `name` argument "
                "to pass a unique name."
            )
        previous = self._batch_input_shape
        if not self._layers and previous is None and layer._batch_input_shape is not None:
            self._batch_input_shape = layer._batch_input_shape
        self._layers.append(layer)
        shape = self.input_shape if self.built else self._batch_input_shape
        if shape is not None and rebuild:
            try:
                self._build_layers(shape)
            except Exception:
                self._layers.pop()  # leave the model as it was
                self._batch_input_shape = previous
                raise

    def pop(self):
        """Remove the last layer (and return it)."""
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        self._layers[-1]._settle()  # popped inside `fit`: its trained values come with it
        layer = self._layers.pop()
        del self._graph[len(self._layers) + 1 :]
        if self.built:
            self.output_shape = self._layers[-1].output_shape if self._layers else self.input_shape
        return layer

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

    # ---- the pure functions: folds over the layers ---------------------------------------------------

    def init(self, key, input_shape):
        keys = split_key(key, max(1, len(self._layers)))
        shape, params, state = input_shape, {}, {}
        for layer, k in zip(self._layers, keys):
            shape, params[layer.name], state[layer.name] = layer.init(k, shape)
        return shape, params, state

    def forward(self, params, state, x, *, training=False, key=None, mask=None):
        """`apply` that also returns the sum of the layers' activity-regularization penalties."""
        keys = [None] * len(self._layers) if key is None else split_key(key, max(1, len(self._layers)))
        new_state, penalty = {}, 0.0
        for layer, k in zip(self._layers, keys):
            extra = {"mask": mask} if layer.call_takes_mask else {}
            y, new_state[layer.name], p = layer.forward(
                params[layer.name], state[layer.name], x, training=training, key=k, **extra
            )
            mask = layer.compute_mask(x, mask)
            x, penalty = y, penalty + p
        return x, new_state, penalty

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        y, state, _ = self.forward(params, state, x, training=training, key=key, mask=mask)
        return y, state

    def compute_mask(self, x, mask):
        for layer in self._layers:  # masks depend on inputs only through layers like Embedding / Masking
            mask, x = layer.compute_mask(x, mask), None
        return mask

    def reset_states(self):
        """Zero the carried state of every stateful layer (Keras 2's `model.reset_states()`)."""
        for layer in self._layers:
            if hasattr(layer, "reset_states") and getattr(layer, "stateful", True):
                layer.reset_states()  # a nested model (no `stateful`) resets its own layers

    # ---- build ------------------------------------------------------------------------------------------

    def build(self, input_shape=None):
        """Create the weights of every layer for inputs of `input_shape` (batch axis included)."""
        if input_shape is None:
            input_shape = self._batch_input_shape
            if input_shape is None:
                raise ValueError(
                    f"Sequential model '{self.name}' has no input shape: pass one, e.g. "
                    "`model.build((None, 784))`, or start the model with `Input(shape=(784,))`."
                )
        input_shape = standardize_shape(input_shape, "input_shape")
        if self.built:
            if len(input_shape) != len(self.input_shape) or any(
                a != b and a is not None and b is not None
                for a, b in zip(self.input_shape[1:], input_shape[1:])
            ):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input shape "
                    f"{shape_str(self.input_shape)}. You cannot build it with input_shape "
                    f"{shape_str(input_shape)}."
                )
            return
        self._build_layers(input_shape)

    def _build_layers(self, input_shape):
        """Check every layer's shapes first (no side effects), then build the layers not yet built.

        Layers already built keep their weights (add a new head to a trained base and only the head is
        initialised); the new ones are initialised together in one compiled program.
        """
        todo, weightless, containers, shape = [], [], [], input_shape
        for layer in self._layers:
            if layer.built and not layer._sublayers():
                check_compatible(layer.name, layer.input_shape, shape)
                out = layer.output_shape
            elif layer._sublayers():
                out = infer_output_shape(layer, shape)
                containers.append((layer, shape))
            else:
                out, has_arrays = abstract_init(layer, shape)
                (todo if has_arrays else weightless).append((layer, shape, out))
            shape = out
        build_layers([(layer, s) for layer, s, _ in todo], next_key())
        for layer, layer_shape, out in weightless:
            layer._set_built(layer_shape, out, {}, {})
        for layer, layer_shape in containers:
            layer.build(layer_shape)
        self.input_shape, self.output_shape, self.built = input_shape, shape, True
        self._record_graph()

    def _set_built(self, input_shape, output_shape, params, state):
        shape = input_shape
        for layer in self._layers:
            out = infer_output_shape(layer, shape)
            layer._set_built(shape, out, params[layer.name], state[layer.name])
            shape = out
        self.input_shape, self.output_shape, self.built = input_shape, output_shape, True
        self._record_graph()

    # ---- the symbolic graph: `model.inputs`, `model.outputs`, and every layer's `input` / `output` ---------

    def _record_graph(self):
        """Record each layer's call on the chain of symbolic tensors from the input (once per layer)."""
        if not self._graph:
            first = self._layers[0] if self._layers else None
            dtype = first.dtype if first is None or first.autocast else "int32"
            source = self._input_layer or InputLayer(batch_shape=self.input_shape, dtype=dtype)
            self._graph = [source.output]
        for layer in self._layers[len(self._graph) - 1 :]:
            x = self._graph[-1]
            if layer.input_shape == x.shape and not isinstance(layer, Functional):
                shape = layer.output_shape
            else:
                shape = infer_output_shape(layer, x.shape)
            self._graph.append(record_call(layer, x, shape, output_dtype(layer, x.dtype)))

    def _graph_or_raise(self, what):
        if not self._graph:
            raise NotBuiltError(
                f"Sequential model '{self.name}' has not been built yet, so it has no `{what}`. Start it "
                "with `Input(shape=...)`, give its first layer `input_shape=`, call "
                "`model.build((None, ...))`, or call the model on data once."
            )
        return self._graph

    @property
    def inputs(self):
        """`[input tensor]` of the built model (Keras's `model.inputs`)."""
        return [self._graph_or_raise("inputs")[0]]

    @property
    def outputs(self):
        return [self._graph_or_raise("outputs")[-1]]

    @property
    def input(self):
        return self._graph_or_raise("input")[0]

    @property
    def output(self):
        return self._graph_or_raise("output")[-1]

    # ---- eager use ---------------------------------------------------------------------------------------

    def __call__(self, x, training=False, mask=None, **kwargs):
        if isinstance(x, KerasTensor):
            return super().__call__(x, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Unexpected arguments for calling model '{self.name}': {sorted(kwargs)}")
        x = as_array(x)
        if self._layers and self._layers[0].autocast and not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self._layers[0].dtype)
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        elif self._layers:
            check_compatible(self._layers[0].name, self.input_shape, tuple(x.shape))
        key = next_key() if training else None
        y, state, _ = self.forward(self.params, self.state, x, training=bool(training), key=key, mask=mask)
        self.state = in_order_of(self.state, state)  # a stateful RNN carries its state between calls
        return y

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                "You can build it manually via: `layer.build(input_shape)`."
            )
        return super().count_params()

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ):
        """Print Keras 3's table of layers, output shapes and parameter counts.

        `print_fn` receives the whole table as one string (as in Keras); the default prints it.
        """
        text = "\n".join(
            summary_lines(
                self,
                line_length=line_length,
                positions=positions,
                expand_nested=expand_nested,
                show_trainable=show_trainable,
                layer_range=layer_range,
                optimizer_params=self._optimizer_params(),
            )
        )
        (print_fn or print)(text + ("\n" if print_fn else ""))

    def __repr__(self):
        return f"<Sequential name={self.name}, built={self.built}, layers={len(self._layers)}>"
