"""Recurrent layers (SimpleRNN, LSTM, GRU) and the wrappers Bidirectional and TimeDistributed.

A recurrent layer reads a sequence `x` of shape `(batch, timesteps, features)` one step at a time, carrying
a state from step to step. Every step is the same small function, so the whole sequence is one
`jax.lax.scan` over time (no Python loop over steps):

    carry, ys = lax.scan(step, carry0, x)    # x: (T, B, features); carry[0] is the output h
    # step(carry, x_t): xw_t = x_t @ kernel + bias, then the gates with h @ recurrent_kernel

Weights use Keras's names, shapes and gate order, so `set_weights(keras_layer.get_weights())` works:
`kernel (features, gates * units)`, `recurrent_kernel (units, gates * units)`, `bias`. The gates are
SimpleRNN: 1; LSTM: 4 in the order i, f, c, o; GRU: 3 in the order z, r, h.

Masks (from `Embedding(mask_zero=True)` or `Masking`): a masked step keeps the previous state, and its
output is the previous output (or 0 with `zero_output_for_mask=True`, which Bidirectional uses), as Keras.

Stateful layers (`stateful=True`) keep their final state in the non-trainable `state` dict (`h`, and `c`
for LSTM): `apply` starts from it and returns the new one, so the final state of batch k is the initial
state of batch k+1. The batch size comes from `batch_input_shape=` / `batch_size=`, or from the first batch.
These carried states are not weights (`get_weights()` does not list them, as in Keras); `reset_states()`
zeroes them.
"""

import inspect

import jax
import jax.numpy as jnp

from jseq import activations, initializers, regularizers
from jseq.core import Container, KerasTensor, Layer, check_compatible, next_key, shape_str, split_key
from jseq.layers.core import _positive_int


