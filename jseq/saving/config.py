"""Model configs in Keras 3's JSON layout, and the one way jseq turns a config back into objects.

Writing. A model's `config.json` entry is Keras's `serialize_keras_object(model)`::

    {"module": "keras", "class_name": "Sequential", "registered_name": null,
     "config": {"name": ..., "trainable": ..., "dtype": ..., "layers": [<InputLayer>, <layer>, ...],
                "build_input_shape": [null, 784]},
     "build_config": {"input_shape": [null, 784]}, "compile_config": {"optimizer": ..., "loss": ..., ...}}

and each layer `{"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": null,
"build_config": {...}}`, the layer's config being its constructor arguments (`Layer.get_config`).

Reading never runs code from the file and never imports a module it names. A class name is looked up in a
closed table: the layer classes defined in `jseq.layers` (plus InputLayer, Sequential, Functional / Model),
and, in their places, jseq's initializers, regularizers, optimizers, schedules, losses and metrics. Before
anything is built, `check_references` walks the whole config and refuses any object naming another class or
a module outside `keras*` / `jseq*` (`os.system`, `builtins.eval`, `keras.utils.get_file`), Python lambdas
and `Lambda` layers. A malformed config (wrong types, unknown arguments, layers that do not fit) raises a
`FileFormatError` that puts the cause first and names the layer.
"""

import functools
import inspect
import numbers
import warnings

from jseq.core import standardize_shape
from jseq.saving.files import FileFormatError, UnsafeFileError

# Keras's arguments that jseq's layers write but Keras's constructors refuse, dropped at their defaults.
_NOT_IN_KERAS = {
    "SpatialDropout1D": {"trainable": True},
    "SpatialDropout2D": {"trainable": True},
    "LayerNormalization": {"rms_scaling": False},
}
_BASE_KWARGS = ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape", "batch_size")
_CODE_CLASSES = ("__lambda__", "Lambda", "TFSMLayer")
_SPECIAL = ("function", "DTypePolicy", "FloatDTypePolicy", "__tuple__", "__keras_tensor__")
_MODEL_NAMES = ("Sequential", "Functional", "Model")
_LAYER_MODULES = ("keras.layers", "keras.src.layers", "jseq.layers")
_MAX_DEPTH = 200  # nested models and layers stay far below; deeper JSON would exhaust Python's stack
_FUNCTION_MODULES = tuple(
    f"keras.{src}{kind}" for src in ("", "src.") for kind in ("activations", "losses", "metrics")
)


# --------------------------------------------------------------------------------------------------------
# The closed tables of classes


@functools.cache
def layer_classes():
    """`{class name: class}` for every layer class defined in `jseq.layers`, and InputLayer."""
    from jseq import layers
    from jseq.core import Layer
    from jseq.models import InputLayer

    table = {"InputLayer": InputLayer}
    for name in layers.__all__:
        cls = getattr(layers, name)
        if inspect.isclass(cls) and issubclass(cls, Layer) and cls.__module__.startswith("jseq.layers."):
            table[name] = cls
    return table


def _classes_of(module, base):
    return {
        name: cls
        for name, cls in vars(module).items()
        if inspect.isclass(cls) and cls.__module__ == module.__name__ and issubclass(cls, base)
    }


@functools.cache
def _known_class_names():
    from jseq import initializers, losses, metrics, regularizers
    from jseq.optimizers import algorithms, base, schedules

    names = set(layer_classes()) | set(_MODEL_NAMES) | set(_SPECIAL)
    for module, cls in (
        (initializers, initializers.Initializer),
        (regularizers, regularizers.Regularizer),
        (algorithms, base.Optimizer),
        (schedules, schedules.LearningRateSchedule),
        (losses, losses.Loss),
        (metrics, metrics.Metric),
    ):
        names |= set(_classes_of(module, cls))
    return frozenset(names)


