"""The layer contract, and the small machinery every layer shares: names, keys, shapes, weight views.

A layer is a pair of pure functions over explicit arrays::

    init(key, input_shape)                                  -> (output_shape, params, state)
    apply(params, state, x, *, training=False, key=None)    -> (y, state)

* ``input_shape`` / ``output_shape`` are tuples with ``None`` for the batch dimension (and any other
  unknown dimension). Shape inference *is* initialisation: ``init`` reads ``d_in`` off ``input_shape``.
* ``params`` is a dict of trainable arrays with Keras names (``kernel``, ``bias``, ...); ``state`` a dict of
  non-trainable arrays (``moving_mean``, carried RNN states). Either may be ``{}``.
* ``training`` is the one mode flag; ``key`` is a JAX PRNG key, needed only by layers that are random in
  training (they raise a clear error without one).
* A layer that consumes a mask sets ``call_takes_mask = True`` and its ``apply`` accepts ``mask=``; every
  layer says what mask it passes on through ``compute_mask(x, mask)``.

The layer *object* also keeps its current values (``layer.params``, ``layer.state``) once built, because Keras
users expect ``layer.weights``, ``get_weights()``, ``set_weights()`` and eager calls like ``Dense(3)(x)``.
Those are conveniences around the pure functions: an eager call is ``build`` (``init`` once) then ``apply``.
"""

from __future__ import annotations

import collections
import inspect
import json
import math
import re
import secrets
import warnings

import jax
import jax.numpy as jnp
import numpy as np

# --------------------------------------------------------------------------------------------------------
# Names: `dense`, `dense_1`, ... from one counter per prefix, as Keras does.

_name_counts: dict[str, int] = {}


def to_snake_case(name):
    """`BatchNormalization` -> `batch_normalization`, `Conv2D` -> `conv2d`, `ReLU` -> `re_lu` (as Keras)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(prefix):
    count = _name_counts.get(prefix, 0)
    _name_counts[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session():
    """Forget the name counters (the next `Dense` is `dense` again), as `keras.backend.clear_session()`."""
    _name_counts.clear()


# --------------------------------------------------------------------------------------------------------
# Keys. One process-wide stream feeds eager builds and eager random calls; `set_random_seed` makes it
# (and NumPy's and Python's generators, as Keras does) reproducible. Pure code takes keys explicitly.


class _KeyStream:
    def __init__(self):
        self.seed = secrets.randbits(32)
        self.count = 0

    def next(self):
        # Mix (seed, count) on the host: no device program is compiled to make a key.
        mixed = np.random.SeedSequence([self.seed, self.count]).generate_state(4)
        self.count += 1
        # The "rbg" generator: its programs compile ~3x faster than threefry's, which is most of the
        # time a model takes to build. Keys given by users (any kind) work the same everywhere.
        return jax.random.wrap_key_data(jnp.asarray(mixed, dtype=jnp.uint32), impl="rbg")


_keys = _KeyStream()


def set_random_seed(seed):
    """Seed jseq's key stream, NumPy's global generator and Python's `random`, as Keras does.

    After `set_random_seed(s)`, building the same model gives the same initial weights, and `fit` shuffles
    and drops out the same way.
    """
    import random

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"set_random_seed expects an integer seed. Received: seed={seed!r}")
    seed = int(seed) % (2**32)
    _keys.seed, _keys.count = seed, 0
    np.random.seed(seed)
    random.seed(seed)


def next_key():
    """A fresh PRNG key from the process-wide stream (for eager builds and eager random calls)."""
    return _keys.next()


def split_key(key, n=2):
    """The `n` keys `jax.random.split(key, n)` makes, made as `fold_in(key, i)`.

    With JAX's default `jax_threefry_partitionable`, `split` is defined fold-like, so the keys are the same
    ones (tested); but inside a jitted program `split`'s vectorised form compiles slower (a model's init
    program with a split per layer: 7 Dense layers built in 0.94 s, 0.71 s this way), and keys nobody uses
    are dropped one by one (a dropout layer's key does not make the others' computed).
    """
    return [jax.random.fold_in(key, i) for i in range(n)]


# --------------------------------------------------------------------------------------------------------
# Shapes


def standardize_shape(shape, what="shape"):
    """A tuple of ints and Nones; raises a clear error for anything else."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"Expected {what} to be a tuple of integers or None. Received: {shape!r}") from None
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            out.append(int(d))
        else:
            raise ValueError(
                f"Expected {what} to be a tuple of non-negative integers or None. Received: {shape!r}"
            )
    return tuple(out)


