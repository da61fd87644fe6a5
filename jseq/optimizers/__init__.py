"""Keras's optimizers on Optax: `jseq.optimizers.Adam(...).build()` is an `optax.GradientTransformation`.

See `base.py` for the protocol and the train-state accessors, `algorithms.py` for the table of update
rules and where each default comes from, `schedules.py` for learning-rate schedules.
"""

from jseq.optimizers import schedules
from jseq.optimizers.algorithms import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Nadam,
    OptaxOptimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)
from jseq.optimizers.base import (
    Optimizer,
    OptimizerState,
    get_iterations,
    get_learning_rate,
    set_learning_rate,
)

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "OptaxOptimizer",
    "Optimizer",
    "OptimizerState",
    "RMSprop",
    "deserialize",
    "get",
    "get_iterations",
    "get_learning_rate",
    "schedules",
    "serialize",
    "set_learning_rate",
]