def check_references(obj, where, depth=0):
    """Refuse, before anything is built, a config that names code or a class outside jseq's tables."""
    if depth > _MAX_DEPTH:
        raise FileFormatError(f"{where[:100]}...: the config nests objects more than {_MAX_DEPTH} deep.")
    if isinstance(obj, list):
        for i, value in enumerate(obj):
            check_references(value, f"{where}[{i}]", depth + 1)
        return
    if not isinstance(obj, dict):
        return
    class_name, module = obj.get("class_name"), obj.get("module")
    if "class_name" in obj:
        if class_name in _CODE_CLASSES:
            raise UnsafeFileError(_code_refused(where, class_name))
        layer_module = isinstance(module, str) and module.startswith(_LAYER_MODULES)
        if isinstance(class_name, str) and class_name not in _known_class_names() and layer_module:
            raise FileFormatError(
                f"{where}: unknown layer type {class_name!r}. jseq loads only its own layer classes: "
                f"{', '.join(sorted(layer_classes()))}."
            )
        if not isinstance(class_name, str) or class_name not in _known_class_names():
            raise UnsafeFileError(
                f"{where}: the config names {class_name!r}"
                + (f" from module {module!r}" if module else "")
                + ", which is not a jseq class. jseq loads only its own layers, models, initializers, "
                "regularizers, optimizers, losses and metrics; it never imports a module named in a file."
            )
        if module is not None and not (
            isinstance(module, str) and (module.split(".")[0] in ("keras", "jseq") or module == "builtins")
        ):
            raise UnsafeFileError(
                f"{where}: the config names class {class_name!r} from module {module!r}; jseq loads only "
                "classes of Keras's and its own namespaces and never imports a module named in a file."
            )
        if class_name == "function" and not (
            isinstance(obj.get("config"), str)
            and (module == "builtins" or str(module).startswith(_FUNCTION_MODULES))
        ):
            raise UnsafeFileError(
                f"{where}: the config names the function {obj.get('config')!r} from module {module!r}; jseq "
                "accepts only Keras's named activations, losses and metrics (and, when compiling, custom "
                "functions passed as `custom_objects`)."
            )
    for key, value in obj.items():
        check_references(value, f"{where}.{key}", depth + 1)


def _code_refused(where, class_name):
    what = "a Python lambda" if class_name == "__lambda__" else f"a `{class_name}` layer"
    return (
        f"{where}: the config holds {what}, i.e. Python code. Loading it would mean running code from the "
        "file (arbitrary code execution), which jseq never does, whatever `safe_mode` says. Rebuild that "
        "part of the model in Python and load its weights with `load_weights`."
    )


def _plain(obj):
    """Keras's wrappers turned into plain values: DTypePolicy -> its name, `__tuple__` -> a list, Keras's
    named functions -> their names; `shared_object_id` dropped."""
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    class_name, config = obj.get("class_name"), obj.get("config")
    if class_name in ("DTypePolicy", "FloatDTypePolicy") and isinstance(config, dict):
        return config.get("name")
    if class_name == "__tuple__" and isinstance(config, dict) and isinstance(config.get("value"), list):
        return [_plain(v) for v in config["value"]]
    if class_name == "function" and obj.get("module") != "builtins" and isinstance(config, str):
        return config  # keras.activations.relu, keras.losses.mean_squared_error: by name
    return {k: _plain(v) for k, v in obj.items() if k != "shared_object_id"}


# --------------------------------------------------------------------------------------------------------
# Writing


def _policy(dtype):
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": dtype},
        "registered_name": None,
    }