def shape_str(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def check_compatible(layer_name, expected, received, what="input"):
    """Raise if `received` (a concrete or batch shape) does not fit `expected` (None = any size)."""
    if len(expected) != len(received):
        raise ValueError(
            f"Input of layer '{layer_name}' is incompatible with the layer: expected {what} of rank "
            f"{len(expected)} (shape {shape_str(expected)}), but received input with shape "
            f"{shape_str(received)}."
        )
    for axis, (e, r) in enumerate(zip(expected, received)):
        if axis == 0 or e is None or r is None:
            continue
        if e != r:
            raise ValueError(
                f"Input of layer '{layer_name}' is incompatible with the layer: expected axis "
                f"{axis - len(expected)} of {what} shape to have value {e}, but received input with shape "
                f"{shape_str(received)}."
            )


def check_not_empty(layer, shape):
    if any(d == 0 for d in shape[1:]):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) would produce an empty output of shape "
            f"{shape_str(shape)}. Use a larger input or a smaller kernel / pool / crop."
        )


def as_array(x):
    """Turn NumPy arrays, lists and scalars into JAX arrays; refuse what JAX would misread."""
    if isinstance(x, jax.Array):
        return x
    a = np.asarray(x)
    if a.dtype.kind in "OUSVc":
        raise TypeError(
            f"Expected a numeric array (float, int or bool). Received an array of dtype {a.dtype} "
            f"with shape {a.shape}."
        )
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    elif a.dtype == np.int64:
        a = a.astype(np.int32)
    return jnp.asarray(a)


# --------------------------------------------------------------------------------------------------------
# Weight views: what `layer.weights` returns. A view reads and writes the layer's current arrays.


class Weight:
    """A named view of one array of a built layer (Keras's `Variable`, without hidden mutation)."""

    def __init__(self, layer, collection, name):
        self._layer, self._collection, self.name = layer, collection, name

    @property
    def key(self):
        """Identifies the array itself: the same weight reached through two models has one key."""
        return (id(self._layer), self._collection, self.name)

    @property
    def path(self):
        return f"{self._layer.name}/{self.name}"

    @property
    def value(self):
        return getattr(self._layer, self._collection)[self.name]

    @property
    def shape(self):
        return tuple(self._layer._spec(self._collection, self.name).shape)

    @property
    def dtype(self):
        return self._layer._spec(self._collection, self.name).dtype

    @property
    def trainable(self):
        return self._collection == "params" and self._layer.trainable

    def numpy(self):
        return np.asarray(self.value)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def assign(self, value):
        value = jnp.asarray(value, dtype=self.dtype)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Cannot assign to weight '{self.path}': expected shape {shape_str(self.shape)}, "
                f"received shape {shape_str(value.shape)}."
            )
        setattr(self._layer, self._collection, {**getattr(self._layer, self._collection), self.name: value})

    def __repr__(self):
        return f"<Weight path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"


# --------------------------------------------------------------------------------------------------------
# Symbolic tensors: what `Input(...)` returns and what a layer returns when called on one.


