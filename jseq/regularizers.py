"""Weight regularizers with Keras's names and formulas: a penalty added to the training loss.

`L1(l1)` is `l1 * sum(|w|)`, `L2(l2)` is `l2 * sum(w**2)` (no 1/2 factor, as Keras), `L1L2` both.
"""

import jax.numpy as jnp


class Regularizer:
    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _factor(name, value):
    value = float(value)
    if value < 0 or value != value:
        raise ValueError(
            f"Regularization factor `{name}` must be a non-negative number. Received: {name}={value}"
        )
    return value


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _factor("l1", l1), _factor("l2", l2)

    def __call__(self, w):
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * jnp.sum(jnp.abs(w))
        if self.l2:
            penalty += self.l2 * jnp.sum(jnp.square(w))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2 = L1, L2  # Keras's lower-case aliases: `regularizers.l2(0.001)`


def l1_l2(l1=0.01, l2=0.01):
    """Keras 2's `l1_l2`, whose defaults (0.01 each) differ from the `L1L2` class's (0.0 each)."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """Resolve `None`, a name (`"l2"` means `L2(0.01)`), a regularizer, a Keras config dict, or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown regularizer: '{identifier}'. Valid names are: l1, l2, l1_l2.")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown regularizer class in config: {identifier['class_name']!r}.")
        return cls.from_config(identifier.get("config") or {})
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret regularizer identifier: {identifier!r}. Expected a name such as 'l2', a "
        "regularizer object, a callable, or None."
    )
