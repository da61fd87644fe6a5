"""Array helpers for preparing data, with Keras's names and results: one-hot labels, norms, padding.

All three take and return NumPy arrays (JAX arrays and lists are converted), as Keras does for NumPy input.
"""

import numpy as np


def to_categorical(x, num_classes=None):
    """Converts a class vector (integers) to a one-hot matrix, e.g. for `categorical_crossentropy`.

    `out[..., c] = 1.0 if x[...] == c else 0.0`. A trailing axis of size 1 is dropped first, so labels of
    shape `(n, 1)` give `(n, num_classes)`, as Keras does.

    Args:
        x: integer class indices in `[0, num_classes)`, any shape (array-like).
        num_classes: number of classes; None (or 0) infers `max(x) + 1`.

    Returns:
        A float64 array of shape `x.shape + (num_classes,)` (Keras's dtype for NumPy input).

    Example:
        >>> to_categorical([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    x = np.asarray(x)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x) & (x == np.round(x))):
        raise ValueError(
            "to_categorical expects integer class indices; x holds non-integer values. Round or cast the "
            "labels first (Keras would silently truncate them)."
        )
    if x.dtype.kind not in "biuf":
        raise TypeError(
            f"to_categorical expects integer class indices; received an array of dtype {x.dtype}."
        )
    x = x.astype(np.int64)
    shape = x.shape[:-1] if x.ndim > 1 and x.shape[-1] == 1 else x.shape
    x = x.reshape(-1)
    if not num_classes:
        if x.size == 0:
            raise ValueError("to_categorical cannot infer num_classes from empty input; pass num_classes=.")
        num_classes = int(x.max()) + 1
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(
            f"to_categorical expects class indices in [0, {num_classes}); found values from {x.min()} to "
            f"{x.max()}. Pass a larger num_classes= or fix the labels."
        )
    categorical = np.zeros((x.size, num_classes))  # (n, num_classes) float64
    categorical[np.arange(x.size), x] = 1.0
    return categorical.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Divides `x` by its `order`-norm along `axis`; slices whose norm is 0 are left as they are.

    `out = x / ||x||_order` (norm taken along `axis`, kept for broadcasting). The output has `x`'s shape;
    integer input gives float64, float input keeps its dtype.

    Args:
        x: array to normalize (array-like).
        axis: axis along which to normalize (an int).
        order: norm order, as `np.linalg.norm` (2 = Euclidean, 1, `np.inf`, ...).

    Example:
        >>> normalize(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
    """
    x = np.asarray(x)
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"normalize expects axis to be an int. Received: axis={axis!r}.")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for an array of shape {x.shape}.")
    norm = np.linalg.norm(x, order, axis=int(axis), keepdims=True)  # x.shape with 1 at `axis`
    norm[norm == 0] = 1
    return x / norm


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pads (or truncates) a list of sequences to one length, giving a 2-D array.

    Shorter sequences are filled with `value` (before them for `padding="pre"`, after for "post"); longer
    ones lose their first (`truncating="pre"`) or last ("post") elements.

    Args:
        sequences: list of sequences (lists or arrays); elements may themselves be arrays of a common shape.
        maxlen: length of the output; None takes the longest sequence.
        dtype: output dtype; use `object` (or a string dtype) for sequences of strings.
        padding: "pre" or "post".
        truncating: "pre" or "post".
        value: the padding value.

    Returns:
        An array of shape `(len(sequences), maxlen) + element_shape`.

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in ("pre", "post"):
            raise ValueError(f'{name} must be "pre" or "post". Received: {name}={side!r}.')
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    lengths, element_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(
                f"`sequences` must be a list of iterables. Found non-iterable at position {i}: {s!r}"
            )
        lengths.append(len(s))
        if element_shape is None and len(s):  # the first non-empty sequence sets the element shape
            element_shape = np.asarray(s).shape[1:]
    element_shape = element_shape or ()
    if maxlen is None:
        if not lengths:
            raise ValueError(
                "pad_sequences got no sequences and no maxlen; pass maxlen= to get shape (0, maxlen)."
            )
        maxlen = max(lengths)
    if not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"maxlen must be a non-negative int or None. Received: maxlen={maxlen!r}.")
    is_text_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text_dtype:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings."
        )

    out = np.full((len(lengths), int(maxlen)) + element_shape, value, dtype=dtype)  # (n, maxlen, ...)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != element_shape:
            raise ValueError(
                f"Shape of sample {kept.shape[1:]} of sequence at position {i} is different from expected "
                f"shape {element_shape}"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out