class KerasTensor:
    """A placeholder with a shape and a dtype, recording which layer call produced it.

    `history` is `(layer, inputs)`: the layer whose call on the symbolic `inputs` made this tensor (for a
    tensor made by `Input`, its `InputLayer` and no inputs).
    """

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = standardize_shape(shape)
        self.dtype = str(jnp.dtype(dtype))
        self.name = name or unique_name("keras_tensor")
        self.history = history

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={shape_str(self.shape)}, dtype={self.dtype}, name={self.name}>"

    # `a + b` on symbolic tensors records a merging layer (`Add()([a, b])`), as Keras records an op; a Python
    # number on either side is kept in the call as a constant (`x * 0.5` is `Multiply()([x, 0.5])`).

    def _merge(self, other, layer_name, reverse=False):
        from jseq.layers import merging

        number = isinstance(other, (int, float)) and not isinstance(other, bool)
        if not isinstance(other, KerasTensor) and not number:
            return NotImplemented
        inputs = [other, self] if reverse else [self, other]
        return getattr(merging, layer_name)()(inputs)

    def __add__(self, other):
        return self._merge(other, "Add")

    def __radd__(self, other):
        return self._merge(other, "Add", reverse=True)

    def __sub__(self, other):
        return self._merge(other, "Subtract")

    def __rsub__(self, other):
        return self._merge(other, "Subtract", reverse=True)

    def __mul__(self, other):
        return self._merge(other, "Multiply")

    def __rmul__(self, other):
        return self._merge(other, "Multiply", reverse=True)

    def __truediv__(self, other):
        return self._merge(other, "TrueDivide")

    def __rtruediv__(self, other):
        return self._merge(other, "TrueDivide", reverse=True)


# --------------------------------------------------------------------------------------------------------
# The Layer base


