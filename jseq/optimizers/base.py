"""The optimizer protocol: a Keras-style object whose `build()` returns an `optax.GradientTransformation`.

An `Optimizer` object holds hyperparameters only (Keras's names and defaults). `build()` turns them into
a pure Optax transformation for the jitted train step::

    tx = jseq.optimizers.Adam(learning_rate=1e-3).build()
    opt_state = tx.init(params)                                  # an OptimizerState
    updates, opt_state = tx.update(grads, opt_state, params)     # inside jax.jit
    params = optax.apply_updates(params, updates)

Every transformation built here keeps the same outer state, so the trainer and callbacks can read and
change it between steps without retracing the jitted step:

    OptimizerState(iterations, learning_rate, slots)
      iterations     () int32    updates applied so far (Keras's `optimizer.iterations`)
      learning_rate  () float32  the base learning rate; for a schedule, its value at `iterations`
      slots          pytree      the algorithm's own arrays (momentums, velocities, ...)

`get_learning_rate(state)`, `set_learning_rate(state, value)` and `get_iterations(state)` are the
module-level accessors. The learning rate is an array in the state (not a Python constant baked into
the trace), so `set_learning_rate` between jitted steps takes effect without recompiling.

One update follows Keras's `BaseOptimizer.apply` order exactly:

1. `lr = learning_rate` (or `schedule(iterations)`); Keras 2's `decay=` gives `lr / (1 + decay * iterations)`;
2. clip the gradients (`clipnorm` per tensor, else `global_clipnorm`, else `clipvalue`);
3. decoupled weight decay `p -= p * weight_decay * lr` (before the update, as Keras);
4. the algorithm's rule (`p += rule(g)`), which may fold `lr` into its buffers as Keras does;
5. `iterations += 1`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jseq.core import to_snake_case, unique_name
from jseq.optimizers import schedules as schedules_module

# How the learning rate lives in the state: a settable float, a schedule of the step, or not at all
# (an Optax transformation wrapped as it is).
_LR_FLOAT, _LR_SCHEDULE, _LR_NONE = "float", "schedule", "none"


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OptimizerState:
    """The state of every transformation built by a jseq optimizer (see the module docstring)."""

    iterations: jax.Array  # () int32
    learning_rate: jax.Array  # () float32
    slots: Any  # the algorithm's arrays, e.g. {"momentum": <params-shaped>, ...}
    lr_mode: str = dataclasses.field(default=_LR_FLOAT, metadata={"static": True})


def _lr_array(value):
    # Always a strongly typed float32 scalar, so that a new value never changes the jit cache key.
    return jnp.asarray(value, dtype=jnp.float32)


def _check_state(opt_state, fn):
    if not isinstance(opt_state, OptimizerState):
        raise TypeError(
            f"`{fn}` expects the state of a transformation built by a jseq optimizer "
            f"(`jseq.optimizers.X(...).build().init(params)`). Received: {type(opt_state).__name__}."
        )


def get_learning_rate(opt_state):
    """The current learning rate as a Python float (for a schedule, its value at the current step).

    With Keras 2's `decay=`, this is the base rate (as `optimizer.lr` was in Keras 2); the rate used
    at step t is `lr / (1 + decay * t)`.
    """
    _check_state(opt_state, "get_learning_rate")
    if opt_state.lr_mode == _LR_NONE:
        raise TypeError(_NO_LR_CONTROL)
    return float(opt_state.learning_rate)


def set_learning_rate(opt_state, value):
    """A copy of `opt_state` with a new base learning rate; the jitted step picks it up without retracing.

    Raises TypeError if the optimizer uses a schedule (as Keras does) or wraps a raw Optax transformation.
    """
    _check_state(opt_state, "set_learning_rate")
    if opt_state.lr_mode == _LR_SCHEDULE:
        raise TypeError(
            "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
            "constructor argument, hence its learning rate is not settable. If you need the learning "
            "rate to be settable, you should instantiate the optimizer with a float `learning_rate` argument."
        )
    if opt_state.lr_mode == _LR_NONE:
        raise TypeError(_NO_LR_CONTROL)
    if callable(value):
        raise TypeError(
            "Cannot replace a float learning rate by a schedule in a running optimizer state. "
            "Create the optimizer with the schedule (`SGD(learning_rate=schedule)`) and compile again."
        )
    value = _lr_array(value)
    if value.shape != ():
        raise ValueError(f"The learning rate must be a scalar. Received an array of shape {value.shape}.")
    return dataclasses.replace(opt_state, learning_rate=value)


def get_iterations(opt_state):
    """How many updates the state has applied, as a Python int (Keras's `optimizer.iterations`)."""
    _check_state(opt_state, "get_iterations")
    return int(opt_state.iterations)


_NO_LR_CONTROL = (
    "This optimizer wraps a raw `optax.GradientTransformation`, so jseq cannot read or set its learning "
    "rate. Use a jseq optimizer (`jseq.optimizers.Adam(learning_rate=...)`) for run-time learning-rate "
    "control (callbacks such as ReduceLROnPlateau need it)."
)


# --------------------------------------------------------------------------------------------------------
# Gradient clipping and weight decay, with Keras's formulas.


def _clip_gradients(grads, clipnorm, global_clipnorm, clipvalue):
    """Keras's `_clip_gradients`: at most one of the three is set; 0 or None means off."""
    if clipnorm:
        # Per tensor: g * c / max(||g||, c).
        return jax.tree.map(lambda g: g * clipnorm / jnp.maximum(jnp.sqrt(jnp.sum(g * g)), clipnorm), grads)
    if global_clipnorm:
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads)))
        # `+ (norm - norm)` turns the scale into NaN when the norm is inf or NaN, as Keras does.
        scale = global_clipnorm * jnp.minimum(1.0 / norm, 1.0 / global_clipnorm) + (norm - norm)
        return jax.tree.map(lambda g: g * scale, grads)
    if clipvalue:
        return jax.tree.map(lambda g: jnp.clip(g, -clipvalue, clipvalue), grads)
    return grads