def _rate(layer_name, arg, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(
            f"Invalid value received for argument `{arg}` of {layer_name}. Expected a float value in "
            f"[0, 1). Received: {arg}={value!r}"
        )
    return float(value)


def _dropout_mask(key, rate, shape):
    """Keep with probability `1 - rate`, scaled by `1 / (1 - rate)` (inverted dropout)."""
    return jax.random.bernoulli(key, 1.0 - rate, shape) / (1.0 - rate)


def _clone(layer, **changes):
    """A fresh, unbuilt copy of `layer` from its constructor arguments (read back off its attributes)."""
    args = {
        name: getattr(layer, name)
        for name, p in inspect.signature(type(layer).__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and hasattr(layer, name)
    }
    return type(layer)(**{**args, "dtype": layer.dtype, "trainable": layer.trainable, **changes})


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, the scan over time, masks and stateful carry.

    A subclass sets `n_gates` and `state_names` and defines `step(params, carry, xw_t, recurrent_mask)`
    -> new carry (a tuple whose first element is the output `h`).
    """

    call_takes_mask = True
    n_gates = 1
    state_names = ("h",)

    def __init__(
        self,
        units,
        *,
        activation,
        use_bias,
        kernel_initializer,
        recurrent_initializer,
        bias_initializer,
        kernel_regularizer,
        recurrent_regularizer,
        bias_regularizer,
        activity_regularizer,
        kernel_constraint,
        recurrent_constraint,
        bias_constraint,
        dropout,
        recurrent_dropout,
        seed,
        return_sequences,
        return_state,
        go_backwards,
        stateful,
        unroll,
        zero_output_for_mask,
        **kwargs,
    ):
        kind = type(self).__name__
        if not (kernel_constraint is None and recurrent_constraint is None and bias_constraint is None):
            raise ValueError(f"{kind}: weight constraints are not supported by jseq; leave them as None.")
        super().__init__(**kwargs)
        self.units = _positive_int(kind, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.dropout = _rate(kind, "dropout", dropout)
        self.recurrent_dropout = _rate(kind, "recurrent_dropout", recurrent_dropout)
        self.seed = seed  # accepted for Keras compatibility: the key passed to `apply` decides the masks
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # ---- shapes and weights --------------------------------------------------------------------------

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return (out,) + tuple((batch, self.units) for _ in self.state_names)
        return out

    def init(self, key, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with the layer: "
                f"expected shape (batch, timesteps, features) with known features, but received input "
                f"with shape {shape_str(input_shape)}."
            )
        k_kernel, k_recurrent, k_bias = split_key(key, 3)
        width = self.n_gates * self.units
        params = {
            "kernel": initializers.draw(
                self.kernel_initializer, k_kernel, (input_shape[-1], width), self.dtype
            ),
            "recurrent_kernel": initializers.draw(
                self.recurrent_initializer, k_recurrent, (self.units, width), self.dtype
            ),
        }
        if self.use_bias:
            params["bias"] = self.initial_bias(k_bias)
        state = {}
        if self.stateful:  # batch 0 = not known yet: the first batch the layer sees fixes it
            batch = input_shape[0] or 0
            state = {name: jnp.zeros((batch, self.units), self.dtype) for name in self.state_names}
        return self.compute_output_shape(input_shape), params, state

    def initial_bias(self, key):
        return initializers.draw(self.bias_initializer, key, (self.n_gates * self.units,), self.dtype)

    def input_projection(self, params, x):
        """`x @ kernel + bias` for every step at once: (B, T, features) -> (B, T, gates * units)."""
        xw = x @ params["kernel"]
        return xw + params["bias"] if self.use_bias else xw

    def _non_weight_state(self):
        return self.state_names  # carried states are not weights, as in Keras

    # ---- the scan over time ----------------------------------------------------------------------------

    def apply(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        """`(B, T, features) -> (B, units)`, or `(B, T, units)` with `return_sequences`.

        Args:
            mask: optional `(B, T)` booleans, False at padded steps.
            initial_state: optional list of `(B, units)` arrays (`[h]`, or `[h, c]` for LSTM).
        """
        batch = x.shape[0]
        carry = self._initial_carry(state, initial_state, batch, x.dtype)
        recurrent_mask = None
        if training and (self.dropout or self.recurrent_dropout):
            if key is None:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) needs a PRNG key when training=True with "
                    "dropout: call `apply(..., training=True, key=jax.random.PRNGKey(0))`."
                )
            k_in, k_rec = split_key(key)
            if self.dropout:  # one mask per sequence, the same at every step (as Keras)
                x = x * _dropout_mask(k_in, self.dropout, (batch, 1, x.shape[-1]))
            if self.recurrent_dropout:
                recurrent_mask = _dropout_mask(k_rec, self.recurrent_dropout, (batch, self.units))
        # (T, B, features): scan over T. Each step projects its own inputs (`x_t @ kernel + bias`): on
        # XLA:CPU differentiating the projection of the whole sequence before the scan measured ~3x slower.
        xs = jnp.swapaxes(x, 0, 1)
        masks = None if mask is None else jnp.swapaxes(jnp.asarray(mask, bool), 0, 1)[..., None]  # (T, B, 1)
        if self.go_backwards:
            xs = jnp.flip(xs, 0)
            masks = None if masks is None else jnp.flip(masks, 0)

        def step(carry, inputs):
            x_t, mask_t = inputs
            new = self.step(params, carry, self.input_projection(params, x_t), recurrent_mask)
            if mask_t is not None:  # a padded step keeps the previous state
                new = tuple(jnp.where(mask_t, n, c) for n, c in zip(new, carry))
            y_t = new[0]
            if mask_t is not None and self.zero_output_for_mask:
                y_t = jnp.where(mask_t, y_t, 0.0)
            return new, (y_t if self.return_sequences else None)

        carry, ys = jax.lax.scan(step, carry, (xs, masks), unroll=max(1, xs.shape[0]) if self.unroll else 1)
        if self.return_sequences:
            y = jnp.swapaxes(ys, 0, 1)  # (B, T, units), in the order the steps were taken
        elif masks is not None and self.zero_output_for_mask:
            y = jnp.where(masks[-1], carry[0], 0.0)
        else:
            y = carry[0]
        if self.stateful:
            state = {**state, **dict(zip(self.state_names, carry))}
        return ((y, *carry) if self.return_state else y), state

    def _initial_carry(self, state, initial_state, batch, dtype):
        if initial_state is not None:
            initial_state = [jnp.asarray(s, dtype) for s in initial_state]
            expected = [(batch, self.units)] * len(self.state_names)
            if [tuple(s.shape) for s in initial_state] != expected:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects initial_state to be "
                    f"{len(expected)} array(s) of shape {shape_str((batch, self.units))}. Received shapes: "
                    f"{[shape_str(s.shape) for s in initial_state]}."
                )
            return tuple(initial_state)
        if self.stateful and state[self.state_names[0]].shape[0] not in (0, batch):
            raise ValueError(
                f"If an RNN is stateful, the batch size of the input sequences must be the same as the batch "
                f"size of the initial state. \n- Expected batch size: {state[self.state_names[0]].shape[0]}\n"
                f"- Received batch size: {batch}\n(layer '{self.name}': give every batch the same size, or "
                "call `reset_states()` after rebuilding the model for another batch size)"
            )
        if self.stateful and state[self.state_names[0]].shape[0] == batch:
            return tuple(state[name] for name in self.state_names)
        return tuple(jnp.zeros((batch, self.units), dtype) for _ in self.state_names)

    # ---- masks, penalties, stateful conveniences --------------------------------------------------------

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def regularization_loss(self, params):
        penalty = 0.0
        for name, regularizer in (
            ("kernel", self.kernel_regularizer),
            ("recurrent_kernel", self.recurrent_regularizer),
            ("bias", self.bias_regularizer),
        ):
            if regularizer is not None and name in params:
                penalty += regularizer(params[name])
        return penalty

    def activity_regularization_loss(self, y):
        """The activity penalty on every output (the states too, with return_state), as Keras."""
        if self.activity_regularizer is None:
            return 0.0
        return sum(self.activity_regularizer(out) for out in jax.tree.leaves(y))

    def forward(self, params, state, x, *, training=False, key=None, mask=None):
        """`apply`, plus the activity penalty over the batch size (as Keras 3): `-> (y, state, penalty)`."""
        y, state = self.apply(params, state, x, training=training, key=key, mask=mask)
        return y, state, self.activity_regularization_loss(y) / x.shape[0]

    def reset_states(self):
        """Zero the carried state of a stateful layer (nothing to do for a stateless one)."""
        if self.stateful and self.built:
            self.state = {k: jnp.zeros_like(v) for k, v in self.state.items()}

    reset_state = reset_states  # Keras 3's name

    def __call__(self, x, training=False, mask=None, initial_state=None, **kwargs):
        """Eager call as Keras: a stateful layer keeps its final state for the next call."""
        if isinstance(x, KerasTensor) or (not self.stateful and initial_state is None):
            return super().__call__(x, training=training, mask=mask, **kwargs)
        return _eager_call_keeping_state(self, x, training, mask, kwargs, initial_state=initial_state)


class SimpleRNN(_Recurrent):
    """A fully connected recurrence: `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`.

    Args:
        units: the size of the state and of the output.
        activation: "tanh" by default.
        use_bias, kernel_initializer ("glorot_uniform"), recurrent_initializer ("orthogonal"),
            bias_initializer ("zeros"), kernel/recurrent/bias/activity regularizers: as Dense.
        dropout, recurrent_dropout: fractions of the inputs / of the state dropped in training, with one mask
            per sequence (the same at every step).
        return_sequences: return every step's output `(B, T, units)` instead of the last `(B, units)`.
        return_state: also return the final state: `(output, h)`.
        go_backwards: read the sequence from the end; with return_sequences the outputs come reversed.
        stateful: carry the final state of each batch into the next (see the module docstring).
        unroll: unroll the scan completely (faster for short sequences, slower to compile).
        seed: accepted for Keras compatibility; the key passed to `apply` decides the dropout masks.

    Input shape: `(batch, timesteps, features)`.
    Output shape: `(batch, units)`, or `(batch, timesteps, units)` with return_sequences.
    Params: `kernel (features, units)`, `recurrent_kernel (units, units)`, `bias (units,)`.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask, **kwargs,
        )  # fmt: skip

    def step(self, params, carry, xw_t, recurrent_mask):
        (h,) = carry  # (B, units)
        if recurrent_mask is not None:
            h = h * recurrent_mask
        return (self.activation(xw_t + h @ params["recurrent_kernel"]),)


class LSTM(_Recurrent):
    """Long Short-Term Memory (Hochreiter & Schmidhuber, 1997), with Keras's gate order i, f, c, o.

        z = x_t @ kernel + h @ recurrent_kernel + bias      # (B, 4 * units) -> i, f, g, o
        c_t = sigmoid(f) * c + sigmoid(i) * tanh(g)         # sigmoid: recurrent_activation
        h_t = sigmoid(o) * tanh(c_t)                        # tanh: activation

    Args: as SimpleRNN, plus
        recurrent_activation: the gates' activation, "sigmoid" by default.
        unit_forget_bias: start the forget gate's bias at 1 (the other biases from bias_initializer).
        use_cudnn: accepted for Keras compatibility (XLA chooses the kernels).

    The state is `[h, c]`: `return_state=True` returns `(output, h, c)`.
    Params: `kernel (features, 4 * units)`, `recurrent_kernel (units, 4 * units)`, `bias (4 * units,)`.
    """

    n_gates = 4
    state_names = ("h", "c")

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        zero_output_for_mask=False,
        **kwargs,
    ):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"LSTM expects use_cudnn to be 'auto', True or False. Received: {use_cudnn!r}")
        super().__init__(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask, **kwargs,
        )  # fmt: skip
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_cudnn = use_cudnn

    def initial_bias(self, key):
        if not self.unit_forget_bias:
            return super().initial_bias(key)
        k_i, k_co = split_key(key)
        i = initializers.draw(self.bias_initializer, k_i, (self.units,), self.dtype)
        c_o = initializers.draw(self.bias_initializer, k_co, (2 * self.units,), self.dtype)
        return jnp.concatenate([i, jnp.ones((self.units,), self.dtype), c_o])  # forget gate starts at 1

    def step(self, params, carry, xw_t, recurrent_mask):
        h, c = carry  # (B, units) each
        if recurrent_mask is not None:
            h = h * recurrent_mask
        i, f, g, o = jnp.split(xw_t + h @ params["recurrent_kernel"], 4, axis=-1)
        gate = self.recurrent_activation
        c = gate(f) * c + gate(i) * self.activation(g)
        return gate(o) * self.activation(c), c


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al., 2014), with Keras's gate order z, r, h.

        z = sigmoid(x_z + h @ U_z),  r = sigmoid(x_r + h @ U_r)         # x_* = x_t @ kernel_* + input bias
        reset_after=True:   hh = tanh(x_h + r * (h @ U_h + recurrent bias))
        reset_after=False:  hh = tanh(x_h + (r * h) @ U_h)
        h_t = z * h + (1 - z) * hh

    Args: as SimpleRNN, plus
        recurrent_activation: the gates' activation, "sigmoid" by default.
        reset_after: apply the reset gate after the recurrent matrix (Keras's default, True; the cuDNN
            form). The bias is then `(2, 3 * units)`: input bias and recurrent bias.
        use_cudnn: accepted for Keras compatibility (XLA chooses the kernels).

    Params: `kernel (features, 3 * units)`, `recurrent_kernel (units, 3 * units)`,
    `bias (2, 3 * units)` (or `(3 * units,)` with reset_after=False). GRU(3) on 4 features has 81 params.
    """

    n_gates = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        zero_output_for_mask=False,
        **kwargs,
    ):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"GRU expects use_cudnn to be 'auto', True or False. Received: {use_cudnn!r}")
        super().__init__(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask, **kwargs,
        )  # fmt: skip
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.use_cudnn = use_cudnn

    def initial_bias(self, key):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return initializers.draw(self.bias_initializer, key, shape, self.dtype)

    def input_projection(self, params, x):
        xw = x @ params["kernel"]
        if not self.use_bias:
            return xw
        return xw + (params["bias"][0] if self.reset_after else params["bias"])

    def step(self, params, carry, xw_t, recurrent_mask):
        (h,) = carry  # (B, units)
        h_in = h if recurrent_mask is None else h * recurrent_mask
        x_z, x_r, x_h = jnp.split(xw_t, 3, axis=-1)
        kernel, units, gate = params["recurrent_kernel"], self.units, self.recurrent_activation
        if self.reset_after:
            inner = h_in @ kernel  # (B, 3 * units)
            if self.use_bias:
                inner = inner + params["bias"][1]
            h_z, h_r, h_h = jnp.split(inner, 3, axis=-1)
            z, r = gate(x_z + h_z), gate(x_r + h_r)
            hh = self.activation(x_h + r * h_h)
        else:
            h_z, h_r = jnp.split(h_in @ kernel[:, : 2 * units], 2, axis=-1)
            z, r = gate(x_z + h_z), gate(x_r + h_r)
            hh = self.activation(x_h + (r * h_in) @ kernel[:, 2 * units :])
        return (z * h + (1.0 - z) * hh,)


# --------------------------------------------------------------------------------------------------------
# Wrappers. Their params and state are their inner layers' (a wrapper holds no arrays of its own).


class Bidirectional(Container):
    """Runs a recurrent layer forward and a copy of it backward over the sequence, and merges the two.

        y = merge(forward(x), reverse_in_time(backward(x)))     # reverse only with return_sequences

    Args:
        layer: a SimpleRNN, LSTM or GRU (unbuilt). Bidirectional copies it twice: `forward_<name>`, and
            `backward_<name>` with `go_backwards=True`.
        merge_mode: "concat" (default; `2 * units` features), "sum", "mul", "ave", or None (a pair).
        backward_layer: a recurrent layer to use as the backward half instead of the copy (it must have
            `go_backwards=True`, and the same return_sequences / return_state / stateful as `layer`).

    Params: `{forward_<name>: {...}, backward_<name>: {...}}`; `get_weights()` lists the forward layer's
    weights then the backward layer's, as Keras. With a mask and return_sequences, padded steps output 0.

    >>> Bidirectional(LSTM(8))(jnp.ones((2, 5, 3))).shape
    (2, 16)
    """

    call_takes_mask = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, _Recurrent):
            raise ValueError(
                "Please initialize `Bidirectional` layer with a recurrent layer (SimpleRNN, LSTM or GRU). "
                f"Received: {layer!r}"
            )
        if backward_layer is not None and not isinstance(backward_layer, _Recurrent):
            raise ValueError(
                "`backward_layer` needs to be a recurrent layer (SimpleRNN, LSTM or GRU). "
                f"Received: {backward_layer!r}"
            )
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise ValueError(
                f"Invalid merge mode. Received: {merge_mode!r}. Merge mode should be one of "
                '{"sum", "mul", "ave", "concat", None}'
            )
        super().__init__(**kwargs)
        if self._batch_input_shape is None:  # `Bidirectional(LSTM(8, input_shape=(5, 3)))` gives the input
            self._batch_input_shape = layer._batch_input_shape
        # With return_sequences, padded steps output 0 in both halves, so they line up after the reversal.
        zero = layer.return_sequences
        base = layer.name.removeprefix("forward_").removeprefix("backward_")
        self.forward_layer = _clone(layer, name=f"forward_{base}", zero_output_for_mask=zero)
        if backward_layer is None:
            backward_layer = _clone(
                layer, name=f"backward_{base}", go_backwards=True, zero_output_for_mask=zero
            )
        else:
            backward_layer.zero_output_for_mask = backward_layer.return_sequences
        self.backward_layer = backward_layer
        self._check_halves()
        self.layer = self.forward_layer  # what get_config writes as `layer`, as Keras
        self.merge_mode = merge_mode
        self.stateful, self.return_sequences = layer.stateful, layer.return_sequences
        self.return_state = layer.return_state

    def _check_halves(self):
        f, b = self.forward_layer, self.backward_layer
        if f.go_backwards == b.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. Received: "
                f"forward_layer.go_backwards {f.go_backwards}, backward_layer.go_backwards={b.go_backwards}"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(f, attr) != getattr(b, attr):
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for attribute "
                    f'"{attr}", got "{getattr(f, attr)}" for forward layer and "{getattr(b, attr)}" for '
                    "backward layer"
                )
        if f.name == b.name:
            raise ValueError(f"Bidirectional: the backward layer needs a name other than '{f.name}'.")

    # ---- the two halves hold the arrays --------------------------------------------------------------------

    def _sublayers(self):
        halves = (getattr(self, "forward_layer", None), getattr(self, "backward_layer", None))
        return [layer for layer in halves if layer is not None]

    # params, state, trainable_mask, regularization_loss and weights: the Container's, over the two halves

    def _set_built(self, input_shape, output_shape, params, state):
        for layer in self._sublayers():
            out = layer.compute_output_shape(input_shape)
            layer._set_built(input_shape, out, params[layer.name], state[layer.name])
        self.input_shape, self.output_shape, self.built = input_shape, output_shape, True

    # ---- init / apply ------------------------------------------------------------------------------------

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        states = ()
        if self.return_state:
            out, states = out[0], out[1:]
        if self.merge_mode == "concat":
            out = out[:-1] + (2 * out[-1],)
        elif self.merge_mode is None:
            return (out, out) + states + states
        return (out,) + states + states if self.return_state else out

    def init(self, key, input_shape):
        (k_f, k_b), (f, b) = split_key(key), self._sublayers()
        _, p_f, s_f = f.init(k_f, input_shape)
        _, p_b, s_b = b.init(k_b, input_shape)
        return self.compute_output_shape(input_shape), {f.name: p_f, b.name: p_b}, {f.name: s_f, b.name: s_b}

    def forward(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        """`apply`, plus the two halves' activity-regularization penalties: `-> (y, state, penalty)`."""
        f, b = self._sublayers()
        k_f, k_b = (None, None) if key is None else split_key(key)
        half = None if initial_state is None else len(initial_state) // 2
        args = {"training": training, "mask": mask}
        y, s_f = f.apply(params[f.name], state[f.name], x, key=k_f, **args,
                         initial_state=None if half is None else initial_state[:half])  # fmt: skip
        y_rev, s_b = b.apply(params[b.name], state[b.name], x, key=k_b, **args,
                             initial_state=None if half is None else initial_state[half:])  # fmt: skip
        penalty = (f.activity_regularization_loss(y) + b.activity_regularization_loss(y_rev)) / x.shape[0]
        states = ()
        if self.return_state:
            (y, *states_f), (y_rev, *states_b) = y, y_rev
            states = (*states_f, *states_b)
        if self.return_sequences:
            y_rev = jnp.flip(y_rev, axis=1)  # (B, T, units), back in time order
        if self.merge_mode == "concat":
            y = jnp.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            y = y + y_rev
        elif self.merge_mode == "ave":
            y = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            y = y * y_rev
        out = (y, y_rev) if self.merge_mode is None else (y,)
        out = out + states if (self.return_state or self.merge_mode is None) else y
        return out, {f.name: s_f, b.name: s_b}, penalty

    def apply(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        y, state, _ = self.forward(
            params, state, x, training=training, key=key, mask=mask, initial_state=initial_state
        )
        return y, state

    def compute_mask(self, x, mask):
        if not self.return_sequences:
            return None
        return (mask, mask) if self.merge_mode is None else mask

    def reset_states(self):
        """Zero both halves' carried states (a stateful Bidirectional only)."""
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = _layer_from_config(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = _layer_from_config(config["backward_layer"])
        return cls(**config)

    def __call__(self, x, training=False, mask=None, **kwargs):
        if isinstance(x, KerasTensor) or not self.stateful:
            return super().__call__(x, training=training, mask=mask, **kwargs)
        return _eager_call_keeping_state(self, x, training, mask, kwargs)


class TimeDistributed(Layer):
    """Applies `layer` to every time step: `y[:, t] = layer(x[:, t])`, with one set of weights.

    The batch and time axes are merged into one, so the inner layer runs once on `(batch * timesteps, ...)`.
    A mask passes through unchanged (the inner layer does not receive it).

    Args:
        layer: the layer to apply at each step (e.g. `Dense(8)`, `Conv2D(...)`).

    Input shape: `(batch, timesteps, ...)`. Output shape: `(batch, timesteps, ...inner output...)`.
    Params: the inner layer's (`TimeDistributed(Dense(8))` has `kernel` and `bias`).

    >>> TimeDistributed(Dense(8))(jnp.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                "Please initialize `TimeDistributed` layer with a `jseq.layers.Layer` instance. "
                f"Received: {layer!r}"
            )
        super().__init__(**kwargs)
        self.layer = layer
        self.autocast = layer.autocast

    def _sublayers(self):
        return [self.layer] if hasattr(self, "layer") else []

    @property
    def params(self):
        return self.layer.params if hasattr(self, "layer") else {}

    @params.setter
    def params(self, value):
        if hasattr(self, "layer"):
            self.layer.params = value

    @property
    def state(self):
        return self.layer.state if hasattr(self, "layer") else {}

    @state.setter
    def state(self, value):
        if hasattr(self, "layer"):
            self.layer.state = value

    def _inner_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                f"received: {shape_str(input_shape)} (layer '{self.name}')"
            )
        batch, steps = input_shape[:2]
        return (None if batch is None or steps is None else batch * steps,) + tuple(input_shape[2:])

    def init(self, key, input_shape):
        out, params, state = self.layer.init(key, self._inner_shape(input_shape))
        return tuple(input_shape[:2]) + tuple(out[1:]), params, state

    def apply(self, params, state, x, *, training=False, key=None):
        batch, steps = x.shape[:2]
        y, state = self.layer.apply(
            params, state, x.reshape((batch * steps,) + x.shape[2:]), training=training, key=key
        )
        return y.reshape((batch, steps) + y.shape[1:]), state  # (B * T, ...) -> (B, T, ...)

    def _set_built(self, input_shape, output_shape, params, state):
        inner_in = self._inner_shape(input_shape)
        self.layer._set_built(inner_in, (inner_in[0],) + tuple(output_shape[2:]), params, state)
        self.input_shape, self.output_shape, self.built = input_shape, output_shape, True

    def _weight_views(self):
        return self.layer._weight_views()

    def trainable_mask(self):
        return self.layer.trainable_mask()

    def regularization_loss(self, params):
        return self.layer.regularization_loss(params)

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "layer": _layer_from_config(config["layer"])})


def _layer_from_config(value):
    """A wrapper's inner layer: a layer, or get_config's `{"class_name": ..., "config": ...}` for one."""
    if not isinstance(value, dict):
        return value
    from jseq import layers

    cls = getattr(layers, str(value.get("class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"Unknown layer class in a wrapper's config: {value.get('class_name')!r}.")
    return cls.from_config(dict(value.get("config") or {}))


def _eager_call_keeping_state(layer, x, training, mask, kwargs, **extra):
    """An eager call that keeps the returned state (so a stateful layer carries it to the next call)."""
    if kwargs:
        raise TypeError(f"Unexpected arguments for calling layer '{layer.name}': {sorted(kwargs)}")
    x = layer._cast_input(x)
    if not layer.built:
        layer.build((x.shape[0] if layer.stateful else None,) + tuple(x.shape[1:]))  # batch fixes the state
    check_compatible(layer.name, layer.input_shape, tuple(x.shape))
    key = next_key() if training else None
    y, state = layer.apply(layer.params, layer.state, x, training=bool(training), key=key, mask=mask, **extra)
    layer.state = dict(state)
    return y
