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


def _rnn(features, units, gates, bias=()):
    """Keras's recurrent weights: kernel, recurrent_kernel, bias (default shape `(gates * units,)`)."""
    shapes = {"kernel": (features, gates * units), "recurrent_kernel": (units, gates * units)}
    if bias is not None:
        shapes["bias"] = bias or (gates * units,)
    return shapes


_DENSE_4_3 = {"kernel": (4, 3), "bias": (3,)}
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
    ("simple_rnn", lambda: layers.SimpleRNN(3), (5, 4), _rnn(4, 3, 1), {}),
    ("simple_rnn_sequences", lambda: layers.SimpleRNN(2, return_sequences=True), (3, 4), _rnn(4, 2, 1), {}),
    ("lstm", lambda: layers.LSTM(3), (5, 4), _rnn(4, 3, 4), {}),
    (
        "lstm_backwards_sequences",
        lambda: layers.LSTM(2, go_backwards=True, return_sequences=True),
        (5, 3),
        _rnn(3, 2, 4),
        {},
    ),
    (
        "lstm_unrolled_nobias",
        lambda: layers.LSTM(2, unroll=True, use_bias=False),
        (3, 4),
        _rnn(4, 2, 4, None),
        {},
    ),
    ("gru", lambda: layers.GRU(3), (5, 4), _rnn(4, 3, 3, (2, 9)), {}),
    ("gru_reset_before", lambda: layers.GRU(3, reset_after=False), (5, 4), _rnn(4, 3, 3), {}),
    (
        "gru_backwards_sequences",
        lambda: layers.GRU(2, go_backwards=True, return_sequences=True),
        (4, 3),
        _rnn(3, 2, 3, (2, 6)),
        {},
    ),
    ("time_distributed_dense", lambda: layers.TimeDistributed(layers.Dense(3)), (5, 4), _DENSE_4_3, {}),
]

# ---- convolution layers (jseq/layers/conv.py) --------------------------------------------------------------
CATALOG += [
    ("conv2d", lambda: layers.Conv2D(4, 3), (6, 5, 3), {"kernel": (3, 3, 3, 4), "bias": (4,)}, {}),
    (
        "conv2d_same_strided",
        lambda: layers.Conv2D(4, (3, 2), strides=2, padding="same"),
        (7, 6, 3),
        {"kernel": (3, 2, 3, 4), "bias": (4,)},
        {},
    ),
    (
        "conv2d_dilated_nobias",
        lambda: layers.Conv2D(2, 3, dilation_rate=2, use_bias=False),
        (7, 7, 2),
        {"kernel": (3, 3, 2, 2)},
        {},
    ),
    (
        "conv2d_groups_relu",
        lambda: layers.Conv2D(6, 3, groups=3, activation="relu"),
        (5, 5, 3),
        {"kernel": (3, 3, 1, 6), "bias": (6,)},
        {},
    ),
    (
        "conv2d_channels_first",
        lambda: layers.Conv2D(4, 3, data_format="channels_first"),
        (3, 6, 5),
        {"kernel": (3, 3, 3, 4), "bias": (4,)},
        {},
    ),
    ("conv1d", lambda: layers.Conv1D(4, 3), (7, 3), {"kernel": (3, 3, 4), "bias": (4,)}, {}),
    (
        "conv1d_causal_dilated",
        lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2),
        (9, 3),
        {"kernel": (3, 3, 4), "bias": (4,)},
        {},
    ),
    (
        "conv1d_same_strided",
        lambda: layers.Conv1D(4, 3, strides=2, padding="same"),
        (9, 3),
        {"kernel": (3, 3, 4), "bias": (4,)},
        {},
    ),
    (
        "conv1d_channels_first_groups",
        lambda: layers.Conv1D(4, 2, groups=2, data_format="channels_first"),
        (2, 7),
        {"kernel": (2, 1, 4), "bias": (4,)},
        {},
    ),
    (
        "depthwise_conv2d",
        lambda: layers.DepthwiseConv2D(3, depth_multiplier=2),
        (5, 5, 3),
        {"kernel": (3, 3, 3, 2), "bias": (6,)},
        {},
    ),
    (
        "depthwise_conv2d_same_strided_cf",
        lambda: layers.DepthwiseConv2D(3, strides=2, padding="same", data_format="channels_first"),
        (3, 6, 5),
        {"kernel": (3, 3, 3, 1), "bias": (3,)},
        {},
    ),
    (
        "separable_conv2d",
        lambda: layers.SeparableConv2D(5, 3, depth_multiplier=2, padding="same"),
        (6, 5, 3),
        {"depthwise_kernel": (3, 3, 3, 2), "pointwise_kernel": (1, 1, 6, 5), "bias": (5,)},
        {},
    ),
    (
        "conv2d_transpose",
        lambda: layers.Conv2DTranspose(4, 3, strides=2),
        (4, 3, 3),
        {"kernel": (3, 3, 4, 3), "bias": (4,)},
        {},
    ),
    (
        "conv2d_transpose_same_output_padding",
        lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
        (4, 3, 3),
        {"kernel": (3, 3, 4, 3), "bias": (4,)},
        {},
    ),
    (
        "conv2d_transpose_channels_first",
        lambda: layers.Conv2DTranspose(2, 2, strides=2, data_format="channels_first"),
        (3, 4, 3),
        {"kernel": (2, 2, 2, 3), "bias": (2,)},
        {},
    ),
]