def to_keras_layout(obj):
    """Layer entries inside `obj` in Keras's layout: module `keras.layers`, dtype policies, and no
    arguments Keras's constructors would refuse."""
    if isinstance(obj, list):
        return [to_keras_layout(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    obj = {k: to_keras_layout(v) for k, v in obj.items()}
    class_name, module = obj.get("class_name"), obj.get("module")
    is_layer = isinstance(module, str) and module.startswith(("jseq.layers", "keras.layers"))
    if is_layer and class_name in layer_classes() and isinstance(obj.get("config"), dict):
        obj["module"] = "keras.layers"
        config = dict(obj["config"])
        if class_name == "InputLayer":
            config = {**config, "sparse": False, "ragged": False, "optional": False}
        elif isinstance(config.get("dtype"), str):
            config["dtype"] = _policy(config["dtype"])
        config.pop("batch_input_shape", None)  # the model's InputLayer carries the input shape
        for key, default in _NOT_IN_KERAS.get(class_name, {}).items():
            if config.get(key) == default:
                del config[key]
        obj["config"] = config
    elif isinstance(module, str) and module.startswith("jseq.models") and class_name == "Sequential":
        obj["module"] = "keras"
    return obj


def _shape_list(shape):
    return None if shape is None else [None if d is None else int(d) for d in shape]


def input_layer_config(model):
    """The InputLayer entry of a Sequential with a known input shape (Keras writes one for every built
    Sequential)."""
    if model._input_layer is not None:
        layer = model._input_layer
        return layer_entry(layer)
    shape = model.input_shape if model.built else model._batch_input_shape
    first = model.layers[0] if model.layers else None
    dtype = "float32" if first is None or first.autocast else "int32"
    config = {"batch_shape": _shape_list(shape), "dtype": dtype, "name": "input_layer"}
    return to_keras_layout(
        {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}
    )


def sequential_config(model):
    """Keras 3's `Sequential.get_config()`: name, trainable, dtype, the layers with an InputLayer first,
    and the build input shape."""
    shape = model.input_shape if model.built else model._batch_input_shape
    layers = ([input_layer_config(model)] if shape is not None else []) + [
        layer_entry(layer) for layer in model.layers
    ]
    config = {"name": model.name, "trainable": model.trainable, "dtype": _policy("float32"), "layers": layers}
    if shape is not None:
        config["build_input_shape"] = _shape_list(shape)
    return config


def layer_entry(layer):
    """`{"module", "class_name", "config", "registered_name", "build_config"}` of one layer or model."""
    from jseq.functional import Functional
    from jseq.models import InputLayer, Sequential
    from jseq.serialization import serialize_value

    if isinstance(layer, Functional):
        module, class_name, registered = "keras.src.models.functional", "Functional", "Functional"
    elif isinstance(layer, Sequential):
        module, class_name, registered = "keras", "Sequential", None
    else:
        module, class_name, registered = "keras.layers", type(layer).__name__, None
    entry = {
        "module": module,
        "class_name": class_name,
        "config": serialize_value(layer.get_config()),
        "registered_name": registered,
    }
    if isinstance(layer, Functional):
        entry["build_config"] = {"input_shape": None}
    elif layer.built and not isinstance(layer, InputLayer):
        entry["build_config"] = {"input_shape": serialize_value(layer.input_shape)}
    return to_keras_layout(entry)


def serialize_model(model, include_compile=True):
    """The whole `config.json` object of `model` (Keras's `serialize_keras_object(model)`)."""
    entry = layer_entry(model)
    if include_compile and getattr(model, "compiled", False):
        compile_config = get_compile_config(model)
        if compile_config is not None:
            entry["compile_config"] = compile_config
    return entry


# --------------------------------------------------------------------------------------------------------
# Reading


def _describe(value):
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 60 else text[:57] + '...'}"


def _accepted_arguments(cls):
    params = inspect.signature(cls.__init__).parameters
    names = {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)} - {"self"}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        names |= set(_BASE_KWARGS)
    return names


def _is_entry(value):
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value


