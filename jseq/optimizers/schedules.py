"""Learning-rate schedules: Keras's names, arguments and formulas, as jittable `schedule(step) -> lr`.

A schedule is any callable from the optimizer step (an int32 scalar: the number of updates already
applied, Keras's `optimizer.iterations`) to a float32 scalar learning rate. The classes below are such
callables with Keras's `get_config()` layout, so an optimizer built with one can be saved::

    lr = ExponentialDecay(initial_learning_rate=0.1, decay_steps=1000, decay_rate=0.96)
    opt = jseq.optimizers.SGD(learning_rate=lr)     # evaluated at the current step inside the update

Plain functions work too (an Optax schedule such as `optax.cosine_decay_schedule(0.1, 1000)` is one),
but only the classes here can be serialized.
"""

from __future__ import annotations

import math

import jax.numpy as jnp


def _as_float(step):
    return jnp.asarray(step).astype(jnp.float32)


def _check_positive(name, value):
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class LearningRateSchedule:
    """Base class: a callable `schedule(step) -> learning rate` with a Keras-style config."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """`lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)`.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; the rate is multiplied by `decay_rate` every `decay_steps` steps.
        decay_rate: the decay factor.
        staircase: if True, `step / decay_steps` is floored (the rate drops in steps).
        name: kept in the config, as Keras.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"
    ):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        p = _as_float(step) / jnp.float32(self.decay_steps)
        if self.staircase:
            p = jnp.floor(p)
        return jnp.float32(self.initial_learning_rate) * jnp.power(jnp.float32(self.decay_rate), p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """`lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)`.

    This is also what Keras 2's `decay=` optimizer argument did, with `decay_steps=1`.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; the time scale of the decay.
        decay_rate: the decay factor.
        staircase: if True, `step / decay_steps` is floored.
        name: kept in the config, as Keras.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"
    ):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        p = _as_float(step) / jnp.float32(self.decay_steps)
        if self.staircase:
            p = jnp.floor(p)
        return jnp.float32(self.initial_learning_rate) / (1.0 + jnp.float32(self.decay_rate) * p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[i]` for `boundaries[i-1] < step <= boundaries[i]`; `values[0]` and `values[-1]` at the ends.

    Args:
        boundaries: strictly increasing step numbers.
        values: one more value than boundaries.
        name: kept in the config, as Keras.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, "
                f"and values={values} of length {len(values)}."
            )
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step):
        step = jnp.asarray(step)
        # Keras casts the boundaries to the step's dtype (int32 for the optimizer's iterations).
        boundaries = jnp.asarray(self.boundaries).astype(step.dtype)
        index = jnp.sum(step > boundaries)  # how many boundaries the step has passed
        return jnp.asarray(self.values, jnp.float32)[index]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """`lr(step) = (initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end`.

    With `cycle=True`, `decay_steps` is replaced by the first multiple of it that is >= step.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; steps to go from `initial_learning_rate` to `end_learning_rate`.
        end_learning_rate: the final rate.
        power: the polynomial's power (1.0 is linear).
        cycle: restart the decay every `decay_steps`.
        name: kept in the config, as Keras.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step = _as_float(step)
        decay_steps = jnp.float32(self.decay_steps)
        if self.cycle:
            multiplier = jnp.where(step == 0, 1.0, jnp.ceil(step / decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            step = jnp.minimum(step, decay_steps)
        p = step / decay_steps
        initial, end = jnp.float32(self.initial_learning_rate), jnp.float32(self.end_learning_rate)
        # max(., 0): under jit, XLA may divide by multiplying with a reciprocal, and 1 - 10/10 can come out
        # as -1e-8, whose fractional power is NaN.
        return (initial - end) * jnp.power(jnp.maximum(1.0 - p, 0.0), jnp.float32(self.power)) + end

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then cosine decay to `alpha` times the peak rate.

    Without warmup (`warmup_target=None`)::

        cosine = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))
        lr(step) = initial_learning_rate * ((1 - alpha) * cosine + alpha)

    With warmup, the rate goes linearly from `initial_learning_rate` to `warmup_target` over
    `warmup_steps`, then decays from `warmup_target` as above over `decay_steps`.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; steps of cosine decay.
        alpha: the final rate as a fraction of the peak rate.
        name: kept in the config, as Keras.
        warmup_target: the peak rate reached after warmup, or None for no warmup.
        warmup_steps: steps of linear warmup.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, peak):
        cosine = 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi) * (step / jnp.float32(self.decay_steps))))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _as_float(step)
        initial = jnp.float32(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(jnp.minimum(step, jnp.float32(self.decay_steps)), initial)
        target, warmup_steps = jnp.float32(self.warmup_target), jnp.float32(self.warmup_steps)
        step = jnp.minimum(step, jnp.float32(self.decay_steps) + warmup_steps)
        warmup = (target - initial) * (step / warmup_steps) + initial
        return jnp.where(step < warmup_steps, warmup, self._decay(step - warmup_steps, target))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): each period is `t_mul` times longer and `m_mul` times lower.

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: positive; length of the first period.
        t_mul: period length multiplier.
        m_mul: peak rate multiplier per restart.
        alpha: the minimum rate as a fraction of `initial_learning_rate`.
        name: kept in the config, as Keras.
    """

    def __init__(
        self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"
    ):
        _check_positive("first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        fraction = _as_float(step) / jnp.float32(self.first_decay_steps)
        t_mul = jnp.float32(self.t_mul)
        if self.t_mul == 1.0:
            restart = jnp.floor(fraction)
            fraction = fraction - restart
        else:
            # Periods grow geometrically: find which one `fraction` falls in, and where inside it.
            restart = jnp.floor(jnp.log(1.0 - fraction * (1.0 - t_mul)) / jnp.log(t_mul))
            elapsed = (1.0 - jnp.power(t_mul, restart)) / (1.0 - t_mul)
            fraction = (fraction - elapsed) / jnp.power(t_mul, restart)
        peak = jnp.power(jnp.float32(self.m_mul), restart)
        cosine = 0.5 * peak * (1.0 + jnp.cos(jnp.float32(math.pi) * fraction))
        decayed = (1 - jnp.float32(self.alpha)) * cosine + jnp.float32(self.alpha)
        return jnp.float32(self.initial_learning_rate) * decayed

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        InverseTimeDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule):
    """A schedule's config in Keras's layout: `{"module", "class_name", "config", "registered_name"}`."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            f"Only `jseq.optimizers.schedules` objects can be serialized. Received: {schedule!r} "
            f"(of type {type(schedule).__name__}). Use one of {sorted(_SCHEDULES)}, or subclass "
            "`LearningRateSchedule` and implement `get_config()`."
        )
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """The inverse of `serialize` (also reads Keras's own schedule configs)."""
    class_name = config.get("class_name")
    if class_name not in _SCHEDULES:
        raise ValueError(
            f"Unknown learning rate schedule: {class_name!r}. Expected one of {sorted(_SCHEDULES)}."
        )
    return _SCHEDULES[class_name].from_config(dict(config.get("config", {})))