class Layer:
    """Base class: stores hyperparameters, holds current values once built, and calls eagerly.

    Subclasses define `__init__` (validate and store hyperparameters, then `super().__init__(**kwargs)`),
    `init` and `apply`. Everything else here is Keras convenience around those two pure functions.

    Args (every layer accepts these):
        name: the layer's name; by default the snake-case class name made unique (`dense`, `dense_1`).
        trainable: whether `fit` updates this layer's params.
        dtype: the dtype of the params (default "float32").
        input_shape / input_dim / batch_input_shape / batch_size: the input of the first layer of a
            Sequential, so that the model builds as layers are added (Keras 2 style, still accepted).
    """

    call_takes_mask = False  # True: `apply` accepts `mask=`
    supports_masking = False  # True: pass an incoming mask on unchanged (default compute_mask)
    autocast = True  # cast integer / float64 inputs to the layer's float dtype before `apply`

    def __init__(
        self,
        *,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        batch_size=None,
        **unknown,
    ):
        if unknown:
            raise TypeError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {sorted(unknown)}"
            )
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"A layer name must be a non-empty string without '/'. Received: name={name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = str(jnp.dtype(dtype or "float32"))
        self.params, self.state = {}, {}
        self.built = False
        self.input_shape = self.output_shape = None
        self._inbound = []  # symbolic calls: (inputs, outputs) pairs, used by the functional API
        self._batch_input_shape = _batch_input_shape(input_shape, input_dim, batch_input_shape, batch_size)

    # ---- the contract (subclasses override) ------------------------------------------------------------

    def init(self, key, input_shape):
        """`(key, input_shape) -> (output_shape, params, state)`; the default has no weights."""
        del key
        return self.compute_output_shape(input_shape), {}, {}

    def apply(self, params, state, x, *, training=False, key=None):
        """`(params, state, x) -> (y, state)`."""
        raise NotImplementedError(f"{type(self).__name__} must define apply()")

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, x, mask):
        return mask if self.supports_masking else None

    def regularization_loss(self, params):
        """The weight penalties of this layer (a scalar), added to the training loss."""
        del params
        return 0.0

    def forward(self, params, state, x, *, training=False, key=None, mask=None):
        """`apply`, plus this layer's activity-regularization penalty: `-> (y, state, penalty)`."""
        extra = {"mask": mask} if self.call_takes_mask else {}
        y, state = self.apply(params, state, x, training=training, key=key, **extra)
        # Keras 3 divides the output penalty by the batch size (Keras 2 did not).
        return y, state, self.activity_regularization_loss(y) / y.shape[0]

    def activity_regularization_loss(self, y):
        """The penalty on this layer's output (a scalar); `Dense(activity_regularizer=...)` uses it."""
        del y
        return 0.0

    # ---- trainable -------------------------------------------------------------------------------------

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    def _sublayers(self):
        return []

    # ---- values: `params` and `state`, made by `init` when first read (see `build_layers`) ----------------

    # While `_pending` is `(source, index)`, the layer's values are elsewhere: the initial ones not computed
    # yet (`_PendingInit`), or the newer ones in a running `fit`'s train state. The first read has `source`
    # hand them over; meanwhile `_specs`, the (params, state) ShapeDtypeStructs, give names, shapes, dtypes.
    _pending = None
    _specs = None

    @property
    def params(self):
        if self._pending is not None:
            self._take_pending()
        return self._params

    @params.setter
    def params(self, value):
        if self._pending is not None:
            self._take_pending()  # `state` keeps its initial values
        self._params = value

    @property
    def state(self):
        if self._pending is not None:
            self._take_pending()
        return self._state

    @state.setter
    def state(self, value):
        if self._pending is not None:
            self._take_pending()
        self._state = value

    def _take_pending(self):
        source, index = self._pending
        source.hand_over(self, index)

    def _adopt(self, params, state):
        """Hold these arrays from now on; nothing is pending any more."""
        self._pending = self._specs = None
        self._params, self._state = params, state

    def _await(self, source):
        """Give up this layer's arrays until `source.hand_over(self, None)` (a fit's train state holds newer
        values; they are handed over only if someone reads them). Safe to repeat."""
        if self._pending is None:
            self._specs = (_specs_of(self._params), _specs_of(self._state))
            self._params = self._state = None
        self._pending = (source, None)

    def _settle(self):
        """Take now the values a running `fit` holds for this layer and its sublayers (before the layer
        leaves its model, which could no longer hand them over)."""
        if self._pending is not None and not self._pending[0].replaceable:
            self._take_pending()
        for layer in self._sublayers():
            layer._settle()

    def _stop_waiting(self):
        """Called by the source handing values over: the layer holds its specs until they are assigned."""
        self._params, self._state = self._specs
        self._pending = self._specs = None

    def _names(self, collection):
        """The names in `params` or `state`, in order, without computing pending values."""
        if self._pending is not None:
            return list(self._specs[collection == "state"])
        return list(getattr(self, collection))

    def _spec(self, collection, name):
        """The array `name` of `collection`, or its ShapeDtypeStruct while the values are pending."""
        if self._pending is not None:
            return self._specs[collection == "state"][name]
        return getattr(self, collection)[name]

    def trainable_mask(self):
        """A pytree of bools shaped like `params`: which arrays `fit` differentiates."""
        return {k: self.trainable for k in self._names("params")}

    # ---- build and eager call --------------------------------------------------------------------------

    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch dimension included, may be None)."""
        input_shape = standardize_shape(input_shape, "input_shape")
        if self.built:
            if not _same_shape(self.input_shape, input_shape):
                raise ValueError(
                    f"Layer '{self.name}' has already been built for input shape "
                    f"{shape_str(self.input_shape)}. You cannot build it with input_shape "
                    f"{shape_str(input_shape)}."
                )
            return
        build_layers([(self, input_shape)], next_key())

    def _set_built(self, input_shape, output_shape, params, state):
        """Adopt values made by `init` (containers override this to hand them to their layers)."""
        self.input_shape, self.output_shape = input_shape, output_shape
        self.params, self.state = dict(params), dict(state)
        self.built = True

    def _set_built_pending(self, input_shape, output_shape, pending, specs):
        """Adopt values `init` will make when first read: `pending` is (_PendingInit, index)."""
        self.input_shape, self.output_shape = input_shape, output_shape
        self._params = self._state = None
        self._pending, self._specs = pending, specs
        self.built = True

    def __call__(self, x, training=False, mask=None, **kwargs):
        if isinstance(x, KerasTensor) or _is_symbolic_structure(x):
            from jseq.functional import call_symbolic

            return call_symbolic(self, x, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Unexpected arguments for calling layer '{self.name}': {sorted(kwargs)}")
        x = self._cast_input(x)
        shape = (None,) + tuple(x.shape[1:])
        if not self.built:
            self.build(shape)
        else:
            check_compatible(self.name, self.input_shape, tuple(x.shape))
        key = next_key() if training else None
        extra = {"mask": mask} if self.call_takes_mask else {}
        y, state = self.apply(self.params, self.state, x, training=bool(training), key=key, **extra)
        # Keep what apply returns: BatchNormalization's statistics move only in training, and a stateful
        # RNN carries its state from one call to the next in both modes (as `predict` does).
        self.state = dict(state)
        return y

    def _cast_input(self, x):
        x = as_array(x)
        if self.autocast and (jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_):
            x = x.astype(self.dtype)
        return x

    # ---- weights, Keras style --------------------------------------------------------------------------

    def _weight_views(self):
        return [Weight(self, "params", k) for k in self._names("params")] + [
            Weight(self, "state", k) for k in self._names("state") if k not in self._non_weight_state()
        ]

    def _non_weight_state(self):
        """State entries that are not weights (e.g. carried RNN states); override where needed."""
        return ()

    def __getattr__(self, name):
        """Keras's weight attributes (`dense.kernel`, `dense.bias`, `bn.moving_mean`, `embedding.embeddings`):
        a `Weight` view of the built layer's array of that name. Only reached when no attribute has it."""
        descriptor = getattr(type(self), name, None)
        if isinstance(descriptor, property):  # a property raised AttributeError: let its own message out
            return descriptor.__get__(self, type(self))
        if "_params" in self.__dict__ or "_pending" in self.__dict__:  # set up (not inside __init__)
            for collection in ("params", "state"):
                if name in self._names(collection) and name not in self._non_weight_state():
                    return Weight(self, collection, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    @property
    def weights(self):
        return self._weight_views()

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        """The weights as NumPy arrays, in Keras's order (per layer: kernel, bias, ... then state)."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight from a list of arrays in `get_weights()` order; all shapes are checked first."""
        views = self.weights
        weights = list(weights)
        if len(weights) != len(views):
            raise ValueError(
                f"Layer '{self.name}' expects {len(views)} weight arrays, but set_weights received "
                f"{len(weights)}. Expected shapes: {[v.shape for v in views]}."
            )
        new = []
        for view, w in zip(views, weights):
            w = np.asarray(w)
            if tuple(w.shape) != view.shape:
                raise ValueError(
                    f"Weight '{view.path}' of layer '{self.name}' has shape {shape_str(view.shape)}, but "
                    f"set_weights received an array of shape {shape_str(w.shape)}."
                )
            new.append(jnp.asarray(w, dtype=view.dtype))
        by_layer = {}  # only now, once every shape is known to fit
        for view, w in zip(views, new):
            by_layer.setdefault(id(view._layer), (view._layer, {}))[1][view._collection, view.name] = w
        for layer, values in by_layer.values():
            if not layer._fill_pending(values):
                for (collection, name), w in values.items():
                    Weight(layer, collection, name).assign(w)

    def _fill_pending(self, values):
        """Take `values` {(collection, name): array} as this layer's arrays without computing the pending
        initial ones, if they are all of them (the usual `set_weights` right after building)."""
        if self._pending is None or not self._pending[0].replaceable:
            return False
        wanted = {("params", k) for k in self._names("params")} | {("state", k) for k in self._names("state")}
        if set(values) != wanted:
            return False
        self._adopt(
            {k: values["params", k] for k in self._names("params")},
            {k: values["state", k] for k in self._names("state")},
        )
        return True

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                "You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(math.prod(w.shape) for w in self.weights))

    # ---- config ----------------------------------------------------------------------------------------

    def get_config(self):
        """The constructor arguments, read back off the attributes of the same names."""
        from jseq.serialization import serialize_value

        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        for pname, param in inspect.signature(type(self).__init__).parameters.items():
            if pname in ("self", "kwargs") or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            if type(self).__init__ is Layer.__init__ and pname in _SHAPE_ARGUMENTS:
                continue  # `input_shape` here is the built shape, not an argument (see below)
            if hasattr(self, pname):
                config[pname] = serialize_value(getattr(self, pname))
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    # ---- symbolic input / output (the functional API fills these in) -----------------------------------

    @property
    def input(self):
        if not self._inbound:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic input and thus has no defined "
                "input. Build the model from an `Input(shape=...)` (or give the first layer `input_shape=`)."
            )
        return self._inbound[0][0]

    @property
    def output(self):
        if not self._inbound:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic input and thus has no defined "
                "output. Build the model from an `Input(shape=...)` (or give the first layer `input_shape=`)."
            )
        return self._inbound[0][1]