def deserialize_layer(entry, where, *, abstract):
    """A jseq layer (or model) from its config entry. `abstract`: build models with shape structs in
    place of weights (nothing allocated; `load_model` fills them from the file)."""
    if not _is_entry(entry):
        raise FileFormatError(
            f"{where}: expected a layer entry (an object with 'class_name' and 'config'); found "
            f"{_describe(entry)}."
        )
    class_name, config = entry["class_name"], entry["config"]
    if class_name in _CODE_CLASSES:
        raise UnsafeFileError(_code_refused(where, class_name))
    if not isinstance(config, dict):
        raise FileFormatError(
            f"{where}: the 'config' of a {class_name} must be an object; found {_describe(config)}."
        )
    name = config.get("name")
    label = f"{where} ({class_name} '{name}')" if isinstance(name, str) else f"{where} ({class_name})"
    if class_name == "Sequential":
        return sequential_from_config(config, label, build=False, abstract=abstract)[0]
    if class_name in ("Functional", "Model"):
        return functional_from_config(config, label, build=False, abstract=abstract)[0]
    cls = layer_classes().get(class_name)
    if cls is None:
        raise FileFormatError(
            f"{where}: unknown layer type {class_name!r}. jseq loads only its own layer classes: "
            f"{', '.join(sorted(layer_classes()))}."
        )
    kwargs = {}
    for key, value in config.items():
        if isinstance(value, dict) and value.get("class_name") == "function":
            raise UnsafeFileError(
                f"{label}: argument '{key}' names the Python function {value.get('config')!r}; jseq never "
                "loads functions from a file (only its named activations, written as strings)."
            )
        if key in ("layer", "backward_layer") and _is_entry(value):
            value = deserialize_layer(value, f"{label}.{key}", abstract=abstract)
        elif _is_entry(value) and value["class_name"] in _argument_classes():
            value = _argument_object(value, f"{label}.{key}")
        kwargs[key] = value
    kwargs = _filter_arguments(cls, kwargs, label)  # Keras's options jseq does not have, switched off
    try:
        return cls.from_config(kwargs)
    except Exception as error:  # the config is untrusted data: any failure means a bad file
        raise FileFormatError(f"{label}: {error}") from error


@functools.cache
def _argument_classes():
    """Initializer and regularizer classes (what a layer argument's config object may name)."""
    from jseq import initializers, regularizers

    return {
        **_classes_of(initializers, initializers.Initializer),
        **_classes_of(regularizers, regularizers.Regularizer),
    }


def _argument_object(value, where):
    """An initializer or regularizer config with Keras's arguments jseq has no use for dropped (when off)."""
    cls, config = _argument_classes()[value["class_name"]], value["config"]
    if not isinstance(config, dict):
        raise FileFormatError(f"{where}: the 'config' of a {value['class_name']} must be an object.")
    return {**value, "config": _filter_arguments(cls, config, f"{where} ({value['class_name']})")}


def _filter_arguments(cls, config, label):
    """`config` without the arguments `cls` does not take, which must be off (None or false)."""
    accepted, kwargs = _accepted_arguments(cls), {}
    for key, value in config.items():
        if key in accepted:
            kwargs[key] = value
        elif value is not None and value is not False:
            raise FileFormatError(
                f"{label}: jseq's {cls.__name__} has no argument '{key}' (the file sets {key}={value!r}), "
                "so it cannot be loaded as saved."
            )
    return kwargs


def _shape_from(value, where):
    if not isinstance(value, list):
        raise FileFormatError(
            f"{where}: an input shape must be a list such as [null, 784]; found {_describe(value)}."
        )
    try:
        return standardize_shape(value, "input shape")
    except ValueError as error:
        raise FileFormatError(f"{where}: {error}") from None


def _name_and_trainable(config, where):
    name, trainable = config.get("name"), config.get("trainable", True)
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise FileFormatError(
            f"{where}: 'name' must be a non-empty string without '/'; found {_describe(name)}."
        )
    if not isinstance(trainable, bool):
        raise FileFormatError(f"{where}: 'trainable' must be true or false; found {_describe(trainable)}.")
    return name, trainable


