"""jseq: the Keras Sequential API on JAX. Replace `keras` by `jseq` in Keras code and it runs.

A layer is a pair of pure functions (`init`, `apply`); a `Sequential` is a fold over them; optimizers are
Optax transformations; a train step is one jitted function over an explicit train state.
"""

from jseq import (
    activations,
    backend,
    callbacks,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    saving,
    utils,
)
from jseq.models import Input, Model, Sequential

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "callbacks",
    "datasets",
    "distribution",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
]
