"""jseq.layers: every layer class, with Keras's names."""

from jseq.core import Layer
from jseq.layers.conv import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
)
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
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "DepthwiseConv2D",
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
    "SeparableConv2D",
    "Softmax",
]