def sequential_from_config(config, where, *, build, abstract=False, input_shape=None):
    """`(Sequential, input shape)` from Keras's Sequential config. `build`: initialise the weights as
    `Sequential(...)` would; `abstract`: build with shape structs instead (see `deserialize_layer`)."""
    from jseq.models import Sequential
    from jseq.saving.weights import abstract_weights

    if not isinstance(config, dict):
        raise FileFormatError(f"{where}: a Sequential config must be an object; found {_describe(config)}.")
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise FileFormatError(
            f"{where}: 'layers' must be a list of layer entries; found {_describe(entries)}."
        )
    name, trainable = _name_and_trainable(config, where)
    model = Sequential(name=name)
    for i, entry in enumerate(entries):
        layer = deserialize_layer(entry, f"{where}.layers[{i}]", abstract=abstract)
        try:
            model.add(layer, rebuild=False)
        except ValueError as error:
            raise FileFormatError(f"{where}.layers[{i}]: {error}") from None
    if not trainable:
        model.trainable = False
    shape = model._batch_input_shape
    if shape is None and config.get("build_input_shape") is not None:
        shape = _shape_from(config["build_input_shape"], f"{where}.build_input_shape")
    shape = shape if shape is not None else input_shape
    if shape is not None and len(shape) == 0:
        raise FileFormatError(f"{where}: the input shape has no batch axis; expected e.g. [null, 784].")
    if shape is not None and model.layers and (build or abstract):  # Keras cannot build an empty model
        try:
            if abstract:
                out, params, state = abstract_weights(model, shape)
                model._set_built(shape, out, params, state)
            else:
                model.build(shape)
        except Exception as error:  # untrusted layers and shapes: any failure means a bad config
            raise FileFormatError(f"{where}: the layers do not fit together: {error}") from error
    return model, shape


def _flat(structure):
    # The leaves of a call's output in Keras's order: lists in order, dicts by sorted key.
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure) for leaf in _flat(structure[k])]
    if isinstance(structure, (list, tuple)) and not _is_shape(structure):
        return [leaf for item in structure for leaf in _flat(item)]
    return [structure]


def _is_shape(value):
    return isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value)


def _is_history(value):
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value[1:])
    )


class _NotReady(Exception):
    pass


def _tensor(history, outputs, where):
    """The tensor `[layer name, node index, tensor index]` points at; `_NotReady` if not made yet."""
    name, node, index = history
    if name not in outputs:
        raise FileFormatError(f"{where}: refers to layer {name!r}, which the model does not have.")
    if node >= len(outputs[name]):
        raise _NotReady
    tensors = outputs[name][node]
    if index >= len(tensors):
        raise FileFormatError(f"{where}: layer {name!r} has no output {index} at call {node}.")
    return tensors[index]


