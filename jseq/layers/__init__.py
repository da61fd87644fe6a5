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
from jseq.layers.embedding import Embedding
from jseq.layers.masking import Masking
from jseq.models import Input, InputLayer

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "Masking",
    "ReLU",
    "Reshape",
    "Softmax",
]
