"""`python -m jseq.demo`: build the seed's MNIST model and print its summary.

(The training and datasets work replaces this with a full run: train, evaluate, plot.)
"""

import jseq
from jseq import layers


def main():
    jseq.utils.set_random_seed(0)
    model = jseq.Sequential(
        [
            jseq.Input(shape=(784,)),
            layers.Dense(512, activation="relu"),  # (None, 784) @ (784, 512) + (512,)
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),  # (None, 512) @ (512, 10) + (10,)
        ],
        name="mnist_mlp",
    )
    model.summary()


if __name__ == "__main__":
    main()