# ---- pooling and shape layers (jseq/layers/pooling.py, reshaping.py) ---------------------------------------
CATALOG += [
    ("max_pooling2d", lambda: layers.MaxPooling2D(), (6, 5, 3), {}, {}),
    (
        "max_pooling2d_overlap_same",
        lambda: layers.MaxPooling2D(3, strides=2, padding="same"),
        (7, 6, 3),
        {},
        {},
    ),
    (
        "max_pooling2d_channels_first",
        lambda: layers.MaxPooling2D((2, 3), data_format="channels_first"),
        (3, 6, 7),
        {},
        {},
    ),
    ("max_pooling1d", lambda: layers.MaxPooling1D(), (7, 3), {}, {}),
    ("max_pooling1d_strided_same", lambda: layers.MaxPooling1D(3, strides=2, padding="same"), (7, 3), {}, {}),
    ("average_pooling2d", lambda: layers.AveragePooling2D(2), (6, 5, 3), {}, {}),
    (
        "average_pooling2d_same",
        lambda: layers.AveragePooling2D(3, strides=2, padding="same"),
        (7, 6, 3),
        {},
        {},
    ),
    ("average_pooling1d_strided", lambda: layers.AveragePooling1D(3, strides=1), (7, 3), {}, {}),
    ("global_max_pooling2d", lambda: layers.GlobalMaxPooling2D(), (4, 5, 3), {}, {}),
    (
        "global_max_pooling2d_keepdims_cf",
        lambda: layers.GlobalMaxPooling2D(data_format="channels_first", keepdims=True),
        (3, 4, 5),
        {},
        {},
    ),
    ("global_average_pooling2d", lambda: layers.GlobalAveragePooling2D(), (4, 5, 3), {}, {}),
    (
        "global_average_pooling2d_keepdims",
        lambda: layers.GlobalAveragePooling2D(keepdims=True),
        (4, 5, 3),
        {},
        {},
    ),
    ("global_max_pooling1d", lambda: layers.GlobalMaxPooling1D(), (6, 3), {}, {}),
    ("global_average_pooling1d", lambda: layers.GlobalAveragePooling1D(), (6, 3), {}, {}),
    (
        "global_average_pooling1d_keepdims_cf",
        lambda: layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=True),
        (3, 6),
        {},
        {},
    ),
    ("zero_padding1d", lambda: layers.ZeroPadding1D((1, 2)), (5, 3), {}, {}),
    ("zero_padding1d_cf", lambda: layers.ZeroPadding1D(2, data_format="channels_first"), (3, 5), {}, {}),
    ("zero_padding2d", lambda: layers.ZeroPadding2D(), (4, 5, 3), {}, {}),
    (
        "zero_padding2d_asymmetric_cf",
        lambda: layers.ZeroPadding2D(((1, 2), (0, 3)), data_format="channels_first"),
        (3, 4, 5),
        {},
        {},
    ),
    ("cropping1d", lambda: layers.Cropping1D((1, 2)), (6, 3), {}, {}),
    ("cropping2d", lambda: layers.Cropping2D(((1, 0), (2, 1))), (5, 6, 3), {}, {}),
    ("cropping2d_cf", lambda: layers.Cropping2D(1, data_format="channels_first"), (3, 5, 6), {}, {}),
    ("up_sampling1d", lambda: layers.UpSampling1D(3), (4, 3), {}, {}),
    ("up_sampling2d", lambda: layers.UpSampling2D((2, 3)), (3, 4, 2), {}, {}),
    ("up_sampling2d_bilinear", lambda: layers.UpSampling2D(2, interpolation="bilinear"), (3, 4, 2), {}, {}),
    ("repeat_vector", lambda: layers.RepeatVector(3), (4,), {}, {}),
    ("permute", lambda: layers.Permute((2, 1)), (4, 3), {}, {}),
    ("permute_3d", lambda: layers.Permute((3, 1, 2)), (4, 3, 2), {}, {}),
]

