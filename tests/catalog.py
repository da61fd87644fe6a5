"""The layer catalogue swept by the shared contract checks (tests/test_layer_contract.py).

Each entry: (id, factory, input_shape without batch, {param name: shape}, {state name: shape}).
Add every new layer here; the sweep then checks it for shape agreement, jit == eager and pinned params.
"""

from jseq import layers

CATALOG = [
    ("dense", lambda: layers.Dense(3), (4,), {"kernel": (4, 3), "bias": (3,)}, {}),
    ("dense_nobias", lambda: layers.Dense(5, use_bias=False), (2, 4), {"kernel": (4, 5)}, {}),
    ("dense_relu", lambda: layers.Dense(2, activation="relu"), (3,), {"kernel": (3, 2), "bias": (2,)}, {}),
    ("activation", lambda: layers.Activation("tanh"), (3, 2), {}, {}),
    ("relu", lambda: layers.ReLU(max_value=1.0, negative_slope=0.1), (5,), {}, {}),
    ("leaky_relu", lambda: layers.LeakyReLU(), (5,), {}, {}),
    ("softmax", lambda: layers.Softmax(), (4,), {}, {}),
    ("dropout", lambda: layers.Dropout(0.5), (6,), {}, {}),
    ("flatten", lambda: layers.Flatten(), (2, 3, 4), {}, {}),
    ("reshape", lambda: layers.Reshape((3, -1)), (12,), {}, {}),
    ("identity", lambda: layers.Identity(), (3,), {}, {}),
]

# ---- text and sequences: embedding, masking, recurrent layers and their wrappers -------------------------
CATALOG += [
    ("embedding", lambda: layers.Embedding(10, 4), (5,), {"embeddings": (10, 4)}, {}, "int32"),
    (
        "embedding_mask_zero",
        lambda: layers.Embedding(12, 3, mask_zero=True),
        (2, 3),
        {"embeddings": (12, 3)},
        {},
        "int32",
    ),
    ("masking", lambda: layers.Masking(), (4, 3), {}, {}),
]
