"""Keras's optimizers, with Keras's defaults and update formulas, built on Optax.

Each class's `_rule()` is the per-step update of Keras's `update_step` (keras/src/optimizers/*.py).
Where an Optax primitive computes the same direction, it is used; where Keras's formula differs from
Optax's, a small custom rule says so. Shared steps (learning rate, clipping, weight decay, iterations)
are in `base.py`.

Defaults are Keras 3's. Per param, with g the (clipped) gradient and t = iterations + 1:

SGD       lr=0.01, momentum=0, nesterov=False
          p -= lr g;  momentum: m = μ m + lr g, p -= m;  nesterov: p -= μ m + lr g
          `optax.identity` + lr-folded momentum (Optax's `sgd` traces raw g then scales by lr,
          which differs once lr changes)
RMSprop   lr=1e-3, rho=0.9, momentum=0, epsilon=1e-7, centered=False
          v = ρ v + (1-ρ) g²;  p -= lr g / sqrt(v + ε)  (ε inside the sqrt, v starts at 0)
          `optax.scale_by_rms` / `scale_by_stddev` with Keras's eps (Optax's default is 1e-8)
Adam      lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False
          α = lr sqrt(1-β2ᵗ)/(1-β1ᵗ);  p -= α m / (sqrt(v) + ε)  (the "ε-hat" form)
          custom: Optax's `adam` adds ε to the bias-corrected sqrt(v̂), far off for small g
AdamW     Adam's, weight_decay=0.004: Adam after p -= p wd lr
Adagrad   lr=1e-3, initial_accumulator_value=0.1, epsilon=1e-7
          a += g²;  p -= lr g / sqrt(a + ε)                       `optax.scale_by_rss`
Adadelta  lr=1e-3, rho=0.95, epsilon=1e-7: Zeiler's rule, p += lr Δ   `optax.scale_by_adadelta`
Adamax    lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7
          u = max(β2 u, |g|);  p -= lr m / ((1-β1ᵗ)(u + ε))
          custom: Optax's `adamax` puts ε inside the max
Nadam     lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7
          Dozat's momentum schedule μₜ = β1 (1 - 0.5 · 0.96ᵗ)
          custom: Optax's `nadam` has no μ schedule
Lion      lr=1e-3, beta_1=0.9, beta_2=0.99
          p -= lr sign(β1 m + (1-β1) g);  m = β2 m + (1-β2) g        `optax.scale_by_lion`

All take Keras's shared arguments (`weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm`, `name`) and
Keras 2's `lr=` / `decay=`; see `base.Optimizer`.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jseq.optimizers.base import _LR_NONE, Optimizer, OptimizerState, _lr_array


def _zeros_like(params):
    return jax.tree.map(jnp.zeros_like, params)


def _step(count):
    # Keras's `local_step = iterations + 1`, as a float for the bias-correction powers.
    return (count + 1).astype(jnp.float32)


def _descend(direction):
    """The rule `p -= lr * direction(g)`, for algorithms whose buffers do not involve lr."""

    def update(grads, slots, params, lr, count):
        del count
        d, slots = direction.update(grads, slots, params)
        return jax.tree.map(lambda x: -lr * x, d), slots

    return direction.init, update


class MomentumState(NamedTuple):
    direction: Any  # the direction transformation's state
    momentum: Any  # params-shaped: the step taken last time, lr included


def _lr_momentum(direction, momentum, nesterov=False):
    """Keras's momentum, lr folded into the buffer: `m = μ m + lr d; p -= m` (nesterov: `p -= μ m + lr d`).

    Folding lr in (rather than Optax's trace of raw directions) is what makes a learning-rate change take
    effect gradually, as it does in Keras.
    """

    def init(params):
        return MomentumState(direction.init(params), _zeros_like(params))

    def update(grads, slots, params, lr, count):
        del count
        d, direction_state = direction.update(grads, slots.direction, params)
        m = jax.tree.map(lambda m, d: momentum * m + lr * d, slots.momentum, d)
        if nesterov:
            updates = jax.tree.map(lambda m, d: -(momentum * m + lr * d), m, d)
        else:
            updates = jax.tree.map(jnp.negative, m)
        return updates, MomentumState(direction_state, m)

    return init, update


def _check_unit_interval(name, value, *, open_left=False):
    ok = 0 < value <= 1 if open_left else 0 <= value <= 1
    if not ok:
        interval = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"Argument `{name}` must be in {interval}. Received: {name}={value}")


# --------------------------------------------------------------------------------------------------------


class SGD(Optimizer):
    """Gradient descent, with optional momentum and Nesterov momentum.

    `p -= lr * g`; with momentum `m = momentum * m + lr * g; p -= m`; Nesterov `p -= momentum * m + lr * g`.

    Args:
        learning_rate: float or schedule; 0.01.
        momentum: in [0, 1]; 0 turns momentum off.
        nesterov: use Nesterov momentum.
        Shared arguments: see `Optimizer`.

    Example:
        >>> opt = jseq.optimizers.SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)  # Keras 2 style
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_unit_interval("momentum", momentum)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _rule(self):
        if self.momentum == 0:
            return _descend(optax.identity())
        return _lr_momentum(optax.identity(), self.momentum, self.nesterov)

    def _slots_per_param(self):
        return 1 if self.momentum != 0 else 0

    def _config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divide the gradient by a running RMS of recent gradients.

    `v = rho * v + (1 - rho) * g²; p -= lr * g / sqrt(v + epsilon)` (epsilon inside the sqrt, v starts at 0);
    centered: `sqrt(v - ḡ² + epsilon)` with ḡ the running mean gradient; momentum as in `SGD`.

    Args:
        learning_rate: float or schedule; 0.001.
        rho: discount factor of the running averages.
        momentum: in [0, 1]; 0 turns momentum off.
        epsilon: small constant inside the square root.
        centered: normalise by the estimated variance instead of the second moment.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_unit_interval("momentum", momentum)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def _rule(self):
        scale = optax.scale_by_stddev if self.centered else optax.scale_by_rms
        direction = scale(decay=self.rho, eps=self.epsilon, initial_scale=0.0, eps_in_sqrt=True)
        if self.momentum > 0:
            return _lr_momentum(direction, self.momentum)
        return _descend(direction)

    def _slots_per_param(self):
        return 1 + (self.momentum > 0) + self.centered

    def _config(self):
        return {
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class AdamState(NamedTuple):
    momentum: Any  # params-shaped: first moment m
    velocity: Any  # params-shaped: second moment v
    velocity_hat: Any  # params-shaped running max of v (amsgrad), else None


class Adam(Optimizer):
    """Adam, in Keras's "epsilon hat" form.

    ::

        m = m + (g - m) (1 - beta_1);   v = v + (g² - v) (1 - beta_2)
        alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        p -= alpha * m / (sqrt(v) + epsilon)

    This is Optax's `adam` with a step-dependent `eps_t = epsilon / sqrt(1 - beta_2^t)`; the two differ
    for small gradients, so jseq follows Keras. amsgrad uses `max` of all v so far in place of v.

    Args:
        learning_rate: float or schedule; 0.001.
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        epsilon: added to sqrt(v) (not bias-corrected).
        amsgrad: use the AMSGrad variant.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _rule(self):
        b1, b2, eps, amsgrad = self.beta_1, self.beta_2, self.epsilon, self.amsgrad

        def init(params):
            return AdamState(
                _zeros_like(params), _zeros_like(params), _zeros_like(params) if amsgrad else None
            )

        def update(grads, slots, params, lr, count):
            del params
            t = _step(count)
            alpha = lr * jnp.sqrt(1 - jnp.power(jnp.float32(b2), t)) / (1 - jnp.power(jnp.float32(b1), t))
            m = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), slots.momentum, grads)
            v = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - b2), slots.velocity, grads)
            v_hat = jax.tree.map(jnp.maximum, slots.velocity_hat, v) if amsgrad else None
            updates = jax.tree.map(
                lambda m, v: -(m * alpha) / (jnp.sqrt(v) + eps), m, v_hat if amsgrad else v
            )
            return updates, AdamState(m, v, v_hat)

        return init, update

    def _slots_per_param(self):
        return 2 + self.amsgrad

    def _config(self):
        return {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): `p -= p * weight_decay * lr`, then Adam.

    Args:
        learning_rate: float or schedule; 0.001.
        weight_decay: float, required; 0.004.
        beta_1, beta_2, epsilon, amsgrad: as `Adam`.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            **kwargs,
        )


class Adagrad(Optimizer):
    """Per-parameter rates scaled by the root of the sum of all squared gradients.

    `a += g²; p -= lr * g / sqrt(a + epsilon)`, with `a` starting at `initial_accumulator_value`.

    Args:
        learning_rate: float or schedule; 0.001.
        initial_accumulator_value: starting value of the accumulators, >= 0.
        epsilon: small constant inside the square root.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(
                "Argument `initial_accumulator_value` must be >= 0. "
                f"Received: initial_accumulator_value={initial_accumulator_value}"
            )
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _rule(self):
        return _descend(optax.scale_by_rss(self.initial_accumulator_value, eps=self.epsilon))

    def _slots_per_param(self):
        return 1

    def _config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta (Zeiler): a step size from running averages of squared gradients and squared updates.

    ::

        E[g²] = rho E[g²] + (1 - rho) g²
        Δ = -sqrt(E[Δ²] + epsilon) / sqrt(E[g²] + epsilon) * g
        E[Δ²] = rho E[Δ²] + (1 - rho) Δ²;   p += lr * Δ

    Args:
        learning_rate: float or schedule; 0.001 (Keras's default; the paper's method uses 1.0).
        rho: decay of the running averages.
        epsilon: small constant inside the square roots.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.95,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _rule(self):
        return _descend(optax.scale_by_adadelta(rho=self.rho, eps=self.epsilon))

    def _slots_per_param(self):
        return 2

    def _config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class AdamaxState(NamedTuple):
    momentum: Any  # params-shaped: first moment m
    norm: Any  # params-shaped: exponentially weighted infinity norm u


class Adamax(Optimizer):
    """Adam with the infinity norm.

    `m = m + (g - m)(1 - beta_1); u = max(beta_2 u, |g|); p -= lr * m / ((1 - beta_1^t)(u + epsilon))`.
    (Optax's `adamax` puts epsilon inside the max; jseq follows Keras.)

    Args:
        learning_rate: float or schedule; 0.001.
        beta_1: decay of the first moment.
        beta_2: decay of the infinity norm.
        epsilon: added to u.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _rule(self):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon

        def init(params):
            return AdamaxState(_zeros_like(params), _zeros_like(params))

        def update(grads, slots, params, lr, count):
            del params
            correction = 1 - jnp.power(jnp.float32(b1), _step(count))
            m = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), slots.momentum, grads)
            u = jax.tree.map(lambda u, g: jnp.maximum(b2 * u, jnp.abs(g)), slots.norm, grads)
            updates = jax.tree.map(lambda m, u: -(lr * m) / (correction * (u + eps)), m, u)
            return updates, AdamaxState(m, u)

        return init, update

    def _slots_per_param(self):
        return 2

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class NadamState(NamedTuple):
    momentum: Any  # params-shaped: first moment m
    velocity: Any  # params-shaped: second moment v
    u_product: jax.Array  # () float32: product of the momentum schedule μ_1 ... μ_t


class Nadam(Optimizer):
    """Adam with Nesterov momentum, in Dozat's form with Keras's momentum schedule.

    ::

        μ_t = beta_1 (1 - 0.5 * 0.96^t);   Π_t = μ_1 ... μ_t
        m = m + (g - m)(1 - beta_1);   v = v + (g² - v)(1 - beta_2)
        m̂ = μ_{t+1} m / (1 - Π_t μ_{t+1}) + (1 - μ_t) g / (1 - Π_t);   v̂ = v / (1 - beta_2^t)
        p -= lr * m̂ / (sqrt(v̂) + epsilon)

    Args:
        learning_rate: float or schedule; 0.001.
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        epsilon: added to sqrt(v̂).
        Shared arguments: see `Optimizer`.
    """

    _extra_variables = 1  # Keras's `u_product`

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _rule(self):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon

        def init(params):
            return NadamState(_zeros_like(params), _zeros_like(params), jnp.ones([], jnp.float32))

        def update(grads, slots, params, lr, count):
            del params
            t = _step(count)
            beta_1, decay = jnp.float32(b1), jnp.float32(0.96)
            u_t = beta_1 * (1.0 - 0.5 * jnp.power(decay, t))
            u_t_1 = beta_1 * (1.0 - 0.5 * jnp.power(decay, t + 1))
            u_product = slots.u_product * u_t
            u_product_t_1 = u_product * u_t_1
            beta_2_power = jnp.power(jnp.float32(b2), t)
            m = jax.tree.map(lambda m, g: m + (g - m) * (1 - beta_1), slots.momentum, grads)
            v = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - jnp.float32(b2)), slots.velocity, grads)

            def step(m, v, g):
                m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product)
                v_hat = v / (1 - beta_2_power)
                return -(m_hat * lr) / (jnp.sqrt(v_hat) + eps)

            return jax.tree.map(step, m, v, grads), NadamState(m, v, u_product)

        return init, update

    def _slots_per_param(self):
        return 2

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (Chen et al., 2023): the sign of an interpolated momentum.

    `p -= lr * sign(beta_1 m + (1 - beta_1) g); m = beta_2 m + (1 - beta_2) g`.

    Args:
        learning_rate: float or schedule; 0.001 (Lion usually wants 3-10x less than Adam).
        beta_1: interpolation factor of the update, in (0, 1].
        beta_2: decay of the momentum.
        Shared arguments: see `Optimizer`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.99,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_unit_interval("beta_1", beta_1, open_left=True)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)

    def _rule(self):
        return _descend(optax.scale_by_lion(b1=self.beta_1, b2=self.beta_2))

    def _slots_per_param(self):
        return 1

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}


# --------------------------------------------------------------------------------------------------------


class OptaxOptimizer(Optimizer):
    """Any `optax.GradientTransformation`, used as it is.

    jseq counts its iterations, but cannot see its learning rate: `get_learning_rate` /
    `set_learning_rate` raise TypeError, so callbacks that change the rate (ReduceLROnPlateau,
    LearningRateScheduler) do not work with it, and it cannot be saved in a config. Use a jseq optimizer
    for those.

    Args:
        transformation: the Optax transformation, e.g. `optax.adamw(1e-3)`.
        name: the optimizer's name.
    """

    def __init__(self, transformation, name=None):
        if not isinstance(transformation, optax.GradientTransformation):
            raise TypeError(
                "OptaxOptimizer expects an `optax.GradientTransformation` such as `optax.adam(1e-3)`. "
                f"Received: {type(transformation).__name__}."
            )
        super().__init__(0.0, name=name or None)
        self.learning_rate = None
        self.transformation = transformation

    def build(self):
        """The wrapped transformation, with jseq's `OptimizerState` (iterations) around its state."""
        tx = self.transformation

        def init(params):
            return OptimizerState(jnp.zeros([], jnp.int32), _lr_array(jnp.nan), tx.init(params), _LR_NONE)

        def update(grads, state, params=None):
            updates, inner = tx.update(grads, state.slots, params)
            iterations = optax.safe_int32_increment(state.iterations)
            return updates, OptimizerState(iterations, state.learning_rate, inner, _LR_NONE)

        return optax.GradientTransformation(init, update)

    def num_variables(self, params):
        """`iterations` plus every scalar in the wrapped transformation's state."""
        shapes = jax.eval_shape(self.transformation.init, params)
        return 1 + sum(x.size for x in jax.tree.leaves(shapes))

    def get_config(self):
        raise TypeError(
            f"Optimizer '{self.name}' wraps a raw Optax transformation, which has no config to save. "
            "Use a jseq optimizer (e.g. `jseq.optimizers.Adam(...)`) to save the optimizer with the model."
        )


# --------------------------------------------------------------------------------------------------------
# Names.

_ALL = (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion)
_BY_NAME = {cls.__name__.lower(): cls for cls in _ALL}


def serialize(optimizer):
    """Keras's layout: `{"module", "class_name", "config", "registered_name"}`."""
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """The inverse of `serialize` (also reads Keras's own optimizer configs)."""
    class_name = str(config.get("class_name", ""))
    if class_name.lower() not in _BY_NAME:
        raise ValueError(
            f"Unknown optimizer class: {class_name!r}. Expected one of {[c.__name__ for c in _ALL]}."
        )
    return _BY_NAME[class_name.lower()].from_config(config.get("config", {}))


def get(identifier):
    """Resolve what `compile(optimizer=...)` received into an `Optimizer`.

    Args:
        identifier: a name in any case (`"adam"`, `"RMSprop"`, ...: gets Keras's defaults), an `Optimizer`
            instance (returned as is), an `Optimizer` class (instantiated with its defaults), a serialized
            config dict, or any `optax.GradientTransformation` (wrapped in `OptaxOptimizer`; such an
            optimizer has no run-time learning-rate control).
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, optax.GradientTransformation):
        return OptaxOptimizer(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Optimizer) and identifier is not OptaxOptimizer:
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. Expected one of the names "
        f"{sorted(_BY_NAME)} (any case), a `jseq.optimizers` optimizer instance or class, or an "
        "`optax.GradientTransformation`."
    )
