"""Weight initializers with Keras's names, defaults and formulas.

An initializer is an object called as `init(shape, dtype="float32", *, key=None) -> array`. Layers pass an
explicit key from their `init(key, input_shape)`; an eager call without a key draws one from the process-wide
stream (`jseq.utils.set_random_seed` makes it reproducible).

Fans follow Keras: for a kernel of shape `(*receptive_field, in, out)`, `fan_in = prod(receptive_field) * in`
and `fan_out = prod(receptive_field) * out`; a 1-D shape has `fan_in = fan_out = shape[0]`.
"""

import math

import jax
import jax.numpy as jnp

from jseq.core import next_key


def compute_fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Base: subclasses define `sample(key, shape, dtype)`; `seed`, when given, fixes the key."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype="float32", *, key=None):
        seed = getattr(self, "seed", None)
        if seed is not None:
            key = jax.random.PRNGKey(seed)
        elif key is None:
            key = next_key()
        return self.sample(key, tuple(shape), jnp.dtype(dtype or "float32"))

    def sample(self, key, shape, dtype):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def __init__(self):
        pass

    def get_config(self):
        return {}

    def sample(self, key, shape, dtype):
        return jnp.zeros(shape, dtype)


class Ones(Zeros):
    def sample(self, key, shape, dtype):
        return jnp.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def get_config(self):
        return {"value": self.value}

    def sample(self, key, shape, dtype):
        return jnp.full(shape, self.value, dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}

    def sample(self, key, shape, dtype):
        return self.mean + self.stddev * jax.random.normal(key, shape, dtype)


class TruncatedNormal(RandomNormal):
    """Normal values more than two standard deviations from the mean are redrawn."""

    def sample(self, key, shape, dtype):
        return self.mean + self.stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}

    def sample(self, key, shape, dtype):
        return jax.random.uniform(key, shape, dtype, self.minval, self.maxval)


class VarianceScaling(Initializer):
    """Values with variance `scale / n`, n = fan_in, fan_out or their mean (per `mode`).

    `distribution="uniform"` draws from `[-limit, limit]`, `limit = sqrt(3 * scale / n)`;
    `"truncated_normal"` uses `stddev = sqrt(scale / n) / 0.8796...` (the std of a normal truncated at 2 std);
    `"untruncated_normal"` uses `stddev = sqrt(scale / n)`.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling expects a positive `scale`. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling `mode` must be one of {self._MODES}. Received: mode={mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling `distribution` must be one of {self._DISTRIBUTIONS}. "
                f"Received: distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}

    def sample(self, key, shape, dtype):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return jax.random.uniform(key, shape, dtype, -limit, limit)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / 0.87962566103423978
            return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        return math.sqrt(variance) * jax.random.normal(key, shape, dtype)


def _variance_scaling_preset(class_name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(
        class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc}
    )


GlorotUniform = _variance_scaling_preset(
    "GlorotUniform", 1.0, "fan_avg", "uniform", "Uniform in `[-l, l]`, `l = sqrt(6 / (fan_in + fan_out))`."
)
GlorotNormal = _variance_scaling_preset(
    "GlorotNormal",
    1.0,
    "fan_avg",
    "truncated_normal",
    "Truncated normal, `std = sqrt(2 / (fan_in + fan_out))`.",
)
HeUniform = _variance_scaling_preset(
    "HeUniform", 2.0, "fan_in", "uniform", "Uniform, `l = sqrt(6 / fan_in)`."
)
HeNormal = _variance_scaling_preset(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, `std = sqrt(2 / fan_in)`."
)
LecunUniform = _variance_scaling_preset(
    "LecunUniform", 1.0, "fan_in", "uniform", "Uniform, `l = sqrt(3 / fan_in)`."
)
LecunNormal = _variance_scaling_preset(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal, `std = sqrt(1 / fan_in)`."
)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal matrix (as Keras)."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}

    def sample(self, key, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q, r = jnp.linalg.qr(a)
        q = q * jnp.sign(jnp.diagonal(r))  # make the decomposition unique
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def get_config(self):
        return {"gain": self.gain}

    def sample(self, key, shape, dtype):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape. Received: shape={shape}")
        return self.gain * jnp.eye(*shape, dtype=dtype)


_CLASSES = (
    Zeros, Ones, Constant, RandomNormal, TruncatedNormal, RandomUniform, VarianceScaling, GlorotUniform,
    GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal, Identity,
)  # fmt: skip


def _snake(name):
    from jseq.core import to_snake_case

    return to_snake_case(name)


_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({_snake(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update(normal=RandomNormal, uniform=RandomUniform, one=Ones, zero=Zeros)  # Keras's aliases


def get(identifier):
    """Resolve a name (`"glorot_uniform"`, `"GlorotUniform"`, Keras 2's `"one"`), a class, an instance, a
    Keras config dict, or a callable `(shape, dtype) -> array`."""
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            valid = sorted(n for n in _BY_NAME if n.islower())
            raise ValueError(f"Unknown initializer: '{identifier}'. Valid names are: {', '.join(valid)}.")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown initializer class in config: {identifier['class_name']!r}.")
        return cls.from_config(identifier.get("config") or {})
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret initializer identifier: {identifier!r}. Expected a name such as "
        "'glorot_uniform', an initializer object, or a callable (shape, dtype) -> array."
    )


def draw(initializer, key, shape, dtype="float32"):
    """Call an initializer (jseq's, or a plain callable `(shape, dtype)`) with an explicit key."""
    if isinstance(initializer, Initializer):
        return initializer(shape, dtype, key=key)
    return jnp.asarray(initializer(shape, dtype), dtype=dtype)
