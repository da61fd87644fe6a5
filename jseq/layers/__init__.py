"""jseq.layers: every layer class, with Keras's names."""

from jseq.core import Layer
from jseq.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Reshape,
    Softmax,
)
from jseq.models import Input, InputLayer

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Identity",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Reshape",
    "Softmax",
]