# ---- normalization layers (jseq/layers/normalization.py) ---------------------------------------------------
_BN_STATE = {"moving_mean": (5,), "moving_variance": (5,)}
CATALOG += [
    (
        "batch_normalization",
        lambda: layers.BatchNormalization(),
        (5,),
        {"gamma": (5,), "beta": (5,)},
        _BN_STATE,
    ),
    (
        "batch_normalization_axis1_images",
        lambda: layers.BatchNormalization(axis=1),
        (5, 4, 2),
        {"gamma": (5,), "beta": (5,)},
        _BN_STATE,
    ),
    (
        "batch_normalization_no_center",
        lambda: layers.BatchNormalization(center=False),
        (3, 5),
        {"gamma": (5,)},
        _BN_STATE,
    ),
    ("layer_normalization", lambda: layers.LayerNormalization(), (4, 5), {"gamma": (5,), "beta": (5,)}, {}),
    (
        "layer_normalization_two_axes",
        lambda: layers.LayerNormalization(axis=[1, 2], center=False),
        (3, 4),
        {"gamma": (3, 4)},
        {},
    ),
    (
        "group_normalization",
        lambda: layers.GroupNormalization(groups=2),
        (3, 4),
        {"gamma": (4,), "beta": (4,)},
        {},
    ),
    (
        "group_normalization_instance_cf",
        lambda: layers.GroupNormalization(groups=-1, axis=1),
        (4, 3, 2),
        {"gamma": (4,), "beta": (4,)},
        {},
    ),
    ("unit_normalization", lambda: layers.UnitNormalization(), (3, 4), {}, {}),
]

# ---- noise layers (jseq/layers/noise.py) -------------------------------------------------------------------
CATALOG += [
    ("spatial_dropout1d", lambda: layers.SpatialDropout1D(0.5), (5, 3), {}, {}),
    ("spatial_dropout2d", lambda: layers.SpatialDropout2D(0.5), (4, 5, 3), {}, {}),
    (
        "spatial_dropout2d_cf",
        lambda: layers.SpatialDropout2D(0.3, data_format="channels_first"),
        (3, 4, 5),
        {},
        {},
    ),
    ("gaussian_noise", lambda: layers.GaussianNoise(0.1), (4,), {}, {}),
    ("gaussian_dropout", lambda: layers.GaussianDropout(0.3), (4,), {}, {}),
    ("alpha_dropout", lambda: layers.AlphaDropout(0.2), (4,), {}, {}),
]
