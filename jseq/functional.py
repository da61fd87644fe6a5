"""Calling layers on symbolic tensors: the record from which `Model(inputs, outputs)` is built.

A call `y = layer(x)` on a `KerasTensor` builds the layer for `x.shape` (as Keras does), makes a new
`KerasTensor` for the output with `history = (layer, [x])`, and appends `(x, y)` to `layer._inbound`
so that `layer.input` / `layer.output` work.
"""

from jseq.core import KerasTensor, infer_output_shape


def call_symbolic(layer, x, training=False, **kwargs):
    del training
    if kwargs:
        raise TypeError(f"Unexpected arguments for calling layer '{layer.name}': {sorted(kwargs)}")
    if not isinstance(x, KerasTensor):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) takes a single input; "
            f"received {type(x).__name__}."
        )
    layer.build(x.shape)
    dtype = "float32" if layer.autocast else x.dtype
    y = KerasTensor(infer_output_shape(layer, x.shape), dtype, history=(layer, [x]))
    layer._inbound.append((x, y))
    return y