def _leaf_name(path):
    # The name Keras would give the variable: the last key of its path ("kernel", "bias", ...).
    last = path[-1] if path else None
    return str(getattr(last, "key", getattr(last, "name", getattr(last, "idx", ""))))


# --------------------------------------------------------------------------------------------------------
# The base class.

_REFUSED = {
    # argument: (value meaning "off", what to use instead)
    "use_ema": (False, "keep an exponential moving average yourself with `optax.ema`"),
    "ema_momentum": (0.99, "it only matters with `use_ema=True`"),
    "ema_overwrite_frequency": (None, "it only matters with `use_ema=True`"),
    "loss_scale_factor": (None, "jseq trains in float32; no loss scaling is needed"),
    "gradient_accumulation_steps": (None, "use a larger `batch_size`, or wrap with `optax.MultiSteps`"),
}


class Optimizer:
    """Base class of jseq's optimizers: Keras's shared arguments, and `build()` around an update rule.

    Args:
        learning_rate: a float >= 0, or a schedule `fn(step) -> lr` (a `jseq.optimizers.schedules`
            object or any jittable function of the int32 step).
        weight_decay: decoupled weight decay, `p -= p * weight_decay * lr` before each update.
        clipnorm: clip each gradient tensor to this L2 norm.
        clipvalue: clip each gradient element to `[-clipvalue, clipvalue]`.
        global_clipnorm: clip all gradients together to this global L2 norm.
        name: the optimizer's name (default: snake-case class name, made unique).
        lr: Keras 2 alias of `learning_rate`.
        decay: Keras 2 inverse-time decay per step, `lr_t = lr / (1 + decay * iterations)`.

    `use_ema`, `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor` and
    `gradient_accumulation_steps` are accepted at their defaults and refused otherwise.

    Subclasses implement `_rule()` -> `(init(params) -> slots, update(grads, slots, params, lr, count)
    -> (updates, slots))`, where `lr` is the float32 rate for this step and `count` the int32 number of
    updates already applied; and `_slots_per_param()`, the number of params-shaped arrays Keras keeps.
    """

    _extra_variables = 0  # scalars Keras keeps besides iterations, learning_rate and the slots

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        cls = type(self).__name__
        if "lr" in kwargs:
            lr = kwargs.pop("lr")
            default = inspect.signature(type(self).__init__).parameters["learning_rate"].default
            if learning_rate != default and learning_rate != lr:
                raise TypeError(
                    f"{cls} got both `learning_rate={learning_rate}` and its Keras 2 alias `lr={lr}`. "
                    "Pass only `learning_rate`."
                )
            learning_rate = lr
        decay = kwargs.pop("decay", 0.0) or 0.0
        for arg, (off, instead) in _REFUSED.items():
            value = kwargs.pop(arg, off)
            if value != off:
                raise NotImplementedError(f"{cls}: `{arg}={value!r}` is not implemented in jseq; {instead}.")
        if kwargs:
            raise TypeError(f"{cls} got unexpected keyword argument(s): {sorted(kwargs)}.")
        if not callable(learning_rate):
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.number)):
                raise ValueError(
                    "Argument `learning_rate` should be a float, or a schedule (a callable that takes the "
                    f"current iteration and returns the learning rate). Received instead: "
                    f"learning_rate={learning_rate!r}"
                )
            if not learning_rate >= 0:
                raise ValueError(
                    f"Argument `learning_rate` must be >= 0. Received: learning_rate={learning_rate}"
                )
            learning_rate = float(learning_rate)
        if decay < 0:
            raise ValueError(f"Argument `decay` must be >= 0. Received: decay={decay}")
        clip_args = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clip_args.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        for arg, value in clip_args.items():
            if value is not None and not value >= 0:
                raise ValueError(f"Argument `{arg}` must be >= 0. Received: {arg}={value}")

        self.name = name or unique_name(to_snake_case(cls))
        # A plain attribute: callbacks read and set it; the trainer pushes a changed value into the
        # state with `set_learning_rate`.
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.decay = float(decay)
        # Updated by the trainer from `get_iterations(state)` when it syncs the model.
        self.iterations = 0
        self._exclude_from_weight_decay = None

    # Keras 2 spelled the attribute `lr`.
    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude params whose name (`"bias"`, `"gamma"`, ...) matches any of `var_names` from weight decay.

        Call it before `build()` (before `compile`), as Keras requires.

        Args:
            var_list: not supported (jseq params are arrays, not variables); use `var_names`.
            var_names: strings; a param is excluded when one of them is found in its name (`re.search`).
        """
        if var_list:
            raise TypeError(
                "jseq optimizers exclude params from weight decay by name only: "
                "use `exclude_from_weight_decay(var_names=['bias', ...])`."
            )
        self._exclude_from_weight_decay = re.compile("|".join(set(var_names))) if var_names else None

    # ---- what subclasses provide

    def _rule(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `_rule()`.")

    def _slots_per_param(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `_slots_per_param()`.")

    def _config(self):
        return {}

    # ---- the transformation

    def build(self):
        """An `optax.GradientTransformation` doing this optimizer's update Keras's way (module docstring)."""
        rule_init, rule_update = self._rule()
        clipnorm, global_clipnorm, clipvalue = self.clipnorm, self.global_clipnorm, self.clipvalue
        weight_decay, decay = self.weight_decay, self.decay
        exclude = self._exclude_from_weight_decay
        initial_lr = self.learning_rate
        schedule = initial_lr if callable(initial_lr) else None
        lr_mode = _LR_SCHEDULE if schedule is not None else _LR_FLOAT

        def init(params):
            step = jnp.zeros([], jnp.int32)
            lr = schedule(step) if schedule is not None else initial_lr
            return OptimizerState(step, _lr_array(lr), rule_init(params), lr_mode)

        def update(grads, state, params=None):
            if params is None and weight_decay:
                raise ValueError("This optimizer uses weight decay: pass `params` to `update`.")
            count = state.iterations
            lr = _lr_array(schedule(count)) if schedule is not None else state.learning_rate
            if decay:
                lr = lr / (1.0 + decay * count.astype(jnp.float32))
            grads = _clip_gradients(grads, clipnorm, global_clipnorm, clipvalue)
            updates, slots = rule_update(grads, state.slots, params, lr, count)
            if weight_decay:
                updates = _add_weight_decay(updates, params, weight_decay, lr, exclude)
            iterations = optax.safe_int32_increment(count)
            new_lr = _lr_array(schedule(iterations)) if schedule is not None else state.learning_rate
            return updates, OptimizerState(iterations, new_lr, slots, lr_mode)

        return optax.GradientTransformation(init, update)

    def num_variables(self, params):
        """How many scalars Keras's `optimizer.variables` holds for `params` (summary's "Optimizer params").

        `iterations`, the learning rate (unless it is a schedule), and the per-param slots.
        """
        n = sum(math.prod(np.shape(p)) for p in jax.tree.leaves(params))
        lr_variables = 0 if callable(self.learning_rate) else 1
        return 1 + lr_variables + self._slots_per_param() * n + self._extra_variables

    # ---- config

    def get_config(self):
        """Keras's config layout: name, learning_rate, the shared arguments, then the algorithm's."""
        if callable(self.learning_rate):
            learning_rate = schedules_module.serialize(self.learning_rate)
        else:
            # Keras stores the rate in a float32 variable and reports that value.
            learning_rate = float(np.float32(self.learning_rate))
        config = {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": False,
            "ema_momentum": 0.99,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
        }
        if self.decay:
            config["decay"] = self.decay
        config.update(self._config())
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules_module.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate!r}>"


def _add_weight_decay(updates, params, weight_decay, lr, exclude):
    """`updates - p * weight_decay * lr` for every param whose name `exclude` does not match."""

    def decay(path, u, p):
        if exclude is not None and exclude.search(_leaf_name(path)):
            return u
        return u - p * weight_decay * lr.astype(p.dtype)

    return jax.tree_util.tree_map_with_path(decay, updates, params)