class Container(Layer):
    """A layer made of layers (Sequential, Model): its values are assembled from the layers it holds.

    `params` and `state` are dicts keyed by layer name, `{"dense": {"kernel": ..., "bias": ...}, ...}`;
    each layer keeps its own arrays, so a layer shared by two models is one set of weights. Subclasses say
    which layers hold values through `_sublayers()`.
    """

    @property
    def params(self):
        return {layer.name: layer.params for layer in self._sublayers()}

    @params.setter
    def params(self, value):
        for layer in self._sublayers():
            layer.params = value[layer.name]

    @property
    def state(self):
        return {layer.name: layer.state for layer in self._sublayers()}

    @state.setter
    def state(self, value):
        for layer in self._sublayers():
            layer.state = value[layer.name]

    def trainable_mask(self):
        return {layer.name: layer.trainable_mask() for layer in self._sublayers()}

    def regularization_loss(self, params):
        return sum(
            (layer.regularization_loss(params[layer.name]) for layer in self._sublayers()),
            start=jnp.float32(0.0),
        )

    @property
    def weights(self):
        """Every layer's weights in order, a weight shared by two layers of the model counted once."""
        views, seen = [], set()
        for layer in self._sublayers():
            for w in layer.weights:
                if w.key not in seen:
                    seen.add(w.key)
                    views.append(w)
        return views


