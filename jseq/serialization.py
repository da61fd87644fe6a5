"""Turning layer hyperparameters into Keras-style config values (JSON-ready), and back.

Activations are written by name; initializers, regularizers and other objects with `get_config` as
`{"module": ..., "class_name": ..., "config": ...}` dicts, as Keras 3 writes them.
"""

import numpy as np

_MODULES = {"jseq.initializers": "keras.initializers", "jseq.regularizers": "keras.regularizers"}


def serialize_value(value):
    from jseq import activations

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [serialize_value(v) for v in value]
    if isinstance(value, dict):
        return {k: serialize_value(v) for k, v in value.items()}
    if hasattr(value, "get_config") and not isinstance(value, type):
        module = type(value).__module__
        return {
            "module": _MODULES.get(module, module),
            "class_name": type(value).__name__,
            "config": serialize_value(value.get_config()),
            "registered_name": None,
        }
    if callable(value):
        return activations.serialize(value)
    raise ValueError(f"Cannot serialize {value!r} ({type(value).__name__}) into a model config.")