def _call_arguments(value, outputs, where):
    """A call's input structure with each `__keras_tensor__` replaced by the tensor it names."""
    if isinstance(value, list):
        return [_call_arguments(v, outputs, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        config = value.get("config")
        if not isinstance(config, dict) or not _is_history(config.get("keras_history")):
            raise FileFormatError(f"{where}: malformed tensor reference {_describe(value)}.")
        return _tensor(config["keras_history"], outputs, where)
    if isinstance(value, dict):
        return {k: _call_arguments(v, outputs, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # a constant operand, e.g. the 0.5 of `x * 0.5`
    raise FileFormatError(
        f"{where}: a call argument must be a tensor reference or a number; found {_describe(value)}."
    )


def _shapes(structure):
    from jseq.core import KerasTensor

    if isinstance(structure, KerasTensor):
        return structure.shape
    if isinstance(structure, list):
        return [_shapes(v) for v in structure]
    if isinstance(structure, dict):
        return {k: _shapes(v) for k, v in structure.items()}
    return ()  # a number


def _abstract_build(layer, inputs):
    """Build `layer` for symbolic `inputs` with shape structs in place of weights (nothing allocated)."""
    from jseq.saving.weights import abstract_weights

    shape = _shapes(inputs)
    out, params, state = abstract_weights(layer, shape)
    layer._set_built(shape, out, params, state)


def _replay(layer, node, node_index, outputs, where, abstract):
    """Make one recorded call of `layer`; `_NotReady` if an input tensor is not made yet."""
    if not isinstance(node, dict) or not isinstance(node.get("args"), list) or len(node["args"]) != 1:
        raise FileFormatError(
            f"{where}: a call must be {{'args': [inputs], 'kwargs': {{...}}}} (Keras 3's layout); found "
            f"{_describe(node)}."
        )
    kwargs = node.get("kwargs") or {}
    if not isinstance(kwargs, dict) or any(v is not None and v is not False for v in kwargs.values()):
        raise FileFormatError(
            f"{where}: jseq replays calls without call arguments (training=True, a mask, ...); found "
            f"{_describe(kwargs)}."
        )
    inputs = _call_arguments(node["args"][0], outputs, f"{where}.args")
    try:
        if abstract and not layer.built:
            _abstract_build(layer, inputs)
        result = layer(inputs)
    except Exception as error:  # untrusted layers and shapes: any failure means a bad config
        raise FileFormatError(f"{where}: {error}") from error
    outputs[layer.name].append(_flat(result))


def functional_from_config(config, where, *, build, abstract=False):
    """`(Functional, None)`: Keras's functional config, its layer calls replayed on symbolic tensors.

    With `abstract`, each layer is built with shape structs just before its first call, so that no weight
    is allocated before `load_model` has checked the file (`build` has no effect: the calls build).
    """
    from jseq.functional import Functional
    from jseq.models import InputLayer

    del build
    if not isinstance(config, dict):
        raise FileFormatError(f"{where}: a functional config must be an object; found {_describe(config)}.")
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise FileFormatError(
            f"{where}: 'layers' must be a list of layer entries; found {_describe(entries)}."
        )
    name, trainable = _name_and_trainable(config, where)
    calls, outputs = [], {}
    for i, entry in enumerate(entries):
        here = f"{where}.layers[{i}]"
        layer = deserialize_layer(entry, here, abstract=abstract)
        if layer.name in outputs:
            raise FileFormatError(f"{here}: the layer name {layer.name!r} is used twice.")
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise FileFormatError(f"{here}: 'inbound_nodes' must be a list; found {_describe(nodes)}.")
        outputs[layer.name] = [[layer.output]] if isinstance(layer, InputLayer) else []
        calls += [(layer, k, node, f"{here}.inbound_nodes[{k}]") for k, node in enumerate(nodes)]
    while calls:  # Keras's order: make every call whose inputs exist, until none is left
        remaining = []
        for layer, k, node, here in calls:
            if len(outputs[layer.name]) != k:
                remaining.append((layer, k, node, here))  # a layer's calls are made in order
                continue
            try:
                _replay(layer, node, k, outputs, here, abstract)
            except _NotReady:
                remaining.append((layer, k, node, here))
        if len(remaining) == len(calls):
            raise FileFormatError(
                f"{where}: the calls of {sorted({c[0].name for c in calls})} need tensors that no call makes."
            )
        calls = remaining

    def ends(value, what):
        if _is_history(value):
            return _tensor(value, outputs, f"{where}.{what}")
        if isinstance(value, list) and value:
            return [ends(v, what) for v in value]
        if isinstance(value, dict) and value:
            return {k: ends(v, what) for k, v in value.items()}
        raise FileFormatError(f"{where}: '{what}' must name layer outputs; found {_describe(value)}.")

    try:
        inputs, outs = (
            ends(config.get("input_layers"), "input_layers"),
            ends(config.get("output_layers"), "output_layers"),
        )
        return Functional(inputs, outs, name=name, trainable=trainable), None
    except _NotReady:
        raise FileFormatError(f"{where}: 'output_layers' names a call that the layers never make.") from None
    except ValueError as error:
        if isinstance(error, FileFormatError):
            raise
        raise FileFormatError(f"{where}: {error}") from None


def model_from_entry(entry, where, *, build, abstract=False):
    """`(model, input shape)` from a whole `config.json` object (checked with `check_references` first)."""
    if not isinstance(entry, dict):
        raise FileFormatError(f"{where}: expected a model object; found {_describe(entry)}.")
    check_references(entry, where)
    entry = _plain(entry)
    class_name = entry.get("class_name")
    build_shape = None
    build_config = entry.get("build_config")
    if isinstance(build_config, dict) and build_config.get("input_shape") is not None:
        build_shape = build_config["input_shape"]
    if class_name == "Sequential":
        shape = None if build_shape is None else _shape_from(build_shape, f"{where}.build_config")
        return sequential_from_config(
            entry.get("config"), where, build=build, abstract=abstract, input_shape=shape
        )
    if class_name in ("Functional", "Model"):
        return functional_from_config(entry.get("config"), where, build=build, abstract=abstract)
    if class_name in layer_classes():
        raise FileFormatError(f"{where}: the config describes a single {class_name} layer, not a model.")
    raise FileFormatError(
        f"{where}: expected a Sequential or Functional model; found {_describe(class_name)}."
    )


# --------------------------------------------------------------------------------------------------------
# compile settings


def _function_entry(fn):
    # Keras's layout for a function it has no name for (a custom loss or metric).
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def _serialize_loss(loss):
    from jseq import losses

    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, (list, tuple)):
        return [_serialize_loss(v) for v in loss]
    if isinstance(loss, dict):
        return {k: _serialize_loss(v) for k, v in loss.items()}
    if isinstance(loss, losses.Loss):
        try:
            return losses.serialize(loss)
        except TypeError:
            return _function_entry(getattr(loss, "fn", loss))
    if getattr(losses, getattr(loss, "__name__", ""), None) is loss:
        return loss.__name__
    return _function_entry(loss)


def _serialize_metric(metric):
    from jseq import losses, metrics

    if metric is None or isinstance(metric, str):
        return metric
    if isinstance(metric, (list, tuple)):
        return [_serialize_metric(v) for v in metric]
    if isinstance(metric, dict):
        return {k: _serialize_metric(v) for k, v in metric.items()}
    if isinstance(metric, metrics.Metric) and type(metric) in _classes_of(metrics, metrics.Metric).values():
        return {
            "module": "keras.metrics",
            "class_name": type(metric).__name__,
            "config": metric.get_config(),
            "registered_name": None,
        }
    if isinstance(metric, losses.Loss):
        return _serialize_loss(metric)
    name = getattr(metric, "__name__", "")
    if getattr(metrics, name, None) is metric or getattr(losses, name, None) is metric:
        return name
    return _function_entry(metric)


def get_compile_config(model):
    """Keras's `compile_config`, or None (with a warning) when the optimizer cannot be written."""
    from jseq import optimizers

    try:
        optimizer = optimizers.serialize(model.optimizer)
    except TypeError as error:
        warnings.warn(f"Model '{model.name}' is saved without its compile settings: {error}", stacklevel=4)
        return None
    jit = model._jit_compile
    return {
        "optimizer": optimizer,
        "loss": _serialize_loss(model.loss),
        "loss_weights": model._loss_weights,
        "metrics": _serialize_metric(model._metric_specs) or None,
        "weighted_metrics": _serialize_metric(model._weighted_metric_specs) or None,
        "run_eagerly": model._run_eagerly,
        # Keras reads an int; jseq's "auto" (its default) is written as Keras's default, 1, and read back as
        # "auto": both mean "the framework's default" (callbacks see every batch).
        "steps_per_execution": 1 if model._steps_per_execution == "auto" else model._steps_per_execution,
        "jit_compile": jit if isinstance(jit, bool) else True,
    }


class _MissingCustomObject(Exception):
    pass


def _resolve_function(value, custom_objects, where):
    if value.get("module") != "builtins" or not isinstance(value.get("config"), str):
        raise FileFormatError(f"{where}: malformed function reference {value!r}.")
    name = value["config"]
    if name in custom_objects:
        return custom_objects[name]
    raise _MissingCustomObject(name)


def _resolve_loss(value, custom_objects, where):
    from jseq import losses

    if value is None or isinstance(value, str):
        return custom_objects.get(value, value) if isinstance(value, str) else value
    if isinstance(value, list):
        return [_resolve_loss(v, custom_objects, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and value.get("class_name") == "function":
        return _resolve_function(value, custom_objects, where)
    if _is_entry(value) and isinstance(value["config"], dict):
        return losses.deserialize(value)
    if isinstance(value, dict):
        return {k: _resolve_loss(v, custom_objects, f"{where}.{k}") for k, v in value.items()}
    raise FileFormatError(f"{where}: expected a loss name or loss object; found {_describe(value)}.")


def _resolve_metric(value, custom_objects, where):
    from jseq import metrics

    if isinstance(value, str):
        return custom_objects.get(value, value)
    if isinstance(value, list):
        return [_resolve_metric(v, custom_objects, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and value.get("class_name") == "function":
        return _resolve_function(value, custom_objects, where)
    if _is_entry(value) and isinstance(value["config"], dict):
        table = _classes_of(metrics, metrics.Metric)
        if value["class_name"] not in table:
            return _resolve_loss(value, custom_objects, where)  # a Loss object used as a metric
        return table[value["class_name"]].from_config(dict(value["config"]))
    if isinstance(value, dict):
        return {k: _resolve_metric(v, custom_objects, f"{where}.{k}") for k, v in value.items()}
    raise FileFormatError(f"{where}: expected a metric name or metric object; found {_describe(value)}.")


def compile_from_config(model, config, custom_objects=None, where="compile_config"):
    """`model.compile(...)` with the settings of Keras's `compile_config`.

    A custom loss or metric is saved by name only; give it back in `custom_objects` ({name: function}).
    Without it the model is returned uncompiled, with a warning.
    """
    from jseq import optimizers

    if config is None:
        return False
    if not isinstance(config, dict):
        raise FileFormatError(f"{where} must be an object; found {_describe(config)}.")
    config = _plain(config)
    custom_objects = dict(custom_objects or {})
    try:
        optimizer = config.get("optimizer", "rmsprop")
        if isinstance(optimizer, dict):
            optimizer = optimizers.deserialize(optimizer)
        kwargs = {
            "optimizer": optimizer,
            "loss": _resolve_loss(config.get("loss"), custom_objects, f"{where}.loss"),
            "loss_weights": config.get("loss_weights"),
            "metrics": _resolve_metric(config.get("metrics") or [], custom_objects, f"{where}.metrics"),
            "weighted_metrics": _resolve_metric(
                config.get("weighted_metrics") or [], custom_objects, f"{where}.weighted_metrics"
            ),
            "run_eagerly": config.get("run_eagerly", False),
            "steps_per_execution": config.get("steps_per_execution", 1),
        }
        if kwargs["steps_per_execution"] == 1:
            kwargs["steps_per_execution"] = "auto"
        if not isinstance(kwargs["run_eagerly"], bool):
            raise FileFormatError(f"{where}.run_eagerly must be true or false.")
        if kwargs["loss_weights"] is not None and not isinstance(kwargs["loss_weights"], (list, dict)):
            raise FileFormatError(f"{where}.loss_weights must be a list, an object or null.")
        if isinstance(kwargs["loss_weights"], (list, dict)):
            weights = kwargs["loss_weights"]
            for w in weights.values() if isinstance(weights, dict) else weights:
                if not isinstance(w, numbers.Real) or isinstance(w, bool):
                    raise FileFormatError(f"{where}.loss_weights must hold numbers; found {_describe(w)}.")
        model.compile(**kwargs)
    except _MissingCustomObject as missing:
        warnings.warn(
            f"{where}: the model was compiled with the custom function '{missing}', which a file does not "
            f"hold; it is returned uncompiled. Pass `custom_objects={{'{missing}': fn}}` to compile it.",
            stacklevel=3,
        )
        return False
    except FileFormatError:
        raise
    except Exception as error:  # untrusted settings: any failure to compile with them means a bad file
        raise FileFormatError(
            f"{where}: cannot compile the model with the saved settings: {error}"
        ) from error
    return True
