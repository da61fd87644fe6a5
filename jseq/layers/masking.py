"""Masking: mark the time steps whose features all equal `mask_value` as padding."""

import jax.numpy as jnp

from jseq.core import Layer


class Masking(Layer):
    """Skips padded time steps in the layers that follow (recurrent layers read the mask).

    A step `t` of sample `b` is padding when every feature equals `mask_value`; the layer passes on the mask
    `any(x[b, t] != mask_value)` and sets padded steps to 0.

    Args:
        mask_value: the padding value (0.0 by default).

    Input shape: `(batch, timesteps, features)` (any rank >= 2). Output shape: the same.

    >>> x = jnp.array([[[1.0, 2.0], [0.0, 0.0]]])      # step 1 is padding
    >>> Masking().compute_mask(x, None)
    Array([[ True, False]], dtype=bool)
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, x, mask):
        del mask
        return jnp.any(x != self.mask_value, axis=-1)  # (B, T)

    def apply(self, params, state, x, *, training=False, key=None):
        del params, training, key
        keep = jnp.any(x != self.mask_value, axis=-1, keepdims=True)  # (B, T, 1)
        return jnp.where(keep, x, 0).astype(x.dtype), state
