"""Embedding: integer token ids to dense vectors, and the padding mask that recurrent layers read."""

import jax.numpy as jnp

from jseq import initializers, regularizers
from jseq.core import Layer
from jseq.layers.core import _positive_int


class Embedding(Layer):
    """Looks up row `x[b, t]` of an `(input_dim, output_dim)` table: `y[b, t] = embeddings[x[b, t]]`.

    Args:
        input_dim: the vocabulary size (largest id + 1).
        output_dim: the size of each vector.
        embeddings_initializer: "uniform" by default, i.e. `RandomUniform(-0.05, 0.05)`.
        embeddings_regularizer: a penalty on the table, added to the training loss.
        mask_zero: whether id 0 is padding. The layer then passes on the mask `x != 0`, so that the
            recurrent layers after it skip padded steps; id 0 must not be used for a real token.
        input_length: Keras 2's argument; accepted and ignored, as Keras 3 does (give `input_shape=`).

    Input shape: `(batch, ...)` of integer ids (floats are cast to int32).
    Output shape: `(batch, ..., output_dim)`. Params: `embeddings (input_dim, output_dim)`.
    Ids outside `[-input_dim, input_dim)` give NaN rows, as in Keras on JAX (negative ids count from the end).

    >>> Embedding(1000, 64)(jnp.array([[4, 20, 0]])).shape
    (1, 3, 64)
    """

    autocast = False  # ids stay integers

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        input_length=None,
        **kwargs,
    ):
        if embeddings_constraint is not None:
            raise ValueError("Embedding: weight constraints are not supported by jseq; leave them as None.")
        super().__init__(**kwargs)
        self.input_dim = _positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = _positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        del input_length  # the sequence length comes from the input, as in Keras 3

    @property
    def supports_masking(self):
        return self.mask_zero

    def init(self, key, input_shape):
        shape = (self.input_dim, self.output_dim)
        params = {"embeddings": initializers.draw(self.embeddings_initializer, key, shape, self.dtype)}
        return tuple(input_shape) + (self.output_dim,), params, {}

    def apply(self, params, state, x, *, training=False, key=None):
        del training, key
        if not jnp.issubdtype(x.dtype, jnp.integer):
            x = x.astype("int32")
        return jnp.take(params["embeddings"], x, axis=0), state  # (B, ...) -> (B, ..., output_dim)

    def compute_mask(self, x, mask):
        del mask  # an incoming mask is replaced, as in Keras
        return (x != 0) if self.mask_zero else None

    def regularization_loss(self, params):
        if self.embeddings_regularizer is None:
            return 0.0
        return self.embeddings_regularizer(params["embeddings"])