_SHAPE_ARGUMENTS = ("input_shape", "input_dim", "batch_input_shape", "batch_size")


def _batch_input_shape(input_shape, input_dim, batch_input_shape, batch_size):
    if batch_input_shape is not None:
        return standardize_shape(batch_input_shape, "batch_input_shape")
    if input_shape is not None:
        return (batch_size,) + standardize_shape(input_shape, "input_shape")
    if input_dim is not None:
        return (batch_size, int(input_dim))
    return None


def _same_shape(a, b):
    return len(a) == len(b) and all(x == y or x is None or y is None for x, y in zip(a[1:], b[1:]))


def _is_symbolic_structure(x):
    if isinstance(x, (list, tuple)):
        return any(isinstance(t, KerasTensor) for t in x)
    if isinstance(x, dict):
        return any(isinstance(t, KerasTensor) for t in x.values())
    return False


def build_layers(pairs, key):
    """Initialise several `(layer, input_shape)` pairs in ONE compiled program and adopt the values.

    Compiling the random initializers is most of the cost of building a model, so a model's build compiles
    once rather than once per weight, and the program is kept (see `_init_program`): building the same
    layers again (a notebook cell run twice, a test's model, `clone`) runs it without compiling. The output
    shapes (static Python data) and the key order of the param dicts (which `jit` would sort, while Keras's
    weight order is the order a layer creates them) are captured while tracing.
    """
    pairs = list(pairs)
    if not pairs:
        return
    program, shapes, templates, specs = _init_program(pairs, key)
    if all(type(layer)._set_built is Layer._set_built for layer, _ in pairs):
        # Plain layers run the program when one of them is first read, not now: when every weight is set
        # first (`set_weights`, loading a file), nothing is compiled at all.
        pending = _PendingInit(program, key)
        for i, ((layer, shape), out, template, spec) in enumerate(zip(pairs, shapes, templates, specs)):
            spec = (in_order_of(template[0], spec[0]), in_order_of(template[1], spec[1]))
            layer._set_built_pending(shape, out, (pending, i), spec)
        return
    values = program(key)
    for (layer, shape), out, template, (params, state) in zip(pairs, shapes, templates, values):
        layer._set_built(shape, out, in_order_of(template[0], params), in_order_of(template[1], state))


class _PendingInit:
    """The initial values of one build's layers, computed by its program the first time any is read."""

    replaceable = True  # a `set_weights` that gives all of a layer's weights makes its values unneeded

    def __init__(self, program, key):
        self.program, self.key, self._values = program, key, None

    def hand_over(self, layer, index):
        """Give `layer` its values, layer `index`'s of the program; each is handed out once, so nothing is
        kept twice."""
        if self._values is None:
            self._values = list(self.program(self.key))
        (params, state), self._values[index] = self._values[index], None
        layer._adopt(in_order_of(layer._specs[0], params), in_order_of(layer._specs[1], state))


def _specs_of(tree):
    """`tree` of ShapeDtypeStructs, its dict keys in the same order (a weight's order is Keras's)."""
    return in_order_of(tree, jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree))


_INIT_PROGRAMS = collections.OrderedDict()  # signature -> (jitted init, output shapes, templates, specs)
_INIT_PROGRAMS_KEPT = 64


def _init_program(pairs, key):
    """`(jitted key -> [(params, state)], output shapes, templates, their ShapeDtypeStructs)` for `pairs`,
    cached by what they are.

    The cache key is each layer's class, its config without the name, and its input shape: jseq's own
    layers initialise from exactly these (their `init` reads only constructor arguments and never writes to
    the layer). The cached program is traced with unbuilt copies made by `from_config`, so it holds no
    model's weights. Containers, wrappers and user-defined layers are traced afresh each time.
    """
    signature = _init_signature(pairs)
    if signature is not None and signature in _INIT_PROGRAMS:
        _INIT_PROGRAMS.move_to_end(signature)
        return _INIT_PROGRAMS[signature]
    traced = pairs
    if signature is not None:
        try:
            with warnings.catch_warnings():  # the layer's own constructor warnings were given once already
                warnings.simplefilter("ignore")
                traced = [(type(layer).from_config(layer.get_config()), shape) for layer, shape in pairs]
        except Exception:  # a config that does not rebuild its layer: no caching
            signature, traced = None, pairs
    box = {}

    def f(key):
        keys = split_key(key, len(traced))
        values, box["shapes"], box["templates"] = [], [], []
        for (layer, shape), k in zip(traced, keys):
            out, params, state = layer.init(k, shape)
            box["shapes"].append(out)
            box["templates"].append((params, state))
            values.append((params, state))
        return values

    program = jax.jit(f)
    specs = jax.eval_shape(program, key)  # traces `f`: fills `box`
    entry = (program, box["shapes"], box["templates"], specs)
    if signature is not None:
        _INIT_PROGRAMS[signature] = entry
        if len(_INIT_PROGRAMS) > _INIT_PROGRAMS_KEPT:
            _INIT_PROGRAMS.popitem(last=False)
    return entry


def _init_signature(pairs):
    """What determines the init program of `pairs`, or None where that cannot be told from configs."""
    signature = []
    for layer, shape in pairs:
        if not type(layer).__module__.startswith("jseq.") or layer._sublayers():
            return None
        try:
            config = {k: v for k, v in layer.get_config().items() if k != "name"}
            signature.append((type(layer), json.dumps(config, sort_keys=True, default=repr), repr(shape)))
        except Exception:
            return None
    return tuple(signature)


def in_order_of(template, tree):
    """`tree` with its dict keys in the order of `template`'s (jit returns dicts sorted by key)."""
    if isinstance(template, dict):
        return {k: in_order_of(template[k], tree[k]) for k in template}
    return tree


def abstract_init(layer, input_shape):
    """`(output_shape, has_arrays)` that `layer.init` gives for `input_shape`, by abstract evaluation:
    shapes are checked and errors raised without computing (or compiling) anything."""
    box = {}

    def f(key):
        out, params, state = layer.init(key, input_shape)
        box["out"] = out
        return params, state

    arrays = jax.eval_shape(f, jax.random.PRNGKey(0))
    return box["out"], bool(jax.tree.leaves(arrays))


def infer_output_shape(layer, input_shape):
    """The output shape `layer.init` declares for `input_shape` (no compute)."""
    return abstract_init(layer, input_shape)[0]
